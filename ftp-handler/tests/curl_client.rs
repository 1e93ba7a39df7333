//! The daemon driven by curl, in every concurrency mode on the local disk and in async and
//! threading modes on S3 (Garage): transfers, listings, active mode, HASH, and transfers broken
//! off mid-way then resumed with `curl -C -`. What was stored is read back behind the daemon's
//! back (boto3 for S3) and compared byte for byte.
//!
//! curl must be installed (`apt-get install -y curl`); the test fails, not skips, without it.

mod support;

use support::common::backend::{Backend, digest_of};
use support::{Daemon, MODES, curl, file_sha256, have, random_bytes, sha256_hex};

/// Runs curl and asserts success.
fn curl_ok(mode: &str, args: &[&str]) -> Vec<u8> {
    let output = curl(args);
    assert!(
        output.status.success(),
        "{mode}: curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn curl_transfers_listings_and_resume_on_both_backends() {
    assert!(have("curl"), "curl is required: apt-get install -y curl");
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(2 << 20, 3);
    let source = local.path().join("source.bin");
    std::fs::write(&source, &data).unwrap();
    let source_arg = source.to_str().unwrap();
    let expected = sha256_hex(&data);
    // Loopback socket buffers let curl take several MiB before its rate limit bites: the
    // transfers that must be cut off use a bigger file.
    let big = random_bytes(24 << 20, 4);
    let big_source = local.path().join("big.bin");
    std::fs::write(&big_source, &big).unwrap();
    let big_arg = big_source.to_str().unwrap();
    let big_expected = sha256_hex(&big);
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let daemon = Daemon::start_on(backend, mode, &[("alice", "secret")], &[], &[]);
        let url = |path: &str| daemon.url("alice", "secret", path);
        let mode = format!("{backend} {mode}");
        let mode = mode.as_str();

        // Bad password: curl's "access denied" exit code 67.
        let denied = curl(&[&daemon.url("alice", "nope", "")]);
        assert_eq!(denied.status.code(), Some(67), "{mode}");

        curl_ok(mode, &["-T", source_arg, &url("up.bin")]);
        assert_eq!(
            daemon.stored_digest("alice", "up.bin"),
            digest_of(&data),
            "{mode}: upload"
        );
        let down = local.path().join(format!("{mode}-down.bin"));
        curl_ok(mode, &["-o", down.to_str().unwrap(), &url("up.bin")]);
        assert_eq!(file_sha256(&down), expected, "{mode}: download");

        // Active mode: EPRT/PORT back to curl's own address.
        let active = local.path().join(format!("{mode}-active.bin"));
        curl_ok(
            mode,
            &["-P", "-", "-o", active.to_str().unwrap(), &url("up.bin")],
        );
        assert_eq!(file_sha256(&active), expected, "{mode}: active download");

        let listing = String::from_utf8(curl_ok(mode, &[&url("")])).unwrap();
        assert!(
            listing.starts_with("-rw") && listing.trim_end().ends_with(" up.bin"),
            "{mode}: LIST {listing:?}"
        );
        let names = String::from_utf8(curl_ok(mode, &["-l", &url("")])).unwrap();
        assert_eq!(
            names.lines().collect::<Vec<_>>(),
            ["up.bin"],
            "{mode}: NLST"
        );

        // Download broken off mid-way (rate limit + time limit), then resumed.
        daemon.place("alice", "big.bin", &big);
        let partial = local.path().join(format!("{mode}-partial.bin"));
        let broken = curl(&[
            "--limit-rate",
            "256K",
            "--max-time",
            "1",
            "-o",
            partial.to_str().unwrap(),
            &url("big.bin"),
        ]);
        assert!(
            !broken.status.success(),
            "{mode}: the slow download was not cut"
        );
        let got = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        assert!(got < big.len() as u64, "{mode}: nothing was left to resume");
        curl_ok(
            mode,
            &["-C", "-", "-o", partial.to_str().unwrap(), &url("big.bin")],
        );
        assert_eq!(
            file_sha256(&partial),
            big_expected,
            "{mode}: resumed download"
        );

        // Upload broken off mid-way, then resumed with SIZE + APPE (curl -C - -T).
        let broken = curl(&[
            "--limit-rate",
            "256K",
            "--max-time",
            "1",
            "-T",
            big_arg,
            &url("resumed.bin"),
        ]);
        assert!(
            !broken.status.success(),
            "{mode}: the slow upload was not cut"
        );
        curl_ok(mode, &["-C", "-", "-T", big_arg, &url("resumed.bin")]);
        assert_eq!(
            daemon.stored_digest("alice", "resumed.bin"),
            digest_of(&big),
            "{mode}: resumed upload"
        );

        // HASH through curl's quote commands.
        let output = curl(&["-v", "-Q", "HASH up.bin", &url("")]);
        let trace = String::from_utf8_lossy(&output.stderr);
        assert!(
            trace.contains(&format!("213 SHA-256 0-{} {expected} up.bin", data.len())),
            "{mode}: HASH reply missing in {trace}"
        );
    }
}
