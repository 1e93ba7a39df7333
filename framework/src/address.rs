//! Addresses a server listens on and peers connect from.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where a stream server listens: a TCP socket address (v4 or v6) or a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenAddr {
    /// TCP over IPv4 or IPv6; port 0 asks the system for a free port.
    Tcp(SocketAddr),
    /// A Unix-domain stream socket at this path.
    Unix(PathBuf),
}

impl ListenAddr {
    /// The TCP socket address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr) => Some(*addr),
            ListenAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, if this is one.
    pub fn as_unix(&self) -> Option<&Path> {
        match self {
            ListenAddr::Tcp(_) => None,
            ListenAddr::Unix(path) => Some(path),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

/// The error for an address string that is neither `HOST:PORT` nor `unix:PATH`.
#[derive(Debug, thiserror::Error)]
#[error("invalid listen address {input:?}: expected IP:PORT, [IPv6]:PORT or unix:PATH")]
pub struct AddrParseError {
    /// The text that failed to parse.
    pub input: String,
}

impl FromStr for ListenAddr {
    type Err = AddrParseError;

    /// Parses `127.0.0.1:7`, `[::1]:7`, `localhost:7`, `unix:/run/x.sock` or a path with a `/`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(AddrParseError { input: s.into() });
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(ListenAddr::Tcp(addr));
        }
        if s.starts_with('/') || s.starts_with("./") {
            return Ok(ListenAddr::Unix(PathBuf::from(s)));
        }
        if let Some((host, port)) = s.rsplit_once(':')
            && host.eq_ignore_ascii_case("localhost")
            && let Ok(port) = port.parse::<u16>()
        {
            return Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        Err(AddrParseError { input: s.into() })
    }
}

/// The other end of a connection or datagram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Peer {
    /// A TCP or UDP peer.
    Ip(SocketAddr),
    /// A Unix-socket peer; clients rarely bind a path, so it is usually `None`.
    Unix(Option<PathBuf>),
}

impl Peer {
    /// The IP socket address, if the peer is an IP peer.
    pub fn ip(&self) -> Option<SocketAddr> {
        match self {
            Peer::Ip(addr) => Some(*addr),
            Peer::Unix(_) => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Ip(addr) => write!(f, "{addr}"),
            Peer::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Peer::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_ipv6_unix_and_localhost() {
        assert_eq!(
            "127.0.0.1:80".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            "[::1]:0".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("[::1]:0".parse().unwrap())
        );
        assert_eq!(
            "unix:/tmp/a.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/tmp/a.sock".into())
        );
        assert_eq!(
            "/tmp/b.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/tmp/b.sock".into())
        );
        assert_eq!(
            "localhost:21".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("127.0.0.1:21".parse().unwrap())
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "unix:", "nonsense", "1.2.3.4", "host:99999"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad:?} parsed");
        }
    }
}
