//! Stream connections as units of work: accepted from the named listeners, then (wherever the
//! mode runs them) registered, given their origin, and run through setup, handle and finish.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::pin::pin;
use std::sync::Arc;

use crate::address::{ListenAddr, Peer};
use crate::catch_unwind::CatchUnwind;
use crate::connection::{Connection, Origin};
use crate::error::{ErrorReport, Failure, Phase};
use crate::handler::{HandlerError, RequestHandler};
use crate::listener::{BoundListener, StdStream};
use crate::proxy::ProxyProtocol;
use crate::shared::{ListenerInfo, Shared};
use crate::shutdown::{ShutdownSignal, bounded_by_shutdown};
use crate::strategy::{Intake, Work};

/// The listeners of a stream server and the handler prototype.
pub(crate) struct StreamIntake<H> {
    /// Cloned for each connection.
    pub(crate) handler: H,
    /// Bound listeners, in the order they were added.
    pub(crate) listeners: Vec<BoundListener>,
    /// Ids and socket options.
    pub(crate) shared: Arc<Shared>,
}

impl<H: RequestHandler> Intake for StreamIntake<H> {
    type Work = StreamWork<H>;

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listeners.iter().map(|l| l.socket.fd()).collect()
    }

    fn take(&mut self, index: usize) -> io::Result<StreamWork<H>> {
        let listener = &self.listeners[index];
        let (stream, peer) = listener.socket.accept()?;
        if let (StdStream::Tcp(tcp), true) = (&stream, self.shared.nodelay)
            && let Err(e) = tcp.set_nodelay(true)
        {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        Ok(StreamWork {
            handler: self.handler.clone(),
            stream,
            peer,
            listener: listener.info.clone(),
            proxy: listener.proxy.clone(),
            id: self.shared.next_id(),
        })
    }

    fn child_closes(&self) -> Vec<RawFd> {
        self.listeners.iter().map(|l| l.socket.raw_fd()).collect()
    }

    fn close(&mut self) {
        self.listeners.clear();
    }
}

/// One accepted connection, not yet registered with a runtime.
pub(crate) struct StreamWork<H> {
    handler: H,
    stream: StdStream,
    /// The socket's peer.
    peer: Peer,
    listener: Arc<ListenerInfo>,
    /// The listener's PROXY protocol settings, if any.
    proxy: Option<Arc<ProxyProtocol>>,
    id: u64,
}

/// Where the connection really comes from: the PROXY stage, run where the connection runs
/// (never in the accept loop, which a slow sender must not stall).
struct Proxied {
    stream: StdStream,
    peer: Peer,
    proxied_by: Option<SocketAddr>,
    /// The sender is not trusted: a header from it must close the connection.
    refuse_header: bool,
}

/// Runs the PROXY stage of `stream` from `peer` on a listener with `settings`; `Err` closes
/// the connection (the reason is logged).
async fn proxy_stage(
    stream: StdStream,
    peer: Peer,
    settings: &ProxyProtocol,
    listener: &ListenerInfo,
) -> Result<Proxied, ()> {
    let plain = |stream, peer, refuse_header| Proxied {
        stream,
        peer,
        proxied_by: None,
        refuse_header,
    };
    let Some(sender) = peer.ip() else {
        return Ok(plain(stream, peer, false));
    };
    if !settings.is_trusted(sender.ip()) {
        return Ok(plain(stream, peer, true));
    }
    let tcp = match stream {
        StdStream::Tcp(tcp) => tcp,
        other => return Ok(plain(other, peer, false)),
    };
    let refused = |reason: &dyn std::fmt::Display| {
        tracing::warn!(listener = %listener.name, %sender, "connection refused: {reason}");
    };
    let registered = tcp
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(tcp));
    let mut tcp = match registered {
        Ok(tcp) => tcp,
        Err(e) => {
            refused(&e);
            return Err(());
        }
    };
    let header = crate::proxy::read_header(&mut tcp, settings).await;
    let stream = match tcp.into_std() {
        Ok(tcp) => StdStream::Tcp(tcp),
        Err(e) => {
            refused(&e);
            return Err(());
        }
    };
    match header {
        Ok(Some(addrs)) => {
            tracing::debug!(listener = %listener.name, %sender, client = %addrs.source,
                "PROXY header");
            Ok(Proxied {
                stream,
                peer: Peer::Ip(addrs.source),
                proxied_by: Some(sender),
                refuse_header: false,
            })
        }
        Ok(None) => Ok(plain(stream, peer, false)),
        // A balancer's TCP health check connects and closes: nothing worth a warning.
        Err(crate::proxy::ProxyError::Closed) => {
            tracing::debug!(listener = %listener.name, %sender, "closed before a PROXY header");
            Err(())
        }
        Err(e) => {
            refused(&e);
            Err(())
        }
    }
}

