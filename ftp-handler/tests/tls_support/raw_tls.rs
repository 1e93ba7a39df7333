//! A raw FTP control connection that can switch to TLS (AUTH TLS or implicit), and TLS data
//! connections made with a chosen client configuration.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::support::raw::Reply;

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
        .set_read_timeout(Some(Duration::from_secs(30)))
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
pub struct TlsRaw {
    /// Buffered transport.
    reader: Option<BufReader<Channel>>,
}

impl TlsRaw {
    /// Connects in clear and reads the greeting.
    pub fn connect(addr: SocketAddr) -> (TlsRaw, Reply) {
        let mut raw = TlsRaw {
            reader: Some(BufReader::new(Channel::Clear(tcp(addr)))),
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Speaks FTP in clear over an already connected stream; reads the greeting.
    pub fn from_stream(stream: TcpStream) -> (TlsRaw, Reply) {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut raw = TlsRaw {
            reader: Some(BufReader::new(Channel::Clear(stream))),
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Sends raw bytes (no CRLF added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let writer = self.reader.as_mut().expect("connection").get_mut();
        writer.write_all(bytes).expect("send");
        writer.flush().expect("flush");
    }

    /// Connects to an implicit-FTPS address: TLS first, then the greeting.
    pub fn connect_implicit(addr: SocketAddr, config: &Arc<ClientConfig>) -> (TlsRaw, Reply) {
        let tls = handshake(config, tcp(addr)).expect("implicit TLS handshake");
        let mut raw = TlsRaw {
            reader: Some(BufReader::new(Channel::Tls(Box::new(tls)))),
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Sends AUTH TLS; on 234 switches the connection to TLS. Returns the AUTH reply.
    pub fn auth_tls(&mut self, config: &Arc<ClientConfig>) -> Reply {
        let reply = self.cmd("AUTH TLS");
        if reply.code != 234 {
            return reply;
        }
        let reader = self.reader.take().expect("connection");
        assert!(reader.buffer().is_empty(), "bytes after the 234 reply");
        let Channel::Clear(stream) = reader.into_inner() else {
            panic!("already TLS");
        };
        let tls = handshake(config, stream).expect("AUTH TLS handshake");
        self.reader = Some(BufReader::new(Channel::Tls(Box::new(tls))));
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
        assert_eq!(self.cmd(&format!("USER {user}")).code, 331);
        let reply = self.cmd(&format!("PASS {password}"));
        assert_eq!(reply.code, 230, "{reply:?}");
    }

    /// Sends one command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        let writer = self.reader.as_mut().expect("connection").get_mut();
        writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send");
        writer.flush().expect("flush");
        self.reply()
    }

    /// Reads one complete reply.
    pub fn reply(&mut self) -> Reply {
        let first = self.line();
        let code: u16 = first
            .get(..3)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad reply line {first:?}"));
        let mut lines = vec![first.clone()];
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let line = self.line();
                let done = line.starts_with(&end);
                lines.push(line);
                if done {
                    break;
                }
            }
        }
        Reply { code, lines }
    }

    /// Reads one line without CRLF; panics at end of stream.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .as_mut()
            .expect("connection")
            .read_line(&mut line)
            .expect("read reply");
        assert!(n > 0, "control connection closed");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Whether the server closed the connection (reads to the end; errors count as closed).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        let reader = self.reader.as_mut().expect("connection");
        match reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Sends EPSV and returns the announced data address.
    pub fn epsv(&mut self, host: SocketAddr) -> SocketAddr {
        let reply = self.cmd("EPSV");
        assert_eq!(reply.code, 229, "{reply:?}");
        let port: u16 = reply.lines[0]
            .split("(|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|port| port.parse().ok())
            .expect("EPSV port");
        SocketAddr::new(host.ip(), port)
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
