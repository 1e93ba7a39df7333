//! Fixtures for the quota tests: a site (users file with quotas, homes, state directory) that
//! outlives any one `wharf-ftpd serve` process, so a daemon can be killed and restarted on it,
//! and Python `ftplib` scripts as the independent client. A site keeps its files on the local
//! disk or, for the suites that run on both backends, under a key prefix in Garage; the
//! scripts read what is stored through `common::backend`'s helpers (boto3 on S3).
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use wharf_users::HashParams;

pub use common::backend::Backend;
use common::backend::{PYTHON_STORED, SiteStorage};
pub use common::ftpd::BIN;
use common::ftpd::{self, FtpdProcess};
use common::users::{self, Account};
use wharf_testkit::process::{children, process_gone};

/// Every concurrency mode the daemon runs in.
pub const MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// Runs `script` once per mode, each time on a fresh site with one user `alice` limited to
/// `limit` bytes; the script's arguments are alice's home, then `extra`.
pub fn run_for_alice_in_every_mode(limit: u64, script: &str, extra: &[&str]) {
    for mode in MODES {
        let site = Site::new(&[User::limited("alice", limit)]);
        let daemon = site.start(mode);
        let home = site.home("alice");
        let mut args = vec![home.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        daemon.python(script, &args);
    }
}

/// Runs `script` like [`run_for_alice_in_every_mode`] on each backend: every mode on the local
/// disk, async and threading on S3. The first argument is alice's home as the stored-object
/// helpers take it (a directory, or a key prefix).
pub fn run_for_alice_on_each_backend(limit: u64, script: &str, extra: &[&str]) {
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let site = Site::on(backend, &[User::limited("alice", limit)]);
        let daemon = site.start(mode);
        let home = site.home_arg("alice");
        let mut args = vec![home.as_str()];
        args.extend_from_slice(extra);
        daemon.python(script, &args);
    }
}

/// Helpers every client script starts with (after `common::backend`'s stored-object helpers).
/// Arguments: HOST PORT, then the script's own.
pub const PRELUDE: &str = r#"
import ftplib, io, os, random, sys, threading, time

HOST, PORT = sys.argv[1], int(sys.argv[2])
ARGS = sys.argv[3:]
TEMP_PREFIX = ".wharf-upload."

def login(user, password="secret"):
    ftp = ftplib.FTP()
    ftp.connect(HOST, PORT, timeout=60)
    ftp.login(user, password)
    return ftp

def payload(size, seed):
    return random.Random(seed).randbytes(size)

def quota(ftp):
    """SITE QUOTA as a dict: bytes, bytes_limit, files, files_limit (None = unlimited)."""
    keys = {"Bytes used": "bytes", "Bytes limit": "bytes_limit",
            "Files used": "files", "Files limit": "files_limit"}
    found = {}
    for line in ftp.sendcmd("SITE QUOTA").splitlines():
        name, _, value = line.strip().partition(":")
        if name in keys:
            value = value.strip()
            found[keys[name]] = None if value == "unlimited" else int(value)
    assert len(found) == 4, found
    return found

def store(ftp, command, data, rest=None, blocksize=8192):
    """Uploads; returns the final reply, or the refusal's text (4xx/5xx) as a string."""
    try:
        return ftp.storbinary(command, io.BytesIO(data), blocksize=blocksize, rest=rest)
    except (ftplib.error_perm, ftplib.error_temp) as refusal:
        return str(refusal)
    except OSError:
        # The server closed the data connection while we were still sending: its reply waits.
        try:
            return ftp.getresp()
        except (ftplib.error_perm, ftplib.error_temp) as refusal:
            return str(refusal)

def disk(home):
    """(bytes, files, unfinished uploads) of the files under home, as the backend holds them
    (upload temp files on the local disk, multipart uploads on S3)."""
    files = stored_files(home)
    return sum(size for _, size in files), len(files), unfinished_uploads(home)

def check_usage(ftp, home, what=""):
    """SITE QUOTA must equal the bytes and files stored; no unfinished upload may remain."""
    used = quota(ftp)
    total, files, temps = disk(home)
    assert not temps, (what, temps)
    assert (used["bytes"], used["files"]) == (total, files), (what, used, total, files)
    return total

def read_file(home, name):
    """What the backend stores as name (read without the server); None if nothing."""
    return stored_bytes(home, name)

def wait_for_size(path_or_finder, size, limit=30):
    """Waits until a file (or the file a function finds) holds `size` bytes on disk."""
    deadline = time.time() + limit
    while time.time() < deadline:
        path = path_or_finder() if callable(path_or_finder) else path_or_finder
        if path and os.path.exists(path) and os.path.getsize(path) >= size:
            return path
        time.sleep(0.01)
    raise SystemExit("the server never stored %d bytes" % size)

def temp_file(folder):
    """The one upload temp file in folder, if any."""
    found = [n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX)]
    return os.path.join(folder, found[0]) if found else None
"#;

/// One user of a site: name, password `secret`, home `home/<name>`, limits.
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Login name.
    pub name: &'static str,
    /// Byte limit.
    pub bytes: Option<u64>,
    /// File-count limit.
    pub files: Option<u64>,
}

impl User {
    /// A user with a byte limit only.
    pub const fn limited(name: &'static str, bytes: u64) -> User {
        User {
            name,
            bytes: Some(bytes),
            files: None,
        }
    }
}

/// Users file, homes and state directory, kept across daemon restarts.
pub struct Site {
    /// Holds `users.toml`, `state/` and `home/<user>` (or `ftpd.toml` for S3).
    pub root: TempDir,
    /// Where the homes are: local directories, or key prefixes in Garage.
    pub storage: SiteStorage,
}

