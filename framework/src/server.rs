//! The bound stream server: serving forever in its mode, inside a caller's runtime, or one
//! request at a time, and closing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::address::ListenAddr;
use crate::error::ServerError;
use crate::handler::RequestHandler;
use crate::intake::stream::StreamIntake;
use crate::mode::Mode;
use crate::shared::{ListenerInfo, ServerInfo, Shared};
use crate::shutdown::{ServerHandle, ShutdownState};
use crate::strategy::{self, asynchronous};

/// The outcome of [`Server::handle_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestOutcome {
    /// A connection was accepted and served.
    Handled,
    /// A connection was accepted but `verify_request` refused it.
    Refused,
    /// No connection arrived in time (Python calls `handle_timeout` here).
    TimedOut,
}

/// A bound stream server (TCP and/or Unix), ready to serve.
///
/// Dropping it closes the listeners and removes Unix socket files (Python's `server_close`).
pub struct Server<H> {
    /// The listeners and the handler prototype.
    pub(crate) intake: StreamIntake<H>,
    /// Options and hooks shared by every connection.
    pub(crate) shared: Arc<Shared>,
    /// Shutdown requests from handles and signals.
    pub(crate) state: Arc<ShutdownState>,
}

impl<H> std::fmt::Debug for Server<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.shared.info)
            .finish_non_exhaustive()
    }
}

impl<H: RequestHandler> Server<H> {
    /// The first bound address (Python's `server_address`, port 0 resolved).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.shared.info.addrs[0]
    }

    /// Every bound address, in the order the listeners were added.
    pub fn local_addrs(&self) -> &[ListenAddr] {
        &self.shared.info.addrs
    }

    /// The bound listeners with their names.
    pub fn listeners(&self) -> &[ListenerInfo] {
        &self.shared.info.listeners
    }

    /// The bound address of the listener named `name`.
    pub fn listener_addr(&self, name: &str) -> Option<&ListenAddr> {
        self.shared
            .info
            .listener(name)
            .map(|listener| &listener.addr)
    }

    /// Name, addresses and options of this server.
    pub fn info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.state.clone())
    }

    /// Serves connections until shut down, in the configured mode, then closes the listeners.
    /// Each mode builds its own runtime: call it from plain synchronous code.
    pub fn serve_forever(self) -> Result<(), ServerError> {
        strategy::serve(self.intake, self.shared, self.state)
    }

    /// Serves inside the caller's tokio runtime until `shutdown` completes (or a
    /// [`ServerHandle`] asks), then lets connections finish within the shutdown timeout.
    ///
    /// Async mode only (the other modes own their threads or processes). The caller's
    /// runtime must be multi-threaded or drive this future itself; SIGINT and SIGTERM are the
    /// caller's to handle here, so `handle_signals` does not apply.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        if !matches!(self.shared.info.mode, Mode::Async { .. }) {
            return Err(ServerError::Unsupported(format!(
                "run() serves in the caller's runtime, which needs async mode, not {}",
                self.shared.info.mode
            )));
        }
        let state = self.state.clone();
        let signal = state.loop_signal();
        let stop = async {
            tokio::select! {
                () = shutdown => state.graceful(),
                () = signal.triggered() => {}
            }
        };
        let serving = asynchronous::serve_loop(
            self.intake,
            &self.shared,
            &self.state,
            asynchronous::Placement::Task,
            false,
        );
        let (result, ()) = tokio::join!(serving, stop);
        result
    }

    /// Waits up to `timeout` (forever if `None`) for one connection and serves it on the calling
    /// thread, whatever the mode (Python's `handle_request`).
    pub fn handle_request(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<RequestOutcome, ServerError> {
        Ok(
            match asynchronous::handle_one(&mut self.intake, &self.shared, &self.state, timeout)? {
                asynchronous::OneOutcome::Handled => RequestOutcome::Handled,
                asynchronous::OneOutcome::Refused => RequestOutcome::Refused,
                asynchronous::OneOutcome::TimedOut => RequestOutcome::TimedOut,
            },
        )
    }

    /// Closes the listeners and removes Unix socket files (the same as dropping the server).
    pub fn server_close(self) {
        drop(self);
    }
}
