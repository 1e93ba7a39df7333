//! The fluent builders that configure and bind servers: [`ServerBuilder`] for stream servers
//! (TCP and Unix listeners) and [`DatagramBuilder`] for UDP, so options of one kind cannot be
//! given to the other. Every option states its default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::address::{ListenAddr, Peer};
use crate::datagram_server::DatagramServer;
use crate::error::{ErrorReport, ServerError, log_error};
use crate::handler::{DatagramHandler, RequestHandler};
use crate::intake::datagram::DatagramIntake;
use crate::intake::stream::StreamIntake;
use crate::listener::{self, BindOptions, ListenerSpec};
use crate::mode::Mode;
use crate::privilege::RunAs;
use crate::proxy::ProxyProtocol;
use crate::server::Server;
use crate::shared::{
    BufferSizes, ErrorHook, LimitPolicy, ListenerInfo, ServerInfo, ServiceHook, Shared, SocketType,
    VerifyHook,
};
use crate::shutdown::ShutdownState;

/// The options stream and datagram servers have in common.
#[derive(Clone)]
struct Common {
    name: String,
    mode: Mode,
    bind: BindOptions,
    max_connections: Option<(usize, LimitPolicy)>,
    verify_request: Option<VerifyHook>,
    handle_error: ErrorHook,
    service_actions: Option<(Duration, ServiceHook)>,
    shutdown_timeout: Duration,
    handle_signals: bool,
    run_as: Option<RunAs>,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            name: "wharf".to_string(),
            mode: Mode::default(),
            bind: BindOptions {
                backlog: 1024,
                reuse_address: true,
                reuse_port: false,
            },
            max_connections: None,
            verify_request: None,
            handle_error: Arc::new(log_error),
            service_actions: None,
            shutdown_timeout: Duration::from_secs(10),
            handle_signals: true,
            run_as: None,
        }
    }
}

impl Common {
    /// Checks what can be checked before binding: the mode's limits, the run-as account.
    fn check(&self) -> Result<Option<crate::privilege::Account>, ServerError> {
        if let Mode::Threading { max_threads: 0, .. }
        | Mode::Forking {
            max_children: 0, ..
        } = self.mode
        {
            return Err(ServerError::Unsupported(format!(
                "{} mode needs a limit of at least 1",
                self.mode
            )));
        }
        self.run_as
            .as_ref()
            .map(|run_as| run_as.resolve().map_err(ServerError::Privileges))
            .transpose()
    }

    fn shared(&self, info: ServerInfo, refusal: Option<Arc<[u8]>>, nodelay: bool) -> Arc<Shared> {
        Arc::new(Shared {
            info: Arc::new(info),
            handle_error: self.handle_error.clone(),
            verify_request: self.verify_request.clone(),
            max_connections: self.max_connections,
            refusal,
            service_actions: self.service_actions.clone(),
            nodelay,
            handle_signals: self.handle_signals,
            next_id: AtomicU64::new(1),
        })
    }
}

/// The setters both builders share; each names the same option in both.
macro_rules! common_options {
    () => {
        /// The server's name, used in logs and shown to handlers. Default: `"wharf"`.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.common.name = name.into();
            self
        }

        /// The concurrency mode. Default: [`Mode::Async`] with one worker per core.
        pub fn mode(mut self, mode: Mode) -> Self {
            self.common.mode = mode;
            self
        }

        /// `SO_REUSEADDR` on the sockets (Python's `allow_reuse_address`). Default: true.
        pub fn reuse_address(mut self, on: bool) -> Self {
            self.common.bind.reuse_address = on;
            self
        }

        /// `SO_REUSEPORT` on the sockets (Python's `allow_reuse_port`). Default: false.
        pub fn reuse_port(mut self, on: bool) -> Self {
            self.common.bind.reuse_port = on;
            self
        }

        /// At most `limit` connections (or datagram handler calls) served at once; `policy`
        /// says what happens to the next one. Default: no limit beyond the mode's own
        /// (`max_threads`, `max_children`).
        pub fn max_connections(mut self, limit: usize, policy: LimitPolicy) -> Self {
            self.common.max_connections = Some((limit.max(1), policy));
            self
        }

        /// A check run on each accepted connection or datagram before any handler; `false`
        /// drops it without calling the handler. Default: every peer is accepted.
        pub fn verify_request(
            mut self,
            verify: impl Fn(&Peer) -> bool + Send + Sync + 'static,
        ) -> Self {
            self.common.verify_request = Some(Arc::new(verify));
            self
        }

        /// Called when a handler returns an error or panics; the server keeps serving.
        /// Default: [`log_error`], a `tracing` error event.
        pub fn handle_error(
            mut self,
            hook: impl Fn(&ErrorReport<'_>) + Send + Sync + 'static,
        ) -> Self {
            self.common.handle_error = Arc::new(hook);
            self
        }

        /// Runs `action` every `interval` while the server serves (Python's
        /// `service_actions`). Default: none. In forking mode it runs in the parent.
        pub fn service_actions(
            mut self,
            interval: Duration,
            action: impl Fn() + Send + Sync + 'static,
        ) -> Self {
            self.common.service_actions = Some((interval, Arc::new(action)));
            self
        }

        /// How long a shutdown waits for work in progress before cutting it short.
        /// Default: 10 seconds.
        pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
            self.common.shutdown_timeout = timeout;
            self
        }

        /// Whether `serve_forever` stops on SIGINT and SIGTERM (a second signal forces).
        /// Default: true.
        pub fn handle_signals(mut self, on: bool) -> Self {
            self.common.handle_signals = on;
            self
        }

        /// Once every socket is bound, switch the process to this user (and group: by
        /// default the user's primary one) before serving: supplementary groups, gid, uid.
        /// Forked children inherit it. Failing to switch fails `build`; there is no silent
        /// fallback. Default: keep the starting user.
        pub fn run_as(mut self, user: impl Into<String>, group: Option<String>) -> Self {
            self.common.run_as = Some(RunAs::new(user, group));
            self
        }
    };
}

