//! A throw-away self-signed certificate (for `wharf-ftpd demo`) and certificate fingerprints.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use sha2::{Digest, Sha256};

use super::TlsError;

/// A freshly generated certificate and key, in PEM, with the certificate's fingerprint.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// SHA-256 of the certificate, as `AB:CD:...` (what `openssl x509 -fingerprint` prints).
    pub fingerprint: String,
}

/// Generates a self-signed certificate valid for `names` (DNS names or IP addresses).
pub fn generate(names: &[&str]) -> Result<SelfSigned, TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>(),
    )?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "wharf-ftpd demo");
    params.distinguished_name = subject;
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: sha256_fingerprint(cert.der()),
    })
}

/// The SHA-256 fingerprint of a DER certificate as colon-separated upper-case hex.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::TlsServer;
    use std::path::Path;

    #[test]
    fn generated_certificate_loads_and_fingerprint_has_32_bytes() {
        let generated = generate(&["localhost", "127.0.0.1"]).unwrap();
        assert_eq!(generated.fingerprint.split(':').count(), 32);
        assert!(
            generated
                .cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        TlsServer::from_pem(
            generated.cert_pem.as_bytes(),
            generated.key_pem.as_bytes(),
            Path::new("cert.pem"),
            Path::new("key.pem"),
        )
        .unwrap();
    }

    #[test]
    fn fingerprint_format() {
        assert_eq!(
            sha256_fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
             B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }
}
