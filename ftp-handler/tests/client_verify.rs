//! End-to-end verification catches files that differ from their source: a file corrupted on
//! the server after upload, a server that stores something else than it received, and a
//! download resumed onto a stale partial copy.

mod client_support;

use client_support::daemon::Ftpd;
use client_support::{PyFtpd, client, random_bytes, run, url_for};

/// Flips one byte in the middle of a file.
fn corrupt(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_file_corrupted_on_the_server_after_upload_fails_the_hash_check() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("data.bin"), random_bytes(1 << 20, 21)).unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "data.bin", &url_for(daemon.addr, "data.bin")]);
    let put = run(put).expect(0);
    assert!(put.stderr.contains("verified: SHA-256"), "{put:#?}");

    let mut check = client(work.path(), work.path());
    check.args(["hash", &url_for(daemon.addr, "data.bin"), "data.bin"]);
    let check = run(check).expect(0);
    assert!(check.stdout.contains("matches data.bin"), "{check:#?}");

    corrupt(&daemon.home().join("data.bin"));
    let mut check = client(work.path(), work.path());
    check.args(["hash", &url_for(daemon.addr, "data.bin"), "data.bin"]);
    let check = run(check).expect(4);
    assert!(
        check.stderr.contains("verification FAILED for data.bin"),
        "{check:#?}"
    );
}

#[test]
fn a_server_that_stores_other_bytes_than_it_received_fails_the_upload() {
    let server = PyFtpd::start(&["--hash", "--corrupt-uploads"]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("data.bin"), random_bytes(300_000, 22)).unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "data.bin", &url_for(server.addr, "data.bin")]);
    let put = run(put).expect(4);
    assert!(put.stderr.contains("verification FAILED"), "{put:#?}");
    assert!(!put.stderr.contains("verified:"), "{put:#?}");
}

#[test]
fn the_legacy_xsha256_check_also_catches_a_corrupted_upload() {
    let server = PyFtpd::start(&["--xsha256", "--corrupt-uploads"]);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("data.bin"), random_bytes(300_000, 23)).unwrap();
    let mut put = client(work.path(), work.path());
    put.args(["put", "data.bin", &url_for(server.addr, "data.bin")]);
    let put = run(put).expect(4);
    assert!(put.stderr.contains("verification FAILED"), "{put:#?}");
}

#[test]
fn a_download_resumed_onto_a_stale_partial_copy_is_caught() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let data = random_bytes(1 << 20, 24);
    std::fs::write(daemon.home().join("data.bin"), &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    // A partial copy of some other version of the file.
    let mut stale = data[..400_000].to_vec();
    stale[1000] ^= 0x01;
    std::fs::write(work.path().join("data.bin"), &stale).unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", "--resume", &url_for(daemon.addr, "data.bin")]);
    let get = run(get).expect(4);
    assert!(get.stderr.contains("verification FAILED"), "{get:#?}");
    // Starting over (no --resume) repairs it.
    let mut get = client(work.path(), work.path());
    get.args(["get", &url_for(daemon.addr, "data.bin")]);
    run(get).expect(0);
    assert_eq!(std::fs::read(work.path().join("data.bin")).unwrap(), data);
}

#[test]
fn hash_without_any_server_support_is_an_error_not_a_match() {
    let server = PyFtpd::start(&[]);
    std::fs::write(server.root.path().join("x.bin"), b"x").unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("x.bin"), b"x").unwrap();
    let mut check = client(work.path(), work.path());
    check.args(["hash", &url_for(server.addr, "x.bin"), "x.bin"]);
    let check = run(check).expect(3);
    assert!(check.stderr.contains("offers no HASH"), "{check:#?}");
    assert!(!check.stdout.contains("matches"), "{check:#?}");
}
