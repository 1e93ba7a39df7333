//! Timeouts and shutdown as a client sees them: a 421 reply, then the connection closes.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::raw::Raw;
use support::{Daemon, MODES};

#[test]
fn silent_sessions_get_421_after_the_login_and_idle_timeouts() {
    for mode in MODES {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[
                ("WHARF_FTPD__LIMITS__LOGIN_TIMEOUT", "300ms"),
                ("WHARF_FTPD__LIMITS__IDLE_TIMEOUT", "600ms"),
            ],
        );
        let started = Instant::now();
        let (mut raw, _) = Raw::connect(daemon.addr);
        let reply = raw.reply();
        assert_eq!(reply.code, 421, "{mode}: {reply:?}");
        assert!(reply.text().contains("Login timeout"), "{mode}: {reply:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(raw.is_closed());
        drop(raw);

        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let reply = raw.reply();
        assert_eq!(reply.code, 421, "{mode}: {reply:?}");
        assert!(reply.text().contains("Idle timeout"), "{mode}: {reply:?}");
        assert!(raw.is_closed());
    }
}

#[test]
fn shutdown_tells_idle_sessions_421() {
    for mode in ["async", "threading", "forking"] {
        let mut daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let pid = Pid::from_raw(i32::try_from(daemon.pid()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        let reply = raw.reply();
        assert_eq!(reply.code, 421, "{mode}: {reply:?}");
        assert!(raw.is_closed());
        assert!(
            daemon.wait_exit(Duration::from_secs(20)),
            "{mode}: did not stop"
        );
    }
}

#[test]
fn a_stopping_server_finishes_a_conversation_in_progress_and_accepts_no_new_one() {
    for mode in ["async", "threading", "forking"] {
        let mut daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let pid = Pid::from_raw(i32::try_from(daemon.pid()).expect("pid"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM");
        std::thread::sleep(Duration::from_millis(300));
        // The listener is closed: a balancer would send this client to another node.
        assert!(
            std::net::TcpStream::connect(daemon.addr).is_err(),
            "{mode}: still accepting while stopping"
        );
        // A client in mid-conversation is served on, command after command.
        assert_eq!(raw.cmd("PWD").code, 257, "{mode}");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(raw.cmd("NOOP").code, 200, "{mode}");
        // Quiet for 2 s after the last reply: told, and closed.
        let quiet = Instant::now();
        let reply = raw.reply();
        assert_eq!(reply.code, 421, "{mode}: {reply:?}");
        assert!(
            quiet.elapsed() >= Duration::from_millis(1500),
            "{mode}: told after {:?}",
            quiet.elapsed()
        );
        assert!(raw.is_closed());
        assert!(
            daemon.wait_exit(Duration::from_secs(20)),
            "{mode}: did not stop"
        );
    }
}

#[test]
fn epsv_all_locks_out_the_other_data_commands() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    assert_eq!(raw.cmd("EPSV ALL").code, 200);
    assert_eq!(raw.cmd("PASV").code, 503);
    assert_eq!(raw.cmd("PORT 127,0,0,1,200,1").code, 503);
    assert_eq!(raw.cmd("EPSV").code, 229);
    assert_eq!(
        raw.cmd("EPSV 2").code,
        522,
        "IPv6 asked on an IPv4 control connection"
    );
}
