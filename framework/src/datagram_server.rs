//! The bound UDP server: one handler call per datagram, in any concurrency mode.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::ServerError;
use crate::handler::DatagramHandler;
use crate::intake::datagram::DatagramIntake;
use crate::shared::{ServerInfo, Shared};
use crate::shutdown::{ServerHandle, ShutdownState};
use crate::strategy;

/// A bound UDP server, ready to serve; built with [`DatagramServer::builder`].
pub struct DatagramServer<D> {
    /// The socket and the handler prototype.
    pub(crate) intake: DatagramIntake<D>,
    /// Options and hooks shared by every datagram.
    pub(crate) shared: Arc<Shared>,
    /// Shutdown requests from handles and signals.
    pub(crate) state: Arc<ShutdownState>,
}

impl<D> std::fmt::Debug for DatagramServer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramServer")
            .field("local", &self.intake.local)
            .finish_non_exhaustive()
    }
}

impl<D: DatagramHandler> DatagramServer<D> {
    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.intake.local
    }

    /// Name, address and options of this server.
    pub fn info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.state.clone())
    }

    /// Serves datagrams until shut down, in the configured mode: the same strategies as
    /// stream servers, with a datagram as the unit of work (a task, a thread or a process
    /// each, or one after another).
    pub fn serve_forever(self) -> Result<(), ServerError> {
        strategy::serve(self.intake, self.shared, self.state)
    }
}
