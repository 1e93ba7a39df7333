//! Zero-copy downloads: `sendfile(2)` moves a file's pages from the page cache to a clear
//! (non-TLS) data connection without copying them through this process, and `splice(2)`
//! moves an object storage response's body from its socket to the data connection through a
//! pipe, which passes the kernel's page references instead of copies.
//!
//! The data connection is a non-blocking tokio socket: each `sendfile` call sends what the
//! socket buffer takes and returns, `EAGAIN` waits for writability, so a slow client holds no
//! thread. Reads of a file not in the page cache happen inside the call, as with vsftpd's and
//! pyftpdlib's `sendfile` loops.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Most bytes asked of one `sendfile` call: large enough that a fast client costs few calls,
/// small enough that ABOR and progress reports are seen between calls.
const SENDFILE_CHUNK: usize = 4 * 1024 * 1024;

/// Longest wait for the socket to report room before `sendfile` is simply tried again.
///
/// After `sendfile` says `EAGAIN` the socket's next writability edge does not always come
/// (seen on Linux 6.18 with a slow reader: the socket drained, no `EPOLLOUT` followed, and the
/// transfer stalled until the idle timeout; `write` on the same socket does not show it).
/// Retrying after a short wait bounds such a stall; a client that really is slow costs one
/// extra call per interval. Most waits are not lost edges: a socket reports room only once
/// a third of its send buffer has drained, which the bound on unsent bytes (see
/// `session/data.rs`) keeps short (docs/benchmarks.md, change 3).
const WRITABLE_RECHECK: Duration = Duration::from_millis(20);

/// Sends the next bytes of `file` (from its current position, which advances) to `stream`,
/// waiting until the socket can take some. `Ok(0)` is the end of the file.
pub(crate) async fn send_some(stream: &TcpStream, file: &impl AsFd) -> io::Result<usize> {
    when_writable(stream, || sendfile(stream, file)).await
}

/// Runs `send` (a non-blocking call that writes to `stream`) once the socket can take some
/// bytes, again after every `EAGAIN`; returns its count.
async fn when_writable(
    stream: &TcpStream,
    mut send: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        let signalled = match tokio::time::timeout(WRITABLE_RECHECK, stream.writable()).await {
            Ok(ready) => ready.map(|()| true)?,
            Err(_) => false,
        };
        let sent = if signalled {
            // `EAGAIN` clears tokio's readiness, so the next wait is for a new edge.
            stream.try_io(Interest::WRITABLE, &mut send)
        } else {
            // No edge came: try anyway (tokio believes the socket full and would skip the call).
            send()
        };
        match sent {
            Ok(count) => return Ok(count),
            Err(error) if retry(&error) => {}
            Err(error) => return Err(error),
        }
    }
}

/// Whether a non-blocking call's error only means "not now".
fn retry(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One `sendfile(2)` call from the file's position.
fn sendfile(stream: &TcpStream, file: &impl AsFd) -> io::Result<usize> {
    // SAFETY: both descriptors are open for the whole call (borrowed from owners that outlive
    // it); a null offset makes the kernel use and advance the file position.
    let sent = unsafe {
        libc::sendfile(
            stream.as_raw_fd(),
            file.as_fd().as_raw_fd(),
            std::ptr::null_mut(),
            SENDFILE_CHUNK,
        )
    };
    // A negative count is the error in errno; anything else fits a usize.
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// Most bytes a splice pipe is asked to hold: the more it holds, the fewer calls per byte.
const PIPE_SIZE: usize = 1024 * 1024;

/// A pipe for [`splice_some`]; one per download (and source socket).
pub(crate) struct Pipe {
    /// The end bytes leave by.
    read: OwnedFd,
    /// The end bytes enter by.
    write: OwnedFd,
    /// Bytes it holds at most.
    capacity: usize,
    /// The `SO_RCVLOWAT` last set on the source socket (0: not set).
    low_water: AtomicUsize,
}

impl Pipe {
    /// A non-blocking pipe of up to [`PIPE_SIZE`] bytes (less if the kernel refuses the size:
    /// a user past `/proc/sys/fs/pipe-user-pages-soft` keeps the default).
    pub(crate) fn new() -> io::Result<Pipe> {
        let mut fds: [libc::c_int; 2] = [0; 2];
        // SAFETY: `fds` has room for the two descriptors the call writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the call just opened both descriptors; nothing else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let wanted = libc::c_int::try_from(PIPE_SIZE).unwrap_or(libc::c_int::MAX);
        // SAFETY: fcntl on a descriptor owned here, with an int argument, as both commands take.
        let mut capacity = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, wanted) };
        if capacity <= 0 {
            // SAFETY: as above; F_GETPIPE_SZ takes no argument.
            capacity = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        }
        let capacity = usize::try_from(capacity)
            .ok()
            .filter(|&capacity| capacity > 0)
            .ok_or_else(io::Error::last_os_error)?;
        Ok(Pipe {
            read,
            write,
            capacity,
            low_water: AtomicUsize::new(0),
        })
    }
}

