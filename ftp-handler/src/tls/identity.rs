//! The server's certificate chain and private key, loaded once and shared by every session.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;

use super::TlsError;

/// The daemon's TLS identity (certificate chain and key) with the ring crypto provider.
#[derive(Debug, Clone)]
pub struct TlsServer {
    /// The ring provider every configuration is built with.
    provider: Arc<CryptoProvider>,
    /// Always presents the one certificate chain.
    resolver: Arc<FixedCertificate>,
}

/// A certificate resolver that presents the same chain to every client.
#[derive(Debug)]
struct FixedCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

impl TlsServer {
    /// Reads the PEM certificate chain (leaf first) and the PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        Self::from_pem(&cert_pem, &key_pem, cert, key)
    }

    /// Builds the identity from PEM text; the paths only name the sources in errors.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert_path.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| TlsError::NoKey {
            path: key_path.to_path_buf(),
            reason: error.to_string(),
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = CertifiedKey::from_der(chain, key, &provider)?;
        Ok(Self {
            provider,
            resolver: Arc::new(FixedCertificate(Arc::new(certified))),
        })
    }

    /// A server configuration presenting this identity, keeping sessions in `store` and
    /// sending `tickets` TLS 1.3 tickets after each handshake.
    pub(super) fn config(
        &self,
        store: Arc<dyn StoresServerSessions>,
        tickets: usize,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&self.resolver) as Arc<dyn ResolvesServerCert>);
        // Sessions live only in this FTP session's store: no stateless tickets, whose key
        // would let any session's ticket resume anywhere.
        config.session_storage = store;
        config.send_tls13_tickets = tickets;
        Ok(Arc::new(config))
    }
}
