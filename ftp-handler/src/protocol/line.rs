//! The control-channel line reader: CRLF (or bare LF) framing with a hard length limit.
//!
//! A line ends at LF, CRLF or a CR with nothing after it yet. A line over the limit is read to
//! its end and thrown away, then reported as [`LineError::TooLong`]: the session answers 500 and
//! reads the next command. Memory use is bounded by the limit whatever the peer sends. Telnet
//! commands (`IAC ...`, which some clients send before ABOR) are dropped, and the RFC 959
//! `CR NUL` escape becomes a plain CR when both bytes arrive together.
//!
//! [`LineReader::read_line`] is cancel safe: all progress is kept in the reader, so it can sit
//! in a `select!` next to a running transfer and lose nothing when the other branch wins.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Telnet "interpret as command" byte.
const IAC: u8 = 255;
/// Telnet option negotiation verbs (WILL, WONT, DO, DONT) each take one option byte.
const NEGOTIATION: std::ops::RangeInclusive<u8> = 251..=254;

/// Why a complete line could not be turned into a command line; the session answers and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was longer than the limit; it was read and discarded.
    #[error("command line longer than {limit} bytes")]
    TooLong {
        /// The configured maximum line length in bytes, CRLF excluded.
        limit: usize,
    },
    /// The line was not valid UTF-8 (RFC 2640 makes UTF-8 the control-channel encoding).
    #[error("command line is not valid UTF-8")]
    InvalidUtf8,
}

/// Where the Telnet filter stands between two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TelnetState {
    /// Plain data.
    Data,
    /// After an IAC byte.
    Command,
    /// After IAC WILL/WONT/DO/DONT, before the option byte.
    Option,
}

/// Reads control-channel lines from a buffered stream, one at a time.
#[derive(Debug)]
pub struct LineReader {
    /// Largest accepted line in bytes, CRLF excluded.
    max_len: usize,
    /// The bytes of the line read so far (never more than `max_len`).
    buf: Vec<u8>,
    /// Set once the current line went over the limit: its remaining bytes are skipped.
    discarding: bool,
    /// Telnet filter state, kept across reads because a sequence may span two.
    telnet: TelnetState,
    /// A line ended at a CR that was the last byte available: a following LF is skipped.
    after_cr: bool,
}

