//! The rustls client configuration for explicit FTPS: which certificates to trust, and one
//! session cache shared by the control and data connections so that data connections resume
//! the control connection's TLS session (servers such as vsftpd and FileZilla refuse others).

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::ClientError;

/// Sessions kept for resumption: one control connection needs only a few.
const SESSION_CACHE_SIZE: usize = 32;

/// Whom to trust when the server presents its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust<'a> {
    /// The operating system's certificate store.
    System,
    /// Only the certificates in this PEM file (`--ca-cert`).
    CaFile(&'a Path),
    /// Anyone (`--insecure`): the connection is encrypted but the server is not authenticated.
    Anyone,
}

/// Builds the client configuration for `trust`, with TLS session resumption on.
pub fn client_config(trust: Trust<'_>) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(error.to_string()))?;
    let mut config = match trust {
        Trust::Anyone => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(file_roots(path)?)
            .with_no_client_auth(),
    };
    // The data connections offer the control connection's session (RFC 4217 section 10.2).
    config.resumption = Resumption::in_memory_sessions(SESSION_CACHE_SIZE);
    Ok(Arc::new(config))
}

/// The name the certificate must carry: the host as written in the URL.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ClientError> {
    ServerName::try_from(host.to_string())
        .map_err(|error| tls_error(format!("{host:?} is not a valid TLS server name: {error}")))
}

/// The operating system's trusted roots.
fn system_roots() -> Result<RootCertStore, ClientError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let reasons: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        return Err(tls_error(format!(
            "no trusted certificates found on this system ({}); use --ca-cert FILE",
            reasons.join("; ")
        )));
    }
    Ok(roots)
}

/// The roots in a PEM file.
fn file_roots(path: &Path) -> Result<RootCertStore, ClientError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|error| tls_error(format!("cannot read {}: {error}", path.display())))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(tls_error(format!(
            "{} holds no usable certificate",
            path.display()
        )));
    }
    Ok(roots)
}

/// A TLS configuration error (before any connection).
fn tls_error(message: String) -> ClientError {
    ClientError::Tls {
        context: "TLS set-up".to_string(),
        message,
    }
}

/// `--insecure`: accepts any certificate, but still checks that the server holds its key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    /// The provider's signature algorithms, to verify handshake signatures.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_a_clear_error() {
        let error = client_config(Trust::CaFile(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = client_config(Trust::CaFile(&path)).unwrap_err();
        assert!(
            error.to_string().contains("no usable certificate"),
            "{error}"
        );
    }

    #[test]
    fn insecure_mode_builds() {
        assert!(client_config(Trust::Anyone).is_ok());
    }

    #[test]
    fn ip_addresses_and_names_are_valid_server_names() {
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        assert!(server_name("ftp.example.org").is_ok());
        assert!(server_name("bad name!").is_err());
    }
}
