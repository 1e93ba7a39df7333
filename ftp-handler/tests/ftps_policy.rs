//! FTPS rules over raw control connections (a rustls client): FEAT, the RFC 4217 command
//! sequence and its reply codes, `require_tls`, implicit FTPS, the data-channel session reuse
//! check, and broken handshakes that must not hurt the server.

mod support;
mod tls_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::raw::Raw;
use support::{Daemon, MODES};
use tls_support::raw_tls::{TlsRaw, data_tcp, handshake, read_all, write_and_close};
use tls_support::{pki, start_ftps, start_with_implicit};

#[test]
fn feat_offers_tls_only_when_configured_and_auth_is_refused_without_it() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    let (mut raw, _) = Raw::connect(daemon.addr);
    let feat = raw.cmd("FEAT").text();
    assert!(
        !feat.contains("AUTH TLS") && !feat.contains("PBSZ"),
        "{feat}"
    );
    assert_eq!(raw.cmd("AUTH TLS").code, 502);
    assert_eq!(raw.cmd("PBSZ 0").code, 502);
    drop(raw);

    let pki = pki();
    let daemon = start_ftps("async", &[("alice", "secret")], &pki, &[], &[]);
    let (mut raw, _) = Raw::connect(daemon.addr);
    let feat = raw.cmd("FEAT");
    for feature in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(feat.lines.iter().any(|line| line == feature), "{feat:?}");
    }
}

#[test]
fn rfc_4217_command_sequence_gets_its_reply_codes() {
    let pki = pki();
    let config = pki.client_config();
    let daemon = start_ftps("async", &[("alice", "secret")], &pki, &[], &[]);
    let (mut raw, _) = TlsRaw::connect(daemon.addr);
    assert_eq!(raw.cmd("PBSZ 0").code, 503, "PBSZ before AUTH");
    assert_eq!(raw.cmd("PROT P").code, 503, "PROT before AUTH");
    assert_eq!(raw.cmd("CCC").code, 533, "CCC on a clear connection");
    assert_eq!(raw.cmd("AUTH KERBEROS_V4").code, 504);
    assert_eq!(raw.auth_tls(&config).code, 234);
    assert_eq!(raw.cmd("AUTH TLS").code, 503, "AUTH twice");
    assert_eq!(raw.cmd("PROT P").code, 503, "PROT before PBSZ");
    let pbsz = raw.cmd("PBSZ 1024");
    assert_eq!((pbsz.code, pbsz.lines[0].as_str()), (200, "200 PBSZ=0"));
    assert_eq!(raw.cmd("PROT S").code, 536);
    assert_eq!(raw.cmd("PROT E").code, 536);
    assert_eq!(raw.cmd("PROT C").code, 200);
    assert_eq!(raw.cmd("PROT P").code, 200);
    assert_eq!(
        raw.cmd("CCC").code,
        534,
        "the control connection stays encrypted"
    );
    raw.login("alice", "secret");
    let status = raw.cmd("STAT");
    assert!(
        status
            .text()
            .contains("Control connection: TLS; data connections: TLS"),
        "{status:?}"
    );
    assert_eq!(raw.cmd("AUTH TLS").code, 503, "already TLS");
    assert_eq!(raw.cmd("QUIT").code, 221);
}

#[test]
fn require_tls_refuses_clear_logins_with_534_and_clear_data_with_521() {
    let pki = pki();
    let config = pki.client_config();
    for mode in MODES {
        let daemon = start_ftps(mode, &[("alice", "secret")], &pki, &["--require-tls"], &[]);
        let (mut raw, _) = TlsRaw::connect(daemon.addr);
        assert_eq!(raw.cmd("USER alice").code, 534, "{mode}: clear USER");
        assert_eq!(raw.cmd("PASS secret").code, 534, "{mode}: clear PASS");
        assert_eq!(raw.cmd("LIST").code, 530, "{mode}: still not logged in");
        assert_eq!(raw.auth_tls(&config).code, 234);
        raw.login("alice", "secret");
        assert_eq!(raw.cmd("PBSZ 0").code, 200);
        assert_eq!(
            raw.cmd("PROT C").code,
            534,
            "{mode}: PROT C refused by policy"
        );
        // Protection is still clear (no PROT P yet): transfers are refused with 521.
        let _ = raw.epsv(daemon.addr);
        let refused = raw.cmd("LIST");
        assert_eq!(refused.code, 521, "{mode}: {refused:?}");
        assert_eq!(raw.cmd("PROT P").code, 200);
        let addr = raw.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(raw.cmd("NLST").code, 150);
        let mut tls = handshake(&config, data).expect("data handshake");
        read_all(&mut tls).expect("listing");
        assert_eq!(raw.reply().code, 226, "{mode}");
    }
}