impl LineReader {
    /// A reader that accepts lines of at most `max_len` bytes (CRLF excluded).
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            buf: Vec::new(),
            discarding: false,
            telnet: TelnetState::Data,
            after_cr: false,
        }
    }

    /// The configured maximum line length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Whether the last line ended at a CR whose LF has not been read yet; forgets it. Before
    /// the stream changes hands (AUTH TLS), the caller must skip that LF itself.
    pub fn take_pending_lf(&mut self) -> bool {
        std::mem::take(&mut self.after_cr)
    }

    /// Reads the next line without its line end.
    ///
    /// Returns `Ok(None)` when the peer closed the stream between lines, `Ok(Some(Err(..)))`
    /// for a line that was too long or not UTF-8 (already consumed), and an `UnexpectedEof`
    /// error when the stream ended in the middle of a line.
    pub async fn read_line<R>(
        &mut self,
        reader: &mut R,
    ) -> io::Result<Option<Result<String, LineError>>>
    where
        R: AsyncBufRead + Unpin + ?Sized,
    {
        loop {
            let available = reader.fill_buf().await?;
            if available.is_empty() {
                let mid_line = !self.buf.is_empty() || self.discarding;
                self.reset();
                self.after_cr = false;
                return if mid_line {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "control connection closed in the middle of a line",
                    ))
                } else {
                    Ok(None)
                };
            }
            let mut used = 0;
            let mut line_ended = false;
            while used < available.len() {
                let byte = available[used];
                used += 1;
                if std::mem::take(&mut self.after_cr) && (byte == b'\n' || byte == 0) {
                    // The rest of a CRLF (or CR NUL) whose CR already ended a line.
                    continue;
                }
                if self.telnet != TelnetState::Data || byte == IAC {
                    self.push(byte);
                    continue;
                }
                match byte {
                    b'\n' => line_ended = true,
                    b'\r' => match available.get(used) {
                        // RFC 959: a CR that is not a line end travels as CR NUL.
                        Some(0) => {
                            used += 1;
                            self.push(b'\r');
                        }
                        Some(b'\n') => {
                            used += 1;
                            line_ended = true;
                        }
                        Some(_) => line_ended = true,
                        // Nothing after the CR yet: end the line now rather than wait, because
                        // the LF may be TCP urgent data that the reader is not woken for
                        // (ftplib sends ABOR with MSG_OOB); skip the LF when it comes.
                        None => {
                            self.after_cr = true;
                            line_ended = true;
                        }
                    },
                    other => self.push(other),
                }
                if line_ended {
                    break;
                }
            }
            reader.consume(used);
            if line_ended {
                return Ok(Some(self.take_line()));
            }
        }
    }

    /// Feeds one byte of the current line through the Telnet filter and the length limit.
    fn push(&mut self, byte: u8) {
        match self.telnet {
            TelnetState::Command => {
                self.telnet = if NEGOTIATION.contains(&byte) {
                    TelnetState::Option
                } else {
                    TelnetState::Data
                };
                if byte != IAC {
                    return;
                }
                // IAC IAC stands for a literal 255 byte: fall through and keep it.
            }
            TelnetState::Option => {
                self.telnet = TelnetState::Data;
                return;
            }
            TelnetState::Data if byte == IAC => {
                self.telnet = TelnetState::Command;
                return;
            }
            TelnetState::Data => {}
        }
        if self.discarding {
            return;
        }
        if self.buf.len() >= self.max_len {
            self.discarding = true;
            self.buf = Vec::new();
            return;
        }
        self.buf.push(byte);
    }

    /// Ends the current line and turns it into the caller's result.
    fn take_line(&mut self) -> Result<String, LineError> {
        let discarded = self.discarding;
        let line = std::mem::take(&mut self.buf);
        self.reset();
        if discarded {
            return Err(LineError::TooLong {
                limit: self.max_len,
            });
        }
        String::from_utf8(line).map_err(|_| LineError::InvalidUtf8)
    }

    /// Forgets any partial line.
    fn reset(&mut self) {
        self.buf.clear();
        self.discarding = false;
        self.telnet = TelnetState::Data;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    /// Reads every line of `input` with a reader of the given limit, until end of stream.
    async fn lines(input: &[u8], max_len: usize) -> Vec<Result<String, LineError>> {
        let mut stream = BufReader::with_capacity(4, input);
        let mut reader = LineReader::new(max_len);
        let mut out = Vec::new();
        while let Some(line) = reader.read_line(&mut stream).await.unwrap() {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn splits_on_crlf_and_bare_lf() {
        let got = lines(b"USER bob\r\nPASS x y\nNOOP\r\n", 64).await;
        assert_eq!(
            got,
            vec![
                Ok("USER bob".into()),
                Ok("PASS x y".into()),
                Ok("NOOP".into())
            ]
        );
    }

    #[tokio::test]
    async fn over_long_line_is_reported_and_the_next_line_still_reads() {
        let mut input = b"STOR ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 10_000));
        input.extend(b"\r\nNOOP\r\n");
        let got = lines(&input, 512).await;
        assert_eq!(
            got,
            vec![Err(LineError::TooLong { limit: 512 }), Ok("NOOP".into())]
        );
    }

    #[tokio::test]
    async fn line_of_exactly_the_limit_is_accepted() {
        let got = lines(b"abcd\r\nabcde\r\nabcd\n", 4).await;
        assert_eq!(
            got,
            vec![
                Ok("abcd".into()),
                Err(LineError::TooLong { limit: 4 }),
                Ok("abcd".into())
            ]
        );
    }

    #[tokio::test]
    async fn invalid_utf8_is_reported_and_reading_continues() {
        let got = lines(b"CWD \xc3\x28\r\nPWD\r\n", 64).await;
        assert_eq!(got, vec![Err(LineError::InvalidUtf8), Ok("PWD".into())]);
    }

    #[tokio::test]
    async fn utf8_paths_with_spaces_are_kept_byte_exact() {
        let got = lines("RETR  dossier/été 2024.txt \r\n".as_bytes(), 64).await;
        assert_eq!(got, vec![Ok("RETR  dossier/été 2024.txt ".into())]);
    }

    #[tokio::test]
    async fn telnet_commands_are_dropped_and_cr_nul_becomes_cr() {
        // IAC IP, IAC DM before ABOR (as sent by some clients), IAC WILL x, IAC IAC.
        let got = lines(
            b"\xff\xf4\xff\xf2ABOR\r\nA\xff\xfb\x01B\r\nCWD a\r\0b\r\n",
            64,
        )
        .await;
        assert_eq!(
            got,
            vec![Ok("ABOR".into()), Ok("AB".into()), Ok("CWD a\rb".into())]
        );
        let got = lines(b"X\xff\xff\r\n", 64).await;
        assert_eq!(got, vec![Err(LineError::InvalidUtf8)]);
    }

    #[tokio::test]
    async fn end_of_stream_mid_line_is_an_error_and_between_lines_is_none() {
        let mut stream = BufReader::new(&b"NOOP\r\nQUI"[..]);
        let mut reader = LineReader::new(64);
        assert_eq!(
            reader.read_line(&mut stream).await.unwrap(),
            Some(Ok("NOOP".into()))
        );
        let err = reader.read_line(&mut stream).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut empty = BufReader::new(&b""[..]);
        assert_eq!(reader.read_line(&mut empty).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_cr_with_nothing_after_it_ends_the_line_and_its_lf_is_skipped() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = BufReader::new(server);
        let mut reader = LineReader::new(64);
        // ftplib's ABOR: the LF is TCP urgent data that may only show up much later.
        client.write_all(b"ABOR\r").await.unwrap();
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Ok("ABOR".into()))
        );
        client.write_all(b"\nNOOP\rPWD\r\n").await.unwrap();
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Ok("NOOP".into()))
        );
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Ok("PWD".into()))
        );
    }

    #[tokio::test]
    async fn a_line_split_across_cancelled_reads_is_not_lost() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = BufReader::new(server);
        let mut client = client;
        let mut reader = LineReader::new(64);
        client.write_all(b"RETR fi").await.unwrap();
        // The read cannot finish yet; cancelling it must keep the bytes already taken.
        let pending = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            reader.read_line(&mut server),
        )
        .await;
        assert!(pending.is_err());
        client.write_all(b"le.txt\r\n").await.unwrap();
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Ok("RETR file.txt".into()))
        );
    }

    #[tokio::test]
    async fn endless_line_without_newline_never_grows_the_buffer() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut server = BufReader::new(server);
        let writer = tokio::spawn(async move {
            let chunk = [b'x'; 1024];
            for _ in 0..1024 {
                client.write_all(&chunk).await.unwrap();
            }
            client.write_all(b"\r\nNOOP\r\n").await.unwrap();
        });
        let mut reader = LineReader::new(512);
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Err(LineError::TooLong { limit: 512 }))
        );
        assert_eq!(
            reader.read_line(&mut server).await.unwrap(),
            Some(Ok("NOOP".into()))
        );
        writer.await.unwrap();
    }
}
