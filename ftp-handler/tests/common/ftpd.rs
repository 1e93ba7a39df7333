//! A running `wharf-ftpd serve` process: started on `127.0.0.1:0`, its log collected, its
//! listening address read from the log, and stopped (SIGTERM, then SIGKILL) on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The daemon binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_wharf-ftpd");

/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The address in a `... listening on ADDR ...` log line.
pub fn listening_on(line: &str) -> Option<&str> {
    line.split("listening on ")
        .nth(1)?
        .split_whitespace()
        .next()
}

/// Reads a daemon's log on a thread to its end: each line is kept in `log`, and each address
/// the daemon reports listening on is sent to the returned channel.
pub fn watch_log(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
) -> mpsc::Receiver<String> {
    let (found, listening) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if line.contains("listening on ") {
                let _ = found.send(listening_on(&line).unwrap_or_default().to_string());
            }
            log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    listening
}

/// A running `wharf-ftpd serve`.
pub struct FtpdProcess {
    /// The server process.
    child: Child,
    /// The control address it reported first.
    pub addr: SocketAddr,
    /// Everything it logged so far, for failure messages and log checks.
    log: Arc<Mutex<Vec<String>>>,
}

impl FtpdProcess {
    /// Starts `wharf-ftpd serve` on `127.0.0.1:0` in `mode` with the given users file and state
    /// directory, extra `serve` flags and environment; waits until it listens.
    pub fn serve(
        mode: &str,
        users_file: &Path,
        state_dir: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> FtpdProcess {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--mode", mode])
            .arg("--users")
            .arg(users_file)
            .arg("--state-dir")
            .arg(state_dir)
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
        let listening = watch_log(stderr, Arc::clone(&log));
        let Ok(addr) = listening.recv_timeout(START_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "wharf-ftpd ({mode}) did not start: {:?}",
                log.lock().unwrap_or_else(|e| e.into_inner())
            );
        };
        FtpdProcess {
            child,
            addr: addr.parse().expect("listen address"),
            log,
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// Every address the daemon reported listening on, waiting until `count` are known.
    pub fn listen_addrs(&self, count: usize) -> Vec<SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let addrs: Vec<SocketAddr> = self
                .log_text()
                .lines()
                .filter_map(listening_on)
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

    /// Waits for the process to exit, however long it takes (after it was killed).
    pub fn reap(&mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for FtpdProcess {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if self.wait_exit(STOP_TIMEOUT) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wharf-ftpd [global flags] serve` on `127.0.0.1:0` over the users file and state
/// directory, its standard error piped back to the test (which reads it, or closes it).
pub fn spawn_serve(
    global: &[&str],
    users_file: &Path,
    state_dir: &Path,
    flags: &[&str],
) -> (Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut child = Command::new(BIN)
        .args(global)
        .args(["serve", "--listen", "127.0.0.1:0", "--users"])
        .arg(users_file)
        .arg("--state-dir")
        .arg(state_dir)
        .args(flags)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wharf-ftpd");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, lines)
}
