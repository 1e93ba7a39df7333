//! Binding listening sockets with the server's socket options, and accepting on them.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::address::{ListenAddr, Peer};
use crate::blocking_io;
use crate::connection::Stream;

/// Socket options applied at bind time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BindOptions {
    /// Length of the kernel's queue of not-yet-accepted connections.
    pub(crate) backlog: i32,
    /// `SO_REUSEADDR`.
    pub(crate) reuse_address: bool,
    /// `SO_REUSEPORT`.
    pub(crate) reuse_port: bool,
}

/// A bound, listening, non-blocking std socket.
#[derive(Debug)]
pub(crate) enum StdListener {
    /// TCP over IPv4 or IPv6.
    Tcp(std::net::TcpListener),
    /// A Unix stream socket; the guard (absent for an inherited socket) removes its file when dropped.
    Unix(
        UnixListener,
        #[allow(dead_code, reason = "held for its Drop, which removes the socket file")]
        Option<UnixSocketFile>,
    ),
}

impl StdListener {
    /// The raw descriptor, for `poll`.
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            StdListener::Tcp(l) => l.as_raw_fd(),
            StdListener::Unix(l, _) => l.as_raw_fd(),
        }
    }

    /// The descriptor, borrowed, for `poll` and readiness.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            StdListener::Tcp(l) => l.as_fd(),
            StdListener::Unix(l, _) => l.as_fd(),
        }
    }

    /// Accepts one waiting connection without blocking.
    pub(crate) fn accept(&self) -> io::Result<(StdStream, Peer)> {
        match self {
            StdListener::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (StdStream::Tcp(s), Peer::Ip(peer))),
            StdListener::Unix(l, _) => l.accept().map(|(s, peer)| {
                let path = peer.as_pathname().map(|p| p.to_path_buf());
                (StdStream::Unix(s), Peer::Unix(path))
            }),
        }
    }
}

/// An accepted std stream, before it is handed to a runtime.
#[derive(Debug)]
pub(crate) enum StdStream {
    /// TCP.
    Tcp(std::net::TcpStream),
    /// Unix stream.
    Unix(std::os::unix::net::UnixStream),
}

impl StdStream {
    /// Registers the stream with the current tokio runtime, or (`blocking`) makes it a
    /// blocking stream that reads and writes on the calling thread.
    pub(crate) fn into_stream(self, blocking: bool) -> io::Result<Stream> {
        Ok(match self {
            StdStream::Tcp(s) if blocking => {
                blocking_io::prepare(&s)?;
                Stream::BlockingTcp(s)
            }
            StdStream::Unix(s) if blocking => {
                blocking_io::prepare(&s)?;
                Stream::BlockingUnix(s)
            }
            StdStream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Stream::Tcp(tokio::net::TcpStream::from_std(s)?)
            }
            StdStream::Unix(s) => {
                s.set_nonblocking(true)?;
                Stream::Unix(tokio::net::UnixStream::from_std(s)?)
            }
        })
    }

    /// Writes `bytes` if the socket takes them at once, then closes it: a refusal line.
    pub(crate) fn refuse(self, bytes: &[u8]) {
        use std::io::Write;
        // The socket is non-blocking: a peer that does not read loses the line, never
        // stalls the accept loop.
        let _ = match self {
            StdStream::Tcp(mut s) => s.set_nonblocking(true).and_then(|()| s.write(bytes)),
            StdStream::Unix(mut s) => s.set_nonblocking(true).and_then(|()| s.write(bytes)),
        };
    }
}

/// Removes a Unix socket file on drop, if it is still the one this server created.
#[derive(Debug)]
pub(crate) struct UnixSocketFile {
    path: PathBuf,
    /// Device and inode of the socket file we bound, so a newer server's file is left alone.
    identity: (u64, u64),
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a stream listener and returns it with its resolved address (port 0 filled in).
pub(crate) fn bind_stream(
    addr: &ListenAddr,
    options: BindOptions,
) -> io::Result<(StdListener, ListenAddr)> {
    match addr {
        ListenAddr::Tcp(socket_addr) => {
            let socket = ip_socket(*socket_addr, Type::STREAM, Protocol::TCP, options)?;
            socket.listen(options.backlog)?;
            let listener: std::net::TcpListener = socket.into();
            let resolved = listener.local_addr()?;
            Ok((StdListener::Tcp(listener), ListenAddr::Tcp(resolved)))
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path)?;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
            socket.set_nonblocking(true)?;
            socket.bind(&SockAddr::unix(path)?)?;
            let meta = std::fs::symlink_metadata(path)?;
            let guard = UnixSocketFile {
                path: path.clone(),
                identity: (meta.dev(), meta.ino()),
            };
            socket.listen(options.backlog)?;
            Ok((
                StdListener::Unix(socket.into(), Some(guard)),
                ListenAddr::Unix(path.clone()),
            ))
        }
    }
}

/// Binds a UDP socket and returns it with its resolved address.
pub(crate) fn bind_datagram(
    addr: SocketAddr,
    options: BindOptions,
) -> io::Result<(std::net::UdpSocket, SocketAddr)> {
    let socket = ip_socket(addr, Type::DGRAM, Protocol::UDP, options)?;
    let socket: std::net::UdpSocket = socket.into();
    let resolved = socket.local_addr()?;
    Ok((socket, resolved))
}

fn ip_socket(
    addr: SocketAddr,
    kind: Type,
    protocol: Protocol,
    options: BindOptions,
) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        // `[::]` and `0.0.0.0` on one port are then two independent servers, as on BSD.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(options.reuse_address)?;
    socket.set_reuse_port(options.reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Removes a socket file left by a server that died; refuses to touch anything else.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server is already listening on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}
