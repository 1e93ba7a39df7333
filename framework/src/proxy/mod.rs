//! PROXY protocol (v1 text and v2 binary, as HAProxy sends them): a trusted balancer puts the
//! client's address in front of the stream, and the connection then reports that client as its
//! peer, for every handler, log line, ban and limit.
//!
//! - `cidr`: [`Cidr`], the networks whose senders are trusted.
//! - `read`: reading exactly one header off an accepted socket, and parsing one from bytes.

mod cidr;
mod read;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use cidr::{Cidr, CidrParseError};
pub use read::parse_header;
pub(crate) use read::{read_header, starts_with_header};

/// How long a trusted sender may take to send its header, by default.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// PROXY protocol settings of one listener: who may send a header and whether one is required.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyProtocol {
    /// Senders (balancers) whose headers are believed.
    trusted: Vec<Cidr>,
    /// Whether a trusted sender must send a header.
    required: bool,
    /// How long a trusted sender may take to send it.
    header_timeout: Duration,
}

impl ProxyProtocol {
    /// Headers from `trusted` networks are believed and required; within 5 s of the connect.
    /// A connection from anyone else that starts with a header is closed.
    pub fn new(trusted: impl IntoIterator<Item = Cidr>) -> Self {
        ProxyProtocol {
            trusted: trusted.into_iter().collect(),
            required: true,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }

    /// Whether a trusted sender must send a header (default: true). With `false`, a trusted
    /// connection without one keeps its socket peer; the server then waits for the first bytes
    /// (up to the header timeout) to tell, so use it only for protocols where the client
    /// speaks first.
    pub fn required(mut self, on: bool) -> Self {
        self.required = on;
        self
    }

    /// How long a trusted sender may take to send its header (default: 5 s).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Whether `ip` is a trusted sender.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// Whether a trusted sender must send a header.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// How long a trusted sender may take to send its header.
    pub fn timeout(&self) -> Duration {
        self.header_timeout
    }

    /// The trusted networks.
    pub fn trusted(&self) -> &[Cidr] {
        &self.trusted
    }
}

/// What a trusted sender's header said about the connection it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxiedAddrs {
    /// The client.
    pub source: SocketAddr,
    /// The address the client connected to (on the balancer).
    pub destination: SocketAddr,
}

/// Why a connection was refused at the PROXY stage; the text says why, for the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes start like a header but are not a valid one.
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    /// The sender closed the connection before the header was complete.
    #[error("the connection closed before the PROXY header was complete")]
    Truncated,
    /// The sender closed the connection without sending a byte (a TCP health check).
    #[error("the connection closed before sending anything")]
    Closed,
    /// The header did not arrive in time.
    #[error("no complete PROXY header within {0:?}")]
    TimedOut(Duration),
    /// A trusted sender sent something else than a required header.
    #[error(
        "a PROXY header is required from this sender and the connection did not start with one"
    )]
    Missing,
    /// A sender that is not trusted sent a header.
    #[error("a PROXY header from an untrusted address")]
    Untrusted,
    /// Reading the socket failed.
    #[error("reading the PROXY header failed: {0}")]
    Io(#[from] std::io::Error),
}