/// Configures a stream server (TCP v4/v6 and Unix listeners); every option states its default.
#[derive(Clone)]
pub struct ServerBuilder {
    common: Common,
    listeners: Vec<ListenerSpec>,
    nodelay: bool,
    read_timeout: Option<Duration>,
    buffer_sizes: BufferSizes,
    refusal: Option<Arc<[u8]>>,
    socket_activation: bool,
    /// PROXY protocol settings by listener name, applied at `build`.
    proxy: Vec<(String, ProxyProtocol)>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("name", &self.common.name)
            .field("listeners", &self.listeners)
            .field("mode", &self.common.mode)
            .field("max_connections", &self.common.max_connections)
            .field("read_timeout", &self.read_timeout)
            .field("shutdown_timeout", &self.common.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            common: Common::default(),
            listeners: Vec::new(),
            nodelay: true,
            read_timeout: None,
            buffer_sizes: BufferSizes::default(),
            refusal: None,
            socket_activation: true,
            proxy: Vec::new(),
        }
    }
}

impl Server<()> {
    /// Starts configuring a stream server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// A builder with every option at its default.
    pub fn new() -> Self {
        Self::default()
    }

    common_options!();

    /// Adds a listener (TCP v4/v6 or Unix) named after its address; may be called several
    /// times. Default: none; `build` fails with [`ServerError::NoAddress`] without one.
    pub fn listen(self, addr: impl Into<ListenAddr>) -> Self {
        let addr = addr.into();
        self.listen_as(addr.to_string(), addr)
    }

    /// Adds a listener with a name: connections report it ([`Connection::listener_name`]),
    /// and a socket the service manager passes under that name is used instead of binding.
    ///
    /// [`Connection::listener_name`]: crate::Connection::listener_name
    pub fn listen_as(mut self, name: impl Into<String>, addr: impl Into<ListenAddr>) -> Self {
        self.listeners.push(ListenerSpec {
            name: name.into(),
            addr: addr.into(),
            proxy: None,
        });
        self
    }

    /// PROXY protocol on the TCP listener named `listener`: a connection from a trusted
    /// sender must (or, if not required, may) start with a v1 or v2 header, and the client it
    /// names becomes the connection's peer; a header from anyone else, a malformed, truncated,
    /// late or missing required header closes the connection, with a log line saying why.
    /// `verify_request` still sees the socket's own peer. Default: no PROXY protocol; `build`
    /// fails if no listener has that name or it is a Unix listener.
    pub fn proxy_protocol(mut self, listener: &str, settings: ProxyProtocol) -> Self {
        self.proxy.push((listener.to_string(), settings));
        self
    }

    /// Length of the queue of connections not yet accepted (Python's `request_queue_size`).
    /// Default: 1024.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.common.bind.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// `TCP_NODELAY` on accepted TCP connections (Python's `disable_nagle_algorithm`).
    /// Default: true, since request/response protocols suffer from Nagle's delay.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// Bytes sent to a connection refused because `max_connections` (with
    /// [`LimitPolicy::Reject`]) is reached, just before it is closed; for example FTP's
    /// `421 Too many connections\r\n`. Sent only if the socket takes them at once.
    /// Default: none (the connection is closed without a word).
    pub fn refusal(mut self, line: impl Into<Vec<u8>>) -> Self {
        self.refusal = Some(Arc::from(line.into()));
        self
    }