#[test]
fn implicit_ftps_and_the_data_session_reuse_check_in_every_mode() {
    let pki = pki();
    for mode in MODES {
        let (daemon, implicit) = start_with_implicit(mode, &[("alice", "secret")], &pki, &[]);
        let config = pki.client_config();
        let (mut raw, greeting) = TlsRaw::connect_implicit(implicit, &config);
        assert_eq!(greeting.code, 220, "{mode}");
        raw.login("alice", "secret");
        // Data connections are protected from the start on an implicit connection.
        let addr = raw.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(raw.cmd("STOR reuse.txt").code, 150);
        let tls = handshake(&config, data).expect("resumed handshake");
        write_and_close(tls, b"resumed").expect("upload");
        assert_eq!(raw.reply().code, 226, "{mode}: {}", daemon.log_text());
        assert_eq!(
            std::fs::read(daemon.home("alice").join("reuse.txt")).unwrap(),
            b"resumed"
        );

        // A data connection from a client with its own, empty session cache cannot resume
        // the control session: a full handshake, then 425 and nothing stored.
        let stranger = pki.client_config();
        let addr = raw.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(raw.cmd("STOR stolen.txt").code, 150);
        if let Ok(tls) = handshake(&stranger, data) {
            let _ = write_and_close(tls, b"stolen");
        }
        let refused = raw.reply();
        assert_eq!(refused.code, 425, "{mode}: {refused:?}");
        assert!(refused.text().contains("resume"), "{refused:?}");
        let stolen = daemon.home("alice").join("stolen.txt");
        assert!(std::fs::read(&stolen).map(|b| b.is_empty()).unwrap_or(true));
        // The session goes on.
        assert_eq!(raw.cmd("PWD").code, 257, "{mode}");
        drop(raw);

        // With the check off the same stranger is accepted.
        drop(daemon);
        let (daemon, implicit) = start_with_implicit(
            mode,
            &[("alice", "secret")],
            &pki,
            &[("WHARF_FTPD__TLS__REQUIRE_SESSION_REUSE", "false")],
        );
        let (mut raw, _) = TlsRaw::connect_implicit(implicit, &config);
        raw.login("alice", "secret");
        let addr = raw.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(raw.cmd("STOR fresh.txt").code, 150);
        let tls = handshake(&pki.client_config(), data).expect("full handshake");
        write_and_close(tls, b"fresh").expect("upload");
        assert_eq!(raw.reply().code, 226, "{mode}: {}", daemon.log_text());
    }
}

#[test]
fn broken_and_stalled_handshakes_cost_only_their_own_connection() {
    let pki = pki();
    let config = pki.client_config();
    for mode in ["async", "threading", "forking"] {
        let (daemon, implicit) = start_with_implicit(
            mode,
            &[("alice", "secret")],
            &pki,
            &[("WHARF_FTPD__LIMITS__LOGIN_TIMEOUT", "2s")],
        );
        // Garbage instead of a ClientHello after AUTH TLS: the connection is closed.
        let (mut raw, _) = Raw::connect(daemon.addr);
        assert_eq!(raw.cmd("AUTH TLS").code, 234);
        raw.send_bytes(b"this is not TLS at all\r\n");
        assert!(raw.is_closed(), "{mode}");
        // A client that opens the implicit port and says nothing is cut at the login timeout.
        let started = Instant::now();
        let mut silent = TcpStream::connect(implicit).expect("connect");
        silent
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        // Meanwhile others are served.
        let (mut other, greeting) = TlsRaw::connect_implicit(implicit, &config);
        assert_eq!(greeting.code, 220, "{mode}");
        other.login("alice", "secret");
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut silent, &mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode}: not cut"
        );
        let _ = silent.write_all(b"x");
        assert_eq!(other.cmd("NOOP").code, 200, "{mode}");
    }
}

#[test]
fn a_tls_upload_cut_without_close_notify_is_not_committed() {
    let pki = pki();
    let config = pki.client_config();
    let daemon = start_ftps("async", &[("alice", "secret")], &pki, &[], &[]);
    std::fs::write(daemon.home("alice").join("keep.txt"), b"old content").unwrap();
    let (mut raw, _) = TlsRaw::connect(daemon.addr);
    raw.secure_login(&config, "alice", "secret");
    let addr = raw.epsv(daemon.addr);
    let data = data_tcp(addr);
    assert_eq!(raw.cmd("STOR keep.txt").code, 150);
    let mut tls = handshake(&config, data).expect("handshake");
    tls.write_all(b"truncated").expect("write");
    tls.flush().expect("flush");
    // A cut connection (or an attacker's forged FIN): TCP closes with no TLS close_notify.
    tls.sock
        .shutdown(std::net::Shutdown::Both)
        .expect("shutdown");
    drop(tls);
    let reply = raw.reply();
    assert_eq!(reply.code, 426, "{reply:?}");
    assert_eq!(
        std::fs::read(daemon.home("alice").join("keep.txt")).unwrap(),
        b"old content",
        "a truncated upload must not replace the file"
    );
    assert_eq!(raw.cmd("NOOP").code, 200);
}
