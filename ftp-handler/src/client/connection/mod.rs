//! One logged-in control connection over suppaftp: single-reply commands, data connections
//! opened and closed, and a fresh session (`open`) whenever the previous one broke or
//! suppaftp can no longer use it.
//!
//! - `open`: connect (plain or explicit FTPS), log in, read FEAT, choose passive mode.

mod open;

use std::io::Read;
use std::net::TcpStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use suppaftp::types::Response;
use suppaftp::{FtpError, RustlsFtpStream, Status};

pub use open::Login;

use super::data::{DataChannel, prepare};
use super::error::{ClientError, RemoteReply};
use super::features::ServerFeatures;
use open::establish;

/// A logged-in session with the server.
pub struct Connection {
    /// The suppaftp control stream; `None` after a failure until the next reconnect.
    ftp: Option<RustlsFtpStream>,
    /// How to reconnect.
    login: Login,
    /// What the server offers.
    features: ServerFeatures,
    /// The working directory to restore after a reconnect.
    cwd: Option<String>,
}

impl Connection {
    /// Connects, secures (with `--tls`), logs in and reads the server's features.
    pub fn open(login: Login) -> Result<Connection, ClientError> {
        let (ftp, features) = establish(&login)?;
        Ok(Connection {
            ftp: Some(ftp),
            login,
            features,
            cwd: None,
        })
    }

    /// What the server advertised in FEAT.
    pub fn features(&self) -> &ServerFeatures {
        &self.features
    }

    /// The features, to record what was learned while talking (HASH selection, missing commands).
    pub fn features_mut(&mut self) -> &mut ServerFeatures {
        &mut self.features
    }

    /// The login details (for messages and reconnects).
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// Whether the control connection is known to be unusable.
    pub fn is_broken(&self) -> bool {
        self.ftp.is_none()
    }

    /// The control stream, reconnecting (and restoring the directory) if it had broken.
    fn stream(&mut self) -> Result<&mut RustlsFtpStream, ClientError> {
        if self.ftp.is_none() {
            tracing::info!(server = %self.login.url.authority(), "reconnecting");
            let (mut ftp, features) = establish(&self.login)?;
            if let Some(dir) = &self.cwd {
                ftp.cwd(dir)
                    .map_err(|error| ClientError::ftp(format!("CWD {dir}"), error))?;
            }
            self.features = features;
            self.ftp = Some(ftp);
        }
        self.ftp.as_mut().ok_or_else(|| ClientError::Protocol {
            action: "reconnect".to_string(),
            detail: "no control connection".to_string(),
        })
    }

    /// Runs one suppaftp call; a lost connection is marked for reconnecting.
    fn call<T>(
        &mut self,
        action: impl Into<String>,
        run: impl FnOnce(&mut RustlsFtpStream) -> Result<T, FtpError>,
    ) -> Result<T, ClientError> {
        let result = run(self.stream()?);
        result.map_err(|error| {
            let error = self.classify(action, error);
            if matches!(
                error,
                ClientError::Protocol { .. } | ClientError::ConnectionLost { .. }
            ) || error.is_connection_lost()
            {
                // After a lost connection or a reply we could not read, the stream's state is
                // unknown: the next command starts a fresh session.
                self.ftp = None;
            }
            error
        })
    }

