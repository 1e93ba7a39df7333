//! The bound stream server: serving forever, one request at a time, and closing.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::address::{ListenAddr, Peer};
use crate::builder::{ErrorHook, LimitPolicy, ServerBuilder, ServiceHook, VerifyHook};
use crate::connection::{BufferSizes, Connection, Stream};
use crate::error::ServerError;
use crate::handler::RequestHandler;
use crate::listener::StdListener;
use crate::mode::Mode;
use crate::shutdown::{ServerHandle, ShutdownSignal, ShutdownState};
use crate::strategy;

/// Whether a server speaks streams (TCP, Unix) or datagrams (UDP): Python's `socket_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketType {
    /// Connection-oriented: TCP or Unix stream sockets.
    Stream,
    /// Datagrams: UDP.
    Datagram,
}

/// What a handler can see of its server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The server's name.
    pub name: String,
    /// The bound addresses, with port 0 resolved.
    pub addrs: Vec<ListenAddr>,
    /// Streams or datagrams.
    pub socket_type: SocketType,
    /// The concurrency mode.
    pub mode: Mode,
    /// The read timeout new connections start with.
    pub read_timeout: Option<Duration>,
    /// The buffer capacities of new connections.
    pub buffer_sizes: BufferSizes,
    /// How long shutdown waits for connections.
    pub shutdown_timeout: Duration,
}

/// What every connection of a server needs, whatever the mode.
pub(crate) struct Shared {
    /// Visible to handlers.
    pub(crate) info: Arc<ServerInfo>,
    /// Told about failed handlers.
    pub(crate) handle_error: ErrorHook,
    /// Consulted before a handler is made.
    pub(crate) verify_request: Option<VerifyHook>,
    /// The connection cap and what happens past it.
    pub(crate) max_connections: Option<(usize, LimitPolicy)>,
    /// The periodic hook and its interval.
    pub(crate) service_actions: Option<(Duration, ServiceHook)>,
    /// Set `TCP_NODELAY` on accepted TCP streams.
    pub(crate) nodelay: bool,
    /// Whether to stop on SIGINT/SIGTERM.
    pub(crate) handle_signals: bool,
    /// Largest datagram received in full.
    pub(crate) max_packet_size: usize,
    /// Source of connection ids.
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(builder: &ServerBuilder, info: Arc<ServerInfo>) -> Arc<Self> {
        Arc::new(Shared {
            info,
            handle_error: builder.handle_error.clone(),
            verify_request: builder.verify_request.clone(),
            max_connections: builder.max_connections,
            service_actions: builder.service_actions.clone(),
            nodelay: builder.nodelay,
            handle_signals: builder.handle_signals,
            max_packet_size: builder.max_packet_size,
            next_id: AtomicU64::new(1),
        })
    }

    /// A fresh connection id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `verify_request` lets this peer in.
    pub(crate) fn verify(&self, peer: &Peer) -> bool {
        let allowed = self
            .verify_request
            .as_ref()
            .is_none_or(|verify| verify(peer));
        if !allowed {
            tracing::debug!(server = %self.info.name, %peer, "verify_request refused the peer");
        }
        allowed
    }

    /// The most connections to serve at once: the tighter of `max_connections` and the mode's cap.
    pub(crate) fn connection_limit(&self) -> (Option<usize>, LimitPolicy) {
        let mode_limit = self.info.mode.worker_limit();
        match (self.max_connections, mode_limit) {
            (Some((max, policy)), Some(mode)) if max <= mode => (Some(max), policy),
            (Some(_), Some(mode)) => (Some(mode), LimitPolicy::Wait),
            (Some((max, policy)), None) => (Some(max), policy),
            (None, mode) => (mode, LimitPolicy::Wait),
        }
    }

