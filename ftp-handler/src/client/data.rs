//! Data connections (suppaftp's `DataStream`, plain TCP or TLS) behind one trait. For TLS, the
//! handshake is completed as soon as the connection opens, so a refused session reads as a TLS
//! error of that command; and before closing, the session tickets the server sent are taken
//! in, so that the next data connection can resume the session as well (TLS 1.3 tickets are
//! single-use, and servers such as vsftpd refuse data connections that do not resume).

use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustls::{ClientConnection, HandshakeKind, StreamOwned};
use suppaftp::{DataStream, TlsStream};

/// A data connection: bytes of one transfer or listing.
pub trait DataIo: Read + Write {
    /// Completes the TLS handshake; `Some(resumed)` for TLS, `None` for plain TCP.
    fn handshake(&mut self) -> io::Result<Option<bool>>;

    /// Processes what the server already sent (session tickets), without blocking.
    fn take_pending(&mut self);

    /// The underlying socket, for timeouts.
    fn socket(&self) -> &TcpStream;
}

/// An open data connection, closed by [`super::Connection::finish_data`].
pub type DataChannel = Box<dyn DataIo>;

/// suppaftp's rustls stream type is private; this names it by what it contains.
impl<T> DataIo for DataStream<T>
where
    T: TlsStream<InnerStream = StreamOwned<ClientConnection, TcpStream>>,
{
    fn handshake(&mut self) -> io::Result<Option<bool>> {
        match self {
            DataStream::Tcp(_) => Ok(None),
            DataStream::Ssl(tls) => {
                let stream = tls.mut_ref();
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                Ok(Some(matches!(
                    stream.conn.handshake_kind(),
                    Some(HandshakeKind::Resumed)
                )))
            }
        }
    }

    fn take_pending(&mut self) {
        let DataStream::Ssl(tls) = self else {
            return;
        };
        let stream = tls.mut_ref();
        if stream.sock.set_nonblocking(true).is_err() {
            return;
        }
        // Stops at WouldBlock (nothing more yet), end of stream, or any error: this is only
        // an opportunity to keep tickets, never a reason to fail the transfer.
        while let Ok(read) = stream.conn.read_tls(&mut stream.sock) {
            if read == 0 || stream.conn.process_new_packets().is_err() {
                break;
            }
        }
        let _ = stream.sock.set_nonblocking(false);
    }

    fn socket(&self) -> &TcpStream {
        self.get_ref()
    }
}
