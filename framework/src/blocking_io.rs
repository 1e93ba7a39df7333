//! Reads and writes that block the calling thread, for handlers that opt in with
//! [`RequestHandler::BLOCKING_IO`](crate::RequestHandler::BLOCKING_IO) in threading and forking
//! modes.
//!
//! A blocking socket sleeps in the kernel until data arrives, as Python's `socketserver` handlers
//! do: one `recv` per read instead of a readiness wait plus a `recv`. Each call waits at most
//! [`SLICE`]; when a slice passes with nothing to read (or no room to write), the call wakes its
//! task and returns `Pending`, so the runtime can look at timers, the shutdown signal and any
//! other branch the handler awaits, then the call blocks again.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::ReadBuf;

/// The longest a blocking read or write waits before it lets the runtime run (and so the
/// longest a blocked connection takes to notice a shutdown or a read timeout).
pub(crate) const SLICE: Duration = Duration::from_millis(200);

/// Whether an error means the slice passed with nothing done.
fn slice_passed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Puts an accepted socket (TCP or Unix) into blocking mode with [`SLICE`] as its read and
/// write timeouts.
pub(crate) fn prepare(socket: &impl AsFd) -> io::Result<()> {
    let socket = SockRef::from(socket);
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(SLICE))?;
    socket.set_write_timeout(Some(SLICE))
}

/// Turns the outcome of one blocking call into a poll result: a passed slice wakes the task
/// and returns `Pending`.
fn settle<T>(cx: &mut Context<'_>, mut call: impl FnMut() -> io::Result<T>) -> Poll<io::Result<T>> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if slice_passed(&e) => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            result => return Poll::Ready(result),
        }
    }
}

/// Reads into `buf`, blocking for at most one slice.
pub(crate) fn poll_read(
    mut stream: impl Read,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    match settle(cx, || stream.read(buf.initialize_unfilled())) {
        Poll::Ready(Ok(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Writes from `buf`, blocking for at most one slice.
pub(crate) fn poll_write(
    mut stream: impl Write,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    settle(cx, || stream.write(buf))
}

/// Writes from `bufs`, blocking for at most one slice.
pub(crate) fn poll_write_vectored(
    mut stream: impl Write,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    settle(cx, || stream.write_vectored(bufs))
}
