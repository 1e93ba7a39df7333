//! The daemon driven by Python's `ftplib` (an independent client), in every concurrency mode
//! on the local disk and in async and threading modes on S3 (Garage), what it stored read
//! back behind the daemon's back (boto3 for S3) and compared here, byte for byte.

mod support;

use support::common::backend::{Backend, PYTHON_STORED, digest_of, stored_reports};
use support::{Daemon, MODES, random_bytes};

/// The client session: every step asserts; the last line printed is `ftplib ok`. Each
/// `report_stored` line gives the test what the backend holds at that point.
const SCRIPT: &str = r#"
import ftplib, hashlib, io, os, sys

host, port, home, payload_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

bad = ftplib.FTP()
bad.connect(host, port, timeout=30)
try:
    bad.login("alice", "wrong")
    raise SystemExit("bad password accepted")
except ftplib.error_perm as e:
    assert str(e).startswith("530"), e
bad.close()

ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login("alice", "secret")
assert ftp.pwd() == "/"
assert ftp.mkd("photos") == "/photos"
ftp.cwd("photos")
assert ftp.pwd() == "/photos"
payload = open(payload_file, "rb").read()
ftp.storbinary("STOR pic one.bin", io.BytesIO(payload))
report_stored(home, "photos/pic one.bin")
got = bytearray()
ftp.retrbinary("RETR pic one.bin", got.extend)
assert bytes(got) == payload, "downloaded bytes differ"
assert ftp.size("pic one.bin") == len(payload)

# REST + RETR: the rest of the file from an offset.
tail = bytearray()
ftp.retrbinary("RETR pic one.bin", tail.extend, rest=1000)
assert bytes(tail) == payload[1000:], "REST+RETR differs"

# Active mode (PORT) upload and download.
ftp.set_pasv(False)
ftp.storbinary("STOR active.bin", io.BytesIO(b"by PORT"))
report_stored(home, "photos/active.bin")
got = bytearray()
ftp.retrbinary("RETR active.bin", got.extend)
assert bytes(got) == b"by PORT"
ftp.set_pasv(True)

# TYPE A converts LF to CRLF on the wire and back on upload.
ftp.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\n"))
report_stored(home, "photos/text.txt")
lines = []
ftp.retrlines("RETR text.txt", lines.append)
assert lines == ["one", "two"], lines

assert sorted(ftp.nlst()) == ["active.bin", "pic one.bin", "text.txt"], ftp.nlst()
listing = []
ftp.retrlines("LIST -la", listing.append)
assert len(listing) == 3 and all(l.startswith("-rw") for l in listing), listing
facts = dict(ftp.mlsd())
assert facts["pic one.bin"]["type"] == "file"
assert facts["pic one.bin"]["size"] == str(len(payload))

digest = hashlib.sha256(payload).hexdigest()
assert ftp.sendcmd("HASH pic one.bin") == "213 SHA-256 0-%d %s pic one.bin" % (len(payload), digest)
assert ftp.sendcmd("OPTS HASH MD5") == "200 MD5"
assert ftp.sendcmd("HASH pic one.bin").split()[3] == hashlib.md5(payload).hexdigest()

# ABOR sent as TCP urgent data (MSG_OOB) while a download runs.
place(home, "photos/big.bin", os.urandom(32 << 20))
conn = ftp.transfercmd("RETR big.bin")
conn.recv(65536)
reply = ftp.abort()
assert reply[:3] in ("426", "226"), reply
if reply.startswith("426"):
    assert ftp.getresp().startswith("226")
conn.close()
assert ftp.sendcmd("NOOP").startswith("200")

ftp.rename("text.txt", "renamed.txt")
ftp.delete("renamed.txt")
ftp.delete("active.bin")
ftp.delete("pic one.bin")
ftp.delete("big.bin")
ftp.cwd("..")
ftp.rmd("photos")
assert ftp.nlst() == []
ftp.quit()
report_stored(home, "photos/pic one.bin")
print("ftplib ok")
"#;

#[test]
fn python_ftplib_session_on_both_backends() {
    let files = tempfile::tempdir().expect("temp dir");
    let payload = random_bytes(1 << 20, 21);
    let payload_file = files.path().join("payload.bin");
    std::fs::write(&payload_file, &payload).expect("write payload");
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let daemon = Daemon::start_on(backend, mode, &[("alice", "secret")], &[], &[]);
        let mut command = support::common::python::script(&format!("{PYTHON_STORED}\n{SCRIPT}"));
        command
            .arg(daemon.addr.ip().to_string())
            .arg(daemon.addr.port().to_string())
            .arg(daemon.storage.home("alice"))
            .arg(&payload_file)
            .envs(daemon.storage.python_env());
        let output = command
            .output()
            .expect("python3 must be installed to run this test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.trim_end().ends_with("ftplib ok"),
            "{backend} {mode}: python ftplib failed\nstdout: {stdout}\nstderr: {stderr}\n\
             daemon log:\n{}",
            daemon.log_text()
        );
        let expected = [
            ("photos/pic one.bin", digest_of(&payload)),
            ("photos/active.bin", digest_of(b"by PORT")),
            // TYPE A stores the client's LF lines as they were (CRLF only on the wire).
            ("photos/text.txt", digest_of(b"one\ntwo\n")),
            // Deleted at the end of the session.
            ("photos/pic one.bin", None),
        ];
        let reports = stored_reports(&stdout);
        let expected: Vec<(String, Option<(u64, String)>)> = expected
            .into_iter()
            .map(|(name, digest)| (name.to_owned(), digest))
            .collect();
        assert_eq!(reports, expected, "{backend} {mode}: stored objects");
    }
}
