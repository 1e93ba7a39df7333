//! The fluent builder that configures and binds a server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::address::{ListenAddr, Peer};
use crate::connection::BufferSizes;
use crate::datagram::DatagramServer;
use crate::error::{ErrorReport, ServerError, log_error};
use crate::handler::{DatagramHandler, RequestHandler};
use crate::listener::{self, BindOptions};
use crate::mode::Mode;
use crate::server::{Server, ServerInfo, SocketType};
use crate::shutdown::ShutdownState;

/// Decides whether a peer may be served (Python's `verify_request`).
pub type VerifyHook = Arc<dyn Fn(&Peer) -> bool + Send + Sync>;
/// Reports a failed handler (Python's `handle_error`).
pub type ErrorHook = Arc<dyn Fn(&ErrorReport<'_>) + Send + Sync>;
/// Runs periodically in the serving loop (Python's `service_actions`).
pub type ServiceHook = Arc<dyn Fn() + Send + Sync>;

/// What to do with a new connection when `max_connections` are already being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitPolicy {
    /// Leave it in the kernel's backlog until a connection ends (the default).
    #[default]
    Wait,
    /// Accept and close it at once.
    Reject,
}

/// Configures a server; every option states its default.
#[derive(Clone)]
pub struct ServerBuilder {
    pub(crate) name: String,
    pub(crate) addrs: Vec<ListenAddr>,
    pub(crate) mode: Mode,
    pub(crate) bind: BindOptions,
    pub(crate) nodelay: bool,
    pub(crate) max_connections: Option<(usize, LimitPolicy)>,
    pub(crate) verify_request: Option<VerifyHook>,
    pub(crate) handle_error: ErrorHook,
    pub(crate) service_actions: Option<(Duration, ServiceHook)>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) buffer_sizes: BufferSizes,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) handle_signals: bool,
    pub(crate) max_packet_size: usize,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("name", &self.name)
            .field("addrs", &self.addrs)
            .field("mode", &self.mode)
            .field("max_connections", &self.max_connections)
            .field("read_timeout", &self.read_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            name: "wharf".to_string(),
            addrs: Vec::new(),
            mode: Mode::default(),
            bind: BindOptions {
                backlog: 1024,
                reuse_address: true,
                reuse_port: false,
            },
            nodelay: true,
            max_connections: None,
            verify_request: None,
            handle_error: Arc::new(log_error),
            service_actions: None,
            read_timeout: None,
            buffer_sizes: BufferSizes::default(),
            shutdown_timeout: Duration::from_secs(10),
            handle_signals: true,
            max_packet_size: 8192,
        }
    }
}

impl ServerBuilder {
    /// A builder with every option at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's name, used in logs and shown to handlers. Default: `"wharf"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds an address to listen on (TCP v4/v6 or Unix; may be called several times).
    /// Default: none; `build` fails with [`ServerError::NoAddress`] without one.
    pub fn listen(mut self, addr: impl Into<ListenAddr>) -> Self {
        self.addrs.push(addr.into());
        self
    }

