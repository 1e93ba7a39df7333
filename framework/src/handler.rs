//! The per-connection and per-datagram handler traits.

use std::future::Future;

use crate::connection::Connection;
use crate::packet::{Datagram, DatagramReply};

/// The error a handler returns: any error type, boxed.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Serves one stream connection; the server clones one value per connection from a prototype.
///
/// `finish` runs if and only if `setup` succeeded, even when `handle` failed or panicked.
pub trait RequestHandler: Clone + Send + 'static {
    /// Whether threading and forking modes may give this handler a blocking socket, as
    /// Python's `socketserver` does (default `false`).
    ///
    /// A blocking read sleeps in the kernel until data arrives, saving a readiness wait per
    /// read. The connection's thread then runs nothing else while it waits, for up to 0.2 s at
    /// a time, so set this only if `handle`, while it reads or writes the connection, awaits
    /// nothing that must make progress meanwhile: no other socket, channel or spawned task.
    /// The shutdown signal still works, up to 0.2 s late, and the read timeout, up to 0.4 s
    /// late. Async and sequential modes ignore it.
    const BLOCKING_IO: bool = false;

    /// Prepares the connection; an error here skips `handle` and `finish`.
    fn setup(
        &mut self,
        conn: &mut Connection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Serves the connection until it is done.
    fn handle(
        &mut self,
        conn: &mut Connection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Cleans up after `handle`, whatever its outcome.
    fn finish(
        &mut self,
        conn: &mut Connection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }
}

/// Serves one UDP datagram; the server clones one value per datagram from a prototype.
pub trait DatagramHandler: Clone + Send + 'static {
    /// Handles one datagram, replying through `reply` if it wants to.
    fn handle(
        &mut self,
        datagram: Datagram,
        reply: DatagramReply,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}
