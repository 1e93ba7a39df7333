//! Interrupted transfers resumed with `--resume` (and offered in the shell) give files
//! identical to the source, against `wharf-ftpd` (downloads on both storage backends) and
//! against pyftpdlib.

mod client_support;

use std::net::SocketAddr;
use std::path::Path;

use client_support::common::backend::Backend;
use client_support::daemon::Ftpd;
use client_support::{
    PyFtpd, client, drive, file_sha256, finish, kill_when, random_bytes, run, sha256_hex, size_of,
    url_for,
};

/// Size of the file interrupted mid-way.
const SIZE: usize = 6 << 20;

/// The slow rate that keeps the transfer running while the test pulls the plug (bytes/s).
const SLOW: &str = "1M";

/// Starts a slow download, kills the client once part of the file is there, then resumes.
fn interrupted_download(addr: SocketAddr, served: &Path, verification: &str) {
    let data = random_bytes(SIZE, 11);
    std::fs::write(served.join("big.bin"), &data).unwrap();
    interrupted_download_of(addr, &data, verification);
}

/// The download half of [`interrupted_download`], once the server has `big.bin` = `data`.
fn interrupted_download_of(addr: SocketAddr, data: &[u8], verification: &str) {
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("big.bin");

    let mut slow = client(work.path(), work.path());
    slow.args(["--limit-rate", SLOW, "get", &url_for(addr, "big.bin")]);
    kill_when(slow, || size_of(&local) >= 1 << 20);
    let partial = size_of(&local);
    assert!(partial < SIZE as u64, "the download was not interrupted");

    let mut resume = client(work.path(), work.path());
    resume.args(["get", "--resume", &url_for(addr, "big.bin")]);
    let resume = run(resume).expect(0);
    assert!(resume.stderr.contains("resumed at "), "{resume:#?}");
    assert!(resume.stderr.contains(verification), "{resume:#?}");
    assert_eq!(file_sha256(&local), sha256_hex(data));
}

/// Starts a slow upload, kills the client once part of the file reached the server, then
/// resumes.
fn interrupted_upload(addr: SocketAddr, served: &Path, verification: &str) {
    let data = random_bytes(SIZE, 12);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("up.bin"), &data).unwrap();
    let remote = served.join("up.bin");

    let mut slow = client(work.path(), work.path());
    slow.args([
        "--limit-rate",
        SLOW,
        "put",
        "up.bin",
        &url_for(addr, "up.bin"),
    ]);
    kill_when(slow, || size_of(&remote) >= 1 << 20);
    // The server notices the closed data connection in its own time.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        size_of(&remote) < SIZE as u64,
        "the upload was not interrupted"
    );

    let mut resume = client(work.path(), work.path());
    resume.args(["--resume", "put", "up.bin", &url_for(addr, "up.bin")]);
    let resume = run(resume).expect(0);
    assert!(resume.stderr.contains("resumed at "), "{resume:#?}");
    assert!(resume.stderr.contains(verification), "{resume:#?}");
    assert_eq!(file_sha256(&remote), sha256_hex(&data));
}

#[test]
fn an_interrupted_download_from_wharf_ftpd_resumes_to_an_identical_file() {
    let daemon = Ftpd::start(1 << 30, &[]);
    interrupted_download(daemon.addr, &daemon.home(), "verified: SHA-256");
}

#[test]
fn an_interrupted_download_from_wharf_ftpd_on_s3_resumes_to_an_identical_file() {
    // REST + RETR as ranged GETs, verified with HASH streamed from the object. (The upload
    // case watches a partial file grow on the server's disk, which S3 does not have; resumed
    // uploads to S3 are proven with `curl -C -` in curl_client.rs.)
    let daemon = Ftpd::start_on(Backend::S3, 1 << 30, &[]);
    let data = random_bytes(SIZE, 11);
    daemon.storage.place(client_support::USER, "big.bin", &data);
    interrupted_download_of(daemon.addr, &data, "verified: SHA-256");
}

#[test]
fn an_interrupted_upload_to_wharf_ftpd_resumes_to_an_identical_file() {
    let daemon = Ftpd::start(1 << 30, &[]);
    interrupted_upload(daemon.addr, &daemon.home(), "verified: SHA-256");
}

#[test]
fn an_interrupted_download_from_pyftpdlib_resumes_to_an_identical_file() {
    let server = PyFtpd::start(&["--hash"]);
    interrupted_download(server.addr, server.root.path(), "verified: SHA-256");
}

