//! One accepted stream connection as a handler sees it: the stream, addresses, id and signals.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, BufReader, BufWriter, ReadBuf};
use tokio::time::Sleep;

use crate::address::{ListenAddr, Peer};
use crate::blocking_io;
use crate::server::ServerInfo;
use crate::shutdown::ShutdownSignal;

/// The buffered transport: Python's `rfile` and `wfile` over one stream.
type Buffered = BufReader<BufWriter<Stream>>;

/// The error for I/O on a connection whose transport is gone (after a failed `upgrade`).
fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection is closed")
}

fn buffered(stream: Stream, sizes: BufferSizes) -> Buffered {
    BufReader::with_capacity(sizes.read, BufWriter::with_capacity(sizes.write, stream))
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

/// Any bidirectional byte stream a connection can be upgraded to (for example TLS).
pub trait IoStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> IoStream for T {}

/// The transport under a connection.
pub enum Stream {
    /// A TCP stream over IPv4 or IPv6.
    Tcp(tokio::net::TcpStream),
    /// A Unix-domain stream socket.
    Unix(tokio::net::UnixStream),
    /// A TCP stream in blocking mode, for a handler with `BLOCKING_IO` in threading or
    /// forking mode.
    BlockingTcp(std::net::TcpStream),
    /// A Unix-domain stream socket in blocking mode, as `BlockingTcp`.
    BlockingUnix(std::os::unix::net::UnixStream),
    /// A stream wrapped by the handler, such as TLS over one of the others.
    Wrapped(Box<dyn IoStream>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            Stream::Unix(s) => f.debug_tuple("Unix").field(s).finish(),
            Stream::BlockingTcp(s) => f.debug_tuple("BlockingTcp").field(s).finish(),
            Stream::BlockingUnix(s) => f.debug_tuple("BlockingUnix").field(s).finish(),
            Stream::Wrapped(_) => f.write_str("Wrapped(..)"),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr, blocking $b:ident => $be:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
            Stream::Wrapped($s) => $e,
            Stream::BlockingTcp($b) => $be,
            Stream::BlockingUnix($b) => $be,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf),
            blocking s => blocking_io::poll_read(&*s, cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf),
            blocking s => blocking_io::poll_write(&*s, cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx), blocking _s => Poll::Ready(Ok(())))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx),
            blocking s => Poll::Ready(s.shutdown(std::net::Shutdown::Write)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs),
            blocking s => blocking_io::poll_write_vectored(&*s, cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Wrapped(s) => s.is_write_vectored(),
            Stream::BlockingTcp(_) | Stream::BlockingUnix(_) => true,
        }
    }
}

/// An accepted connection: Python's `(request, client_address, server)`, with buffered I/O.
///
/// It reads and writes like a buffered stream (`AsyncBufRead` + `AsyncWrite`); written bytes
/// reach the peer on `flush`.
pub struct Connection {
    /// The buffered stream; `None` only while `upgrade` swaps the transport.
    io: Option<Buffered>,
    /// Who is on the other end.
    peer: Peer,
    /// The address this side of the connection is bound to.
    local: ListenAddr,
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
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Wraps an accepted stream.
    pub(crate) fn new(
        stream: Stream,
        peer: Peer,
        local: ListenAddr,
        id: u64,
        shutdown: ShutdownSignal,
        server: Arc<ServerInfo>,
    ) -> Self {
        let read_timeout = server.read_timeout;
        Connection {
            io: Some(buffered(stream, server.buffer_sizes)),
            peer,
            local,
            id,
            shutdown,
            server,
            read_timeout,
            read_deadline: ReadDeadline::default(),
        }
    }

    /// The address of the peer.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The local address of this connection.
    pub fn local_addr(&self) -> &ListenAddr {
        &self.local
    }

    /// The connection's id, unique within the server's lifetime.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The server that accepted this connection.
    pub fn server(&self) -> &ServerInfo {
        &self.server
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

    /// The transport under the buffers (`None` after a failed `upgrade` closed it).
    pub fn stream(&self) -> Option<&Stream> {
        self.io.as_ref().map(|io| io.get_ref().get_ref())
    }

    /// The transport under the buffers, mutably; bypassing the buffers loses buffered bytes.
    pub fn stream_mut(&mut self) -> Option<&mut Stream> {
        self.io.as_mut().map(|io| io.get_mut().get_mut())
    }

    /// The bytes read from the peer but not yet consumed.
    pub fn buffered_input(&self) -> &[u8] {
        self.io.as_ref().map_or(&[], |io| io.buffer())
    }

    /// Replaces the transport with what `wrap` makes of it, for example a TLS stream.
    ///
    /// Pending output is flushed first. Fails with `InvalidData` if the peer already sent bytes
    /// past the upgrade point (they would be read in clear), and the connection is then closed.
    pub async fn upgrade<F, Fut, S>(&mut self, wrap: F) -> io::Result<()>
    where
        F: FnOnce(Stream) -> Fut,
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
        let wrapped = wrap(io.into_inner().into_inner()).await?;
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

/// The deadline of a read that waits for data; its timer is allocated once and re-armed.
#[derive(Default)]
struct ReadDeadline {
    /// The timer, allocated on the first wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether the timer belongs to the current wait.
    armed: bool,
}

impl ReadDeadline {
    /// Forgets the current wait (the read made progress).
    fn disarm(&mut self) {
        self.armed = false;
    }

    /// After the inner read returned `Pending`: arms the timer on the first call of a wait and
    /// reports `TimedOut` once it fires.
    fn poll(&mut self, timeout: Option<Duration>, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if !self.armed {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data from the peer for {timeout:?}"),
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future as _;

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Connection {
            io,
            read_timeout,
            read_deadline,
            ..
        } = self.get_mut();
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Err(closed()));
        };
        match Pin::new(io).poll_read(cx, buf) {
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
        let Connection {
            io,
            read_timeout,
            read_deadline,
            ..
        } = self.get_mut();
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
