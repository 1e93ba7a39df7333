//! 100 MiB of output streams through while the server's memory stays bounded: output moves in
//! small chunks with backpressure, never buffered whole.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{CLIENT_TIMEOUT, Daemon, PASSWORD, TestUser, text, wait_bounded};

/// Bytes the command writes.
const TOTAL: u64 = 100 << 20;

/// The server's resident memory must stay under this (a generous bound: the stream is 100 MiB).
const RSS_BOUND_KIB: u64 = 100 * 1024;

/// The resident set size of `pid` in KiB, if it can be read.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_hundred_mebibytes_stream_with_bounded_server_memory() {
    // In these modes the connection is served inside the daemon process itself.
    for mode in ["async", "threading"] {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &["--time-limit", "10m"]);
        let server = daemon.pid();
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let done = Arc::clone(&done);
            let peak = Arc::clone(&peak);
            std::thread::spawn(move || {
                let mut samples = 0u64;
                while !done.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_kib(server) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                        samples += 1;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                samples
            })
        };
        let line = b"0123456789abcdef\n";
        let command = format!("yes 0123456789abcdef | head -c {TOTAL}");
        let mut client = Command::new(env!("CARGO_BIN_EXE_wharf-ssh"))
            .arg(daemon.target("alice"))
            .arg(&command)
            .env("WHARF_SSH_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wharf-ssh");
        let mut stdout = client.stdout.take().expect("stdout");
        // Count and check the stream as it comes, without keeping it.
        let mut received: u64 = 0;
        let mut mismatch = None;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let count = stdout.read(&mut buf).expect("read stdout");
            if count == 0 {
                break;
            }
            for (offset, byte) in buf[..count].iter().enumerate() {
                let position = received + offset as u64;
                if mismatch.is_none() && *byte != line[(position % line.len() as u64) as usize] {
                    mismatch = Some(position);
                }
            }
            received += count as u64;
        }
        let status = wait_bounded(&mut client, CLIENT_TIMEOUT);
        done.store(true, Ordering::Relaxed);
        let samples = sampler.join().expect("sampler");
        let mut stderr = String::new();
        if let Some(mut pipe) = client.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        assert!(status.success(), "{mode}: {stderr}");
        assert_eq!(received, TOTAL, "{mode}: every byte arrived");
        assert_eq!(mismatch, None, "{mode}: the stream was altered");
        assert!(samples > 0, "{mode}: the server's memory was never sampled");
        let peak = peak.load(Ordering::Relaxed);
        eprintln!("{mode}: server RSS peaked at {peak} KiB over {samples} samples");
        assert!(
            peak < RSS_BOUND_KIB,
            "{mode}: server RSS peaked at {peak} KiB while streaming {TOTAL} bytes; log: {}",
            text(daemon.log_text().as_bytes())
        );
    }
}
