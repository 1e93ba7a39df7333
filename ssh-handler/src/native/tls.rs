//! The TLS server configuration of the native front end (rustls with the ring provider).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate file could not be read or holds no certificate.
    #[error("cannot read certificates from {}: {reason}", path.display())]
    Certificates {
        /// The PEM file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The key file could not be read or holds no private key.
    #[error("cannot read a private key from {}: {reason}", path.display())]
    Key {
        /// The PEM file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the pair (for example a key that does not match the certificate).
    #[error("unusable certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS acceptor for the PEM certificate chain `cert` and private key `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsSetupError> {
    let certificates = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsSetupError::Certificates {
            path: cert.to_path_buf(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsSetupError::Certificates {
            path: cert.to_path_buf(),
            reason: "no certificate in the file".to_owned(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|error| TlsSetupError::Key {
        path: key.to_path_buf(),
        reason: error.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, private_key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
