//! Zero-copy downloads: `sendfile(2)` moves a file's pages from the page cache to a clear
//! (non-TLS) data connection without copying them through this process.
//!
//! The data connection is a non-blocking tokio socket: each `sendfile` call sends what the
//! socket buffer takes and returns, `EAGAIN` waits for writability, so a slow client holds no
//! thread. Reads of a file not in the page cache happen inside the call, as with vsftpd's and
//! pyftpdlib's `sendfile` loops.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

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
    loop {
        let signalled = match tokio::time::timeout(WRITABLE_RECHECK, stream.writable()).await {
            Ok(ready) => ready.map(|()| true)?,
            Err(_) => false,
        };
        let sent = if signalled {
            // `EAGAIN` clears tokio's readiness, so the next wait is for a new edge.
            stream.try_io(Interest::WRITABLE, || sendfile(stream, file))
        } else {
            // No edge came: try anyway (tokio believes the socket full and would skip the call).
            sendfile(stream, file)
        };
        match sent {
            Ok(count) => return Ok(count),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(error) => return Err(error),
        }
    }
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

/// Whether a `sendfile` error means the pair of descriptors does not support it (so a plain
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
