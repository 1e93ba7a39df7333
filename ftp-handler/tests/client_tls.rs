//! `--tls` (explicit FTPS) against `wharf-ftpd` and pyftpdlib, both refusing data connections
//! that do not resume the control connection's TLS session; `--ca-cert` and `--insecure`.

mod client_support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use client_support::daemon::Ftpd;
use client_support::{
    Pki, PyFtpd, client, file_sha256, pki, random_bytes, run, sha256_hex, url_for,
};

/// Starts wharf-ftpd serving FTPS only.
fn ftps_daemon(pki: &Pki) -> Ftpd {
    Ftpd::start(
        1 << 30,
        &[
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
            "--require-tls",
        ],
    )
}

/// Starts pyftpdlib requiring TLS on control and data, and session reuse on data.
fn ftps_pyftpdlib(pki: &Pki) -> PyFtpd {
    PyFtpd::start(&[
        "--hash",
        "--require-reuse",
        "--tls",
        pki.cert.to_str().unwrap(),
        pki.key.to_str().unwrap(),
    ])
}

/// One-shot put, ls and get over TLS, each verified.
fn one_shots(addr: SocketAddr, served: &Path, ca: &Path) {
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(2 << 20, 41);
    std::fs::write(work.path().join("secret.bin"), &data).unwrap();
    let tls = ["--tls", "--ca-cert", ca.to_str().unwrap()];

    let mut put = client(work.path(), work.path());
    put.args(tls)
        .args(["put", "secret.bin", &url_for(addr, "")]);
    let put = run(put).expect(0);
    assert!(put.stderr.contains("verified: SHA-256"), "{put:#?}");
    assert_eq!(file_sha256(&served.join("secret.bin")), sha256_hex(&data));

    let mut ls = client(work.path(), work.path());
    ls.args(tls).args(["ls", &url_for(addr, "")]);
    let ls = run(ls).expect(0);
    assert!(ls.stdout.contains("secret.bin"), "{ls:#?}");

    let mut get = client(work.path(), work.path());
    get.args(tls)
        .args(["get", &url_for(addr, "secret.bin"), "back.bin"]);
    let get = run(get).expect(0);
    assert!(get.stderr.contains("verified: SHA-256"), "{get:#?}");
    assert_eq!(
        file_sha256(&work.path().join("back.bin")),
        sha256_hex(&data)
    );
}

/// A shell session with many data connections in a row, commands read from a pipe: every
/// data connection must resume the TLS session, uploads included.
fn many_transfers(addr: SocketAddr, served: &Path, ca: &Path) {
    let work = tempfile::tempdir().unwrap();
    let names = ["a.bin", "b.bin", "c.bin", "d.bin", "e.bin"];
    for (seed, name) in names.iter().enumerate() {
        std::fs::write(work.path().join(name), random_bytes(200_000, seed as u64)).unwrap();
    }
    let mut shell = client(work.path(), work.path());
    shell
        .stdin(Stdio::piped())
        .env("WHARF_FTP_HISTORY", "")
        .args([
            "--tls",
            "--ca-cert",
            ca.to_str().unwrap(),
            &url_for(addr, ""),
        ]);
    let mut commands = String::new();
    for name in names {
        commands.push_str(&format!("put {name}\nls\n"));
    }
    for name in names {
        commands.push_str(&format!("get {name} back-{name}\n"));
    }
    commands.push_str("quit\n");
    let mut child = shell.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("error"), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.matches("verified: SHA-256").count(),
        10,
        "{stdout}\n{stderr}"
    );
    for name in names {
        let original = file_sha256(&work.path().join(name));
        assert_eq!(file_sha256(&served.join(name)), original);
        assert_eq!(
            file_sha256(&work.path().join(format!("back-{name}"))),
            original
        );
    }
}

#[test]
fn ftps_one_shots_against_wharf_ftpd() {
    let pki = pki();
    let daemon = ftps_daemon(&pki);
    one_shots(daemon.addr, &daemon.home(), &pki.ca);
}

#[test]
fn ftps_shell_session_against_wharf_ftpd_resumes_tls_on_every_data_connection() {
    let pki = pki();
    let daemon = ftps_daemon(&pki);
    many_transfers(daemon.addr, &daemon.home(), &pki.ca);
}

#[test]
fn ftps_one_shots_against_pyftpdlib() {
    let pki = pki();
    let server = ftps_pyftpdlib(&pki);
    one_shots(server.addr, server.root.path(), &pki.ca);
    let events = server.events();
    assert_eq!(events.lines().count(), 3, "{events}");
    assert!(
        events.lines().all(|line| line == "data-tls reused=1"),
        "{events}"
    );
}

#[test]
fn ftps_shell_session_against_pyftpdlib_resumes_tls_on_every_data_connection() {
    let pki = pki();
    let server = ftps_pyftpdlib(&pki);
    many_transfers(server.addr, server.root.path(), &pki.ca);
    // 5 uploads, 5 listings, 5 downloads: each one resumed the session.
    let events = server.events();
    assert_eq!(events.lines().count(), 15, "{events}");
    assert!(
        events.lines().all(|line| line == "data-tls reused=1"),
        "{events}"
    );
}

#[test]
fn a_plain_login_to_a_tls_only_server_suggests_tls() {
    let pki = pki();
    let daemon = ftps_daemon(&pki);
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.args(["ls", &url_for(daemon.addr, "")]);
    let ls = run(ls).expect(2);
    assert!(ls.stderr.contains("try --tls"), "{ls:#?}");
}

#[test]
fn an_unknown_certificate_authority_is_refused_unless_insecure() {
    let pki_server = pki();
    let other = pki();
    let daemon = ftps_daemon(&pki_server);
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.args(["--tls", "--ca-cert", other.ca.to_str().unwrap()])
        .args(["ls", &url_for(daemon.addr, "")]);
    let ls = run(ls).expect(2);
    assert!(ls.stderr.contains("TLS failed"), "{ls:#?}");
    assert!(ls.stderr.to_lowercase().contains("certificate"), "{ls:#?}");

    let mut ls = client(work.path(), work.path());
    ls.args(["--tls", "--insecure", "ls", &url_for(daemon.addr, "")]);
    run(ls).expect(0);
}

#[test]
fn tls_options_without_tls_are_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.args(["--insecure", "ls", "ftp://alice@127.0.0.1:9/"]);
    let ls = run(ls).expect(1);
    assert!(ls.stderr.contains("only apply with --tls"), "{ls:#?}");
}
