//! A real `wharf-ftpd serve` for the client tests, with one user whose quota the test chooses.

use std::net::SocketAddr;
use std::path::PathBuf;

use tempfile::TempDir;
use wharf_users::HashParams;

use super::common::backend::{Backend, SiteStorage};
use super::common::ftpd::{self, FtpdProcess};
use super::common::users::{self, Account};
use super::{PASSWORD, USER};

/// A running daemon, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Ftpd {
    /// The server process; declared before `root` so it stops before its files go.
    process: FtpdProcess,
    /// Where it listens.
    pub addr: SocketAddr,
    /// users.toml, state/ and home/.
    root: TempDir,
    /// Where alice's files live (her local home, or a key prefix in Garage).
    pub storage: SiteStorage,
}

impl Ftpd {
    /// Starts `wharf-ftpd serve` (async mode) for alice with `quota_bytes`, plus `flags`.
    pub fn start(quota_bytes: u64, flags: &[&str]) -> Ftpd {
        Ftpd::start_on(Backend::Local, quota_bytes, flags)
    }

    /// Like [`Ftpd::start`], with alice's files on `backend`.
    pub fn start_on(backend: Backend, quota_bytes: u64, flags: &[&str]) -> Ftpd {
        let root = tempfile::tempdir().expect("temp dir");
        let storage = SiteStorage::new(backend, root.path(), "client");
        let alice = Account {
            name: USER,
            password: PASSWORD,
            quota_bytes: Some(quota_bytes),
            quota_files: None,
        };
        let users_file = users::write_users_on(
            backend,
            root.path(),
            &[alice],
            &HashParams::INSECURE_FOR_TESTS,
        );
        let storage_flags = storage.serve_flags();
        let flags: Vec<&str> = storage_flags
            .iter()
            .map(String::as_str)
            .chain(flags.iter().copied())
            .collect();
        let process = ftpd::serve(
            "async",
            &users_file,
            &users::state_dir(root.path()),
            &flags,
            &[],
        );
        Ftpd {
            addr: process.addr(),
            process,
            root,
            storage,
        }
    }

    /// Alice's local home: the server's `/` (local backend).
    pub fn home(&self) -> PathBuf {
        users::home(self.root.path(), USER)
    }
}
