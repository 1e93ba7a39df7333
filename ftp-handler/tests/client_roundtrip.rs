//! `wharf-ftp ls/get/put` against `wharf-ftpd` and against pyftpdlib (an independent server):
//! files arrive byte for byte, each transfer says how it was verified, and every kind of
//! failure has its own exit code.

mod client_support;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use client_support::daemon::Ftpd;
use client_support::{
    PyFtpd, client, client_without_terminal, file_sha256, random_bytes, run, sha256_hex, size_of,
    url_for,
};

/// Puts, lists and gets back a 3 MiB file and a file whose name needs percent-encoding.
/// `served` is the server's directory for alice; `verification` the expected outcome line.
fn round_trip(addr: SocketAddr, served: &Path, verification: &str) {
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = random_bytes(3 << 20, 7);
    std::fs::write(work.path().join("payload.bin"), &data).unwrap();

    let mut put = client(work.path(), home.path());
    put.args(["put", "payload.bin", &url_for(addr, "")]);
    let put = run(put).expect(0);
    assert!(put.stderr.contains(verification), "{put:#?}");
    assert!(put.stderr.contains("3145728 bytes"), "{put:#?}");
    assert_eq!(file_sha256(&served.join("payload.bin")), sha256_hex(&data));

    let mut ls = client(work.path(), home.path());
    ls.args(["ls", &url_for(addr, "")]);
    let ls = run(ls).expect(0);
    let line = ls
        .stdout
        .lines()
        .find(|line| line.ends_with("payload.bin"))
        .unwrap_or_else(|| panic!("payload.bin not listed: {ls:#?}"));
    assert!(line.contains("3145728"), "{line}");

    let mut get = client(work.path(), home.path());
    get.args(["get", &url_for(addr, "payload.bin"), "copy.bin"]);
    let get = run(get).expect(0);
    assert!(get.stderr.contains(verification), "{get:#?}");
    assert_eq!(
        file_sha256(&work.path().join("copy.bin")),
        sha256_hex(&data)
    );

    // A name with a space and a non-ASCII letter, percent-encoded in the URL.
    let text = "crème brûlée\n".repeat(1000);
    std::fs::write(work.path().join("recipe.txt"), &text).unwrap();
    let mut put = client(work.path(), home.path());
    put.args([
        "put",
        "recipe.txt",
        &url_for(addr, "my%20recipe%20cr%C3%A8me.txt"),
    ]);
    run(put).expect(0);
    assert_eq!(
        std::fs::read_to_string(served.join("my recipe crème.txt")).unwrap(),
        text
    );
    let mut get = client(work.path(), home.path());
    get.args(["get", &url_for(addr, "my%20recipe%20cr%C3%A8me.txt")]);
    run(get).expect(0);
    assert_eq!(
        std::fs::read_to_string(work.path().join("my recipe crème.txt")).unwrap(),
        text
    );
}

#[test]
fn round_trips_through_wharf_ftpd_are_verified_with_hash_sha256() {
    let daemon = Ftpd::start(1 << 30, &[]);
    round_trip(daemon.addr, &daemon.home(), "verified: SHA-256");
}

#[test]
fn round_trips_through_pyftpdlib_without_hash_are_reported_unverified() {
    let server = PyFtpd::start(&[]);
    round_trip(
        server.addr,
        server.root.path(),
        "unverified: the server offers no HASH",
    );
}

#[test]
fn round_trips_through_pyftpdlib_with_hash_are_verified() {
    let server = PyFtpd::start(&["--hash"]);
    round_trip(server.addr, server.root.path(), "verified: SHA-256");
}

#[test]
fn a_server_with_only_legacy_xsha256_is_used_for_verification() {
    let server = PyFtpd::start(&["--xsha256"]);
    round_trip(server.addr, server.root.path(), "(server XSHA256 matches)");
}

#[test]
fn round_trips_over_ipv6_use_a_bracketed_url() {
    let server = PyFtpd::start(&["--hash", "--host", "::1"]);
    assert!(server.addr.is_ipv6());
    // url_for formats the address as [::1]:PORT.
    round_trip(server.addr, server.root.path(), "verified: SHA-256");
}

#[test]
fn no_verify_skips_the_hash_and_says_so() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("a.txt"), b"alpha").unwrap();
    let mut put = client(work.path(), work.path());
    put.args([
        "--no-verify",
        "put",
        "a.txt",
        &url_for(daemon.addr, "a.txt"),
    ]);
    let put = run(put).expect(0);
    assert!(
        put.stderr.contains("not verified (--no-verify)"),
        "{put:#?}"
    );
    assert!(!put.stderr.contains("verified: "), "{put:#?}");
}

