//! Everything that can go wrong in the client, and the exit code a script sees for it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use suppaftp::FtpError;

use super::url::UrlError;

/// Exit codes of `wharf-ftp`, stable for scripts (documented in `docs/client.md`).
pub mod exit {
    /// Everything asked for was done (and verified, or reported as unverified).
    pub const OK: u8 = 0;
    /// Bad command line, URL or password input.
    pub const USAGE: u8 = 1;
    /// Could not connect, negotiate TLS or log in.
    pub const CONNECT: u8 = 2;
    /// The server refused an operation (550 not found, 552 quota, 553 bad name, ...).
    pub const REMOTE: u8 = 3;
    /// The file arrived but its hash differs from the server's.
    pub const MISMATCH: u8 = 4;
    /// A local file could not be read or written.
    pub const LOCAL: u8 = 5;
    /// The connection broke or timed out mid-way: retrying with `--resume` may finish the job.
    pub const LOST: u8 = 6;
}

/// A reply from the server that ended an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    /// The three-digit reply code.
    pub code: u32,
    /// The reply text, lines joined with spaces, code prefixes removed.
    pub text: String,
}

impl RemoteReply {
    /// Builds a reply from suppaftp's raw response bytes (`"550 No such file\r\n"`).
    pub fn from_body(body: &[u8]) -> RemoteReply {
        let raw = String::from_utf8_lossy(body);
        let code = raw
            .get(..3)
            .and_then(|digits| digits.parse::<u32>().ok())
            .unwrap_or(0);
        let text = raw
            .lines()
            .map(|line| {
                let line = line.trim();
                match line.get(..4) {
                    Some(prefix)
                        if prefix[..3].bytes().all(|b| b.is_ascii_digit())
                            && matches!(prefix.as_bytes()[3], b' ' | b'-') =>
                    {
                        line[4..].trim()
                    }
                    _ => line,
                }
            })
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        RemoteReply { code, text }
    }

    /// What the code means for a user, when the server's own text may not say it.
    fn hint(&self) -> Option<&'static str> {
        match self.code {
            421 => Some("the server is closing the connection"),
            425 | 426 => Some("the data connection failed"),
            450 | 550 => Some("no such file or directory, or no access"),
            452 => Some("the server's disk is full"),
            530 => Some("not logged in"),
            534 => Some("the server requires TLS: try --tls"),
            552 => Some("quota exceeded"),
            553 => Some("file name not allowed"),
            554 => Some("bad restart offset"),
            _ => None,
        }
    }
}

impl fmt::Display for RemoteReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)?;
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// A client failure with the context needed to act on it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The URL could not be parsed (not quoted back: it may hold a password).
    #[error("bad URL: {0}")]
    Url(#[from] UrlError),
    /// The password could not be read.
    #[error("cannot read the password: {0}")]
    Password(String),
    /// No TCP connection to the server.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` as given.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// The TLS set-up or handshake failed.
    #[error("{context}: TLS failed: {message}")]
    Tls {
        /// What was being done (the server address, or the command whose data connection failed).
        context: String,
        /// What failed.
        message: String,
    },
    /// The server refused the user name or password.
    #[error("login as {user:?} refused: {reply}")]
    Login {
        /// The user name sent.
        user: String,
        /// The refusal.
        reply: RemoteReply,
    },
    /// The server refused an operation.
    #[error("{action}: {reply}")]
    Remote {
        /// What was being done, e.g. `RETR docs/a.txt`.
        action: String,
        /// The refusal.
        reply: RemoteReply,
    },
    /// The server answered something this client cannot interpret.
    #[error("{action}: unexpected reply from the server: {detail}")]
    Protocol {
        /// What was being done.
        action: String,
        /// What was wrong with the reply.
        detail: String,
    },
    /// The connection broke or timed out.
    #[error("{action}: connection lost: {source}")]
    ConnectionLost {
        /// What was being done.
        action: String,
        /// The socket error.
        source: io::Error,
    },
    /// The server's hash of the file differs from the local one.
    #[error(
        "verification FAILED for {remote}: server {algorithm} {remote_hex} differs from local {local_hex} ({local})"
    )]
    Mismatch {
        /// The remote path.
        remote: String,
        /// The local file.
        local: PathBuf,
        /// The algorithm both sides used.
        algorithm: String,
        /// The server's digest.
        remote_hex: String,
        /// The local digest.
        local_hex: String,
    },
    /// A local file or directory could not be used.
    #[error("{action} {path}: {source}")]
    Local {
        /// What was being done, e.g. `cannot create`.
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The file-system error.
        source: io::Error,
    },
    /// A resume is impossible because the partial file is larger than the complete one.
    #[error(
        "cannot resume {path}: the partial copy has {partial} bytes but the source has only {total}"
    )]
    ResumeLarger {
        /// The file being resumed.
        path: String,
        /// Bytes already at the destination.
        partial: u64,
        /// Bytes in the source.
        total: u64,
    },
}