impl<H: RequestHandler> Work for StreamWork<H> {
    fn peer(&self) -> &Peer {
        &self.peer
    }

    fn refuse(self, shared: &Shared) {
        if let Some(line) = &shared.refusal {
            self.stream.refuse(line);
        }
    }

    async fn run(
        self,
        shared: Arc<Shared>,
        signal: ShutdownSignal,
        blocking_sockets: bool,
    ) -> bool {
        let StreamWork {
            handler,
            stream,
            peer,
            listener,
            proxy,
            id,
        } = self;
        let proxied = match &proxy {
            Some(settings) => match proxy_stage(stream, peer, settings, &listener).await {
                Ok(proxied) => proxied,
                Err(()) => return true,
            },
            None => Proxied {
                stream,
                peer,
                proxied_by: None,
                refuse_header: false,
            },
        };
        let Proxied {
            stream,
            peer,
            proxied_by,
            refuse_header,
        } = proxied;
        let local = match &stream {
            StdStream::Tcp(tcp) => tcp.local_addr().map(ListenAddr::Tcp),
            StdStream::Unix(_) => Ok(listener.addr.clone()),
        };
        let registered = local.and_then(|local| {
            stream
                .into_stream(blocking_sockets && H::BLOCKING_IO)
                .map(|stream| (stream, local))
        });
        let (stream, local) = match registered {
            Ok(registered) => registered,
            Err(e) => {
                tracing::error!(conn = id, "cannot register connection: {e}");
                return false;
            }
        };
        let origin = Origin {
            peer,
            proxied_by,
            local,
            listener,
        };
        let mut conn = Connection::new(stream, origin, id, signal, shared.info.clone());
        if refuse_header {
            conn.refuse_proxy_header();
        }
        run_bounded(handler, conn, &shared).await;
        true
    }
}

/// Runs setup, handle and finish on one connection, reporting failures; `finish` runs iff
/// `setup` succeeded. Returns once the handler is done and the output is flushed.
async fn run_connection<H: RequestHandler>(mut handler: H, mut conn: Connection, shared: &Shared) {
    let setup = CatchUnwind::new(pin!(handler.setup(&mut conn))).await;
    if !report(shared, &conn, Phase::Setup, setup) {
        return;
    }
    let handled = CatchUnwind::new(pin!(handler.handle(&mut conn))).await;
    let handled_ok = report(shared, &conn, Phase::Handle, handled);
    let finished = CatchUnwind::new(pin!(handler.finish(&mut conn))).await;
    let finished_ok = report(shared, &conn, Phase::Finish, finished);
    if handled_ok && finished_ok {
        use tokio::io::AsyncWriteExt;
        // Python's StreamRequestHandler.finish flushes wfile; a peer that left makes this fail,
        // which is nothing to report.
        let _ = conn.shutdown().await;
    }
}

/// Runs a connection, cut short by a forced shutdown or a graceful one that outlasts the
/// server's shutdown timeout.
async fn run_bounded<H: RequestHandler>(handler: H, conn: Connection, shared: &Shared) {
    let signal = conn.shutdown_signal();
    let id = conn.id();
    let grace = shared.info.shutdown_timeout;
    if bounded_by_shutdown(pin!(run_connection(handler, conn, shared)), &signal, grace)
        .await
        .is_none()
    {
        tracing::info!(server = %shared.info.name, conn = id, "connection closed by shutdown");
    }
}

/// Reports a failed phase to `handle_error`; returns whether the phase succeeded.
fn report(
    shared: &Shared,
    conn: &Connection,
    phase: Phase,
    outcome: Result<Result<(), HandlerError>, String>,
) -> bool {
    let failure_error;
    let panic_message;
    let failure = match &outcome {
        Ok(Ok(())) => return true,
        Ok(Err(error)) => {
            failure_error = error;
            Failure::Error(failure_error.as_ref())
        }
        Err(message) => {
            panic_message = message;
            Failure::Panic(panic_message)
        }
    };
    (shared.handle_error)(&ErrorReport {
        server: &shared.info.name,
        connection_id: conn.id(),
        peer: conn.peer(),
        local: conn.local_addr(),
        phase,
        failure,
    });
    false
}