#[test]
fn a_listing_of_a_subdirectory_and_an_upload_into_it() {
    let daemon = Ftpd::start(1 << 30, &[]);
    std::fs::create_dir(daemon.home().join("docs")).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("a.txt"), b"alpha").unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "a.txt", &url_for(daemon.addr, "docs/")]);
    run(put).expect(0);
    assert_eq!(
        std::fs::read(daemon.home().join("docs/a.txt")).unwrap(),
        b"alpha"
    );
    let mut ls = client(work.path(), work.path());
    ls.args(["ls", &url_for(daemon.addr, "docs")]);
    let ls = run(ls).expect(0);
    assert_eq!(ls.stdout.lines().count(), 1, "{ls:#?}");
    assert!(ls.stdout.contains("a.txt"), "{ls:#?}");
}

#[test]
fn a_bad_url_is_a_usage_error() {
    let work = tempfile::tempdir().unwrap();
    for url in [
        "http://127.0.0.1/x",
        "ftp://127.0.0.1:99999/x",
        "ftp://[::1/x",
    ] {
        let mut ls = client(work.path(), work.path());
        ls.args(["ls", url]);
        let ls = run(ls).expect(1);
        assert!(ls.stderr.contains("bad URL"), "{ls:#?}");
    }
    let mut nothing = client(work.path(), work.path());
    nothing.arg("--no-such-flag");
    run(nothing).expect(1);
}

#[test]
fn a_refused_login_exits_2_and_names_the_user() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.env("WHARF_FTP_PASSWORD", "wrong")
        .args(["ls", &url_for(daemon.addr, "")]);
    let ls = run(ls).expect(2);
    assert!(
        ls.stderr.contains("login as \"alice\" refused: 530"),
        "{ls:#?}"
    );
}

#[test]
fn a_closed_port_exits_2() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.args(["ls", &format!("ftp://alice@127.0.0.1:{port}/")]);
    let ls = run(ls).expect(2);
    assert!(ls.stderr.contains("cannot connect to 127.0.0.1"), "{ls:#?}");
}

#[test]
fn a_missing_remote_file_exits_3_and_leaves_no_local_file() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", &url_for(daemon.addr, "nope.bin")]);
    let get = run(get).expect(3);
    assert!(get.stderr.contains("550"), "{get:#?}");
    assert!(!work.path().join("nope.bin").exists());
    // An existing local file is not clobbered by a failed download.
    std::fs::write(work.path().join("keep.bin"), b"precious").unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", &url_for(daemon.addr, "nope.bin"), "keep.bin"]);
    run(get).expect(3);
    assert_eq!(
        std::fs::read(work.path().join("keep.bin")).unwrap(),
        b"precious"
    );
}

#[test]
fn an_upload_stopped_by_552_exits_3_and_says_quota_exceeded() {
    let server = PyFtpd::start(&["--max-upload", "262144"]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("big.bin"), random_bytes(4 << 20, 3)).unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "big.bin", &url_for(server.addr, "big.bin")]);
    let put = run(put).expect(3);
    assert!(put.stderr.contains("552"), "{put:#?}");
    assert!(put.stderr.contains("quota exceeded"), "{put:#?}");
    assert!(size_of(&server.root.path().join("big.bin")) < 4 << 20);
}

#[test]
fn an_upload_over_the_wharf_ftpd_quota_exits_3_with_552() {
    let daemon = Ftpd::start(256 * 1024, &[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("big.bin"), random_bytes(1 << 20, 4)).unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "big.bin", &url_for(daemon.addr, "big.bin")]);
    let put = run(put).expect(3);
    assert!(put.stderr.contains("552"), "{put:#?}");
    assert!(put.stderr.contains("quota exceeded"), "{put:#?}");
}

#[test]
fn a_missing_local_file_exits_5() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "absent.bin", &url_for(daemon.addr, "")]);
    let put = run(put).expect(5);
    assert!(put.stderr.contains("absent.bin"), "{put:#?}");
}

#[test]
fn the_password_can_come_from_standard_input() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    let mut ls = client(work.path(), work.path());
    ls.env_remove("WHARF_FTP_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .args(["--password-stdin", "ls", &url_for(daemon.addr, "")]);
    let mut child = ls.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"secret\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    // Without any source and no terminal to prompt on, the client says how to give one.
    let mut ls = client_without_terminal(work.path(), work.path());
    ls.args(["ls", &url_for(daemon.addr, "")]);
    let ls = run(ls).expect(1);
    assert!(ls.stderr.contains("--password-stdin"), "{ls:#?}");
}
