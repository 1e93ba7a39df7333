//! Fixtures for the `wharf-ftp` client tests: the client binary run with a deadline, an
//! independent server (pyftpdlib, with optional HASH, corruption and FTPS), pseudo-terminal
//! runs (`script`, and a Python driver that types into the shell), and a test PKI.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub mod daemon;
pub mod proxy;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

// Re-exported for the tests; each test crate uses a subset.
#[allow(unused_imports)]
pub use common::payload::{file_sha256, random_bytes, sha256_hex};
#[allow(unused_imports)]
pub use common::pki::{Pki, pki};

/// The pyftpdlib server script.
const PYFTPD: &str = include_str!("pyftpd.py");

/// The pseudo-terminal driver script.
const PTY_DRIVER: &str = include_str!("pty_driver.py");

/// How long one client run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The user every test server knows.
pub const USER: &str = "alice";

/// Its password.
pub const PASSWORD: &str = "secret";

/// The client binary.
pub fn client_path() -> &'static str {
    env!("CARGO_BIN_EXE_wharf-ftp")
}

/// A client command with a clean environment: password from `WHARF_FTP_PASSWORD`, history in
/// `home`, working directory `cwd`.
pub fn client(cwd: &Path, home: &Path) -> Command {
    let mut command = Command::new(client_path());
    with_client_env(&mut command, cwd, home).env("NO_COLOR", "1");
    command
}

/// Sets what every client run shares: working directory, `HOME`, the password, no `RUST_LOG`,
/// no stdin, captured output.
fn with_client_env<'a>(command: &'a mut Command, cwd: &Path, home: &Path) -> &'a mut Command {
    command
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .env("WHARF_FTP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}

/// Like [`client`], but in a new session without a controlling terminal (`setsid`), so that
/// nothing can prompt on the terminal the tests run from.
pub fn client_without_terminal(cwd: &Path, home: &Path) -> Command {
    let mut command = Command::new("setsid");
    command
        .arg("-w")
        .arg(client_path())
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("WHARF_FTP_PASSWORD")
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// What a finished client run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code `code`, showing the output otherwise.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "unexpected exit: {self:#?}");
        self
    }
}

/// Runs `command` to the end (at most [`RUN_LIMIT`]) and collects its output.
pub fn run(mut command: Command) -> Run {
    finish(command.spawn().expect("spawn wharf-ftp"))
}

/// Waits for a started client (at most [`RUN_LIMIT`]) and collects its output.
pub fn finish(mut child: Child) -> Run {
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wharf-ftp ran for more than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: out.recv().unwrap_or_default(),
        stderr: err.recv().unwrap_or_default(),
    }
}

/// Reads a pipe to its end on a thread.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let _ = send.send(text);
    });
    receive
}

/// Starts `command`, waits until `ready()` holds (at most a minute), then kills it (SIGKILL),
/// as a user pulling the plug mid-transfer.
pub fn kill_when(mut command: Command, ready: impl Fn() -> bool) {
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = command.spawn().expect("spawn wharf-ftp");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("wharf-ftp ended ({status}) before it could be interrupted");
        }
        assert!(Instant::now() < deadline, "the transfer never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
}

/// The size of a file, 0 if missing.
pub fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Quotes a word for `sh -c`.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `args` under a pseudo-terminal with `script` and returns everything it drew.
pub fn under_script(cwd: &Path, home: &Path, args: &[&str]) -> Run {
    let line: Vec<String> = std::iter::once(client_path())
        .chain(args.iter().copied())
        .map(shell_quote)
        .collect();
    let mut command = Command::new("script");
    command.args(["-qfec", &line.join(" "), "/dev/null"]);
    with_client_env(&mut command, cwd, home).env("TERM", "xterm");
    run(command)
}

/// Runs the client on a pseudo-terminal driven by `steps` (text to wait for, line to type).
/// The password comes from the prompt, as a person would type it.
pub fn drive(cwd: &Path, home: &Path, steps: &[(&str, Option<&str>)], args: &[&str]) -> Run {
    let steps: Vec<(String, Option<String>)> = steps
        .iter()
        .map(|(wait, send)| (wait.to_string(), send.map(str::to_string)))
        .collect();
    let mut command = common::python::script(PTY_DRIVER);
    command
        .arg(json_steps(&steps))
        .arg(client_path())
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("WHARF_FTP_PASSWORD")
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run(command)
}

/// `[["wait", "send"], ["wait", null]]` without a JSON dependency.
fn json_steps(steps: &[(String, Option<String>)]) -> String {
    let quote = |text: &str| {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    };
    let items: Vec<String> = steps
        .iter()
        .map(|(wait, send)| {
            format!(
                "[{}, {}]",
                quote(wait),
                send.as_deref().map_or("null".to_string(), quote)
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A pyftpdlib server on 127.0.0.1, stopped on drop.
pub struct PyFtpd {
    /// The Python process.
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The served directory (alice's root).
    pub root: TempDir,
    /// Holds the events file, outside the served directory.
    state: TempDir,
    /// One line per data-connection TLS handshake (`data-tls reused=1`).
    pub events: PathBuf,
}

impl PyFtpd {
    /// Starts pyftpdlib on a free port with `flags` (see `pyftpd.py`).
    pub fn start(flags: &[&str]) -> PyFtpd {
        Self::start_on(0, flags)
    }

    /// Starts pyftpdlib on `port` (0: a free one) with `flags`.
    pub fn start_on(port: u16, flags: &[&str]) -> PyFtpd {
        let root = tempfile::tempdir().expect("temp dir");
        let state = tempfile::tempdir().expect("temp dir");
        let events = state.path().join("events");
        let mut child = common::python::script(PYFTPD)
            .arg(root.path())
            .args(["--user", USER, "--password", PASSWORD, "--port"])
            .arg(port.to_string())
            .arg("--events")
            .arg(&events)
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with pyftpdlib (scripts/test installs it)");
        let stdout = child.stdout.take().expect("stdout");
        let (found, listening) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = found.send(addr.trim().to_string());
                }
            }
        });
        let addr = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                panic!("pyftpdlib did not start (is it installed? scripts/test installs it)");
            }
        };
        PyFtpd {
            child,
            addr,
            root,
            state,
            events,
        }
    }

    /// `ftp://alice@127.0.0.1:PORT/path` (the password travels in the environment).
    pub fn url(&self, path: &str) -> String {
        format!("ftp://{USER}@{}/{}", self.addr, path)
    }

    /// The data-connection TLS handshakes seen so far.
    pub fn events(&self) -> String {
        std::fs::read_to_string(&self.events).unwrap_or_default()
    }
}

impl Drop for PyFtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ftp://alice@ADDR/path` for any server address.
pub fn url_for(addr: SocketAddr, path: &str) -> String {
    format!("ftp://{USER}@{addr}/{path}")
}
