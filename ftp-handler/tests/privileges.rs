//! Dropping root after binding (`--user`), tried as root would run the daemon: the daemon's
//! (and in forking mode each session process's) uid and gid are the run-as account's, read
//! from `/proc/PID/status`; a login and an upload work when the home and state belong to
//! that account; a drop that cannot happen stops the start with a clear error.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::common::ftpd::{self, BIN};
use support::common::users;
use support::raw::Raw;
use wharf_testkit::process::children;

/// nobody's uid and gid on Debian.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The `Uid:` or `Gid:` line of a process: real, effective, saved, filesystem.
fn ids(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .expect("field")
        .split_whitespace()
        .map(|id| id.parse().expect("id"))
        .collect()
}

/// A users file, state dir and home under a root that nobody may traverse, all owned by nobody.
fn layout() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    users::write_alice(root.path());
    std::fs::create_dir_all(users::state_dir(root.path())).expect("state");
    chown_tree(root.path(), NOBODY, NOBODY);
    root
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir").flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

#[test]
fn with_user_nobody_the_daemon_and_its_sessions_run_as_nobody() {
    if !is_root() {
        eprintln!("skipped: dropping privileges needs root");
        return;
    }
    for mode in ["async", "threading", "forking"] {
        let root = layout();
        let daemon = ftpd::serve(
            mode,
            &users::users_file(root.path()),
            &users::state_dir(root.path()),
            &["--user", "nobody"],
            &[],
        );
        let pid = daemon.pid().expect("the daemon runs");
        assert_eq!(ids(pid, "Uid:"), [NOBODY; 4], "{mode}: daemon uid");
        assert_eq!(ids(pid, "Gid:"), [NOBODY; 4], "{mode}: daemon gid");
        assert!(
            !daemon.log_text().contains("every session runs as root"),
            "{mode}: no root warning with --user"
        );

        let mut session = Raw::login(daemon.addr(), "alice", "secret");
        if mode == "forking" {
            let deadline = Instant::now() + Duration::from_secs(5);
            let child = loop {
                if let Some(&child) = children(pid).first() {
                    break child;
                }
                assert!(Instant::now() < deadline, "no session process");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(ids(child, "Uid:"), [NOBODY; 4], "session process uid");
            assert_eq!(ids(child, "Gid:"), [NOBODY; 4], "session process gid");
        }
        let mut data = session.epsv(daemon.addr());
        assert_eq!(session.cmd("STOR upload.bin").code, 150, "{mode}");
        std::io::Write::write_all(&mut data, b"written as nobody").expect("send");
        drop(data);
        assert_eq!(session.reply().code, 226, "{mode}");
        let stored = users::home(root.path(), "alice").join("upload.bin");
        assert_eq!(
            std::fs::read(&stored).expect("stored"),
            b"written as nobody"
        );
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&stored).unwrap());
        assert_eq!(owner, NOBODY, "{mode}: the file belongs to nobody");
    }
}

#[test]
fn as_root_without_user_the_daemon_warns_once() {
    if !is_root() {
        eprintln!("skipped: the warning is for root");
        return;
    }
    let root = layout();
    let daemon = ftpd::serve(
        "async",
        &users::users_file(root.path()),
        &users::state_dir(root.path()),
        &[],
        &[],
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("every session runs as root").count(),
        1,
        "{log}"
    );
}

/// Runs `wharf-ftpd serve` to its exit; returns its status and log.
fn serve_expecting_failure(root: &Path, flags: &[&str], as_nobody: bool) -> (bool, String) {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .arg("--users")
        .arg(users::users_file(root))
        .arg("--state-dir")
        .arg(users::state_dir(root))
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if as_nobody {
        // SAFETY: only async-signal-safe set*id calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(NOBODY)])?;
                nix::unistd::setgid(nix::unistd::Gid::from_raw(NOBODY))?;
                nix::unistd::setuid(nix::unistd::Uid::from_raw(NOBODY))?;
                Ok(())
            });
        }
    }
    let output = command.output().expect("run wharf-ftpd");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_drop_that_cannot_happen_stops_the_start_with_a_clear_error() {
    let root = layout();
    let (ok, log) = serve_expecting_failure(root.path(), &["--user", "no-such-user-wharf"], false);
    assert!(!ok, "started with an unknown user: {log}");
    assert!(log.contains("no-such-user-wharf"), "{log}");
    if !is_root() {
        eprintln!("skipped the switch failure: it needs root to start as nobody");
        return;
    }
    // Started as nobody, the daemon cannot become `daemon` (uid 1): no silent fallback.
    let (ok, log) = serve_expecting_failure(root.path(), &["--user", "daemon"], true);
    assert!(!ok, "started without switching: {log}");
    assert!(log.contains("cannot drop privileges"), "{log}");
    assert!(!log.contains("listening on"), "{log}");
}
