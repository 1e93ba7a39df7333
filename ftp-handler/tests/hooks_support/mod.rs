//! Fixtures for the hook tests: a real HTTP/1.1 receiver on a thread, shell scripts as hook
//! programs (and reading back what they recorded), a daemon with a `[hooks]` file and the
//! metrics exporter, and `/metrics` samples read exactly.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::Daemon;
use crate::support::common::python;

/// How long events may take to arrive.
pub const ARRIVAL: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method and path, `POST /events`.
    pub request_line: String,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body, parsed.
    pub body: serde_json::Value,
    /// What it was answered.
    pub status: u16,
}

/// A real HTTP/1.1 receiver on `127.0.0.1:0`: answers the given statuses in turn, then 200.
pub struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut statuses = statuses.to_vec();
        statuses.reverse();
        let (log, stopping) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let status = statuses.pop().unwrap_or(200);
                        if let Some(request) = answer(stream, status) {
                            log.lock().unwrap().push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests were answered 2xx; returns every request so far.
    pub fn wait_accepted(&self, count: usize) -> Vec<Received> {
        wait_for(|| {
            let all = self.received();
            (all.iter().filter(|r| r.status < 300).count() >= count).then_some(all)
        })
        .unwrap_or_else(|| panic!("want {count} accepted requests, got {:#?}", self.received()))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from `stream` and answers `status`.
fn answer(stream: TcpStream, status: u16) -> Option<Received> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    Some(Received {
        request_line: request_line.trim_end().to_string(),
        content_type,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        status,
    })
}

/// Polls `check` every 50 ms until it gives a value or [`ARRIVAL`] passes.
pub fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes an executable shell script.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The event command: each run writes its `WHARF_*` environment (and whether anything else
/// leaked in) to a file of its own under `out`.
pub fn recording_command(dir: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    script(
        dir,
        "record.sh",
        &format!(
            "f={}/event-$$\nenv | grep '^WHARF_' | sort > \"$f.tmp\"\n\
             env | grep -v '^WHARF_' | grep -v '^PATH=' | grep -v '^PWD=' | grep -v '^SHLVL=' \
             | grep -v '^_=' | sed 's/^/OTHER /' >> \"$f.tmp\"\nmv \"$f.tmp\" \"$f\"\n",
            out.display()
        ),
    )
}

/// Every recorded command run: `WHARF_*` name → value (plus `OTHER ...` lines, if any).
pub fn recorded(out: &Path) -> Vec<BTreeMap<String, String>> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut run = BTreeMap::new();
        for line in text.lines() {
            match line.split_once('=') {
                Some((key, value)) if key.starts_with("WHARF_") => {
                    run.insert(key.to_string(), value.to_string());
                }
                _ => {
                    run.insert(line.to_string(), String::new());
                }
            }
        }
        runs.push(run);
    }
    runs
}

/// Writes the `[hooks]` configuration file.
pub fn config_file(dir: &Path, hooks: &str) -> PathBuf {
    let path = dir.join("hooks.toml");
    std::fs::write(&path, format!("[hooks]\n{hooks}")).unwrap();
    path
}

/// Starts a daemon for alice with `hooks` and the metrics exporter.
pub fn daemon(mode: &str, config: &Path) -> Daemon {
    let config = config.to_string_lossy().into_owned();
    Daemon::start_with(
        mode,
        &[("alice", "secret")],
        &["--config", &config, "--metrics-listen", "127.0.0.1:0"],
        &[],
    )
}

/// `/metrics` as text, fetched with a plain HTTP/1.0 GET.
pub fn metrics_text(daemon: &Daemon) -> String {
    let addr: SocketAddr = wait_for(|| {
        daemon
            .log_text()
            .lines()
            .find_map(|line| line.split("metrics exporter at http://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
    })
    .expect("exporter address in the log");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// The value of the sample written exactly as `series` (name and labels), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `/metrics` shows `series` at `want`; returns the last text.
pub fn wait_sample(daemon: &Daemon, series: &str, want: f64) -> String {
    let mut last = String::new();
    let found = wait_for(|| {
        last = metrics_text(daemon);
        (sample(&last, series) == Some(want)).then_some(())
    });
    assert!(found.is_some(), "{series} never reached {want}:\n{last}");
    last
}

/// Runs a Python FTP script against the daemon; returns its JSON output.
pub fn run_session(daemon: &Daemon, session: &str) -> serde_json::Value {
    let output = python::script(session)
        .arg(daemon.addr.ip().to_string())
        .arg(daemon.addr.port().to_string())
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("session JSON")
}
