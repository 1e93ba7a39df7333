//! The bottom of the framework: what a server knows about itself and shares with every
//! connection, the hook types, and the capabilities a mode offers handlers. Every other core
//! module may import this one; it imports none of them but leaf types.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::address::{ListenAddr, Peer};
use crate::error::ErrorReport;
use crate::mode::Mode;

/// Decides whether a peer may be served (Python's `verify_request`).
pub type VerifyHook = Arc<dyn Fn(&Peer) -> bool + Send + Sync>;
/// Reports a failed handler (Python's `handle_error`).
pub type ErrorHook = Arc<dyn Fn(&ErrorReport<'_>) + Send + Sync>;
/// Runs periodically in the serving loop (Python's `service_actions`).
pub type ServiceHook = Arc<dyn Fn() + Send + Sync>;

/// What to do with a new connection when `max_connections` are already being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LimitPolicy {
    /// Leave it in the kernel's backlog until a connection ends (the default).
    #[default]
    Wait,
    /// Accept it, send the refusal line if one is set, and close it at once.
    Reject,
}

/// Whether a server speaks streams (TCP, Unix) or datagrams (UDP): Python's `socket_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketType {
    /// Connection-oriented: TCP or Unix stream sockets.
    Stream,
    /// Datagrams: UDP.
    Datagram,
}

/// Capacities of a connection's read and write buffers, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSizes {
    /// The read buffer (Python's `rbufsize`).
    pub read: usize,
    /// The write buffer (Python's `wbufsize`).
    pub write: usize,
}

impl Default for BufferSizes {
    /// 8 KiB each, Python's `io.DEFAULT_BUFFER_SIZE`.
    fn default() -> Self {
        BufferSizes {
            read: 8 * 1024,
            write: 8 * 1024,
        }
    }
}

/// One bound listener as handlers and logs see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerInfo {
    /// The name given with `listen_as` (for `listen`, the address as text).
    pub name: String,
    /// The bound address, port 0 resolved.
    pub addr: ListenAddr,
    /// Whether it came from the service manager (socket activation) rather than a bind.
    pub activated: bool,
}

/// What the concurrency mode lets a handler count on, so handler code never asks which mode
/// runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The connection has a thread to itself (threading, forking, sequential): blocking work
    /// such as file writes may run inline. `false` in async mode, where a blocking call stalls
    /// other connections and belongs on a blocking pool.
    pub owns_thread: bool,
    /// Connections of this server share one address space, so in-memory state (counters,
    /// caches) is seen by all of them. `false` in forking mode, where such state must live in
    /// files or a database.
    pub shares_memory: bool,
}

impl Capabilities {
    /// What `mode` offers.
    pub(crate) fn of(mode: &Mode) -> Self {
        Capabilities {
            owns_thread: !matches!(mode, Mode::Async { .. }),
            shares_memory: !matches!(mode, Mode::Forking { .. }),
        }
    }
}

/// What a handler can see of its server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's name.
    pub name: String,
    /// The bound addresses, with port 0 resolved, in the order the listeners were added.
    pub addrs: Vec<ListenAddr>,
    /// The bound listeners with their names.
    pub listeners: Vec<ListenerInfo>,
    /// Streams or datagrams.
    pub socket_type: SocketType,
    /// The concurrency mode (for logs; handlers ask [`ServerInfo::capabilities`] instead).
    pub mode: Mode,
    /// The read timeout new connections start with.
    pub read_timeout: Option<Duration>,
    /// The buffer capacities of new connections.
    pub buffer_sizes: BufferSizes,
    /// How long shutdown waits for connections.
    pub shutdown_timeout: Duration,
}

impl ServerInfo {
    /// What the server's mode lets handlers count on.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::of(&self.mode)
    }

    /// The listener with this name, if any.
    pub fn listener(&self, name: &str) -> Option<&ListenerInfo> {
        self.listeners.iter().find(|listener| listener.name == name)
    }
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
    /// Sent to a connection refused by the cap before it is closed.
    pub(crate) refusal: Option<Arc<[u8]>>,
    /// The periodic hook and its interval.
    pub(crate) service_actions: Option<(Duration, ServiceHook)>,
    /// Set `TCP_NODELAY` on accepted TCP streams.
    pub(crate) nodelay: bool,
    /// Whether to stop on SIGINT/SIGTERM.
    pub(crate) handle_signals: bool,
    /// Source of connection ids.
    pub(crate) next_id: AtomicU64,
}

impl Shared {
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
}