    /// The concurrency mode. Default: [`Mode::Async`] with one worker per core.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Length of the queue of connections not yet accepted (Python's `request_queue_size`).
    /// Default: 1024.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.bind.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// `SO_REUSEADDR` on TCP and UDP sockets (Python's `allow_reuse_address`). Default: true.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.bind.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` on TCP and UDP sockets (Python's `allow_reuse_port`). Default: false.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.bind.reuse_port = on;
        self
    }

    /// `TCP_NODELAY` on accepted TCP connections (Python's `disable_nagle_algorithm`).
    /// Default: true, since request/response protocols suffer from Nagle's delay.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// At most `limit` connections served at once; `policy` says what happens to the next one.
    /// Default: no limit beyond the mode's own (`max_threads`, `max_children`).
    pub fn max_connections(mut self, limit: usize, policy: LimitPolicy) -> Self {
        self.max_connections = Some((limit.max(1), policy));
        self
    }

    /// A check run on each accepted connection before any handler; `false` closes the socket
    /// without calling the handler. Default: every peer is accepted.
    pub fn verify_request(
        mut self,
        verify: impl Fn(&Peer) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.verify_request = Some(Arc::new(verify));
        self
    }

    /// Called when a handler returns an error or panics; the server keeps serving.
    /// Default: [`log_error`], a `tracing` error event.
    pub fn handle_error(mut self, hook: impl Fn(&ErrorReport<'_>) + Send + Sync + 'static) -> Self {
        self.handle_error = Arc::new(hook);
        self
    }

    /// Runs `action` every `interval` while the server serves (Python's `service_actions`).
    /// Default: none. In forking mode it runs in the parent.
    pub fn service_actions(
        mut self,
        interval: Duration,
        action: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        self.service_actions = Some((interval, Arc::new(action)));
        self
    }

    /// How long a read on a connection may wait for data before failing with `TimedOut`
    /// (Python's `StreamRequestHandler.timeout`). Default: none (wait forever).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Capacities of each connection's read and write buffers: smaller ones save memory per
    /// idle connection, larger ones save system calls on bulk transfers. Default: 8 KiB each.
    pub fn buffer_sizes(mut self, read: usize, write: usize) -> Self {
        self.buffer_sizes = BufferSizes {
            read: read.max(1),
            write: write.max(1),
        };
        self
    }

    /// How long a shutdown waits for connections to finish before closing them.
    /// Default: 10 seconds.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether `serve_forever` stops on SIGINT and SIGTERM (a second signal forces).
    /// Default: true.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// The largest UDP datagram received in full; longer ones are truncated
    /// (Python's `max_packet_size`). Default: 8192 bytes.
    pub fn max_packet_size(mut self, size: usize) -> Self {
        self.max_packet_size = size.max(1);
        self
    }

    /// Binds every listen address and returns the stream server, ready to serve.
    pub fn build<H: RequestHandler>(self, handler: H) -> Result<Server<H>, ServerError> {
        if self.addrs.is_empty() {
            return Err(ServerError::NoAddress);
        }
        check_mode(&self.mode)?;
        let mut listeners = Vec::with_capacity(self.addrs.len());
        let mut resolved = Vec::with_capacity(self.addrs.len());
        for addr in &self.addrs {
            let (listener, local) =
                listener::bind_stream(addr, self.bind).map_err(|e| ServerError::bind(addr, e))?;
            listeners.push((listener, local.clone()));
            resolved.push(local);
        }
        let info = self.info(resolved, SocketType::Stream);
        Ok(Server::new(
            self,
            info,
            listeners,
            handler,
            ShutdownState::new()?,
        ))
    }

    /// Binds a UDP socket and returns the datagram server, ready to serve.
    pub fn build_datagram<D: DatagramHandler>(
        self,
        addr: SocketAddr,
        handler: D,
    ) -> Result<DatagramServer<D>, ServerError> {
        check_mode(&self.mode)?;
        let (socket, local) =
            listener::bind_datagram(addr, self.bind).map_err(|e| ServerError::bind(&addr, e))?;
        let info = self.info(vec![ListenAddr::Tcp(local)], SocketType::Datagram);
        Ok(DatagramServer::new(
            self,
            info,
            socket,
            local,
            handler,
            ShutdownState::new()?,
        ))
    }

    fn info(&self, addrs: Vec<ListenAddr>, socket_type: SocketType) -> Arc<ServerInfo> {
        Arc::new(ServerInfo {
            name: self.name.clone(),
            addrs,
            socket_type,
            mode: self.mode,
            read_timeout: self.read_timeout,
            buffer_sizes: self.buffer_sizes,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

fn check_mode(mode: &Mode) -> Result<(), ServerError> {
    if let Mode::Threading { max_threads: 0, .. }
    | Mode::Forking {
        max_children: 0, ..
    } = mode
    {
        return Err(ServerError::Unsupported(format!(
            "{mode} mode needs a limit of at least 1"
        )));
    }
    Ok(())
}
