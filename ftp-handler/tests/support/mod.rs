//! Shared test fixtures: a real `wharf-ftpd serve` process with its own users, homes and state,
//! and a raw control-connection client that reads replies exactly.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use wharf_users::HashParams;

use common::backend::{Backend, SiteStorage};
use common::ftpd::{self, FtpdProcess};
// Re-exported for the tests; each test crate uses a subset.
#[allow(unused_imports)]
pub use common::payload::{file_sha256, random_bytes, sha256_hex};
use common::users::{self, Account};

/// Every concurrency mode the daemon runs in.
pub const MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// A running `wharf-ftpd serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    /// The server process; declared before `root` so it stops before its files go.
    process: FtpdProcess,
    /// The control address it listens on.
    pub addr: SocketAddr,
    /// Root of users.toml, state/ and home/<user>.
    pub root: TempDir,
    /// The mode it runs in.
    pub mode: String,
    /// Where the users' files live (local homes, or a key prefix in Garage).
    pub storage: SiteStorage,
}

impl Daemon {
    /// Starts a daemon in `mode` with `users` (name, password), each with a fresh home.
    pub fn start(mode: &str, users: &[(&str, &str)]) -> Daemon {
        Self::start_with(mode, users, &[], &[])
    }

    /// Like `start`, with extra `serve` flags and environment variables.
    pub fn start_with(
        mode: &str,
        users: &[(&str, &str)],
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        Self::start_on(Backend::Local, mode, users, flags, env)
    }

    /// Like `start_with`, with the users' files on `backend` (S3: a fresh key prefix in the
    /// test binary's Garage).
    pub fn start_on(
        backend: Backend,
        mode: &str,
        users: &[(&str, &str)],
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let root = tempfile::tempdir().expect("temp dir");
        let storage = SiteStorage::new(backend, root.path(), mode);
        let accounts: Vec<Account<'_>> = users
            .iter()
            .map(|&(name, password)| Account {
                name,
                password,
                quota_bytes: Some(1 << 30),
                quota_files: None,
            })
            .collect();
        let users_file =
            users::write_users_on(backend, root.path(), &accounts, &HashParams::PRODUCTION);
        let storage_flags = storage.serve_flags();
        let flags: Vec<&str> = storage_flags
            .iter()
            .map(String::as_str)
            .chain(flags.iter().copied())
            .collect();
        let process = ftpd::serve(
            mode,
            &users_file,
            &users::state_dir(root.path()),
            &flags,
            env,
        );
        Daemon {
            addr: process.addr(),
            process,
            root,
            mode: mode.to_string(),
            storage,
        }
    }

    /// The `(size, SHA-256)` of what the backend stores as `name` in `user`'s home, read
    /// without the daemon (boto3 on S3); `None` if nothing is stored there.
    pub fn stored_digest(&self, user: &str, name: &str) -> Option<(u64, String)> {
        self.storage.stored_digest(user, name)
    }

    /// Stores `content` as `name` in `user`'s home behind the daemon's back.
    pub fn place(&self, user: &str, name: &str, content: &[u8]) {
        self.storage.place(user, name, content);
    }

    /// A user's local home directory (local backend only).
    pub fn home(&self, user: &str) -> PathBuf {
        users::home(self.root.path(), user)
    }

    /// `ftp://user:password@127.0.0.1:port/path`
    pub fn url(&self, user: &str, password: &str, path: &str) -> String {
        format!(
            "ftp://{user}:{password}@{}:{}/{}",
            self.addr.ip(),
            self.addr.port(),
            path.trim_start_matches('/')
        )
    }

    /// Every address the daemon reported listening on, waiting until `count` are known.
    pub fn listen_addrs(&self, count: usize) -> Vec<SocketAddr> {
        self.process.wait_for_addrs(count, Duration::from_secs(10))
    }

    /// The address of the first listener whose `listening on` line `matches`, waiting for it.
    pub fn listener(&self, matches: impl Fn(&str) -> bool) -> SocketAddr {
        self.process
            .wait_for_listener(matches, Duration::from_secs(10))
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.process.pid().expect("the daemon runs")
    }

    /// Waits up to `limit` for the process to exit; true if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        self.process.wait_exit(limit).is_some()
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// Runs curl with `args` (quiet, errors shown, bounded in time).
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl must be installed to run this test")
}

/// Whether a program is on the PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Lists every path under `dir` (relative), sorted, for "nothing changed" checks.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
}
