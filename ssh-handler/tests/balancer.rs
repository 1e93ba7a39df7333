//! wharf-sshd behind a load balancer and without root: `--proxy-protocol-from` believes
//! headers only from the trusted network (a header from anyone else, or a bad one from a
//! trusted sender, closes the connection), and `--user` drops root after binding.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Daemon, TestUser, text};

/// Whether the daemon logs `text` within a few seconds.
fn logged(daemon: &Daemon, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if daemon.log_text().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends `bytes` on a fresh connection and returns what the daemon sends until it closes.
fn send_and_read(daemon: &Daemon, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(daemon.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

#[test]
fn an_untrusted_sender_runs_commands_as_itself_and_its_header_is_refused() {
    let daemon = Daemon::start(
        "async",
        &[TestUser::exec("alice")],
        &["--proxy-protocol-from", "10.0.0.0/8"],
    );
    let output = daemon.client("alice", "echo direct", b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "direct\n");
    let answer = send_and_read(&daemon, b"PROXY TCP4 203.0.113.7 192.0.2.1 50000 22\r\n");
    assert!(answer.is_empty(), "closed without an answer: {answer:?}");
    assert!(
        logged(&daemon, "PROXY header from an untrusted address"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_trusted_sender_must_send_a_good_header() {
    let daemon = Daemon::start(
        "threading",
        &[TestUser::exec("alice")],
        &["--proxy-protocol-from", "127.0.0.1/32"],
    );
    let answer = send_and_read(&daemon, b"PROXY TCP4 nonsense\r\n");
    assert!(answer.is_empty(), "{answer:?}");
    assert!(
        logged(&daemon, "malformed PROXY header"),
        "{}",
        daemon.log_text()
    );
    // Without a header the native client is refused: the header is required from the balancer.
    let output = daemon.client("alice", "echo no header", b"");
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert!(
        logged(&daemon, "did not start with one"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn with_user_nobody_the_daemon_runs_as_nobody() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: dropping privileges needs root");
        return;
    }
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &["--user", "nobody"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert!(!daemon.log_text().contains("keep root's privileges"));
}
