//! Binding listening sockets with the server's socket options.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::address::ListenAddr;

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
    /// A Unix stream socket; the guard removes its file when dropped.
    Unix(
        UnixListener,
        #[allow(dead_code, reason = "held for its Drop, which removes the socket file")]
        UnixSocketFile,
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
                StdListener::Unix(socket.into(), guard),
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
