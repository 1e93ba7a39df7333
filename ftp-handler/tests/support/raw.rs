//! A raw FTP control connection over any byte stream: send a line, read one complete reply
//! (multi-line aware). [`Raw`] is the plain-TCP connection; `tls_support::raw_tls` builds the
//! TLS one on the same [`Control`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long any reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One reply: code and all its text lines.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// Every line as received, without CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// All lines joined with newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The port of a 229 reply (`(|||PORT|)`).
    pub fn epsv_port(&self) -> u16 {
        self.lines[0]
            .split("(|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|port| port.parse().ok())
            .expect("EPSV port")
    }
}

/// Reads one complete reply; the error says what went wrong (closed, unreadable, malformed).
pub fn read_reply(reader: &mut impl BufRead) -> Result<Reply, String> {
    let first = read_line(reader)?;
    let code: u16 = first
        .get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad reply line {first:?}"))?;
    let mut lines = vec![first.clone()];
    if first.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        loop {
            let line = read_line(reader)?;
            let done = line.starts_with(&end);
            lines.push(line);
            if done {
                break;
            }
        }
    }
    Ok(Reply { code, lines })
}

/// Reads one line without CRLF; end of stream is an error.
fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err("control connection closed".to_string()),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
        Err(error) => Err(format!("read reply: {error}")),
    }
}

/// A control connection speaking raw FTP over `S`; every failure panics.
pub struct Control<S> {
    /// Buffered transport (writes go straight through to the stream).
    reader: BufReader<S>,
}

impl<S: Read + Write> Control<S> {
    /// Speaks FTP over `stream`; reads nothing yet.
    pub fn over(stream: S) -> Control<S> {
        Control {
            reader: BufReader::new(stream),
        }
    }

    /// The transport and the bytes read from it but not consumed yet.
    pub fn transport(&self) -> (&S, &[u8]) {
        (self.reader.get_ref(), self.reader.buffer())
    }

    /// Sends raw bytes (no CRLF added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let writer = self.reader.get_mut();
        writer.write_all(bytes).expect("send");
        writer.flush().expect("flush");
    }

    /// Sends one command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_bytes(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Reads one complete reply; panics at end of stream.
    pub fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader).unwrap_or_else(|error| panic!("{error}"))
    }

    /// USER and PASS, asserting success.
    pub fn user_pass(&mut self, user: &str, password: &str) {
        assert_eq!(self.cmd(&format!("USER {user}")).code, 331);
        let reply = self.cmd(&format!("PASS {password}"));
        assert_eq!(reply.code, 230, "{reply:?}");
    }

    /// Reads whatever the server still sends, to the end of the stream.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }

    /// Sends EPSV and returns the announced data address on `host`.
    pub fn epsv_addr(&mut self, host: SocketAddr) -> SocketAddr {
        let reply = self.cmd("EPSV");
        assert_eq!(reply.code, 229, "{reply:?}");
        SocketAddr::new(host.ip(), reply.epsv_port())
    }
}

/// A control connection speaking raw FTP over plain TCP.
pub type Raw = Control<TcpStream>;

/// A TCP connection to `addr` from `source`, another loopback address (`127.0.0.2` reaches a
/// listener on 127.0.0.1), so that one test can be several clients.
pub fn tcp_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let local: SocketAddr = format!("{source}:0").parse().expect("addr");
    socket.bind(&local.into()).expect("bind");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

impl Control<TcpStream> {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> (Raw, Reply) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        let mut raw = Raw::over(stream);
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Connects from `source` (see [`tcp_from`]) and reads the greeting.
    pub fn connect_from(source: &str, addr: SocketAddr) -> (Raw, Reply) {
        let stream = tcp_from(source, addr);
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        let mut raw = Raw::over(stream);
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Connects and logs in, asserting success.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Raw {
        let (mut raw, greeting) = Raw::connect(addr);
        assert_eq!(greeting.code, 220, "{greeting:?}");
        raw.user_pass(user, password);
        raw
    }

    /// Whether the server closed the control connection (reads to end).
    pub fn is_closed(&mut self) -> bool {
        self.read_to_end().is_ok()
    }

    /// Sends EPSV and connects to the announced port.
    pub fn epsv(&mut self, host: SocketAddr) -> TcpStream {
        TcpStream::connect(self.epsv_addr(host)).expect("data connect")
    }
}