impl ClientError {
    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Url(_) | Self::Password(_) => exit::USAGE,
            Self::Connect { .. } | Self::Tls { .. } | Self::Login { .. } => exit::CONNECT,
            Self::Remote { .. } | Self::Protocol { .. } | Self::ResumeLarger { .. } => exit::REMOTE,
            Self::ConnectionLost { .. } => exit::LOST,
            Self::Mismatch { .. } => exit::MISMATCH,
            Self::Local { .. } => exit::LOCAL,
        }
    }

    /// Whether the control connection is unusable after this error.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Self::ConnectionLost { .. } | Self::Tls { .. })
            || matches!(self, Self::Remote { reply, .. } if reply.code == 421)
    }

    /// Wraps a suppaftp error with what was being done.
    pub fn ftp(action: impl Into<String>, error: FtpError) -> ClientError {
        let action = action.into();
        match error {
            FtpError::ConnectionError(source) => match tls_failure(&source) {
                Some(message) => Self::Tls {
                    context: action,
                    message,
                },
                None => Self::ConnectionLost { action, source },
            },
            FtpError::UnexpectedResponse(response) => Self::Remote {
                action,
                reply: RemoteReply::from_body(&response.body),
            },
            FtpError::SecureError(message) => Self::Tls {
                context: action,
                message,
            },
            FtpError::BadResponse => Self::Protocol {
                action,
                detail: "malformed reply".to_string(),
            },
            FtpError::InvalidAddress(error) => Self::Protocol {
                action,
                detail: format!("bad address: {error}"),
            },
            FtpError::DataConnectionAlreadyOpen => Self::Protocol {
                action,
                detail: "a data connection is already open".to_string(),
            },
        }
    }

    /// A local file error.
    pub fn local(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> ClientError {
        Self::Local {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The TLS error inside a socket error, if rustls produced it (bad certificate, handshake).
pub fn tls_failure(error: &io::Error) -> Option<String> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_drops_code_prefixes_and_joins_lines() {
        let reply = RemoteReply::from_body(b"552-Quota exceeded\r\n552 Try again later.\r\n");
        assert_eq!(reply.code, 552);
        assert_eq!(reply.text, "Quota exceeded Try again later.");
        assert_eq!(
            reply.to_string(),
            "552 Quota exceeded Try again later. (quota exceeded)"
        );
    }

    #[test]
    fn reply_without_a_code_is_kept_whole() {
        let reply = RemoteReply::from_body(b"garbage");
        assert_eq!((reply.code, reply.text.as_str()), (0, "garbage"));
    }

    #[test]
    fn each_failure_class_has_its_own_exit_code() {
        let remote = |code| ClientError::Remote {
            action: "RETR x".to_string(),
            reply: RemoteReply {
                code,
                text: String::new(),
            },
        };
        assert_eq!(remote(550).exit_code(), exit::REMOTE);
        assert_eq!(remote(552).exit_code(), exit::REMOTE);
        assert!(remote(421).is_connection_lost());
        assert!(!remote(550).is_connection_lost());
        assert_eq!(ClientError::Usage(String::new()).exit_code(), exit::USAGE);
        let lost = ClientError::ftp(
            "RETR x",
            FtpError::ConnectionError(io::ErrorKind::TimedOut.into()),
        );
        assert_eq!(lost.exit_code(), exit::LOST);
        let bad_certificate = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let tls = ClientError::ftp("AUTH TLS", FtpError::ConnectionError(bad_certificate));
        assert_eq!(tls.exit_code(), exit::CONNECT);
        assert!(tls.to_string().contains("certificate"), "{tls}");
        let local = ClientError::local("cannot create", "/x", io::ErrorKind::NotFound.into());
        assert_eq!(local.exit_code(), exit::LOCAL);
    }
}
