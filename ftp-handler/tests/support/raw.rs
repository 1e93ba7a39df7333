//! A raw FTP control connection: send a line, read one complete reply (multi-line aware).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
}

/// A control connection speaking raw FTP.
pub struct Raw {
    /// Buffered read side.
    reader: BufReader<TcpStream>,
    /// Write side.
    writer: TcpStream,
}

impl Raw {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> (Raw, Reply) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let writer = stream.try_clone().expect("clone");
        let mut raw = Raw {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = raw.reply();
        (raw, greeting)
    }

    /// Connects and logs in, asserting success.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> Raw {
        let (mut raw, greeting) = Raw::connect(addr);
        assert_eq!(greeting.code, 220, "{greeting:?}");
        assert_eq!(raw.cmd(&format!("USER {user}")).code, 331);
        let reply = raw.cmd(&format!("PASS {password}"));
        assert_eq!(reply.code, 230, "{reply:?}");
        raw
    }

    /// Sends raw bytes (no CRLF added).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends one command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_bytes(format!("{line}\r\n").as_bytes());
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
        let n = self.reader.read_line(&mut line).expect("read reply");
        assert!(n > 0, "control connection closed");
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Whether the server closed the control connection (reads to end).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }

    /// Sends EPSV and connects to the announced port.
    pub fn epsv(&mut self, host: SocketAddr) -> TcpStream {
        let reply = self.cmd("EPSV");
        assert_eq!(reply.code, 229, "{reply:?}");
        let port: u16 = reply.lines[0]
            .split("(|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|port| port.parse().ok())
            .expect("EPSV port");
        TcpStream::connect(SocketAddr::new(host.ip(), port)).expect("data connect")
    }
}
