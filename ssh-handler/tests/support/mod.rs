//! Shared test fixtures: a real `wharf-sshd serve` process with its own users, homes and state,
//! the real `wharf-ssh` client, and a raw framed connection for protocol-level checks.
#![allow(dead_code)]

pub mod raw;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use wharf_users::{HashParams, UserRecord, UsersFile, hash_password};

/// Every concurrency mode of the framework.
pub const MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse";

/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long any one client run may take before the test fails (not a speed check: a hang guard).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A user to create: name, may run commands, authorized public-key lines.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Login name.
    pub name: &'static str,
    /// `allow_exec`.
    pub allow_exec: bool,
    /// OpenSSH public-key lines.
    pub keys: Vec<String>,
}

impl TestUser {
    /// A user allowed to run commands, with no keys.
    pub fn exec(name: &'static str) -> Self {
        TestUser {
            name,
            allow_exec: true,
            keys: Vec::new(),
        }
    }

    /// A user without command permission.
    pub fn no_exec(name: &'static str) -> Self {
        TestUser {
            name,
            allow_exec: false,
            keys: Vec::new(),
        }
    }
}

/// A running `wharf-sshd serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    /// The server process.
    child: Child,
    /// Native-protocol address.
    pub addr: SocketAddr,
    /// SSH address, when started with SSH.
    pub ssh_addr: Option<SocketAddr>,
    /// Root of users.toml, state/ and home/<user>.
    pub root: TempDir,
    /// Everything the daemon logged so far.
    pub log: Arc<Mutex<Vec<String>>>,
    /// The mode it runs in.
    pub mode: String,
}

/// Writes a users file under `root` with a home for each user; returns its path.
pub fn write_users(root: &Path, users: &[TestUser]) -> PathBuf {
    let path = root.join("users.toml");
    let mut file = UsersFile::empty(&path);
    for user in users {
        let home = root.join("home").join(user.name);
        std::fs::create_dir_all(&home).expect("home");
        give_to_command_user(&home);
        file.add(UserRecord {
            name: user.name.to_string(),
            // The server's own parameters, so logins never trigger a hash upgrade.
            password_hash: hash_password(PASSWORD, &HashParams::PRODUCTION).expect("hash"),
            home,
            quota_bytes: None,
            quota_files: None,
            allow_exec: user.allow_exec,
            authorized_keys: user.keys.clone(),
        })
        .expect("add user");
    }
    file.save().expect("save users");
    path
}

/// Run as root, the daemon runs commands as `nobody` (the default `--command-user`): a home must
/// belong to it, as `wharf-sshd user add` makes it, for commands to write there.
pub fn give_to_command_user(home: &Path) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("user database")
        .expect("a nobody account");
    std::os::unix::fs::chown(home, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
        .expect("chown home");
}

/// Temporary directories are 0700; commands running as another uid must reach their homes
/// inside (the users file stays 0600 and the state directory the daemon's).
pub fn make_traversable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod root");
}

impl Daemon {
    /// Starts a daemon in `mode` with `users`, native protocol only.
    pub fn start(mode: &str, users: &[TestUser], flags: &[&str]) -> Daemon {
        Self::start_in(
            tempfile::tempdir().expect("temp dir"),
            mode,
            users,
            flags,
            false,
        )
    }

    /// Starts a daemon in `mode` with both the native protocol and SSH.
    pub fn start_with_ssh(mode: &str, users: &[TestUser], flags: &[&str]) -> Daemon {
        Self::start_in(
            tempfile::tempdir().expect("temp dir"),
            mode,
            users,
            flags,
            true,
        )
    }

    /// Starts a daemon whose users, homes and state live in `root`.
    pub fn start_in(
        root: TempDir,
        mode: &str,
        users: &[TestUser],
        flags: &[&str],
        ssh: bool,
    ) -> Daemon {
        let users_file = root.path().join("users.toml");
        make_traversable(root.path());
        if !users_file.exists() {
            write_users(root.path(), users);
        }
        Self::serve(root, mode, users_file.as_os_str(), &[], flags, ssh)
    }