    /// Wraps an accepted tokio stream into a `Connection`.
    pub(crate) fn connection(
        &self,
        stream: Stream,
        peer: Peer,
        local: ListenAddr,
        id: u64,
        signal: ShutdownSignal,
    ) -> Connection {
        let nodelay = match (&stream, self.nodelay) {
            (Stream::Tcp(tcp), true) => tcp.set_nodelay(true),
            (Stream::BlockingTcp(tcp), true) => tcp.set_nodelay(true),
            _ => Ok(()),
        };
        if let Err(e) = nodelay {
            tracing::debug!(conn = id, "cannot set TCP_NODELAY: {e}");
        }
        Connection::new(stream, peer, local, id, signal, self.info.clone())
    }
}

/// The outcome of [`Server::handle_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The prototype cloned for each connection.
    pub(crate) handler: H,
    /// Bound listeners with their resolved addresses.
    pub(crate) listeners: Vec<(StdListener, ListenAddr)>,
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

impl Server<()> {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }
}

impl<H: RequestHandler> Server<H> {
    pub(crate) fn new(
        builder: ServerBuilder,
        info: Arc<ServerInfo>,
        listeners: Vec<(StdListener, ListenAddr)>,
        handler: H,
        state: Arc<ShutdownState>,
    ) -> Self {
        let shared = Shared::new(&builder, info);
        Server {
            handler,
            listeners,
            shared,
            state,
        }
    }

    /// The first bound address (Python's `server_address`, port 0 resolved).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.shared.info.addrs[0]
    }

    /// Every bound address, in the order they were added.
    pub fn local_addrs(&self) -> &[ListenAddr] {
        &self.shared.info.addrs
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
    pub fn serve_forever(self) -> Result<(), ServerError> {
        match self.shared.info.mode {
            Mode::Async { worker_threads } => strategy::asynchronous::serve(self, worker_threads),
            Mode::Sequential => strategy::asynchronous::serve_sequential(self),
            Mode::Threading { .. } => strategy::threading::serve(self),
            Mode::Forking { .. } => strategy::forking::serve(self),
        }
    }

    /// Waits up to `timeout` (forever if `None`) for one connection and serves it on the calling
    /// thread, whatever the mode (Python's `handle_request`).
    pub fn handle_request(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<RequestOutcome, ServerError> {
        strategy::asynchronous::handle_one(self, timeout)
    }

    /// Closes the listeners and removes Unix socket files (the same as dropping the server).
    pub fn server_close(self) {
        drop(self);
    }
}

/// Converts a std listener to tokio inside a runtime.
pub(crate) fn to_async_listener(listener: &StdListener) -> io::Result<AsyncListener> {
    Ok(match listener {
        StdListener::Tcp(l) => {
            AsyncListener::Tcp(tokio::net::TcpListener::from_std(l.try_clone()?)?)
        }
        StdListener::Unix(l, _) => {
            AsyncListener::Unix(tokio::net::UnixListener::from_std(l.try_clone()?)?)
        }
    })
}

/// A listener registered with a tokio runtime.
pub(crate) enum AsyncListener {
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// Unix stream.
    Unix(tokio::net::UnixListener),
}

impl AsyncListener {
    /// Polls for one connection.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<(Stream, Peer)>> {
        match self {
            AsyncListener::Tcp(l) => l
                .poll_accept(cx)
                .map(|r| r.map(|(s, peer)| (Stream::Tcp(s), Peer::Ip(peer)))),
            AsyncListener::Unix(l) => l.poll_accept(cx).map(|r| {
                r.map(|(s, peer)| {
                    let path = peer.as_pathname().map(|p| p.to_path_buf());
                    (Stream::Unix(s), Peer::Unix(path))
                })
            }),
        }
    }
}

/// Accepts from whichever listener is ready first; returns its index too.
pub(crate) async fn accept_any(listeners: &[AsyncListener]) -> (usize, io::Result<(Stream, Peer)>) {
    std::future::poll_fn(|cx| {
        for (index, listener) in listeners.iter().enumerate() {
            if let std::task::Poll::Ready(result) = listener.poll_accept(cx) {
                return std::task::Poll::Ready((index, result));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Whether an accept error is about one connection only (retry at once) rather than the
/// process (back off: out of descriptors or memory).
pub(crate) fn accept_error_is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
