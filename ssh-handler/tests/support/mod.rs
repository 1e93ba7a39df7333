//! Shared test fixtures: a real `wharf-sshd serve` process with its own users, homes and state,
//! the real `wharf-ssh` client, and a raw framed connection for protocol-level checks.
#![allow(dead_code)]

pub mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;
use wharf_testkit::daemon::{self as testkit_daemon, DaemonBuilder};
// Re-exported for the tests; each test crate uses a subset.
#[allow(unused_imports)]
pub use wharf_testkit::payload::random_bytes;
#[allow(unused_imports)]
pub use wharf_testkit::process::process_gone;
use wharf_users::{HashParams, UserRecord, UsersFile, hash_password};

/// Every concurrency mode of the framework.
pub const MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse";

/// How long a daemon may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

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
    /// The server process; declared before `root` so it stops before its files go.
    process: testkit_daemon::Daemon,
    /// Native-protocol address.
    pub addr: SocketAddr,
    /// SSH address, when started with SSH.
    pub ssh_addr: Option<SocketAddr>,
    /// Root of users.toml, state/ and home/<user>.
    pub root: TempDir,
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
        let mut daemon = DaemonBuilder::new(env!("CARGO_BIN_EXE_wharf-sshd"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mode", mode])
            .arg("--users")
            .arg(users)
            .arg("--state-dir")
            .arg(root.path().join("state"))
            .args(flags)
            .env("RUST_LOG", "info")
            .stop_timeout(STOP_TIMEOUT);
        for (key, value) in env {
            daemon = daemon.env(key, value);
        }
        if ssh {
            daemon = daemon.args(["--ssh-listen", "127.0.0.1:0"]).listeners(2);
        }
        let process = daemon.start();
        // Both listeners have logged by now; the SSH one says so in its `protocol` field.
        let is_ssh = |line: &str| line.contains("\"ssh\"");
        let addr = process.wait_for_listener(|line| !is_ssh(line), Duration::ZERO);
        let ssh_addr = ssh.then(|| process.wait_for_listener(is_ssh, Duration::ZERO));
        Daemon {
            process,
            addr,
            ssh_addr,
            root,
            mode: mode.to_string(),
        }
    }

    /// A user's home directory.
    pub fn home(&self, user: &str) -> PathBuf {
        self.root.path().join("home").join(user)
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.process.pid().expect("the daemon runs")
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
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
        assert!(self.process.stop().is_some(), "the daemon did not stop");
        self.root
    }

    /// Stops the daemon with SIGTERM and waits up to `limit`; true if it exited.
    pub fn stop(&mut self, limit: Duration) -> bool {
        self.process.signal(Signal::SIGTERM);
        self.process.wait_exit(limit).is_some()
    }
}

/// Runs `command` with `stdin` written to it, capturing stdout and stderr; panics (after
/// killing it) if it runs longer than [`CLIENT_TIMEOUT`].
pub fn run_with_input(command: Command, stdin: &[u8]) -> Output {
    run_within(command, stdin, CLIENT_TIMEOUT)
}

/// Like [`run_with_input`], failing the test if the command runs longer than `limit`.
pub fn run_within(mut command: Command, stdin: &[u8], limit: Duration) -> Output {
    wharf_testkit::process::output_within(&mut command, stdin, limit)
        .unwrap_or_else(|error| panic!("{command:?}: {error}"))
}

/// Waits for `child` up to `limit`, killing it and failing the test past that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    wharf_testkit::process::wait_within(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("process did not finish within {limit:?}");
    })
}

/// Text of a byte buffer, for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
