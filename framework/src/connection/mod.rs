//! One accepted stream connection as a handler sees it: buffered I/O, the peer (the real
//! client, after a PROXY header), addresses, the listener's name, socket options, TLS upgrade,
//! ownership of the transport, the id and the shutdown signal.
//!
//! - [`transport`]: [`Transport`], the owned stream, and the [`SocketOptions`] view.
//! - `deadline`: the read timeout.

mod deadline;
pub mod transport;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, BufReader, BufWriter, ReadBuf};

use crate::address::{ListenAddr, Peer};
use crate::shared::{BufferSizes, Capabilities, ListenerInfo, ServerInfo};
use crate::shutdown::ShutdownSignal;

use deadline::ReadDeadline;
pub(crate) use transport::Stream;
pub use transport::{IoStream, SocketOptions, Transport};

/// The buffered transport: Python's `rfile` and `wfile` over one stream.
type Buffered = BufReader<BufWriter<Stream>>;

/// The error for I/O on a connection whose transport is gone (taken, or a failed `upgrade`).
fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is closed")
}

fn buffered(stream: Stream, sizes: BufferSizes) -> Buffered {
    BufReader::with_capacity(sizes.read, BufWriter::with_capacity(sizes.write, stream))
}

/// Where a connection came from, as the accept path learnt it.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The client: the socket's peer, or the address a trusted PROXY header named.
    pub(crate) peer: Peer,
    /// The socket's peer when it sent a PROXY header (the balancer), else `None`.
    pub(crate) proxied_by: Option<SocketAddr>,
    /// The socket's own local address.
    pub(crate) local: ListenAddr,
    /// The listener it was accepted on.
    pub(crate) listener: Arc<ListenerInfo>,
}

/// An accepted connection: Python's `(request, client_address, server)`, with buffered I/O.
///
/// It reads and writes like a buffered stream (`AsyncBufRead` + `AsyncWrite`); written bytes
/// reach the peer on `flush`.
pub struct Connection {
    /// The buffered stream; `None` once the transport is taken, or while `upgrade` swaps it.
    io: Option<Buffered>,
    /// The socket under the stream, kept across a TLS upgrade for [`Connection::socket`].
    socket_fd: Option<RawFd>,
    /// Peer, balancer, local address and listener.
    origin: Origin,
    /// Unique within the server's lifetime, for logs.
    id: u64,
    /// Fires when the server starts shutting down.
    shutdown: ShutdownSignal,
    /// Name, address and options of the server that accepted the connection.
    server: Arc<ServerInfo>,
    /// How long a read may wait for data before failing with `TimedOut`.
    read_timeout: Option<Duration>,
    /// Armed while a read waits, disarmed when the read makes progress.
    read_deadline: ReadDeadline,
    /// The sender is not trusted to send a PROXY header: if its first bytes are one, the
    /// connection is closed. Cleared after the first bytes.
    refuse_proxy_header: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("peer", &self.origin.peer)
            .field("local", &self.origin.local)
            .field("listener", &self.origin.listener.name)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Wraps an accepted stream.
    pub(crate) fn new(
        stream: Stream,
        origin: Origin,
        id: u64,
        shutdown: ShutdownSignal,
        server: Arc<ServerInfo>,
    ) -> Self {
        let read_timeout = server.read_timeout;
        Connection {
            socket_fd: stream.raw_fd(),
            io: Some(buffered(stream, server.buffer_sizes)),
            origin,
            id,
            shutdown,
            server,
            read_timeout,
            read_deadline: ReadDeadline::default(),
            refuse_proxy_header: false,
        }
    }

    /// Closes the connection if its first bytes are a PROXY header (the sender is not trusted).
    pub(crate) fn refuse_proxy_header(&mut self) {
        self.refuse_proxy_header = true;
    }

    /// The client: the socket's peer, or, behind a trusted balancer that sent a PROXY header,
    /// the client the header named.
    pub fn peer(&self) -> &Peer {
        &self.origin.peer
    }

    /// The balancer's address when a trusted PROXY header named the client, else `None`.
    pub fn proxied_by(&self) -> Option<SocketAddr> {
        self.origin.proxied_by
    }

    /// The socket's own local address (for a wildcard listener, the address the client
    /// reached); for Unix sockets, the listener's path.
    pub fn local_addr(&self) -> &ListenAddr {
        &self.origin.local
    }

    /// The address of the listener the connection came in on, port 0 resolved.
    pub fn listener_addr(&self) -> &ListenAddr {
        &self.origin.listener.addr
    }

    /// The name of the listener the connection came in on (see `listen_as`).
    pub fn listener_name(&self) -> &str {
        &self.origin.listener.name
    }

    /// The connection's id, unique within the server's lifetime.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The server that accepted this connection.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// What the server's concurrency mode lets the handler count on.
    pub fn capabilities(&self) -> Capabilities {
        self.server.capabilities()
    }

