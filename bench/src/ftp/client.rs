//! A raw FTP client for load generation: the few commands the benchmark needs (USER, PASS,
//! TYPE, PASV, RETR, STOR, NOOP, DELE, QUIT), over tokio, with no allocation per data chunk.
//!
//! Any standard server works: replies are read as RFC 959 describes them (a multi-line reply
//! runs from `123-` to `123 `), and data connections are passive (PASV, IPv4 loopback).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes of the control connection's read buffer: replies are short lines.
const CONTROL_BUFFER: usize = 1024;
/// How long a new connection waits for the server's greeting before it is made again.
pub const GREETING_PATIENCE: Duration = Duration::from_secs(10);
/// Longest reply accepted, so a broken server cannot make the generator grow without bound.
const MAX_REPLY: usize = 64 * 1024;

/// Why an FTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// The connection failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The system's reason.
        source: io::Error,
    },
    /// A step took longer than the session's time limit.
    #[error("{context}: no answer within {limit:?}")]
    Timeout {
        /// What was being done.
        context: &'static str,
        /// The limit.
        limit: Duration,
    },
    /// The server answered with a code the step does not accept.
    #[error("{command}: unexpected reply {code} {text}")]
    Refused {
        /// The command (arguments left out).
        command: String,
        /// The reply code.
        code: u16,
        /// The reply's last line of text.
        text: String,
    },
    /// The server closed the control connection, or sent something that is not a reply.
    #[error("malformed or missing reply: {0}")]
    Protocol(String),
}

impl FtpError {
    fn io(context: &'static str) -> impl FnOnce(io::Error) -> FtpError {
        move |source| FtpError::Io { context, source }
    }
}

/// One reply: its code and the text of its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The last line's text, after the code.
    pub text: String,
}

/// An open control connection.
#[derive(Debug)]
pub struct FtpSession {
    /// The control connection, read through a small buffer.
    control: BufReader<TcpStream>,
    /// Reused for every reply line.
    line: String,
    /// Time limit of each step (a reply, a connect, a data read or write).
    limit: Duration,
}

/// Runs `future` under `limit`, naming the step on timeout.
async fn within<T>(
    limit: Duration,
    context: &'static str,
    future: impl Future<Output = Result<T, FtpError>>,
) -> Result<T, FtpError> {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or(Err(FtpError::Timeout { context, limit }))
}

