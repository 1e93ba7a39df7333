//! A test CA and a server certificate it signed for `127.0.0.1`, `::1`, `localhost` and the
//! balancer tests' `127.0.0.10`, written
//! as PEM files.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use tempfile::TempDir;

/// A test CA and a server certificate it signed, written as PEM files.
pub struct Pki {
    /// Holds the files.
    pub dir: TempDir,
    /// The CA certificate (what clients trust).
    pub ca: PathBuf,
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// The CA certificate, DER, for rustls clients.
    pub ca_der: CertificateDer<'static>,
}

/// Makes a fresh CA and a server certificate for `127.0.0.1`, `::1`, `localhost` and
/// `127.0.0.10` (where the balancer tests' HAProxy listens).
pub fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wharf test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "127.0.0.10".to_string(),
    ])
    .expect("leaf params");
    leaf.distinguished_name
        .push(DnType::CommonName, "wharf-ftpd test");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().expect("key");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).expect("leaf");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write pem");
        path
    };
    Pki {
        ca: write("ca.pem", &ca.pem()),
        cert: write("cert.pem", &leaf_cert.pem()),
        key: write("key.pem", &leaf_key.serialize_pem()),
        ca_der: ca.der().clone(),
        dir,
    }
}