    /// A signal that fires when the server begins a graceful shutdown.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Whether the server has begun shutting down.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_triggered()
    }

    /// The current read timeout (`None`: reads wait forever).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Sets how long a read may wait for data before failing with `ErrorKind::TimedOut`.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
        self.read_deadline.disarm();
    }

    /// Options of the socket under the connection (also under TLS); `None` once the transport
    /// was taken.
    pub fn socket(&self) -> Option<SocketOptions<'_>> {
        self.io.as_ref()?;
        let fd = self.socket_fd?;
        // SAFETY: the descriptor belongs to the stream in `self.io`, which outlives the borrow.
        Some(SocketOptions::new(unsafe { BorrowedFd::borrow_raw(fd) }))
    }

    /// A short name of the transport: `tcp`, `unix`, `blocking-tcp`, `blocking-unix`,
    /// `wrapped` (after `upgrade`) or `closed`.
    pub fn transport_kind(&self) -> &'static str {
        self.io
            .as_ref()
            .map_or("closed", |io| io.get_ref().get_ref().kind())
    }

    /// The bytes read from the peer but not yet consumed.
    pub fn buffered_input(&self) -> &[u8] {
        self.io.as_ref().map_or(&[], |io| io.buffer())
    }

    /// Takes the transport out of the connection, for a library that needs an owned stream.
    /// Pending output is flushed first; input read but not consumed comes first from the
    /// transport. The connection is closed for reads and writes afterwards.
    pub async fn take_transport(&mut self) -> io::Result<Transport> {
        use tokio::io::AsyncWriteExt;
        self.flush().await?;
        let io = self.io.take().ok_or_else(closed)?;
        let unread = io.buffer().to_vec();
        Ok(Transport::new(io.into_inner().into_inner(), unread))
    }

    /// Replaces the transport with what `wrap` makes of it, for example a TLS stream.
    ///
    /// Pending output is flushed first. Fails with `InvalidData` if the peer already sent bytes
    /// past the upgrade point (they would be read in clear), and the connection is then closed.
    pub async fn upgrade<F, Fut, S>(&mut self, wrap: F) -> io::Result<()>
    where
        F: FnOnce(Transport) -> Fut,
        Fut: std::future::Future<Output = io::Result<S>>,
        S: IoStream,
    {
        use tokio::io::AsyncWriteExt;
        self.flush().await?;
        let io = self.io.take().ok_or_else(closed)?;
        if !io.buffer().is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "peer sent data before the stream upgrade completed",
            ));
        }
        let wrapped = wrap(Transport::new(io.into_inner().into_inner(), Vec::new())).await?;
        self.io = Some(buffered(
            Stream::Wrapped(Box::new(wrapped)),
            self.server.buffer_sizes,
        ));
        Ok(())
    }

    fn io_pin(&mut self) -> io::Result<Pin<&mut Buffered>> {
        match self.io.as_mut() {
            Some(io) => Ok(Pin::new(io)),
            None => Err(closed()),
        }
    }
}

/// The error for a PROXY header from a sender that is not trusted to send one.
fn untrusted_header(origin: &Origin) -> io::Error {
    tracing::warn!(listener = %origin.listener.name, peer = %origin.peer,
        "connection refused: {}", crate::proxy::ProxyError::Untrusted);
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        crate::proxy::ProxyError::Untrusted,
    )
}

impl Connection {
    /// Checks the first bytes from an untrusted sender; `Err` (and the connection closed) if
    /// they are a PROXY header.
    fn probe_first_bytes(&mut self, first: &[u8]) -> io::Result<()> {
        if !self.refuse_proxy_header || first.is_empty() {
            return Ok(());
        }
        self.refuse_proxy_header = false;
        if crate::proxy::starts_with_header(first) {
            self.io = None;
            return Err(untrusted_header(&self.origin));
        }
        Ok(())
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let Connection {
            io,
            read_timeout,
            read_deadline,
            ..
        } = this;
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Err(closed()));
        };
        match Pin::new(io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                read_deadline.disarm();
                Poll::Ready(this.probe_first_bytes(&buf.filled()[before..]))
            }
            Poll::Ready(result) => {
                read_deadline.disarm();
                Poll::Ready(result)
            }
            Poll::Pending => read_deadline.poll(*read_timeout, cx).map(Err),
        }
    }
}

impl AsyncBufRead for Connection {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.refuse_proxy_header {
            // Look at the first bytes before handing them out.
            let first = match this.io.as_mut() {
                Some(io) => match Pin::new(io).poll_fill_buf(cx) {
                    Poll::Ready(Ok(first)) => first.to_vec(),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        return this.read_deadline.poll(this.read_timeout, cx).map(Err);
                    }
                },
                None => return Poll::Ready(Err(closed())),
            };
            if let Err(e) = this.probe_first_bytes(&first) {
                return Poll::Ready(Err(e));
            }
        }
        let Connection {
            io,
            read_timeout,
            read_deadline,
            ..
        } = this;
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Err(closed()));
        };
        match Pin::new(io).poll_fill_buf(cx) {
            Poll::Ready(result) => {
                read_deadline.disarm();
                Poll::Ready(result)
            }
            Poll::Pending => read_deadline.poll(*read_timeout, cx).map(Err),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        if let Some(io) = self.get_mut().io.as_mut() {
            Pin::new(io).consume(amt);
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().io_pin() {
            Ok(io) => io.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().io_pin() {
            Ok(io) => io.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().io_pin() {
            Ok(io) => io.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