#[test]
fn an_interrupted_upload_to_pyftpdlib_resumes_to_an_identical_file() {
    let server = PyFtpd::start(&["--hash"]);
    interrupted_upload(server.addr, server.root.path(), "verified: SHA-256");
}

#[test]
fn a_server_lost_mid_download_exits_6_and_the_download_resumes_elsewhere() {
    let data = random_bytes(SIZE, 16);
    let first = PyFtpd::start(&["--hash"]);
    std::fs::write(first.root.path().join("big.bin"), &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("big.bin");
    let mut slow = client(work.path(), work.path());
    slow.args(["--limit-rate", SLOW, "get", &url_for(first.addr, "big.bin")]);
    let child = slow.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while size_of(&local) < 1 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(first);
    let lost = finish(child).expect(6);
    assert!(lost.stderr.contains("connection lost"), "{lost:#?}");
    assert!(size_of(&local) < SIZE as u64);

    let second = PyFtpd::start(&["--hash"]);
    std::fs::write(second.root.path().join("big.bin"), &data).unwrap();
    let mut resume = client(work.path(), work.path());
    resume.args(["get", "--resume", &url_for(second.addr, "big.bin")]);
    let resume = run(resume).expect(0);
    assert!(resume.stderr.contains("verified: SHA-256"), "{resume:#?}");
    assert_eq!(file_sha256(&local), sha256_hex(&data));
}

#[test]
fn an_upload_to_a_server_without_rest_resumes_with_appe() {
    // Without REST, only APPE can continue the file: success proves the client chose it.
    let server = PyFtpd::start(&["--hash", "--no-rest"]);
    interrupted_upload(server.addr, server.root.path(), "verified: SHA-256");
}

#[test]
fn resuming_a_complete_file_transfers_nothing_and_still_verifies() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let data = random_bytes(100_000, 13);
    std::fs::write(daemon.home().join("done.bin"), &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("done.bin"), &data).unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", "--resume", &url_for(daemon.addr, "done.bin")]);
    let get = run(get).expect(0);
    assert!(
        get.stderr.contains("already complete (100000 bytes)"),
        "{get:#?}"
    );
    assert!(get.stderr.contains("verified: SHA-256"), "{get:#?}");
}

#[test]
fn a_partial_file_larger_than_the_source_cannot_be_resumed() {
    let daemon = Ftpd::start(1 << 30, &[]);
    std::fs::write(daemon.home().join("small.bin"), b"short").unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("small.bin"),
        b"much longer than the source",
    )
    .unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", "--resume", &url_for(daemon.addr, "small.bin")]);
    let get = run(get).expect(3);
    assert!(get.stderr.contains("cannot resume"), "{get:#?}");
    assert_eq!(
        std::fs::read(work.path().join("small.bin")).unwrap(),
        b"much longer than the source"
    );
}

#[test]
fn the_shell_offers_to_resume_a_partial_download_and_an_upload() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let down = random_bytes(2 << 20, 14);
    std::fs::write(daemon.home().join("down.bin"), &down).unwrap();
    let up = random_bytes(2 << 20, 15);
    std::fs::write(daemon.home().join("up.bin"), &up[..700_000]).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("down.bin"), &down[..500_000]).unwrap();
    std::fs::write(work.path().join("up.bin"), &up).unwrap();

    let transcript = drive(
        work.path(),
        work.path(),
        &[
            ("Password for alice@", Some("secret")),
            ("wharf-ftp:/> ", Some("get down.bin")),
            ("has 500000 of 2097152 bytes: resume? [Y/n] ", Some("y")),
            ("verified: SHA-256", None),
            ("wharf-ftp:/> ", Some("put up.bin")),
            ("has 700000 of 2097152 bytes: resume? [Y/n] ", Some("")),
            ("verified: SHA-256", None),
            ("wharf-ftp:/> ", Some("quit")),
        ],
        &["--no-progress", &url_for(daemon.addr, "")],
    )
    .expect(0);
    // Summaries instead of bars (--no-progress) show where each transfer started.
    assert!(
        transcript.stdout.contains("resumed at 500000"),
        "{transcript:#?}"
    );
    assert!(
        transcript.stdout.contains("resumed at 700000"),
        "{transcript:#?}"
    );
    assert_eq!(
        file_sha256(&work.path().join("down.bin")),
        sha256_hex(&down)
    );
    assert_eq!(file_sha256(&daemon.home().join("up.bin")), sha256_hex(&up));
}
