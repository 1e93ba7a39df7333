//! The brute-force defence in every concurrency mode: failed logins counted across sessions
//! (and processes), a ban of the client address and of the user name after N failures (421),
//! the ban lifted after its time, and both logged.

mod support;
mod tls_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::raw::Raw;
use support::{Daemon, MODES};
use tls_support::raw_tls::TlsRaw;

/// Ban settings for a quick test: 3 failures, 4 s ban, connections closed only by bans.
const BAN_ENV: [(&str, &str); 4] = [
    ("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", "3"),
    ("WHARF_FTPD__LIMITS__BAN_WINDOW", "60s"),
    ("WHARF_FTPD__LIMITS__BAN_DURATION", "4s"),
    ("WHARF_FTPD__LIMITS__MAX_LOGIN_ATTEMPTS", "10"),
];

/// A control connection from another loopback address (`127.0.0.2` reaches the same listener).
fn connect_from(source: &str, addr: SocketAddr) -> (TlsRaw, support::raw::Reply) {
    TlsRaw::from_stream(support::raw::tcp_from(source, addr))
}

/// Sends USER and a wrong PASS; returns the PASS reply.
fn fail_once(raw: &mut Raw, user: &str) -> support::raw::Reply {
    assert_eq!(raw.cmd(&format!("USER {user}")).code, 331);
    raw.cmd("PASS wrong")
}

#[test]
fn repeated_failures_ban_the_address_and_the_user_then_the_ban_lifts() {
    for mode in MODES {
        let daemon = Daemon::start_with(mode, &[("alice", "secret"), ("bob", "pw")], &[], &BAN_ENV);
        // Failures from two sessions count together (in forking mode: two processes).
        let (mut first, _) = Raw::connect(daemon.addr);
        assert_eq!(fail_once(&mut first, "alice").code, 530, "{mode}");
        assert_eq!(fail_once(&mut first, "alice").code, 530, "{mode}");
        drop(first);
        let (mut second, _) = Raw::connect(daemon.addr);
        let banned_at = Instant::now();
        assert_eq!(fail_once(&mut second, "alice").code, 530, "{mode}");
        let ban = second.reply();
        assert_eq!(ban.code, 421, "{mode}: {ban:?}");
        assert!(second.is_closed(), "{mode}");

        // The address is banned: refused at once, even with the right password.
        let (mut third, greeting) = Raw::connect(daemon.addr);
        assert_eq!(greeting.code, 421, "{mode}: {greeting:?}");
        assert!(greeting.text().contains("failed logins"), "{greeting:?}");
        assert!(third.is_closed());

        // From another address: alice is banned as a user, bob is not.
        let (mut elsewhere, greeting) = connect_from("127.0.0.2", daemon.addr);
        assert_eq!(
            greeting.code, 220,
            "{mode}: the other address is not banned"
        );
        let refused = elsewhere.cmd("USER alice");
        assert_eq!(refused.code, 421, "{mode}: {refused:?}");
        drop(elsewhere);
        let (mut elsewhere, _) = connect_from("127.0.0.2", daemon.addr);
        elsewhere.login("bob", "pw");
        // Sequential mode serves one session at a time: end this one.
        assert_eq!(elsewhere.cmd("QUIT").code, 221);
        drop(elsewhere);

        // After the ban: served again, and the right password works.
        let wait = Duration::from_millis(4200).saturating_sub(banned_at.elapsed());
        std::thread::sleep(wait);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut raw = loop {
            let (raw, greeting) = Raw::connect(daemon.addr);
            if greeting.code == 220 {
                break raw;
            }
            assert!(Instant::now() < deadline, "{mode}: ban never lifted");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(raw.cmd("USER alice").code, 331);
        assert_eq!(raw.cmd("PASS secret").code, 230, "{mode}: ban lifted");

        let log = daemon.log_text();
        assert!(log.contains("login ban engaged"), "{mode}: {log}");
        assert!(log.contains("address 127.0.0.1"), "{mode}: {log}");
        assert!(log.contains("refused: login ban in force"), "{mode}: {log}");
    }
}

#[test]
fn bans_can_be_turned_off_and_failed_logins_are_still_delayed_and_capped() {
    let daemon = Daemon::start_with(
        "forking",
        &[("alice", "secret")],
        &[],
        &[
            ("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", "0"),
            ("WHARF_FTPD__LIMITS__MAX_LOGIN_ATTEMPTS", "2"),
            ("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "300ms"),
        ],
    );
    for _ in 0..4 {
        let (mut raw, greeting) = Raw::connect(daemon.addr);
        assert_eq!(greeting.code, 220);
        let started = Instant::now();
        assert_eq!(fail_once(&mut raw, "alice").code, 530);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "a failed login is answered only after failed_login_delay"
        );
        assert_eq!(fail_once(&mut raw, "alice").code, 530);
        let closing = raw.reply();
        assert_eq!(closing.code, 421, "{closing:?}");
        assert!(
            closing.text().contains("Too many failed logins"),
            "{closing:?}"
        );
    }
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    assert_eq!(raw.cmd("NOOP").code, 200);
    assert!(!daemon.log_text().contains("login ban engaged"));
}
