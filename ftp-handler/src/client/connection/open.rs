//! Opening a session: TCP connect with a timeout, AUTH TLS (explicit FTPS), USER/PASS, FEAT,
//! binary type and the passive mode the server supports.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, RustlsConnector, RustlsFtpStream, Status};

use crate::client::error::{ClientError, RemoteReply};
use crate::client::features::ServerFeatures;
use crate::client::tls;
use crate::client::url::FtpUrl;

/// Where to connect and how to log in; kept to reconnect after a failure.
#[derive(Clone)]
pub struct Login {
    /// Server, port and user (the path is ignored).
    pub url: FtpUrl,
    /// The password to send (anonymous logins get a conventional one).
    pub password: String,
    /// Explicit FTPS configuration, or `None` for plain FTP.
    pub tls: Option<Arc<ClientConfig>>,
    /// Connect and inactivity timeout for control and data connections.
    pub timeout: Duration,
}

impl Login {
    /// The user name sent: the URL's, or `anonymous`.
    pub fn user(&self) -> &str {
        self.url.user.as_deref().unwrap_or("anonymous")
    }
}

/// Connects, optionally secures, logs in, reads FEAT and picks binary passive transfers.
pub(super) fn establish(login: &Login) -> Result<(RustlsFtpStream, ServerFeatures), ClientError> {
    let authority = login.url.authority();
    let socket = connect_tcp(&authority, login.timeout)?;
    let ipv6 = socket.peer_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    let mut ftp = RustlsFtpStream::connect_with_stream(socket).map_err(|error| match error {
        FtpError::ConnectionError(source) => ClientError::Connect {
            addr: authority.clone(),
            source,
        },
        other => ClientError::ftp(format!("greeting from {authority}"), other),
    })?;
    if let Some(config) = &login.tls {
        // Validated here so that a bad name reads as such, not as a handshake failure.
        tls::server_name(&login.url.host)?;
        let connector = RustlsConnector::from(Arc::clone(config));
        ftp = ftp
            .into_secure(connector, &login.url.host)
            .map_err(|error| match error {
                FtpError::UnexpectedResponse(response) => ClientError::Tls {
                    context: authority.clone(),
                    message: format!(
                        "the server refused AUTH TLS or PROT P: {}",
                        RemoteReply::from_body(&response.body)
                    ),
                },
                FtpError::SecureError(message) => ClientError::Tls {
                    context: authority.clone(),
                    message,
                },
                other => ClientError::ftp(format!("AUTH TLS with {authority}"), other),
            })?;
    }
    ftp.login(login.user(), login.password.as_str())
        .map_err(|error| match error {
            FtpError::UnexpectedResponse(response) => ClientError::Login {
                user: login.user().to_string(),
                reply: RemoteReply::from_body(&response.body),
            },
            other => ClientError::ftp(format!("login to {authority}"), other),
        })?;
    let features = match ftp.feat() {
        Ok(features) => ServerFeatures::from_feat(&features),
        Err(FtpError::ConnectionError(source)) => {
            return Err(ClientError::ConnectionLost {
                action: "FEAT".to_string(),
                source,
            });
        }
        // A server without FEAT (or with a FEAT suppaftp cannot parse) offers no extension.
        Err(_) => ServerFeatures::default(),
    };
    if features.utf8 {
        // Only a hint to servers that need it; file names are sent as UTF-8 regardless.
        let _ = ftp.custom_command("OPTS UTF8 ON", &[Status::CommandOk]);
    }
    ftp.transfer_type(FileType::Binary)
        .map_err(|error| ClientError::ftp("TYPE I", error))?;
    if features.epsv || ipv6 {
        ftp.set_mode(Mode::ExtendedPassive);
    } else {
        ftp.set_mode(Mode::Passive);
        // Use the control connection's address, not the one in the PASV reply (NAT-safe).
        ftp.set_passive_nat_workaround(true);
    }
    tracing::debug!(server = %authority, ?features, "logged in");
    Ok((ftp, features))
}

/// Opens the control connection to the first address of `authority` that answers.
fn connect_tcp(authority: &str, timeout: Duration) -> Result<TcpStream, ClientError> {
    let addrs = authority
        .to_socket_addrs()
        .map_err(|source| ClientError::Connect {
            addr: authority.to_string(),
            source,
        })?;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(socket) => {
                socket
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| socket.set_write_timeout(Some(timeout)))
                    .map_err(|source| ClientError::Connect {
                        addr: authority.to_string(),
                        source,
                    })?;
                return Ok(socket);
            }
            Err(error) => last = error,
        }
    }
    Err(ClientError::Connect {
        addr: authority.to_string(),
        source: last,
    })
}
