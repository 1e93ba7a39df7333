//! FTPS (RFC 4217) on rustls with the ring provider.
//!
//! - [`identity`]: the server certificate and key, read once from PEM and shared by sessions.
//! - [`resumption`]: a TLS session cache private to one FTP session, so only that session's data
//!   connections can resume its TLS session (vsftpd's `require_ssl_reuse`).
//! - [`self_signed`]: the throw-away certificate of `wharf-ftpd demo` and its fingerprint.
//! - [`data`]: a data connection in clear or in TLS, as transfers see it.

pub mod data;
mod identity;
mod resumption;
pub mod self_signed;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub use identity::TlsServer;
use resumption::{CacheRole, SessionCache};

/// TLS 1.3 tickets sent on the control connection. Clients built on rustls spend one per data
/// connection (OpenSSL clients reuse one), so spare ones let such a client make several
/// uploads before a download brings new tickets; 8 is as many as a rustls client keeps.
const CONTROL_TICKETS: usize = 8;
/// TLS 1.3 tickets sent on a download's data connection, which the client reads to its end.
const DOWNLOAD_TICKETS: usize = 2;
/// None on an upload's data connection: the client never reads it, and closing a socket with
/// unread tickets makes the kernel reset the connection, which can cut the upload's tail.
const UPLOAD_TICKETS: usize = 0;

/// Which way a data connection carries the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDirection {
    /// Server to client: RETR and listings.
    Download,
    /// Client to server: STOR, APPE, STOU.
    Upload,
}

/// Why the TLS setup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no usable certificate.
    #[error("no certificate found in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable private key.
    #[error("no private key found in {}: {reason}", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// rustls refused the certificate, the key or the settings.
    #[error("TLS setup refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The self-signed demo certificate could not be made.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The TLS side of one FTP session: the control connection's acceptor and the data
/// connections' acceptor, sharing a session cache that no other FTP session sees.
#[derive(Clone)]
pub struct SessionTls {
    /// Accepts the control connection (AUTH TLS or implicit); its sessions are kept for the
    /// whole FTP session.
    control: TlsAcceptor,
    /// Accepts downloads' data connections; resumes only sessions of this FTP session.
    download: TlsAcceptor,
    /// Accepts uploads' data connections (no new tickets sent).
    upload: TlsAcceptor,
}

impl std::fmt::Debug for SessionTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTls").finish_non_exhaustive()
    }
}

impl SessionTls {
    /// Fresh acceptors with their own session cache, for one FTP session of `server`.
    pub fn new(server: &TlsServer) -> Result<Self, TlsError> {
        let cache = Arc::new(SessionCache::default());
        let control = server.config(cache.view(CacheRole::Control), CONTROL_TICKETS)?;
        let download = server.config(cache.view(CacheRole::Data), DOWNLOAD_TICKETS)?;
        let upload = server.config(cache.view(CacheRole::Data), UPLOAD_TICKETS)?;
        Ok(Self {
            control: TlsAcceptor::from(control),
            download: TlsAcceptor::from(download),
            upload: TlsAcceptor::from(upload),
        })
    }

    /// Runs the server side of the control connection's handshake.
    pub async fn accept_control<S>(&self, stream: S) -> std::io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.control.accept(stream).await
    }

    /// Runs the server side of a data connection's handshake.
    pub async fn accept_data<S>(
        &self,
        stream: S,
        direction: DataDirection,
    ) -> std::io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match direction {
            DataDirection::Download => self.download.accept(stream).await,
            DataDirection::Upload => self.upload.accept(stream).await,
        }
    }
}
