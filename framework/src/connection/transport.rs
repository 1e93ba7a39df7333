//! The transport under a connection: the socket (or what a handler wrapped it in), hidden
//! behind [`Transport`] so handlers never depend on how a mode set the socket up.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::blocking_io;

/// Any bidirectional byte stream a connection can be upgraded to (for example TLS).
pub trait IoStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> IoStream for T {}

/// How the accepted socket is driven; private, so handler code cannot depend on it.
pub(crate) enum Stream {
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

impl Stream {
    /// A short name of the transport, for logs and tests.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Stream::Tcp(_) => "tcp",
            Stream::Unix(_) => "unix",
            Stream::BlockingTcp(_) => "blocking-tcp",
            Stream::BlockingUnix(_) => "blocking-unix",
            Stream::Wrapped(_) => "wrapped",
        }
    }

    /// The socket's descriptor, unless the stream is wrapped.
    pub(crate) fn raw_fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tcp(s) => Some(s.as_raw_fd()),
            Stream::Unix(s) => Some(s.as_raw_fd()),
            Stream::BlockingTcp(s) => Some(s.as_raw_fd()),
            Stream::BlockingUnix(s) => Some(s.as_raw_fd()),
            Stream::Wrapped(_) => None,
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

/// A connection's transport, owned: for a TLS upgrade or a library that needs an owned
/// stream. Bytes the connection had read but not consumed come first.
pub struct Transport {
    /// The stream itself.
    stream: Stream,
    /// Input the connection's buffer held when the transport was taken.
    unread: Vec<u8>,
    /// How much of `unread` has been read since.
    unread_pos: usize,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("kind", &self.stream.kind())
            .field("unread", &(self.unread.len() - self.unread_pos))
            .finish()
    }
}

impl Transport {
    pub(crate) fn new(stream: Stream, unread: Vec<u8>) -> Self {
        Transport {
            stream,
            unread,
            unread_pos: 0,
        }
    }

    /// A short name of the transport: `tcp`, `unix`, `blocking-tcp`, `blocking-unix` or
    /// `wrapped`.
    pub fn kind(&self) -> &'static str {
        self.stream.kind()
    }

    /// Socket options, where the transport is a socket (not once it is wrapped).
    pub fn socket(&self) -> Option<SocketOptions<'_>> {
        let fd = self.stream.raw_fd()?;
        // SAFETY: the descriptor belongs to `self.stream`, which outlives the borrow.
        Some(SocketOptions::new(unsafe { BorrowedFd::borrow_raw(fd) }))
    }

    /// Looks at the next bytes without consuming them: the unread input first, then the
    /// socket's (TCP only; `Unsupported` on other transports).
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let unread = &self.unread[self.unread_pos..];
        if !unread.is_empty() {
            let n = unread.len().min(buf.len());
            buf[..n].copy_from_slice(&unread[..n]);
            return Ok(n);
        }
        match &mut self.stream {
            Stream::Tcp(tcp) => tcp.peek(buf).await,
            Stream::BlockingTcp(tcp) => loop {
                match tcp.peek(buf) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        tokio::task::yield_now().await;
                    }
                    other => break other,
                }
            },
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "peeking needs a TCP transport",
            )),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let unread = &this.unread[this.unread_pos..];
        if !unread.is_empty() {
            let n = unread.len().min(buf.remaining());
            buf.put_slice(&unread[..n]);
            this.unread_pos += n;
            if this.unread_pos == this.unread.len() {
                this.unread = Vec::new();
                this.unread_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A narrow view of a connection's socket: the options handlers may read or set.
#[derive(Debug, Clone, Copy)]
pub struct SocketOptions<'a> {
    /// The socket, borrowed from its transport.
    fd: BorrowedFd<'a>,
}

impl<'a> SocketOptions<'a> {
    pub(crate) fn new(fd: BorrowedFd<'a>) -> Self {
        SocketOptions { fd }
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(&self.fd)
    }

    /// The socket's own local address (for a TCP socket; `None` for Unix sockets).
    pub fn local_addr(&self) -> io::Result<Option<SocketAddr>> {
        Ok(self.sock().local_addr()?.as_socket())
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock().set_tcp_nodelay(on)
    }

    /// Sets `SO_OOBINLINE`: TCP urgent data stays in the normal stream (FTP's ABOR may come
    /// that way).
    pub fn set_out_of_band_inline(&self, on: bool) -> io::Result<()> {
        self.sock().set_out_of_band_inline(on)
    }

    /// Sets `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.sock().set_keepalive(on)
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock().set_send_buffer_size(size)
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        self.sock().set_recv_buffer_size(size)
    }
}