/// Which side of a [`splice_some`] failed.
#[derive(Debug)]
pub(crate) enum SpliceError {
    /// Reading the source socket.
    Source(io::Error),
    /// Writing the destination socket.
    Sink(io::Error),
}

/// Moves up to `max` bytes from `from` to `to` through `pipe` (empty before and after): waits
/// until `from` has bytes, takes what it has up to the pipe's capacity, and hands all of them
/// to `to`. `Ok(0)` is the end of `from`.
pub(crate) async fn splice_some(
    from: &TcpStream,
    pipe: &Pipe,
    to: &TcpStream,
    max: u64,
) -> Result<usize, SpliceError> {
    let wanted = usize::try_from(max)
        .unwrap_or(usize::MAX)
        .min(pipe.capacity);
    let low_water = wanted.min(RECEIVE_LOW_WATER);
    if pipe.low_water.swap(low_water, Ordering::Relaxed) != low_water {
        set_receive_low_water(from, low_water);
    }
    let filled = loop {
        from.readable().await.map_err(SpliceError::Source)?;
        match from.try_io(Interest::READABLE, || {
            splice(from.as_fd(), pipe.write.as_fd(), wanted)
        }) {
            Ok(count) => break count,
            Err(error) if retry(&error) => {}
            Err(error) => return Err(SpliceError::Source(error)),
        }
    };
    let mut left = filled;
    while left > 0 {
        let sent = when_writable(to, || splice(pipe.read.as_fd(), to.as_fd(), left))
            .await
            .map_err(SpliceError::Sink)?;
        if sent == 0 {
            return Err(SpliceError::Sink(io::ErrorKind::WriteZero.into()));
        }
        left -= sent;
    }
    Ok(filled)
}

/// Bytes a splice's source socket gathers before it reports readable (`SO_RCVLOWAT`), so
/// each splice moves many packets' worth instead of whatever the last wakeup found.
const RECEIVE_LOW_WATER: usize = 256 * 1024;

/// Sets `SO_RCVLOWAT`; a refusal only costs smaller splices.
fn set_receive_low_water(socket: &TcpStream, bytes: usize) {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt on a descriptor borrowed for the call, with an int option value.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// One non-blocking `splice(2)` call of up to `count` bytes, at the descriptors' positions.
fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, count: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are borrowed for the call; null offsets use neither's position
    // (sockets and pipes have none).
    let moved = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            count,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    // A negative count is the error in errno; anything else fits a usize.
    usize::try_from(moved).map_err(|_| io::Error::last_os_error())
}

/// Whether a `sendfile` or `splice` error means the pair of descriptors does not support it (so a plain
/// copy should be used), rather than a failed connection.
pub(crate) fn unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_file_goes_out_whole_from_its_position() {
        let mut file = tempfile::tempfile().unwrap();
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&content).unwrap();
        file.seek(SeekFrom::Start(1000)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            received
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut total = 0;
        loop {
            match send_some(&stream, &file).await.unwrap() {
                0 => break,
                sent => total += sent,
            }
        }
        drop(stream);
        assert_eq!(total, content.len() - 1000);
        assert_eq!(reader.await.unwrap(), content[1000..]);
    }
}