    /// Maps a suppaftp error; a reply cut short by the server closing the connection reads
    /// as a lost connection, not as a malformed reply.
    fn classify(&self, action: impl Into<String>, error: FtpError) -> ClientError {
        if matches!(error, FtpError::BadResponse)
            && let Some(ftp) = &self.ftp
            && control_closed(&ftp.get_ref())
        {
            return ClientError::ConnectionLost {
                action: action.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ),
            };
        }
        ClientError::ftp(action, error)
    }

    /// Sends one command line and returns the reply if its code is in `expected`.
    pub fn raw(
        &mut self,
        line: &str,
        expected: &[Status],
        timeout: Option<Duration>,
    ) -> Result<Response, ClientError> {
        check_line(line)?;
        let normal = self.login.timeout;
        self.call(line.to_string(), |ftp| {
            if let Some(timeout) = timeout {
                ftp.get_ref()
                    .set_read_timeout(Some(timeout))
                    .map_err(FtpError::ConnectionError)?;
            }
            let reply = ftp.custom_command(line, expected);
            if timeout.is_some() {
                ftp.get_ref()
                    .set_read_timeout(Some(normal))
                    .map_err(FtpError::ConnectionError)?;
            }
            reply
        })
    }

    /// PWD: the current remote directory.
    pub fn pwd(&mut self) -> Result<String, ClientError> {
        let dir = self.call("PWD", |ftp| ftp.pwd())?;
        self.cwd = Some(dir.clone());
        Ok(dir)
    }

    /// CWD, then PWD to learn the resulting absolute directory.
    pub fn cwd(&mut self, path: &str) -> Result<String, ClientError> {
        check_line(path)?;
        self.call(format!("CWD {path}"), |ftp| ftp.cwd(path))?;
        self.pwd()
    }

    /// MKD.
    pub fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        check_line(path)?;
        self.call(format!("MKD {path}"), |ftp| ftp.mkdir(path))
    }

    /// RMD.
    pub fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        check_line(path)?;
        self.call(format!("RMD {path}"), |ftp| ftp.rmdir(path))
    }

    /// DELE.
    pub fn remove(&mut self, path: &str) -> Result<(), ClientError> {
        check_line(path)?;
        self.call(format!("DELE {path}"), |ftp| ftp.rm(path))
    }

    /// RNFR + RNTO.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        check_line(from)?;
        check_line(to)?;
        self.call(format!("RNFR {from} / RNTO {to}"), |ftp| {
            ftp.rename(from, to)
        })
    }

    /// SIZE: the file's size, or `None` if it does not exist or the server cannot say.
    pub fn size(&mut self, path: &str) -> Result<Option<u64>, ClientError> {
        match self.raw(&format!("SIZE {path}"), &[Status::File], None) {
            Ok(response) => Ok(RemoteReply::from_body(&response.body)
                .text
                .split_whitespace()
                .last()
                .and_then(|size| size.parse().ok())),
            Err(ClientError::Remote { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// REST: the next RETR or STOR starts at `offset`.
    pub fn restart_at(&mut self, offset: u64) -> Result<(), ClientError> {
        self.raw(
            &format!("REST {offset}"),
            &[Status::RequestFilePending],
            None,
        )
        .map(|_| ())
    }

    /// Sends a data command (`RETR x`, `STOR x`, `APPE x`, `LIST x`) and opens its data
    /// connection. Any failure leaves suppaftp believing a transfer is open, so the control
    /// connection is replaced before the next command.
    pub fn open_data(&mut self, line: &str) -> Result<DataChannel, ClientError> {
        check_line(line)?;
        let timeout = self.login.timeout;
        let ftp = self.stream()?;
        // suppaftp (7, and not re-checked on 12) panics on a malformed PASV/EPSV reply; contain
        // it to this command.
        let opened = catch_unwind(AssertUnwindSafe(|| {
            ftp.custom_data_command(line, &[Status::AboutToSend, Status::AlreadyOpen])
        }));
        let result = match opened {
            Ok(Ok((_reply, data))) => prepare(Box::new(data), line, timeout),
            Ok(Err(error)) => Err(self.classify(line, error)),
            Err(_) => Err(ClientError::Protocol {
                action: line.to_string(),
                detail: "malformed passive-mode reply".to_string(),
            }),
        };
        if result.is_err() {
            self.ftp = None;
        }
        result
    }

    /// Closes a data connection and reads the transfer's final reply (226 or 250). The
    /// server's reply wins over a failed close: it says best what happened to the file.
    pub fn finish_data(&mut self, line: &str, data: DataChannel) -> Result<(), ClientError> {
        let (closed, reply) = data.close();
        self.call(line.to_string(), |_| reply)?;
        closed.map_err(|source| ClientError::ConnectionLost {
            action: line.to_string(),
            source,
        })
    }

    /// Gives up on a data connection after a failure: the connection is cut (no TLS
    /// close_notify, so a TLS server sees a truncated transfer) and the control connection is
    /// replaced before the next command.
    pub fn abandon_data(&mut self, data: DataChannel) {
        data.abort();
        self.ftp = None;
    }

    /// LIST: the server's long listing lines.
    pub fn list(&mut self, path: Option<&str>) -> Result<Vec<String>, ClientError> {
        let line = match path {
            Some(path) if !path.is_empty() => format!("LIST {path}"),
            _ => "LIST".to_string(),
        };
        let mut data = self.open_data(&line)?;
        let mut bytes = Vec::new();
        let read = data.read_to_end(&mut bytes);
        if let Err(source) = read {
            self.abandon_data(data);
            return Err(ClientError::ConnectionLost {
                action: line,
                source,
            });
        }
        self.finish_data(&line, data)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| line.trim_end_matches('\r').to_string())
            .filter(|line| !line.is_empty())
            .collect())
    }

    /// SITE with `args`: the reply's lines, codes stripped (e.g. `SITE QUOTA`).
    pub fn site(&mut self, args: &str) -> Result<Vec<String>, ClientError> {
        // Not 211: suppaftp would then stop reading at the first `211-` line (its FEAT rule).
        let response = self.raw(
            &format!("SITE {args}"),
            &[Status::CommandOk, Status::Help],
            None,
        )?;
        Ok(String::from_utf8_lossy(&response.body)
            .lines()
            .map(|line| strip_code(line).to_string())
            .collect())
    }

    /// QUIT, ignoring a connection that is already gone.
    pub fn quit(mut self) {
        if let Some(ftp) = self.ftp.as_mut() {
            let _ = ftp.quit();
        }
    }
}

/// Whether the server has closed the control connection (end of stream already received).
fn control_closed(socket: &TcpStream) -> bool {
    if socket.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let closed = matches!(socket.peek(&mut byte), Ok(0))
        || matches!(socket.peek(&mut byte), Err(ref e) if e.kind() != std::io::ErrorKind::WouldBlock);
    let _ = socket.set_nonblocking(false);
    closed
}

/// `123-text` or `123 text` to `text`; other lines unchanged.
fn strip_code(line: &str) -> &str {
    let bytes = line.as_bytes();
    if bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && matches!(bytes[3], b' ' | b'-')
    {
        &line[4..]
    } else {
        line
    }
}

/// Refuses a command argument that would end the command line early.
fn check_line(text: &str) -> Result<(), ClientError> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(ClientError::Usage(format!(
            "{text:?} contains a line break or NUL, which FTP commands cannot carry"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_reply_codes_from_lines() {
        assert_eq!(strip_code("200-Quota for a:"), "Quota for a:");
        assert_eq!(strip_code("200 End"), "End");
        assert_eq!(strip_code(" Bytes used: 5"), " Bytes used: 5");
    }

    #[test]
    fn refuses_arguments_with_line_breaks() {
        assert!(check_line("a\r\nDELE b").is_err());
        assert!(check_line("a b.txt").is_ok());
    }
}
