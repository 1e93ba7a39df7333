//! A daemon whose standard error was closed (the log reader went away) still serves and still
//! stops on SIGTERM: failed log writes are dropped, never a panic in the task that logged.

mod support;

use std::time::Duration;

use support::common::ftpd::{listening_on, spawn_serve};
use support::common::users;
use support::raw::Raw;
use wharf_testkit::process::wait_within;

#[test]
fn sigterm_stops_a_daemon_whose_log_reader_is_gone() {
    for mode in ["async", "threading", "forking"] {
        let root = tempfile::tempdir().unwrap();
        let users_file = users::write_alice(root.path());
        let (mut child, mut lines) = spawn_serve(
            &[],
            &users_file,
            &users::state_dir(root.path()),
            &["--mode", mode],
        );
        let addr = loop {
            let line = lines.next().expect("log line").expect("read log");
            if let Some(addr) = listening_on(&line) {
                break addr.parse().expect("address");
            }
        };
        drop(lines);
        // Sessions log as they go: every line now fails to write.
        let mut session = Raw::login(addr, "alice", "secret");
        assert_eq!(session.cmd("PWD").code, 257, "{mode}");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let exited = wait_within(&mut child, Duration::from_secs(15));
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(exited.is_some(), "{mode}: still running 15 s after SIGTERM");
        drop(session);
    }
}