impl FtpSession {
    /// Connects and reads the greeting (220); `limit` bounds every later step too.
    ///
    /// A connection that gets no greeting within [`GREETING_PATIENCE`] is dropped and made
    /// again, as a person or a script would: a server whose listen backlog overflowed in a
    /// connection storm never accepted it (the client's side of the handshake completed, the
    /// server dropped it), and only a new connection gets through. Retries go on until `limit`.
    pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<Self, FtpError> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match Self::connect_once(addr, limit, left.min(GREETING_PATIENCE)).await {
                Err(FtpError::Timeout { .. }) if Instant::now() + GREETING_PATIENCE < deadline => {}
                outcome => return outcome,
            }
        }
    }

    /// One connection attempt, waiting `patience` for the greeting.
    async fn connect_once(
        addr: SocketAddr,
        limit: Duration,
        patience: Duration,
    ) -> Result<Self, FtpError> {
        let stream = within(patience, "connect", async {
            TcpStream::connect(addr)
                .await
                .map_err(FtpError::io("connect"))
        })
        .await?;
        stream.set_nodelay(true).map_err(FtpError::io("connect"))?;
        let mut session = FtpSession {
            control: BufReader::with_capacity(CONTROL_BUFFER, stream),
            line: String::new(),
            limit,
        };
        let greeting = within(patience, "waiting for the greeting", session.read_reply()).await?;
        expect("greeting", &greeting, &[220])?;
        Ok(session)
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> Result<Reply, FtpError> {
        let limit = self.limit;
        within(limit, "reading a reply", self.read_reply()).await
    }

    async fn read_reply(&mut self) -> Result<Reply, FtpError> {
        let mut first_code: Option<u16> = None;
        let mut total = 0;
        loop {
            self.line.clear();
            let read = self
                .control
                .read_line(&mut self.line)
                .await
                .map_err(FtpError::io("reading a reply"))?;
            if read == 0 {
                return Err(FtpError::Protocol("control connection closed".into()));
            }
            total += read;
            if total > MAX_REPLY {
                return Err(FtpError::Protocol("reply too long".into()));
            }
            let line = self.line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|digits| digits.parse::<u16>().ok())
                .filter(|code| (100..600).contains(code));
            let separator = line.as_bytes().get(3).copied();
            match (first_code, code) {
                // The first line must carry the code.
                (None, Some(code)) if separator == Some(b'-') => first_code = Some(code),
                (None, Some(code)) => {
                    return Ok(Reply {
                        code,
                        text: line.get(4..).unwrap_or("").to_string(),
                    });
                }
                (None, None) => return Err(FtpError::Protocol(format!("not a reply: {line:?}"))),
                // A multi-line reply ends at a line with the same code and a space.
                (Some(first), Some(code)) if code == first && separator != Some(b'-') => {
                    return Ok(Reply {
                        code,
                        text: line.get(4..).unwrap_or("").to_string(),
                    });
                }
                (Some(_), _) => {}
            }
        }
    }

    /// Sends one command line (CRLF added) without waiting for the reply.
    pub async fn send(&mut self, line: &str) -> Result<(), FtpError> {
        let limit = self.limit;
        let stream = self.control.get_mut();
        within(limit, "sending a command", async {
            // One write per command: a line and its CRLF in one segment.
            let mut wire = Vec::with_capacity(line.len() + 2);
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(b"\r\n");
            stream
                .write_all(&wire)
                .await
                .map_err(FtpError::io("sending a command"))
        })
        .await
    }

    /// Sends a command and reads its reply, which must have one of the `accepted` codes.
    pub async fn command(&mut self, line: &str, accepted: &[u16]) -> Result<Reply, FtpError> {
        self.send(line).await?;
        let reply = self.reply().await?;
        expect(verb(line), &reply, accepted)?;
        Ok(reply)
    }

    /// USER and PASS (230; a 230 right after USER also counts as logged in).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), FtpError> {
        let reply = self.command(&format!("USER {user}"), &[230, 331]).await?;
        if reply.code == 331 {
            self.command(&format!("PASS {password}"), &[230]).await?;
        }
        Ok(())
    }

    /// TYPE I: binary transfers.
    pub async fn binary(&mut self) -> Result<(), FtpError> {
        self.command("TYPE I", &[200]).await.map(drop)
    }

    /// NOOP; returns the round-trip time.
    pub async fn noop(&mut self) -> Result<Duration, FtpError> {
        let started = Instant::now();
        self.command("NOOP", &[200]).await?;
        Ok(started.elapsed())
    }

    /// DELE: removes a file.
    pub async fn delete(&mut self, path: &str) -> Result<(), FtpError> {
        self.command(&format!("DELE {path}"), &[250])
            .await
            .map(drop)
    }

    /// QUIT, then closes; errors are ignored (the session is over either way).
    pub async fn quit(mut self) {
        let _ = self.command("QUIT", &[221]).await;
    }

    /// PASV, then connects to the advertised data port.
    async fn open_data(&mut self) -> Result<TcpStream, FtpError> {
        let reply = self.command("PASV", &[227]).await?;
        let addr = parse_pasv(&reply.text)
            .ok_or_else(|| FtpError::Protocol(format!("unreadable PASV reply: {}", reply.text)))?;
        let data = within(self.limit, "connecting the data port", async {
            TcpStream::connect(addr)
                .await
                .map_err(FtpError::io("connecting the data port"))
        })
        .await?;
        Ok(data)
    }

    /// RETR `path` into `buffer` (reused for every read, its content thrown away); returns
    /// the bytes received, after the 226.
    pub async fn retrieve(&mut self, path: &str, buffer: &mut [u8]) -> Result<u64, FtpError> {
        let mut data = self.open_data().await?;
        self.command(&format!("RETR {path}"), &[125, 150]).await?;
        let mut received = 0u64;
        let limit = self.limit;
        loop {
            let read = within(limit, "reading data", async {
                data.read(buffer)
                    .await
                    .map_err(FtpError::io("reading data"))
            })
            .await?;
            if read == 0 {
                break;
            }
            received += read as u64;
        }
        drop(data);
        let done = self.reply().await?;
        expect("RETR", &done, &[226, 250])?;
        Ok(received)
    }

    /// STOR `size` bytes to `path`, writing `chunk` over and over (the last write cut short);
    /// returns once the server answered 226.
    pub async fn store(&mut self, path: &str, size: u64, chunk: &[u8]) -> Result<(), FtpError> {
        if chunk.is_empty() && size > 0 {
            return Err(FtpError::Protocol("nothing to upload from".into()));
        }
        let mut data = self.open_data().await?;
        self.command(&format!("STOR {path}"), &[125, 150]).await?;
        let mut left = size;
        let limit = self.limit;
        while left > 0 {
            let piece = &chunk[..chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX))];
            within(limit, "writing data", async {
                data.write_all(piece)
                    .await
                    .map_err(FtpError::io("writing data"))
            })
            .await?;
            left -= piece.len() as u64;
        }
        within(limit, "closing the data connection", async {
            data.shutdown()
                .await
                .map_err(FtpError::io("closing the data connection"))
        })
        .await?;
        drop(data);
        let done = self.reply().await?;
        expect("STOR", &done, &[226, 250])?;
        Ok(())
    }
}

