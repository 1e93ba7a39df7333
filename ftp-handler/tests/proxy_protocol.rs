//! wharf-ftpd behind a balancer that speaks the PROXY protocol (the test plays the balancer on
//! 127.0.0.1): the client address from the header is what logins, bans, logs and xferlog see;
//! passive data connections come from the client or the balancer, never anyone else; a header
//! from an untrusted address closes the connection.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::raw::{Raw, Reply};
use support::{Daemon, MODES};

/// The daemon's settings: headers trusted from loopback, bans after 3 failures, an xferlog.
fn start(mode: &str, xferlog: &std::path::Path) -> Daemon {
    Daemon::start_with(
        mode,
        &[("alice", "secret")],
        &["--proxy-protocol-from", "127.0.0.1/32"],
        &[
            ("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", "3"),
            ("WHARF_FTPD__LIMITS__BAN_DURATION", "60s"),
            ("WHARF_FTPD__LIMITS__MAX_LOGIN_ATTEMPTS", "10"),
            ("WHARF_FTPD__LIMITS__DATA_ACCEPT_TIMEOUT", "2s"),
            ("WHARF_FTPD__LOG__XFERLOG", xferlog.to_str().unwrap()),
        ],
    )
}

/// Connects as the balancer would, naming `client` in a v1 header; returns the greeting.
fn via_balancer(addr: SocketAddr, client: &str) -> (Raw, Reply) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let header = format!("PROXY TCP4 {client} 192.0.2.1 50000 21\r\n");
    stream.write_all(header.as_bytes()).expect("header");
    let mut raw = Raw::over(stream);
    let greeting = raw.reply();
    (raw, greeting)
}

/// Whether the daemon logs `text` within a few seconds (its log is read on another thread).
fn logged(daemon: &Daemon, text: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if daemon.log_text().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn the_client_from_the_header_is_what_sessions_bans_and_xferlog_see() {
    for mode in MODES {
        let logs = tempfile::tempdir().unwrap();
        let xferlog = logs.path().join("xferlog");
        let daemon = start(mode, &xferlog);

        // A session and an upload from 203.0.113.7, its data connection forwarded by the
        // balancer (from 127.0.0.1, without a header).
        let (mut session, greeting) = via_balancer(daemon.addr, "203.0.113.7");
        assert_eq!(greeting.code, 220, "{mode}: {greeting:?}");
        session.user_pass("alice", "secret");
        let stat = session.cmd("STAT");
        assert!(stat.text().contains("203.0.113.7"), "{mode}: {stat:?}");
        let mut data = session.epsv(daemon.addr);
        assert_eq!(
            session.cmd("STOR through-the-balancer.txt").code,
            150,
            "{mode}"
        );
        data.write_all(b"hello from behind a balancer").unwrap();
        drop(data);
        assert_eq!(session.reply().code, 226, "{mode}");
        assert_eq!(session.cmd("QUIT").code, 221);
        let line = std::fs::read_to_string(&xferlog).expect("xferlog");
        assert!(line.contains(" 203.0.113.7 "), "{mode}: {line}");
        assert!(
            !line.contains("127.0.0.1"),
            "{mode}: never the balancer: {line}"
        );

        // Three failures from 198.51.100.9 ban that client, not the balancer.
        for _ in 0..3 {
            let (mut attempt, _) = via_balancer(daemon.addr, "198.51.100.9");
            assert_eq!(attempt.cmd("USER alice").code, 331);
            let _ = attempt.cmd("PASS wrong");
        }
        let (_, banned) = via_balancer(daemon.addr, "198.51.100.9");
        assert_eq!(banned.code, 421, "{mode}: the client is banned: {banned:?}");
        let (_, other) = via_balancer(daemon.addr, "198.51.100.10");
        assert_eq!(
            other.code, 220,
            "{mode}: another client through the same balancer"
        );
        assert!(
            logged(&daemon, "198.51.100.9"),
            "{mode}: the ban names the client"
        );
    }
}

#[test]
fn a_passive_data_connection_from_a_third_address_is_refused() {
    let logs = tempfile::tempdir().unwrap();
    let daemon = start("async", &logs.path().join("xferlog"));
    let (mut session, _) = via_balancer(daemon.addr, "203.0.113.7");
    session.user_pass("alice", "secret");
    let port = session.epsv_addr(daemon.addr).port();
    // 127.0.0.2 is neither the client (203.0.113.7) nor the balancer (127.0.0.1).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let reply = session.cmd("LIST");
    assert_eq!(reply.code, 425, "{reply:?}");
    assert!(logged(
        &daemon,
        "refused data connection from a foreign address"
    ));
}

#[test]
fn a_header_from_an_untrusted_address_closes_the_connection() {
    let logs = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with(
        "threading",
        &[("alice", "secret")],
        &["--proxy-protocol-from", "10.0.0.0/8"],
        &[(
            "WHARF_FTPD__LOG__XFERLOG",
            logs.path().join("x").to_str().unwrap(),
        )],
    );
    // The greeting comes first (the sender is not trusted, so no header is awaited) ...
    let (mut raw, greeting) = Raw::connect(daemon.addr);
    assert_eq!(greeting.code, 220);
    // ... and a header as its first bytes ends the session without a reply.
    raw.send_bytes(b"PROXY TCP4 203.0.113.7 192.0.2.1 50000 21\r\n");
    assert_eq!(raw.read_to_end().unwrap(), b"", "closed without a reply");
    assert!(
        logged(&daemon, "PROXY header from an untrusted address"),
        "{}",
        daemon.log_text()
    );
}
