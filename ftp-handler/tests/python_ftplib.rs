//! The daemon driven by Python's `ftplib` (an independent client), in every concurrency mode.

mod support;

use support::{Daemon, MODES};

/// The client session: every step asserts; the last line printed is `ftplib ok`.
const SCRIPT: &str = r#"
import ftplib, hashlib, io, os, sys

host, port, home = sys.argv[1], int(sys.argv[2]), sys.argv[3]

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
payload = os.urandom(1 << 20)
ftp.storbinary("STOR pic one.bin", io.BytesIO(payload))
with open(os.path.join(home, "photos", "pic one.bin"), "rb") as f:
    assert f.read() == payload, "stored bytes differ"
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
got = bytearray()
ftp.retrbinary("RETR active.bin", got.extend)
assert bytes(got) == b"by PORT"
ftp.set_pasv(True)

# TYPE A converts LF to CRLF on the wire and back on upload.
ftp.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\n"))
with open(os.path.join(home, "photos", "text.txt"), "rb") as f:
    assert f.read() == b"one\ntwo\n"
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
big = os.urandom(32 << 20)
with open(os.path.join(home, "photos", "big.bin"), "wb") as f:
    f.write(big)
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
print("ftplib ok")
"#;

#[test]
fn python_ftplib_session_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let output = support::common::python::script(SCRIPT)
            .arg(daemon.addr.ip().to_string())
            .arg(daemon.addr.port().to_string())
            .arg(daemon.home("alice"))
            .output()
            .expect("python3 must be installed to run this test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.trim_end().ends_with("ftplib ok"),
            "{mode}: python ftplib failed\nstdout: {stdout}\nstderr: {stderr}\ndaemon log:\n{}",
            daemon.log_text()
        );
    }
}
