//! Free TCP ports on 127.0.0.1 for services that must be told their port up front.

use std::collections::HashSet;
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

/// Free ports for one set-up whose listeners are bound later (a balancer's frontends, a
/// daemon's passive range): no number is handed out twice, which checking each one free on its
/// own cannot promise while none of them is bound yet. HAProxy, for one, binds its frontends
/// with `SO_REUSEPORT`, so two frontends given one number both start and share its
/// connections.
#[derive(Debug, Default)]
pub struct DistinctPorts(HashSet<u16>);

impl DistinctPorts {
    /// Tries before giving up on a number not handed out yet.
    const TRIES: usize = 100;

    /// A free port (as [`free_port`]) not handed out before.
    pub fn one(&mut self) -> u16 {
        for _ in 0..Self::TRIES {
            let port = free_port();
            if self.0.insert(port) {
                return port;
            }
        }
        panic!("no free port that was not handed out already");
    }

    /// The first of `count` consecutive free ports on `ip` (as [`free_range`]), none of them
    /// handed out before.
    pub fn range(&mut self, ip: &str, count: u16) -> u16 {
        for _ in 0..Self::TRIES {
            let low = free_range(ip, count);
            if (low..low + count).all(|port| !self.0.contains(&port)) {
                self.0.extend(low..low + count);
                return low;
            }
        }
        panic!("no {count} free ports on {ip} that were not handed out already");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_number_is_handed_out_twice() {
        let mut ports = DistinctPorts::default();
        let mut seen = HashSet::new();
        for _ in 0..5 {
            let low = ports.range("127.0.0.1", 16);
            assert!((low..low + 16).all(|port| seen.insert(port)));
            let port = ports.one();
            assert!(seen.insert(port), "{port} came back");
        }
    }
}
