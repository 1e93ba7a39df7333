//! A download's body that arrives on a plain TCP connection (an HTTP response from object
//! storage): what came with the response's head, then an exact count of bytes on the socket.
//! The transfer code can `splice(2)` those socket bytes to a clear data connection without
//! copying them through this process; any other reader gets them as an [`AsyncRead`] that
//! fails if the connection ends early, so a cut body is never taken for a whole file.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// The rest of a response body: `head` (read with the response's head), then exactly
/// `remaining` bytes on `socket`.
pub struct SocketBody {
    /// Body bytes read together with the response's head, not yet handed out.
    head: Bytes,
    /// The connection the rest arrives on.
    socket: TcpStream,
    /// Bytes still to come on the socket.
    remaining: u64,
}

impl SocketBody {
    /// A body of `head.len() + remaining` bytes.
    pub(crate) fn new(head: Bytes, socket: TcpStream, remaining: u64) -> SocketBody {
        SocketBody {
            head,
            socket,
            remaining,
        }
    }

    /// Takes the bytes that came with the response's head (empty afterwards).
    pub(crate) fn take_head(&mut self) -> Bytes {
        std::mem::take(&mut self.head)
    }

    /// The connection the rest of the body arrives on.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Bytes still to come on the socket.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Records that `count` of the remaining bytes were taken off the socket by other means.
    pub(crate) fn consumed(&mut self, count: u64) {
        self.remaining -= count.min(self.remaining);
    }
}

impl std::fmt::Debug for SocketBody {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SocketBody")
            .field("head", &self.head.len())
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

/// The body cut short: the connection ended with `remaining` bytes still to come.
pub(crate) fn cut_short(remaining: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("object storage closed the download with {remaining} bytes still to come"),
    )
}

impl AsyncRead for SocketBody {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.head.is_empty() {
            let count = this.head.len().min(buf.remaining());
            buf.put_slice(&this.head[..count]);
            this.head.advance(count);
            return Poll::Ready(Ok(()));
        }
        if this.remaining == 0 || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let limit = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut limited = buf.take(limit);
        match Pin::new(&mut this.socket).poll_read(context, &mut limited) {
            Poll::Ready(Ok(())) => {
                let count = limited.filled().len();
                if count == 0 {
                    return Poll::Ready(Err(cut_short(this.remaining)));
                }
                // SAFETY: `limited` wrote `count` initialised bytes into `buf`'s unfilled part.
                unsafe { buf.assume_init(count) };
                buf.advance(count);
                this.remaining -= count as u64;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the far end, and the body over the near end.
    async fn pair(head: &'static [u8], remaining: u64) -> (TcpStream, SocketBody) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (far, _) = listener.accept().await.unwrap();
        (
            far,
            SocketBody::new(Bytes::from_static(head), near, remaining),
        )
    }

    #[tokio::test]
    async fn the_head_then_exactly_the_remaining_bytes() {
        let (mut far, mut body) = pair(b"head:", 5).await;
        far.write_all(b"tail!and more").await.unwrap();
        let mut read = vec![0u8; 10];
        body.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"head:tail!");
        assert_eq!(
            body.read(&mut read).await.unwrap(),
            0,
            "nothing past the length"
        );
    }

    #[tokio::test]
    async fn a_connection_ending_early_is_an_error_not_an_end() {
        let (mut far, mut body) = pair(b"", 100).await;
        far.write_all(b"only ten b").await.unwrap();
        drop(far);
        let mut read = Vec::new();
        let error = body.read_to_end(&mut read).await.expect_err("cut short");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(read, b"only ten b");
    }
}
