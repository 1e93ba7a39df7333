//! The FTP servers the benchmark measures, and the programs and account each one needs.
//!
//! Peers: vsftpd, pure-ftpd and ProFTPD (Debian's builds, unpacked by `bench/peers.sh`) and pyftpdlib
//! (PyPI). Wharf: `wharf-ftpd serve` in each concurrency mode. Every server listens on
//! 127.0.0.1 only, on a port the benchmark picks, serving one test user jailed in a temporary
//! root. How each is configured is in [`crate::ftp::setup`] and the files under `bench/peers/`.

use std::path::PathBuf;

/// One server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FtpServer {
    /// vsftpd, a process (two, with privilege separation) per session.
    Vsftpd,
    /// pure-ftpd, a process per session.
    PureFtpd,
    /// ProFTPD, a process per session forked by its standalone listener.
    Proftpd,
    /// pyftpdlib's asynchronous server: one Python process, one event loop.
    Pyftpdlib,
    /// `wharf-ftpd` in async mode (a tokio task per session).
    WharfAsync,
    /// `wharf-ftpd` in threading mode (a thread per session).
    WharfThreading,
    /// `wharf-ftpd` in forking mode (a process per session).
    WharfForking,
    /// `wharf-ftpd` in sequential mode (one session at a time).
    WharfSequential,
}

impl FtpServer {
    /// Every server, in the order the benchmark runs and prints them.
    pub const ALL: [FtpServer; 8] = [
        FtpServer::Vsftpd,
        FtpServer::PureFtpd,
        FtpServer::Proftpd,
        FtpServer::Pyftpdlib,
        FtpServer::WharfAsync,
        FtpServer::WharfThreading,
        FtpServer::WharfForking,
        FtpServer::WharfSequential,
    ];

    /// The name used on the command line, in tables and in the JSON record.
    pub fn id(self) -> &'static str {
        match self {
            FtpServer::Vsftpd => "vsftpd",
            FtpServer::PureFtpd => "pure-ftpd",
            FtpServer::Proftpd => "proftpd",
            FtpServer::Pyftpdlib => "pyftpdlib",
            FtpServer::WharfAsync => "wharf-async",
            FtpServer::WharfThreading => "wharf-threading",
            FtpServer::WharfForking => "wharf-forking",
            FtpServer::WharfSequential => "wharf-sequential",
        }
    }

    /// The server with this id.
    pub fn from_id(id: &str) -> Option<FtpServer> {
        FtpServer::ALL.into_iter().find(|server| server.id() == id)
    }

    /// Whether this is one of the servers Wharf is compared with.
    pub fn is_peer(self) -> bool {
        matches!(
            self,
            FtpServer::Vsftpd | FtpServer::PureFtpd | FtpServer::Proftpd | FtpServer::Pyftpdlib
        )
    }

    /// Wharf's concurrency mode, for `wharf-ftpd` servers.
    pub fn wharf_mode(self) -> Option<&'static str> {
        match self {
            FtpServer::WharfAsync => Some("async"),
            FtpServer::WharfThreading => Some("threading"),
            FtpServer::WharfForking => Some("forking"),
            FtpServer::WharfSequential => Some("sequential"),
            FtpServer::Vsftpd | FtpServer::PureFtpd | FtpServer::Proftpd | FtpServer::Pyftpdlib => {
                None
            }
        }
    }

    /// Whether the server serves one session at a time (so only single-session figures apply).
    pub fn one_session_at_a_time(self) -> bool {
        self == FtpServer::WharfSequential
    }

    /// Whether the server runs sessions as the test system user (and so needs it to own the
    /// root and to exist in `/etc/passwd`).
    pub fn runs_as_test_user(self) -> bool {
        matches!(
            self,
            FtpServer::Vsftpd | FtpServer::PureFtpd | FtpServer::Proftpd
        )
    }
}

impl std::fmt::Display for FtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// How `wharf-ftpd` is run.
#[derive(Debug, Clone)]
pub enum FtpdProgram {
    /// A `wharf-ftpd` binary, run as `wharf-ftpd serve --config FILE`.
    Binary(PathBuf),
    /// This benchmark binary's built-in `serve-ftpd` subcommand: the same library call as
    /// `wharf-ftpd serve`, for runs (the smoke test) where no `wharf-ftpd` binary is built.
    BuiltIn(PathBuf),
}

/// Where the programs of every server are, and the test account they serve.
#[derive(Debug, Clone)]
pub struct Programs {
    /// How `wharf-ftpd` runs.
    pub ftpd: FtpdProgram,
    /// The `vsftpd` binary.
    pub vsftpd: PathBuf,
    /// The `pure-ftpd` binary.
    pub pure_ftpd: PathBuf,
    /// The `pure-pw` tool that makes pure-ftpd's user database.
    pub pure_pw: PathBuf,
    /// The `proftpd` binary.
    pub proftpd: PathBuf,
    /// The Python interpreter that runs pyftpdlib.
    pub python: PathBuf,
    /// `bench/peers/`: vsftpd.conf, pure-ftpd.flags, proftpd.conf, pyftpdlib_server.py.
    pub peers_dir: PathBuf,
    /// The system user vsftpd, pure-ftpd and ProFTPD run sessions as (made by `bench/peers.sh`).
    pub user: String,
    /// The test user's password (the same for every server).
    pub password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_only_peers_are_peers() {
        for server in FtpServer::ALL {
            assert_eq!(FtpServer::from_id(server.id()), Some(server));
            assert_eq!(server.is_peer(), server.wharf_mode().is_none());
        }
        assert_eq!(FtpServer::from_id("proftpd"), Some(FtpServer::Proftpd));
        assert_eq!(FtpServer::from_id("wu-ftpd"), None);
        assert!(FtpServer::WharfSequential.one_session_at_a_time());
    }
}
