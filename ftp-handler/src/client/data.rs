//! Data connections (suppaftp's `DataStream`, plain TCP or TLS) behind one trait.
//!
//! For TLS the handshake is completed as soon as the connection opens, so a refused session
//! reads as a TLS error of that command. A transfer ends with a graceful close: TLS
//! close_notify, a TCP half-close, then reading whatever the server still sends until it
//! closes. Reading matters: a TLS 1.3 server sends session tickets on the data connection,
//! and closing a socket with unread bytes makes the kernel reset the connection, which can
//! destroy the end of an upload the server has not read yet. The tickets read this way also
//! let the next data connection resume the session (servers such as vsftpd, and ours, refuse
//! data connections that do not).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use std::time::Duration;

use rustls::{ClientConnection, HandshakeKind, StreamOwned};
use suppaftp::{DataStream, FtpError, TlsStream, TransferStream};

use super::error::{ClientError, tls_failure};

/// A data connection: bytes of one transfer or listing.
pub trait DataIo: Read + Write {
    /// Completes the TLS handshake; `Some(resumed)` for TLS, `None` for plain TCP.
    fn handshake(&mut self) -> io::Result<Option<bool>>;

    /// The underlying socket, for timeouts.
    fn socket(&self) -> &TcpStream;

    /// Ends the transfer cleanly, then reads the server's final reply: the close's outcome
    /// (an error means the last bytes may not have left) and the reply's.
    fn close(self: Box<Self>) -> (io::Result<()>, Result<(), FtpError>);

    /// Cuts the connection without TLS close_notify, so the server can tell it was cut.
    fn abort(self: Box<Self>);
}

/// An open data connection, closed by [`super::Connection::finish_data`].
pub type DataChannel = Box<dyn DataIo>;

/// Sets a fresh data connection's timeouts and completes its TLS handshake; `line` is the
/// command it serves, for messages.
pub fn prepare(
    mut data: DataChannel,
    line: &str,
    timeout: Duration,
) -> Result<DataChannel, ClientError> {
    let lost = |source| ClientError::ConnectionLost {
        action: line.to_string(),
        source,
    };
    let socket = data.socket();
    socket
        .set_read_timeout(Some(timeout))
        .and_then(|()| socket.set_write_timeout(Some(timeout)))
        .map_err(lost)?;
    match data.handshake() {
        Ok(Some(resumed)) => {
            tracing::debug!(command = line, resumed, "data connection secured");
            Ok(data)
        }
        Ok(None) => Ok(data),
        Err(error) => match tls_failure(&error) {
            Some(message) => Err(ClientError::Tls {
                context: line.to_string(),
                message,
            }),
            None => Err(lost(error)),
        },
    }
}

/// suppaftp's rustls stream type is named by what it contains.
impl<T> DataIo for TransferStream<T>
where
    T: TlsStream<InnerStream = StreamOwned<ClientConnection, TcpStream>>,
{
    fn handshake(&mut self) -> io::Result<Option<bool>> {
        match self.get_mut() {
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

    fn socket(&self) -> &TcpStream {
        self.get_ref().get_ref()
    }

    fn close(mut self: Box<Self>) -> (io::Result<()>, Result<(), FtpError>) {
        let closed = match self.get_mut() {
            DataStream::Tcp(socket) => socket.flush().map(|()| {
                half_close(socket);
                drain(socket);
            }),
            DataStream::Ssl(tls) => {
                let stream = tls.mut_ref();
                let sent = stream.flush().and_then(|()| {
                    stream.conn.send_close_notify();
                    while stream.conn.wants_write() {
                        stream.conn.write_tls(&mut stream.sock)?;
                    }
                    Ok(())
                });
                if sent.is_ok() {
                    half_close(&stream.sock);
                    // Through rustls, so the session tickets are kept for the next data
                    // connection to resume.
                    drain_tls(stream);
                }
                sent
            }
        };
        // suppaftp then closes the socket (its own close_notify attempt finds the write side
        // shut) and reads the transfer's final reply.
        (closed, (*self).finish())
    }

    fn abort(self: Box<Self>) {
        // Both directions shut at the TCP level: no close_notify goes out, so a TLS server
        // sees a truncated transfer; suppaftp then reads the server's reply to it.
        let _ = self.socket().shutdown(Shutdown::Both);
        drop(self);
    }
}

/// Sends FIN: the server sees the end of an upload while the socket can still read.
fn half_close(socket: &TcpStream) {
    // NotConnected means the server already closed: nothing left to tell it.
    let _ = socket.shutdown(Shutdown::Write);
}

/// Reads and discards until the server closes (bounded by the socket's read timeout).
fn drain(socket: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    loop {
        match socket.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Like [`drain`], letting rustls take in the records (session tickets, close_notify).
fn drain_tls(stream: &mut StreamOwned<ClientConnection, TcpStream>) {
    let mut sink = [0u8; 4096];
    loop {
        match stream.conn.read_tls(&mut stream.sock) {
            Ok(0) => return,
            Ok(_) => {
                if stream.conn.process_new_packets().is_err() {
                    return;
                }
                // Plaintext after the transfer is not expected; it is read and dropped.
                while let Ok(read) = stream.conn.reader().read(&mut sink) {
                    if read == 0 {
                        break;
                    }
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
