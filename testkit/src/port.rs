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