    /// Whether listening sockets passed by the service manager (`LISTEN_FDS` with this
    /// process's `LISTEN_PID`) replace binding: matched to listeners by `LISTEN_FDNAMES`, or a
    /// lone socket to a lone listener. Default: true.
    pub fn socket_activation(mut self, on: bool) -> Self {
        self.socket_activation = on;
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

    /// Binds (or takes from the service manager) every listener, switches to the run-as
    /// account if one is set, and returns the server, ready to serve.
    pub fn build<H: RequestHandler>(mut self, handler: H) -> Result<Server<H>, ServerError> {
        if self.listeners.is_empty() {
            return Err(ServerError::NoAddress);
        }
        for (name, settings) in std::mem::take(&mut self.proxy) {
            let spec = self
                .listeners
                .iter_mut()
                .find(|spec| spec.name == name)
                .ok_or_else(|| {
                    ServerError::Unsupported(format!(
                        "PROXY protocol for {name:?}, but no listener has that name"
                    ))
                })?;
            if spec.addr.as_tcp().is_none() {
                return Err(ServerError::Unsupported(format!(
                    "PROXY protocol needs a TCP listener; {name:?} is {}",
                    spec.addr
                )));
            }
            spec.proxy = Some(Arc::new(settings));
        }
        let account = self.common.check()?;
        let bound = listener::bind_all(&self.listeners, self.common.bind, self.socket_activation)?;
        if let Some(account) = account {
            account.switch().map_err(ServerError::Privileges)?;
        }
        let listeners: Vec<ListenerInfo> = bound.iter().map(|l| (*l.info).clone()).collect();
        let info = ServerInfo {
            name: self.common.name.clone(),
            addrs: listeners.iter().map(|l| l.addr.clone()).collect(),
            listeners,
            socket_type: SocketType::Stream,
            mode: self.common.mode,
            read_timeout: self.read_timeout,
            buffer_sizes: self.buffer_sizes,
            shutdown_timeout: self.common.shutdown_timeout,
        };
        let shared = self.common.shared(info, self.refusal.clone(), self.nodelay);
        Ok(Server {
            intake: StreamIntake {
                handler,
                listeners: bound,
                shared: shared.clone(),
            },
            shared,
            state: ShutdownState::new()?,
        })
    }
}

/// Configures a UDP server; every option states its default.
#[derive(Clone)]
pub struct DatagramBuilder {
    common: Common,
    addr: Option<SocketAddr>,
    max_packet_size: usize,
}

impl std::fmt::Debug for DatagramBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramBuilder")
            .field("name", &self.common.name)
            .field("addr", &self.addr)
            .field("mode", &self.common.mode)
            .finish_non_exhaustive()
    }
}

impl DatagramServer<()> {
    /// Starts configuring a UDP server.
    pub fn builder() -> DatagramBuilder {
        DatagramBuilder {
            common: Common::default(),
            addr: None,
            max_packet_size: 8192,
        }
    }
}

impl DatagramBuilder {
    common_options!();

    /// The UDP address to bind. Default: none; `build` fails with
    /// [`ServerError::NoAddress`] without one.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// The largest UDP datagram received in full; longer ones are truncated
    /// (Python's `max_packet_size`). Default: 8192 bytes.
    pub fn max_packet_size(mut self, size: usize) -> Self {
        self.max_packet_size = size.max(1);
        self
    }

    /// Binds the UDP socket, switches to the run-as account if one is set, and returns the
    /// datagram server, ready to serve.
    pub fn build<D: DatagramHandler>(self, handler: D) -> Result<DatagramServer<D>, ServerError> {
        let addr = self.addr.ok_or(ServerError::NoAddress)?;
        let account = self.common.check()?;
        let (socket, local) = listener::bind_datagram(addr, self.common.bind)
            .map_err(|e| ServerError::bind(&addr, e))?;
        if let Some(account) = account {
            account.switch().map_err(ServerError::Privileges)?;
        }
        let listener = ListenerInfo {
            name: local.to_string(),
            addr: ListenAddr::Tcp(local),
            activated: false,
        };
        let info = ServerInfo {
            name: self.common.name.clone(),
            addrs: vec![listener.addr.clone()],
            listeners: vec![listener],
            socket_type: SocketType::Datagram,
            mode: self.common.mode,
            read_timeout: None,
            buffer_sizes: BufferSizes::default(),
            shutdown_timeout: self.common.shutdown_timeout,
        };
        let shared = self.common.shared(info, None, false);
        Ok(DatagramServer {
            intake: DatagramIntake {
                handler,
                socket: Some(Arc::new(socket)),
                local,
                buffer: vec![0u8; self.max_packet_size + 1],
                max_packet_size: self.max_packet_size,
            },
            shared,
            state: ShutdownState::new()?,
        })
    }
}
