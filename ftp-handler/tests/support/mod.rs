//! Shared test fixtures: a real `wharf-ftpd serve` process with its own users, homes and state,
//! and a raw control-connection client that reads replies exactly.
#![allow(dead_code)]

pub mod raw;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use wharf::auth::{HashParams, UserRecord, UsersFile, hash_password};

/// Every concurrency mode the daemon runs in.
pub const MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `wharf-ftpd serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    /// The server process.
    child: Child,
    /// The control address it listens on.
    pub addr: SocketAddr,
    /// Root of users.toml, state/ and home/<user>.
    pub root: TempDir,
    /// Everything the daemon logged so far, for failure messages.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The mode it runs in.
    pub mode: String,
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
        let root = tempfile::tempdir().expect("temp dir");
        let users_file = root.path().join("users.toml");
        let mut file = UsersFile::empty(&users_file);
        for (name, password) in users {
            let home = root.path().join("home").join(name);
            std::fs::create_dir_all(&home).expect("home");
            file.add(UserRecord {
                name: name.to_string(),
                password_hash: hash_password(password, &HashParams::PRODUCTION).expect("hash"),
                home,
                quota_bytes: Some(1 << 30),
                quota_files: None,
                allow_exec: false,
                authorized_keys: Vec::new(),
            })
            .expect("add user");
        }
        file.save().expect("save users");
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf-ftpd"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mode", mode])
            .arg("--users")
            .arg(&users_file)
            .arg("--state-dir")
            .arg(root.path().join("state"))
            .args(flags)
            .env("RUST_LOG", "info")
            .env("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "50ms")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn wharf-ftpd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, listening) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(addr.to_string());
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match listening.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "wharf-ftpd ({mode}) did not start: {:?}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                );
            }
        };
        Daemon {
            child,
            addr,
            root,
            log,
            mode: mode.to_string(),
        }
    }

    /// A user's home directory.
    pub fn home(&self, user: &str) -> PathBuf {
        self.root.path().join("home").join(user)
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
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let addrs: Vec<SocketAddr> = self
                .log_text()
                .lines()
                .filter_map(|line| line.split("listening on ").nth(1))
                .filter_map(|rest| rest.split_whitespace().next())
                .filter_map(|addr| addr.parse().ok())
                .collect();
            if addrs.len() >= count || Instant::now() > deadline {
                return addrs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit; true if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

impl Drop for Daemon {
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

/// `len` pseudo-random bytes from a seed (deterministic, no extra dependency).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