impl Site {
    /// A site with `users` (password `secret`), each with an empty local home.
    pub fn new(users: &[User]) -> Site {
        Site::on(Backend::Local, users)
    }

    /// A site with `users` whose homes are on `backend`.
    pub fn on(backend: Backend, users: &[User]) -> Site {
        let root = tempfile::tempdir().expect("temp dir");
        let storage = SiteStorage::new(backend, root.path(), "quota");
        let accounts: Vec<Account<'_>> = users
            .iter()
            .map(|user| Account {
                name: user.name,
                password: "secret",
                quota_bytes: user.bytes,
                quota_files: user.files,
            })
            .collect();
        users::write_users_on(backend, root.path(), &accounts, &HashParams::PRODUCTION);
        Site { root, storage }
    }

    /// A user's home as the scripts' stored-object helpers take it: the local directory, or
    /// the key prefix on S3.
    pub fn home_arg(&self, user: &str) -> String {
        self.storage.home(user)
    }

    /// The users file.
    pub fn users_file(&self) -> PathBuf {
        users::users_file(self.root.path())
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        users::state_dir(self.root.path())
    }

    /// A user's local home directory.
    pub fn home(&self, user: &str) -> PathBuf {
        users::home(self.root.path(), user)
    }

    /// Starts `wharf-ftpd serve` on this site in `mode`.
    pub fn start(&self, mode: &str) -> Daemon {
        let flags = self.storage.serve_flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let process = ftpd::serve(mode, &self.users_file(), &self.state_dir(), &flags, &[]);
        Daemon {
            addr: process.addr(),
            process,
            mode: format!("{} {mode}", self.storage.backend),
            env: self.storage.python_env(),
        }
    }

    /// Runs `wharf-ftpd quota ARGS --users FILE --state-dir DIR`.
    pub fn quota_command(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("quota")
            .args(args)
            .arg("--users")
            .arg(self.users_file())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(self.storage.serve_flags())
            .output()
            .expect("run wharf-ftpd quota")
    }
}

/// A running `wharf-ftpd serve`; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Daemon {
    /// The server process.
    process: FtpdProcess,
    /// Its control address.
    pub addr: SocketAddr,
    /// Its backend and concurrency mode (`local async`), for failure messages.
    pub mode: String,
    /// What its client scripts need to read the backend behind its back.
    env: Vec<(&'static str, String)>,
}

impl Daemon {
    /// The log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// A Python command running `PRELUDE + script` with HOST PORT ARGS.
    fn python_command(&self, script: &str, args: &[&str]) -> Command {
        let mut command = common::python::script(&format!("{PYTHON_STORED}\n{PRELUDE}\n{script}"));
        command
            .arg(self.addr.ip().to_string())
            .arg(self.addr.port().to_string())
            .args(args)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Runs a client script to its end; it must succeed and print `ok` last. Returns stdout.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let output = self
            .python_command(script, args)
            .output()
            .expect("python3 must be installed to run this test");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success() && said_ok(&stdout),
            "{}: client script failed\nstdout: {stdout}\nstderr: {}\ndaemon log:\n{}",
            self.mode,
            String::from_utf8_lossy(&output.stderr),
            self.log_text()
        );
        stdout
    }

    /// Starts a client script that prints `ready` once it has done its part and then waits
    /// until its standard input closes; returns when `ready` was printed.
    pub fn python_paused(&self, script: &str, args: &[&str]) -> PausedClient {
        let mut child = self
            .python_command(script, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run this test");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let ready = stdout.read_line(&mut line).is_ok() && line.trim() == "ready";
        if !ready {
            let _ = child.kill();
            let mut errors = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut errors);
            }
            let _ = child.wait();
            panic!(
                "{}: paused client did not get ready: {line:?}\nstderr: {errors}\ndaemon log:\n{}",
                self.mode,
                self.log_text()
            );
        }
        PausedClient {
            child,
            _stdin: stdin,
            _stdout: stdout,
        }
    }

    /// Kills the daemon with SIGKILL, with the session processes it forked (as a crash or an
    /// OOM kill of the whole service would), and waits until every one of them is gone.
    pub fn kill_hard(mut self) {
        let parent = self.process.pid().expect("the daemon runs");
        let sessions = children(parent);
        for pid in &sessions {
            if let Ok(pid) = i32::try_from(*pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        self.process.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sessions.iter().all(|pid| process_gone(*pid)) {
            assert!(Instant::now() < deadline, "killed sessions did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A client script paused mid-way; killed on drop.
pub struct PausedClient {
    /// The Python process.
    child: Child,
    /// Its input: closing it lets the script end.
    _stdin: Option<ChildStdin>,
    /// Its output, kept open so it never dies of a broken pipe.
    _stdout: BufReader<ChildStdout>,
}

impl PausedClient {
    /// Lets the script finish (closes its input) and returns its exit status and output.
    pub fn finish(mut self) -> (bool, String) {
        drop(self._stdin.take());
        let mut rest = String::new();
        let _ = self._stdout.read_to_string(&mut rest);
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        (ok, rest)
    }
}

impl Drop for PausedClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of the sizes and count of the regular files under `dir` (symlinks not followed).
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir").flatten() {
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                total.0 += entry.metadata().expect("metadata").len();
                total.1 += 1;
            }
        }
    }
    total
}

/// Writes `bytes` to a file (test set-up on the server's disk).
pub fn write_file(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::File::create(path).expect("create");
    file.write_all(bytes).expect("write");
}

/// Whether a client script's output ends with a line that is exactly `ok`.
pub fn said_ok(output: &str) -> bool {
    output.lines().last().map(str::trim) == Some("ok")
}