/// The command's verb, for messages (a password never appears in them).
fn verb(line: &str) -> &str {
    line.split(' ').next().unwrap_or(line)
}

/// Fails unless `reply` has one of the `accepted` codes.
fn expect(command: &str, reply: &Reply, accepted: &[u16]) -> Result<(), FtpError> {
    if accepted.contains(&reply.code) {
        Ok(())
    } else {
        Err(FtpError::Refused {
            command: command.to_string(),
            code: reply.code,
            text: reply.text.clone(),
        })
    }
}

/// The address in a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` text.
pub fn parse_pasv(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let numbers: Vec<u8> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .take(6)
        .map(|part| part.parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b, c, d, high, low] = numbers.try_into().ok()?;
    let port = u16::from(high) << 8 | u16::from(low);
    Some(SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(a, b, c, d),
        port,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasv_replies_of_every_common_shape_are_read() {
        let expected: SocketAddr = "127.0.0.1:50001".parse().unwrap();
        for text in [
            "Entering Passive Mode (127,0,0,1,195,81).",
            "Entering Passive Mode (127,0,0,1,195,81)",
            "Entering passive mode 127,0,0,1,195,81",
            "=127,0,0,1,195,81",
        ] {
            assert_eq!(parse_pasv(text), Some(expected), "{text}");
        }
        assert_eq!(parse_pasv("Entering Passive Mode (127,0,0,1,300,81)"), None);
        assert_eq!(parse_pasv("Entering Passive Mode (127,0,0,1)"), None);
    }

    #[tokio::test]
    async fn multi_line_replies_end_at_their_closing_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream
                .write_all(b"220-Welcome\r\n220 ready\r\n211-Features:\r\n SIZE\r\n211 End\r\n")
                .await
                .unwrap();
            let mut line = [0u8; 6];
            stream.read_exact(&mut line).await.unwrap();
            assert_eq!(&line, b"FEAT\r\n");
        });
        let mut session = FtpSession::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let features = session.command("FEAT", &[211]).await.unwrap();
        assert_eq!(features.text, "End");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_unexpected_code_names_the_command_but_not_its_argument() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.write_all(b"220 hi\r\n").await.unwrap();
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf).await.unwrap();
            stream.write_all(b"530 Login incorrect.\r\n").await.unwrap();
        });
        let mut session = FtpSession::connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let error = session.command("PASS secret", &[230]).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("PASS: unexpected reply 530"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
