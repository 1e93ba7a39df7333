//! FTPS test fixtures: a test CA with a server certificate for 127.0.0.1, daemons serving FTPS,
//! and a raw control connection that can switch to TLS (rustls client).
#![allow(dead_code)]

pub mod raw_tls;

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::support::Daemon;
// Re-exported for the tests; each test crate uses a subset.
#[allow(unused_imports)]
pub use crate::support::common::pki::{Pki, pki};

impl Pki {
    /// The `serve` flags that offer FTPS with this certificate.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_string(),
            self.cert.display().to_string(),
            "--tls-key".to_string(),
            self.key.display().to_string(),
        ]
    }

    /// A rustls client configuration trusting the test CA (its own session cache: data
    /// connections made with the same configuration resume the control session).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client_config_with(rustls::DEFAULT_VERSIONS)
    }

    /// Like `client_config`, limited to the given protocol versions.
    pub fn client_config_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("add CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// Starts a daemon offering FTPS with `pki`, plus extra flags and environment.
pub fn start_ftps(
    mode: &str,
    users: &[(&str, &str)],
    pki: &Pki,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Daemon {
    let mut all: Vec<String> = pki.flags();
    all.extend(flags.iter().map(|flag| flag.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Daemon::start_with(mode, users, &all, env)
}

/// Starts a daemon with an extra implicit-FTPS listener; returns it with the implicit address.
pub fn start_with_implicit(
    mode: &str,
    users: &[(&str, &str)],
    pki: &Pki,
    env: &[(&str, &str)],
) -> (Daemon, std::net::SocketAddr) {
    let daemon = start_ftps(
        mode,
        users,
        pki,
        &["--tls-implicit-listen", "127.0.0.1:0"],
        env,
    );
    let addr = implicit_addr(&daemon);
    (daemon, addr)
}

/// The address the daemon reported as its implicit-FTPS listener.
pub fn implicit_addr(daemon: &Daemon) -> std::net::SocketAddr {
    daemon.listener(|line| line.contains("(implicit FTPS)"))
}
