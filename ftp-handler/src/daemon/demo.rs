//! `wharf-ftpd demo`: a temporary root with user `demo` / `demo` (quota 100 MiB), removed on exit.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use wharf::ListenAddr;
use wharf::auth::{AuthError, HashParams, UserRecord, UsersFile, hash_password};

use super::DaemonError;
use crate::config::FtpdConfig;

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
        let mut config = FtpdConfig::default();
        config.server.listen = vec![listen.unwrap_or(ListenAddr::Tcp(DEMO_LISTEN))];
        config.server.users_file = users_file;
        config.server.state_dir = root.path().join("state");
        Ok(Demo { root, config })
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
             connect with:\n  \
             curl -u {DEMO_USER}:{DEMO_USER} ftp://{host}:{port}/\n  \
             lftp -u {DEMO_USER},{DEMO_USER} -p {port} {host}\n  \
             python3 -c \"import ftplib; f = ftplib.FTP(); f.connect('{plain}', {port}); \
             f.login('{DEMO_USER}', '{DEMO_USER}'); print(f.nlst())\"\n\
             press Ctrl-C to stop",
            home = self.home().display(),
            plain = host.trim_start_matches('[').trim_end_matches(']'),
        );
        let _ = out.flush();
        for addr in server.local_addrs() {
            tracing::info!("listening on {addr}");
        }
        server.serve_forever().map_err(DaemonError::from)?;
        tracing::info!(root = %self.root.path().display(), "demo stopped; removing its files");
        Ok(())
    }
}
