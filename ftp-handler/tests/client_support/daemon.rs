//! A real `wharf-ftpd serve` for the client tests, with one user whose quota the test chooses.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use wharf::auth::{HashParams, UserRecord, UsersFile, hash_password};

use super::{PASSWORD, USER};

/// A running daemon, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Ftpd {
    /// The server process.
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// users.toml, state/ and home/.
    root: TempDir,
}

impl Ftpd {
    /// Starts `wharf-ftpd serve` (async mode) for alice with `quota_bytes`, plus `flags`.
    pub fn start(quota_bytes: u64, flags: &[&str]) -> Ftpd {
        let root = tempfile::tempdir().expect("temp dir");
        let home = root.path().join("home").join(USER);
        std::fs::create_dir_all(&home).expect("home");
        let users = root.path().join("users.toml");
        let mut file = UsersFile::empty(&users);
        file.add(UserRecord {
            name: USER.to_string(),
            password_hash: hash_password(PASSWORD, &HashParams::INSECURE_FOR_TESTS).expect("hash"),
            home,
            quota_bytes: Some(quota_bytes),
            quota_files: None,
            allow_exec: false,
            authorized_keys: Vec::new(),
        })
        .expect("add user");
        file.save().expect("save users");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf-ftpd"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mode", "async", "--users"])
            .arg(&users)
            .arg("--state-dir")
            .arg(root.path().join("state"))
            .args(flags)
            .env("RUST_LOG", "info")
            .env("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "50ms")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wharf-ftpd");
        let stderr = child.stderr.take().expect("stderr");
        let (found, listening) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.to_string());
                }
            }
        });
        let addr = match listening.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!("wharf-ftpd did not start");
            }
        };
        Ftpd { child, addr, root }
    }

    /// Alice's home: the server's `/`.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home").join(USER)
    }
}

impl Drop for Ftpd {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
