//! Landlock for forked FTP sessions, checked from inside the session process (a test-only
//! probe logs the kernel's answer to opens made by the session itself): before the first
//! command the process reaches only the homes, the state directory and the log directory; once
//! alice is in, only her home. The users file, another user's home and the system's secrets are
//! refused, and the session keeps working.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::common::ftpd::{self, FtpdProcess};
use support::common::users::{self, Account};
use support::raw::Raw;
use wharf_users::HashParams;

/// Users alice and bob, each with a file in their home; the probe's paths.
fn layout() -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let accounts = ["alice", "bob"].map(|name| Account {
        name,
        password: "secret",
        quota_bytes: None,
        quota_files: None,
    });
    let users_file = users::write_users(root.path(), &accounts, &HashParams::PRODUCTION);
    std::fs::create_dir_all(users::state_dir(root.path())).unwrap();
    for name in ["alice", "bob"] {
        std::fs::write(users::home(root.path(), name).join("mine.txt"), name).unwrap();
    }
    let probe = [
        users_file.display().to_string(),
        users::home(root.path(), "bob")
            .join("mine.txt")
            .display()
            .to_string(),
        users::home(root.path(), "alice")
            .join("mine.txt")
            .display()
            .to_string(),
        "/etc/shadow".to_string(),
        users::state_dir(root.path()).display().to_string(),
    ]
    .join(":");
    (root, probe)
}

/// The probe's verdict on `path` at `step`, waiting for the daemon's log to show it.
fn verdict(daemon: &FtpdProcess, step: &str, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = daemon.log_text();
        if let Some(line) = log.lines().find(|line| {
            line.contains("landlock probe")
                && line.contains(&format!("step=\"{step}\""))
                && line.contains(&format!("path=\"{path}\""))
        }) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no probe of {path} at {step}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_forked_session_reaches_only_what_its_step_allows() {
    let (root, probe) = layout();
    let daemon = ftpd::serve(
        "forking",
        &users::users_file(root.path()),
        &users::state_dir(root.path()),
        &[],
        &[("WHARF_FTPD_TEST_LANDLOCK_PROBE", &probe)],
    );
    let mut session = Raw::login(daemon.addr(), "alice", "secret");
    let users_file = users::users_file(root.path()).display().to_string();
    let bobs = users::home(root.path(), "bob")
        .join("mine.txt")
        .display()
        .to_string();
    let alices = users::home(root.path(), "alice")
        .join("mine.txt")
        .display()
        .to_string();
    let state = users::state_dir(root.path()).display().to_string();

    assert!(verdict(&daemon, "start", &users_file).contains("refused"));
    assert!(verdict(&daemon, "start", "/etc/shadow").contains("refused"));
    assert!(
        verdict(&daemon, "start", &bobs).contains("opened"),
        "every home before login"
    );
    assert!(verdict(&daemon, "start", &state).contains("opened"));

    assert!(verdict(&daemon, "login", &users_file).contains("refused"));
    assert!(
        verdict(&daemon, "login", &bobs).contains("refused"),
        "not bob's home once alice is in"
    );
    assert!(verdict(&daemon, "login", "/etc/shadow").contains("refused"));
    assert!(verdict(&daemon, "login", &alices).contains("opened"));
    assert!(verdict(&daemon, "login", &state).contains("opened"));

    // Confined, the session still serves: an upload (quota records in the state directory)
    // and a listing.
    let mut data = session.epsv(daemon.addr());
    assert_eq!(session.cmd("STOR confined.txt").code, 150);
    data.write_all(b"written under landlock").unwrap();
    drop(data);
    assert_eq!(session.reply().code, 226);
    let mut listing = session.epsv(daemon.addr());
    assert_eq!(session.cmd("NLST").code, 150);
    let mut names = String::new();
    std::io::Read::read_to_string(&mut listing, &mut names).unwrap();
    assert_eq!(session.reply().code, 226);
    assert!(
        names.contains("confined.txt") && names.contains("mine.txt"),
        "{names}"
    );
    assert_eq!(
        std::fs::read(users::home(root.path(), "alice").join("confined.txt")).unwrap(),
        b"written under landlock"
    );
    assert_eq!(session.cmd("QUIT").code, 221);
}

#[test]
fn a_daemon_whose_sessions_share_its_process_is_confined_as_a_whole() {
    let (root, probe) = layout();
    // A file outside every granted tree.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("outside.txt");
    std::fs::write(&outside, "not for sessions").unwrap();
    let probe = format!("{probe}:{}", outside.display());
    for mode in ["async", "threading", "sequential"] {
        let daemon = ftpd::serve(
            mode,
            &users::users_file(root.path()),
            &users::state_dir(root.path()),
            &[],
            &[("WHARF_FTPD_TEST_LANDLOCK_PROBE", &probe)],
        );
        let users_file = users::users_file(root.path()).display().to_string();
        let bobs = users::home(root.path(), "bob")
            .join("mine.txt")
            .display()
            .to_string();
        assert!(
            verdict(&daemon, "daemon", "/etc/shadow").contains("refused"),
            "{mode}"
        );
        assert!(
            verdict(&daemon, "daemon", &outside.display().to_string()).contains("refused"),
            "{mode}: a file outside the homes, state and users directories"
        );
        assert!(
            verdict(&daemon, "daemon", &bobs).contains("opened"),
            "{mode}: every home"
        );
        assert!(
            verdict(&daemon, "daemon", &users_file).contains("opened"),
            "{mode}: the users file stays readable (logins re-read it)"
        );
        let mut session = Raw::login(daemon.addr(), "alice", "secret");
        let mut data = session.epsv(daemon.addr());
        assert_eq!(session.cmd("STOR shared.txt").code, 150, "{mode}");
        data.write_all(b"confined daemon").unwrap();
        drop(data);
        assert_eq!(session.reply().code, 226, "{mode}");
        assert_eq!(session.cmd("QUIT").code, 221);
    }
}
