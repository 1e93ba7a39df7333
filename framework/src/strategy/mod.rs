//! The concurrency strategies: one serving loop per family of modes, generic over what a
//! server takes in (stream connections or datagrams) and how each unit of work runs.
//!
//! - `asynchronous`: tokio loops for the async (a task per unit) and sequential (inline) modes.
//! - `blocking`: the std + `poll` loop of the threading and forking modes.
//! - `threading`, `forking`: how those two run each unit.

pub(crate) mod asynchronous;
pub(crate) mod blocking;
pub(crate) mod forking;
pub(crate) mod threading;

use std::future::Future;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;

use crate::address::Peer;
use crate::error::ServerError;
use crate::mode::Mode;
use crate::shared::Shared;
use crate::shutdown::{ShutdownSignal, ShutdownState};

/// Where a serving loop takes its work from: stream listeners or a datagram socket.
pub(crate) trait Intake: Send + 'static {
    /// One unit of work: an accepted connection or a received datagram.
    type Work: Work;

    /// The descriptors to wait on, in a stable order.
    fn fds(&self) -> Vec<BorrowedFd<'_>>;

    /// Takes the unit waiting on `fds()[index]` without blocking (`WouldBlock`: none).
    fn take(&mut self, index: usize) -> io::Result<Self::Work>;

    /// Descriptors a forked child must close (listening sockets; a datagram socket stays open
    /// in the child, which replies through it).
    fn child_closes(&self) -> Vec<RawFd>;

    /// Stops taking work: closes the sockets and removes Unix socket files.
    fn close(&mut self);
}

/// One unit of work, run wherever the mode says.
pub(crate) trait Work: Send + 'static {
    /// Who sent it, for `verify_request`.
    fn peer(&self) -> &Peer;

    /// Turns it away because the server is at its limit.
    fn refuse(self, shared: &Shared);

    /// Serves it to its end on the current runtime; `blocking_sockets` says the unit has a
    /// thread to itself in threading or forking mode. Returns whether its set-up succeeded.
    fn run(
        self,
        shared: Arc<Shared>,
        signal: ShutdownSignal,
        blocking_sockets: bool,
    ) -> impl Future<Output = bool> + Send;
}

/// Serves `intake` in the server's mode until shut down, then closes it.
pub(crate) fn serve<I: Intake>(
    intake: I,
    shared: Arc<Shared>,
    state: Arc<ShutdownState>,
) -> Result<(), ServerError> {
    match shared.info.mode {
        Mode::Async { worker_threads } => {
            let runtime = asynchronous::multi_thread_runtime(&shared.info.name, worker_threads)?;
            let result = runtime.block_on(asynchronous::serve_loop(
                intake,
                &shared,
                &state,
                asynchronous::Placement::Task,
                shared.handle_signals,
            ));
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            result
        }
        Mode::Sequential => {
            let runtime = asynchronous::current_thread_runtime()?;
            let result = runtime.block_on(asynchronous::serve_loop(
                intake,
                &shared,
                &state,
                asynchronous::Placement::Inline,
                shared.handle_signals,
            ));
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            result
        }
        Mode::Threading {
            daemon_threads,
            block_on_close,
            ..
        } => threading::serve(intake, &shared, &state, block_on_close && !daemon_threads),
        Mode::Forking { block_on_close, .. } => {
            forking::serve(intake, &shared, &state, block_on_close)
        }
    }
}
