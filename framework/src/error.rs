//! Errors of the server itself and the reports handed to `handle_error`.

use std::fmt;
use std::io;

use crate::address::{ListenAddr, Peer};

/// What went wrong while binding or running a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The server was built without an address to listen on.
    #[error("no listen address given: call listen() at least once")]
    NoAddress,
    /// The async runtime for the chosen mode could not be built.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Accepting, polling, forking or signal set-up failed.
    #[error("server I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The mode is not available on this platform or for this socket type.
    #[error("{0}")]
    Unsupported(String),
    /// Sockets passed by the service manager could not be used.
    #[error("socket activation failed: {0}")]
    Activation(#[source] io::Error),
    /// The switch to the run-as user failed (the server does not start).
    #[error("cannot drop privileges: {0}")]
    Privileges(#[source] crate::privilege::PrivilegeError),
}

impl ServerError {
    pub(crate) fn bind(addr: &dyn fmt::Display, source: io::Error) -> Self {
        ServerError::Bind {
            addr: addr.to_string(),
            source,
        }
    }
}

/// The stage of a connection's life in which a handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// `RequestHandler::setup`.
    Setup,
    /// `RequestHandler::handle` or `DatagramHandler::handle`.
    Handle,
    /// `RequestHandler::finish`.
    Finish,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Setup => "setup",
            Phase::Handle => "handle",
            Phase::Finish => "finish",
        })
    }
}

/// How a handler failed: an error it returned or a panic the server caught.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The handler returned this error.
    Error(&'a (dyn std::error::Error + Send + Sync + 'static)),
    /// The handler panicked with this message.
    Panic(&'a str),
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => write!(f, "{e}"),
            Failure::Panic(message) => write!(f, "panicked: {message}"),
        }
    }
}

/// Everything `handle_error` is told about a failed handler (Python's `handle_error(request, client_address)`).
#[derive(Debug)]
pub struct ErrorReport<'a> {
    /// The server's name.
    pub server: &'a str,
    /// The connection id (for datagrams, the datagram's sequence number).
    pub connection_id: u64,
    /// Who was on the other end.
    pub peer: &'a Peer,
    /// The address the connection or datagram arrived on.
    pub local: &'a ListenAddr,
    /// Where in the handler it failed.
    pub phase: Phase,
    /// What went wrong.
    pub failure: Failure<'a>,
}

impl ErrorReport<'_> {
    /// Whether the failure is only the peer going away (reset, broken pipe, early end of stream).
    pub fn is_peer_gone(&self) -> bool {
        let Failure::Error(error) = self.failure else {
            return false;
        };
        error.downcast_ref::<io::Error>().is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionAborted
            )
        })
    }
}

/// The default `handle_error`: a `tracing` error, or a debug event when the peer just went away.
pub fn log_error(report: &ErrorReport<'_>) {
    if report.is_peer_gone() {
        tracing::debug!(server = report.server, conn = report.connection_id, peer = %report.peer,
            phase = %report.phase, "peer went away: {}", report.failure);
    } else {
        tracing::error!(server = report.server, conn = report.connection_id, peer = %report.peer,
            phase = %report.phase, "handler failed: {}", report.failure);
    }
}

/// An error and its causes on one line, `: `-separated; a cause whose text the message before
/// it already contains is not repeated.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot load: {0}")]
        Repeats(#[source] io::Error),
        #[error("cannot load")]
        Hides(#[source] io::Error),
    }

    #[test]
    fn each_cause_is_shown_once() {
        let repeats = Outer::Repeats(io::Error::other("disk on fire"));
        assert_eq!(error_chain(&repeats), "cannot load: disk on fire");
        let hides = Outer::Hides(io::Error::other("disk on fire"));
        assert_eq!(error_chain(&hides), "cannot load: disk on fire");
    }
}
