//! The client's TLS set-up: rustls with the ring provider, trusting a given CA file or the
//! system's bundle.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

/// Where Debian and its derivatives keep the system's trusted CA certificates.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why the client's TLS set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsClientError {
    /// The CA file could not be read or holds no usable certificate.
    #[error("cannot use the CA certificates in {}: {reason}", path.display())]
    Roots {
        /// The PEM file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS set-up failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A connector trusting the certificates in `ca_file`, or the system bundle when `None`.
pub fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, TlsClientError> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let roots_error = |reason: String| TlsClientError::Roots {
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| roots_error(error.to_string()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(roots_error("no usable certificate".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the server's certificate must carry: a DNS name or an IP address.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
}
