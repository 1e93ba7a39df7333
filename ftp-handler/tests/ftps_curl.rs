//! FTPS with curl (OpenSSL) in every concurrency mode: explicit `AUTH TLS` (`--ssl-reqd`) over
//! TLS 1.3 and TLS 1.2, and implicit `ftps://`; uploads and downloads whose
//! data connections must resume the control session (the server's check is on by default).
//!
//! curl must be installed (`apt-get install -y curl`); the test fails, not skips, without it.

mod support;
mod tls_support;

use support::{Daemon, MODES, curl, have, random_bytes, sha256_hex};
use tls_support::{pki, start_with_implicit};

/// Runs curl and asserts success; returns what it printed. The daemon's log is shown on failure.
fn curl_ok(daemon: &Daemon, what: &str, args: &[&str]) -> Vec<u8> {
    let output = curl(args);
    assert!(
        output.status.success(),
        "{what}: curl {args:?} failed: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.log_text()
    );
    output.stdout
}

#[test]
fn curl_explicit_and_implicit_ftps_with_session_reuse_in_every_mode() {
    assert!(have("curl"), "curl is required: apt-get install -y curl");
    let pki = pki();
    let ca = pki.ca.display().to_string();
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(1 << 20, 41);
    let source = local.path().join("source.bin");
    std::fs::write(&source, &data).unwrap();
    let source = source.display().to_string();
    let expected = sha256_hex(&data);
    for mode in MODES {
        let (daemon, implicit) = start_with_implicit(mode, &[("alice", "secret")], &pki, &[]);
        let explicit = |path: &str| daemon.url("alice", "secret", path);
        let tls = ["--ssl-reqd", "--cacert", ca.as_str()];

        // Explicit FTPS, TLS 1.3 (curl's default against rustls), passive.
        let what = format!("{mode} explicit TLS 1.3");
        let url = explicit("up13.bin");
        let mut args = tls.to_vec();
        args.extend(["-T", source.as_str(), &url]);
        curl_ok(&daemon, &what, &args);
        assert_eq!(
            sha256_hex(&std::fs::read(daemon.home("alice").join("up13.bin")).unwrap()),
            expected,
            "{what}: stored bytes differ"
        );
        let mut args = tls.to_vec();
        args.push(&url);
        assert_eq!(
            sha256_hex(&curl_ok(&daemon, &what, &args)),
            expected,
            "{what}"
        );
        let mut args = tls.to_vec();
        let listing = explicit("");
        args.extend(["--list-only", listing.as_str()]);
        let names = String::from_utf8(curl_ok(&daemon, &what, &args)).unwrap();
        assert!(
            names.lines().any(|name| name == "up13.bin"),
            "{what}: {names}"
        );

        // Explicit FTPS, TLS 1.2 (session ids rather than tickets). curl 7.88 cannot do
        // active-mode FTPS at all (it fails before its own handshake), so passive only here;
        // the ftplib and suppaftp tests cover active mode.
        let what = format!("{mode} explicit TLS 1.2");
        let url = explicit("up12.bin");
        let mut args = tls.to_vec();
        args.extend(["--tls-max", "1.2", "-T", &source, &url]);
        curl_ok(&daemon, &what, &args);
        let mut args = tls.to_vec();
        args.extend(["--tls-max", "1.2", &url]);
        assert_eq!(
            sha256_hex(&curl_ok(&daemon, &what, &args)),
            expected,
            "{what}"
        );

        // Implicit FTPS: TLS from the first byte.
        let what = format!("{mode} implicit");
        let url = format!("ftps://alice:secret@{implicit}/implicit.bin");
        curl_ok(&daemon, &what, &["--cacert", &ca, "-T", &source, &url]);
        assert_eq!(
            sha256_hex(&curl_ok(&daemon, &what, &["--cacert", &ca, &url])),
            expected,
            "{what}"
        );

        let log = daemon.log_text();
        assert!(
            !log.contains("did not resume"),
            "{mode}: a data connection was refused: {log}"
        );
        assert!(
            log.contains("control connection secured with TLS"),
            "{mode}: {log}"
        );
    }
}

#[test]
fn curl_with_the_wrong_ca_refuses_the_server_and_plain_ftp_still_works() {
    assert!(have("curl"), "curl is required: apt-get install -y curl");
    let (pki, other) = (pki(), tls_support::pki());
    let (daemon, _) = start_with_implicit("async", &[("alice", "secret")], &pki, &[]);
    let url = daemon.url("alice", "secret", "");
    let other_ca = other.ca.display().to_string();
    let refused = curl(&["--ssl-reqd", "--cacert", &other_ca, "--list-only", &url]);
    // 60: the certificate cannot be verified; 35: the handshake failed (OpenSSL tried the
    // look-alike CA's key on the server's certificate).
    assert!(
        matches!(refused.status.code(), Some(35 | 60)),
        "{refused:?}"
    );
    // Without require_tls, a clear session is still served.
    curl_ok(&daemon, "clear", &["--list-only", &url]);
}
