//! Free TCP ports on 127.0.0.1 for services that must be told their port up front.

use std::net::TcpListener;

/// A port that was free on 127.0.0.1 a moment ago (the kernel picks it; another process could
/// still take it before the service binds, which the fixtures then report as a start failure).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// The first of `count` consecutive ports that were all free on `ip` a moment ago (for a
/// daemon's passive range, or a balancer's frontend for one); panics if none is found.
pub fn free_range(ip: &str, count: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        let Some(end) = base.checked_add(count) else {
            continue;
        };
        let taken: Vec<_> = (base..end)
            .map(|port| TcpListener::bind((ip, port)))
            .collect();
        if taken.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports on {ip}");
}
