//! FTPS with lftp (GnuTLS) in every concurrency mode, as docs/ftpd.md shows it: explicit with
//! `ftp:ssl-force` and protected data, and implicit `ftps://`; data connections must resume the
//! control session (the server's check is on by default).
//!
//! lftp must be installed (`apt-get install -y lftp`); the test fails, not skips, without it.

mod support;
mod tls_support;

use std::process::Command;

use support::{MODES, have, random_bytes};
use tls_support::{pki, start_with_implicit};

/// Runs an lftp script against `site`; panics with its output unless it succeeds.
fn lftp(what: &str, site: &str, user: &str, script: &str) {
    let output = Command::new("timeout")
        .args(["60", "lftp", "-u", user, "-e", script, site])
        .output()
        .expect("lftp must be installed to run this test");
    assert!(
        output.status.success(),
        "{what}: lftp failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn lftp_explicit_and_implicit_ftps_in_every_mode() {
    assert!(have("lftp"), "lftp is required: apt-get install -y lftp");
    let pki = pki();
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(300_000, 12);
    let source = local.path().join("source.bin");
    std::fs::write(&source, &data).unwrap();
    for mode in MODES {
        let (daemon, implicit) = start_with_implicit(mode, &[("alice", "secret")], &pki, &[]);
        let settings = format!(
            "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {}; \
             set net:max-retries 1; set cmd:fail-exit true",
            pki.ca.display()
        );
        let back = local.path().join(format!("{mode}-back.bin"));
        let script = format!(
            "{settings}; put {} -o explicit.bin; get explicit.bin -o {}; ls; bye",
            source.display(),
            back.display()
        );
        let site = format!("ftp://{}:{}", daemon.addr.ip(), daemon.addr.port());
        lftp(&format!("{mode} explicit"), &site, "alice,secret", &script);
        assert!(std::fs::read(daemon.home("alice").join("explicit.bin")).unwrap() == data);
        assert!(
            std::fs::read(&back).unwrap() == data,
            "{mode}: downloaded bytes differ"
        );

        let script = format!(
            "{settings}; put {} -o implicit.bin; ls; bye",
            source.display()
        );
        let site = format!("ftps://{implicit}");
        lftp(&format!("{mode} implicit"), &site, "alice,secret", &script);
        assert!(std::fs::read(daemon.home("alice").join("implicit.bin")).unwrap() == data);
        let log = daemon.log_text();
        assert!(!log.contains("did not resume"), "{mode}: {log}");
        assert_eq!(
            log.matches("control connection secured with TLS").count(),
            2,
            "{mode}: both sessions used TLS: {log}"
        );
    }
}
