//! A raw FTP control connection that can switch to TLS (AUTH TLS or implicit), and TLS data
//! connections made with a chosen client configuration.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::support::raw::{Control, REPLY_TIMEOUT, Reply};

/// A TLS client stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The control connection's transport.
pub enum Channel {
    /// Before AUTH TLS.
    Clear(TcpStream),
    /// After AUTH TLS, or from the start (implicit).
    Tls(Box<TlsStream>),
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Clear(stream) => stream.read(buf),
            Channel::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Clear(stream) => stream.write(buf),
            Channel::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Clear(stream) => stream.flush(),
            Channel::Tls(stream) => stream.flush(),
        }
    }
}

/// The name the test certificate is valid for.
fn server_name() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").expect("server name")
}

/// Opens a TCP connection with a read timeout.
fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("timeout");
    stream
}

/// Runs a client handshake on `stream` to completion.
pub fn handshake(config: &Arc<ClientConfig>, stream: TcpStream) -> io::Result<TlsStream> {
    let connection =
        ClientConnection::new(Arc::clone(config), server_name()).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// A control connection speaking raw FTP, in clear or over TLS.
pub type TlsRaw = Control<Channel>;

impl Control<Channel> {
    /// Connects in clear and reads the greeting.
    pub fn connect(addr: SocketAddr) -> (TlsRaw, Reply) {
        let mut raw = TlsRaw::over(Channel::Clear(tcp(addr)));
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Speaks FTP in clear over an already connected stream; reads the greeting.
    pub fn from_stream(stream: TcpStream) -> (TlsRaw, Reply) {
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        let mut raw = TlsRaw::over(Channel::Clear(stream));
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Connects to an implicit-FTPS address: TLS first, then the greeting.
    pub fn connect_implicit(addr: SocketAddr, config: &Arc<ClientConfig>) -> (TlsRaw, Reply) {
        let tls = handshake(config, tcp(addr)).expect("implicit TLS handshake");
        let mut raw = TlsRaw::over(Channel::Tls(Box::new(tls)));
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Sends AUTH TLS; on 234 switches the connection to TLS. Returns the AUTH reply.
    pub fn auth_tls(&mut self, config: &Arc<ClientConfig>) -> Reply {
        let reply = self.cmd("AUTH TLS");
        if reply.code != 234 {
            return reply;
        }
        let (channel, unread) = self.transport();
        assert!(unread.is_empty(), "bytes after the 234 reply");
        let Channel::Clear(stream) = channel else {
            panic!("already TLS");
        };
        // A second handle on the same socket: dropping the clear one below leaves it open.
        let stream = stream.try_clone().expect("clone");
        let tls = handshake(config, stream).expect("AUTH TLS handshake");
        *self = TlsRaw::over(Channel::Tls(Box::new(tls)));
        reply
    }

    /// AUTH TLS, PBSZ 0, PROT P, USER, PASS; asserting each reply.
    pub fn secure_login(&mut self, config: &Arc<ClientConfig>, user: &str, password: &str) {
        assert_eq!(self.auth_tls(config).code, 234);
        assert_eq!(self.cmd("PBSZ 0").code, 200);
        assert_eq!(self.cmd("PROT P").code, 200);
        self.login(user, password);
    }

    /// USER and PASS, asserting success.
    pub fn login(&mut self, user: &str, password: &str) {
        self.user_pass(user, password);
    }

    /// Whether the server closed the connection (reads to the end; errors count as closed).
    pub fn is_closed(&mut self) -> bool {
        match self.read_to_end() {
            Ok(_) => true,
            Err(error) => error.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Sends EPSV and returns the announced data address.
    pub fn epsv(&mut self, host: SocketAddr) -> SocketAddr {
        self.epsv_addr(host)
    }
}

/// Reads a TLS data connection to its end (close_notify or TCP close).
pub fn read_all(stream: &mut TlsStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out)?;
    Ok(out)
}

/// Writes `bytes` on a TLS data connection and closes it with close_notify.
pub fn write_and_close(mut stream: TlsStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)?;
    stream.conn.send_close_notify();
    stream.flush()?;
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut stream.sock)?;
    }
    stream.sock.shutdown(Shutdown::Write)
}

/// Opens a TCP data connection to `addr` with a read timeout.
pub fn data_tcp(addr: SocketAddr) -> TcpStream {
    tcp(addr)
}