    /// Starts a daemon in `mode` over the users at `users` (a file or a `postgres://` URL)
    /// with extra environment `env`; its homes and state live in `root`.
    pub fn serve(
        root: TempDir,
        mode: &str,
        users: &std::ffi::OsStr,
        env: &[(&str, &str)],
        flags: &[&str],
        ssh: bool,
    ) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf-sshd"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mode", mode])
            .arg("--users")
            .arg(users)
            .envs(env.iter().copied())
            .arg("--state-dir")
            .arg(root.path().join("state"))
            .args(flags)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if ssh {
            command.args(["--ssh-listen", "127.0.0.1:0"]);
        }
        let mut child = command.spawn().expect("spawn wharf-sshd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, listening) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = found.send((addr, line.contains("\"ssh\"")));
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let expected = if ssh { 2 } else { 1 };
        let mut addr = None;
        let mut ssh_addr = None;
        for _ in 0..expected {
            match listening.recv_timeout(START_TIMEOUT) {
                Ok((text, is_ssh)) => {
                    let parsed: SocketAddr = text.parse().expect("listen address");
                    if is_ssh {
                        ssh_addr = Some(parsed);
                    } else {
                        addr = Some(parsed);
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "wharf-sshd ({mode}) did not start: {:?}",
                        log.lock().unwrap_or_else(|e| e.into_inner())
                    );
                }
            }
        }
        Daemon {
            child,
            addr: addr.expect("native address"),
            ssh_addr,
            root,
            log,
            mode: mode.to_string(),
        }
    }

    /// A user's home directory.
    pub fn home(&self, user: &str) -> PathBuf {
        self.root.path().join("home").join(user)
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// `user@127.0.0.1:port` for `wharf-ssh`.
    pub fn target(&self, user: &str) -> String {
        format!("{user}@{}:{}", self.addr.ip(), self.addr.port())
    }

    /// Runs `wharf-ssh` as `user` with `PASSWORD`, the command `command` and `stdin`.
    pub fn client(&self, user: &str, command: &str, stdin: &[u8]) -> Output {
        self.client_with(user, PASSWORD, &[], command, stdin)
    }

    /// Runs `wharf-ssh` with a chosen password and extra flags.
    pub fn client_with(
        &self,
        user: &str,
        password: &str,
        flags: &[&str],
        command: &str,
        stdin: &[u8],
    ) -> Output {
        let mut client = Command::new(env!("CARGO_BIN_EXE_wharf-ssh"));
        client
            .args(flags)
            .arg(self.target(user))
            .arg(command)
            .env("WHARF_SSH_PASSWORD", password);
        run_with_input(client, stdin)
    }

    /// Stops the daemon and hands back its root (users, homes, state) for another start.
    pub fn stop_and_keep_root(mut self) -> TempDir {
        assert!(
            self.stop(Duration::from_secs(15)),
            "the daemon did not stop"
        );
        std::mem::replace(&mut self.root, tempfile::tempdir().expect("temp dir"))
    }

    /// Stops the daemon with SIGTERM and waits up to `limit`; true if it exited.
    pub fn stop(&mut self, limit: Duration) -> bool {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.stop(Duration::from_secs(15)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` with `stdin` written to it, capturing stdout and stderr; panics (after
/// killing it) if it runs longer than [`CLIENT_TIMEOUT`].
pub fn run_with_input(command: Command, stdin: &[u8]) -> Output {
    run_within(command, stdin, CLIENT_TIMEOUT)
}

/// Like [`run_with_input`], failing the test if the command runs longer than `limit`.
pub fn run_within(mut command: Command, stdin: &[u8], limit: Duration) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn client");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may exit without reading everything; that is its right.
        let _ = input.write_all(&data);
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let status = wait_bounded(&mut child, limit);
    let _ = writer.join();
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// Waits for `child` up to `limit`, killing it and failing the test past that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Text of a byte buffer, for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether process `pid` is gone (or only a zombie waiting to be reaped).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// `len` pseudo-random bytes from a seed (deterministic, no extra dependency).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
