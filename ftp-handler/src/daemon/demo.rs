//! `wharf-ftpd demo`: a temporary root with user `demo` / `demo` (quota 100 MiB) and a
//! self-signed certificate for FTPS, removed on exit.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use wharf::ListenAddr;
use wharf_users::{AuthError, HashParams, UserRecord, UsersFile, hash_password};

use super::DaemonError;
use crate::config::FtpdConfig;
use crate::tls::TlsError;
use crate::tls::self_signed;

/// The demo user's name and password.
pub const DEMO_USER: &str = "demo";
/// The demo user's byte quota: 100 MiB.
pub const DEMO_QUOTA: u64 = 100 * 1024 * 1024;
/// Where the demo listens unless told otherwise.
pub const DEMO_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2121);

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The temporary root could not be made.
    #[error("cannot create the demo directory: {0}")]
    TempDir(#[source] std::io::Error),
    /// The demo user could not be written.
    #[error("cannot create the demo user: {0}")]
    User(#[from] AuthError),
    /// The self-signed certificate could not be made or written.
    #[error("cannot create the demo certificate: {0}")]
    Certificate(#[from] TlsError),
    /// The server failed.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// A prepared demo: its temporary root lives (and is removed) with this value.
#[derive(Debug)]
pub struct Demo {
    /// Holds `home/demo`, `users.toml` and `state/`; deleted on drop.
    root: TempDir,
    /// The configuration the demo runs with.
    config: FtpdConfig,
    /// SHA-256 fingerprint of the self-signed certificate, to check what clients are shown.
    fingerprint: String,
}

impl Demo {
    /// Creates the temporary root, the demo user and a configuration listening on `listen`
    /// (default 127.0.0.1:2121).
    pub fn prepare(listen: Option<ListenAddr>) -> Result<Demo, DemoError> {
        let root = tempfile::Builder::new()
            .prefix("wharf-ftpd-demo.")
            .tempdir()
            .map_err(DemoError::TempDir)?;
        let home = root.path().join("home").join(DEMO_USER);
        std::fs::create_dir_all(&home).map_err(DemoError::TempDir)?;
        let users_file = root.path().join("users.toml");
        let mut users = UsersFile::empty(&users_file);
        users.add(UserRecord {
            name: DEMO_USER.to_string(),
            password_hash: hash_password(DEMO_USER, &HashParams::PRODUCTION)?,
            home,
            quota_bytes: Some(DEMO_QUOTA),
            quota_files: None,
            allow_exec: false,
            authorized_keys: Vec::new(),
        })?;
        users.save()?;
        let certificate = self_signed::generate(&["localhost", "127.0.0.1", "::1"])?;
        let (cert, key) = (root.path().join("cert.pem"), root.path().join("key.pem"));
        for (path, pem) in [(&cert, &certificate.cert_pem), (&key, &certificate.key_pem)] {
            std::fs::write(path, pem).map_err(DemoError::TempDir)?;
        }
        let mut config = FtpdConfig::default();
        config.server.listen = vec![listen.unwrap_or(ListenAddr::Tcp(DEMO_LISTEN))];
        config.server.users_file = users_file;
        config.server.state_dir = root.path().join("state");
        config.tls.cert = Some(cert);
        config.tls.key = Some(key);
        Ok(Demo {
            root,
            config,
            fingerprint: certificate.fingerprint,
        })
    }

    /// The SHA-256 fingerprint of the demo's self-signed certificate.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The temporary root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The demo user's home.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home").join(DEMO_USER)
    }

    /// Binds the server, prints how to connect to `out`, and serves until Ctrl-C; the root is
    /// removed when this returns.
    pub fn run(self, out: &mut dyn Write) -> Result<(), DemoError> {
        let server = super::build_server(self.config.clone())?;
        let addr = server
            .local_addrs()
            .iter()
            .find_map(ListenAddr::as_tcp)
            .unwrap_or(DEMO_LISTEN);
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        let port = addr.port();
        // Printing is best effort: a closed stdout must not stop the demo.
        let _ = writeln!(
            out,
            "wharf-ftpd demo: user {DEMO_USER}, password {DEMO_USER}, quota 100 MiB\n\
             files live in {home} (removed when the demo stops)\n\
             FTPS (AUTH TLS) offered with a self-signed certificate, SHA-256 fingerprint\n  \
             {fingerprint}\n\
             connect with:\n  \
             curl -u {DEMO_USER}:{DEMO_USER} ftp://{host}:{port}/\n  \
             curl --ssl-reqd -k -u {DEMO_USER}:{DEMO_USER} ftp://{host}:{port}/\n  \
             lftp -u {DEMO_USER},{DEMO_USER} -p {port} {host}\n  \
             python3 -c \"import ftplib; f = ftplib.FTP(); f.connect('{plain}', {port}); \
             f.login('{DEMO_USER}', '{DEMO_USER}'); print(f.nlst())\"\n\
             press Ctrl-C to stop",
            home = self.home().display(),
            fingerprint = self.fingerprint,
            plain = host.trim_start_matches('[').trim_end_matches(']'),
        );
        let _ = out.flush();
        super::log_listening(&server, &self.config);
        server.serve_forever().map_err(DaemonError::from)?;
        tracing::info!(root = %self.root.path().display(), "demo stopped; removing its files");
        Ok(())
    }
}
