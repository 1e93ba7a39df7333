//! Downloads from object storage: the GET's body as one `AsyncRead` that hands the caller as
//! many of the body's ready pieces as fit in its buffer.
//!
//! The HTTP client yields the body in pieces of whatever one socket read brought (often a few
//! KiB); copying them one read at a time would make one data-connection write per piece. Here a
//! read gathers every piece that is already there, so a download goes out in buffer-sized
//! writes whatever the HTTP side's piece size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// An `AsyncRead` over a stream of byte pieces that fills the read buffer from every ready
/// piece before it returns.
pub(super) struct GatheringReader<S> {
    /// The body's pieces.
    pieces: S,
    /// What is left of the piece being copied.
    current: Bytes,
    /// An error met after some bytes were already handed out: returned by the next read.
    pending_error: Option<io::Error>,
    /// The stream has ended.
    ended: bool,
}

impl<S> GatheringReader<S> {
    /// Reads the pieces of `pieces` in order.
    pub(super) fn new(pieces: S) -> GatheringReader<S> {
        GatheringReader {
            pieces,
            current: Bytes::new(),
            pending_error: None,
            ended: false,
        }
    }
}

impl<S> AsyncRead for GatheringReader<S>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(error) = this.pending_error.take() {
            return Poll::Ready(Err(error));
        }
        let start = buf.filled().len();
        loop {
            if !this.current.is_empty() {
                let count = this.current.len().min(buf.remaining());
                buf.put_slice(&this.current[..count]);
                this.current.advance(count);
            }
            if buf.remaining() == 0 || this.ended {
                return Poll::Ready(Ok(()));
            }
            let copied = buf.filled().len() > start;
            match Pin::new(&mut this.pieces).poll_next(context) {
                Poll::Ready(Some(Ok(piece))) => this.current = piece,
                Poll::Ready(Some(Err(error))) if copied => {
                    this.pending_error = Some(error);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error)),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending if copied => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn pieces(parts: Vec<io::Result<&'static [u8]>>) -> impl Stream<Item = io::Result<Bytes>> {
        futures::stream::iter(parts.into_iter().map(|part| part.map(Bytes::from_static)))
    }

    #[tokio::test]
    async fn one_read_gathers_every_ready_piece_up_to_the_buffer() {
        let mut reader = GatheringReader::new(pieces(vec![Ok(b"abc"), Ok(b"defg"), Ok(b"hi")]));
        let mut buf = [0u8; 8];
        let count = reader.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..count], b"abcdefgh");
        let count = reader.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..count], b"i");
        assert_eq!(reader.read(&mut buf).await.expect("end"), 0);
    }

    #[tokio::test]
    async fn an_error_after_some_bytes_comes_with_the_next_read() {
        let failure = io::Error::new(io::ErrorKind::ConnectionReset, "cut");
        let mut reader = GatheringReader::new(pieces(vec![Ok(b"abc"), Err(failure), Ok(b"x")]));
        let mut buf = [0u8; 16];
        let count = reader.read(&mut buf).await.expect("first bytes");
        assert_eq!(&buf[..count], b"abc");
        let error = reader.read(&mut buf).await.expect_err("the cut");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn a_piece_not_yet_there_ends_the_read_with_what_was_copied() {
        let (sender, receiver) = futures::channel::mpsc::unbounded::<io::Result<Bytes>>();
        sender
            .unbounded_send(Ok(Bytes::from_static(b"ready")))
            .expect("send");
        let mut reader = GatheringReader::new(receiver);
        let mut buf = [0u8; 64];
        let count = reader.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..count], b"ready");
        drop(sender);
        assert_eq!(reader.read(&mut buf).await.expect("end"), 0);
    }
}
