//! FTPS with Python's `ftplib.FTP_TLS` (OpenSSL) in every concurrency mode: `prot_p()`,
//! passive and active, TLS 1.3 and 1.2, with the data-session reuse that ftplib lacks added in
//! the script (the data socket is wrapped with the control socket's TLS session). Without it,
//! the server refuses the data connection with 425 while the reuse check is on, and accepts
//! it when the check is off.

mod support;
mod tls_support;

use support::{Daemon, MODES};
use tls_support::{pki, start_ftps};

/// Transfers over FTPS; argv: host port ca home tls-version reuse(0/1) expect(ok/refused).
const SCRIPT: &str = r#"
import ftplib, io, os, ssl, sys

host, port, ca, home, version, reuse, expect = sys.argv[1:8]
port = int(port)

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """ftplib wraps data sockets without the control session; servers that check data-channel
    session reuse (vsftpd, FileZilla Server, wharf-ftpd) refuse that. Reuse it."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

context = ssl.create_default_context(cafile=ca)
if version == "1.2":
    context.maximum_version = ssl.TLSVersion.TLSv1_2
cls = ReusingFTP_TLS if reuse == "1" else ftplib.FTP_TLS
ftp = cls(context=context)
ftp.connect(host, port, timeout=30)
ftp.auth()
ftp.login("alice", "secret")
ftp.prot_p()
assert ftp.sock.version() == ("TLSv1.2" if version == "1.2" else "TLSv1.3"), ftp.sock.version()

payload = os.urandom(1 << 20)
if expect == "refused":
    try:
        ftp.storbinary("STOR refused.bin", io.BytesIO(payload))
        raise SystemExit("a data connection without session reuse was accepted")
    except ftplib.error_temp as e:
        refusal = str(e)
    except OSError:
        # The server closed the data connection while ftplib was still sending: the final
        # reply is waiting on the control connection.
        try:
            ftp.getresp()
            raise SystemExit("no refusal after the data connection was closed")
        except ftplib.error_temp as e:
            refusal = str(e)
    assert refusal.startswith("425") and "resume" in refusal, refusal
    # Not a byte was taken (an interrupted new upload may leave an empty partial file).
    refused = os.path.join(home, "refused.bin")
    assert not os.path.exists(refused) or os.path.getsize(refused) == 0
    # The session goes on: the control connection is still fine.
    assert ftp.pwd() == "/"
    ftp.quit()
    print("ftplib ok")
    raise SystemExit(0)

for passive in (True, False):
    ftp.set_pasv(passive)
    name = "passive.bin" if passive else "active.bin"
    ftp.storbinary("STOR " + name, io.BytesIO(payload))
    with open(os.path.join(home, name), "rb") as f:
        assert f.read() == payload, "stored bytes differ"
    got = bytearray()
    ftp.retrbinary("RETR " + name, got.extend)
    assert bytes(got) == payload, "downloaded bytes differ"
    tail = bytearray()
    ftp.retrbinary("RETR " + name, tail.extend, rest=1000)
    assert bytes(tail) == payload[1000:], "REST+RETR differs"
# Many data connections in one session: each resumes the control session.
for i in range(12):
    ftp.storbinary("STOR many%d.txt" % i, io.BytesIO(b"n%d" % i))
assert sorted(ftp.nlst()) == sorted(["passive.bin", "active.bin"] + ["many%d.txt" % i for i in range(12)])
lines = []
ftp.retrlines("LIST", lines.append)
assert len(lines) == 14, lines
ftp.quit()
print("ftplib ok")
"#;

/// Runs the script against `daemon`; returns (success, output).
fn run(daemon: &Daemon, ca: &str, version: &str, reuse: bool, expect: &str) -> (bool, String) {
    let output = support::common::python::script(SCRIPT)
        .arg(daemon.addr.ip().to_string())
        .arg(daemon.addr.port().to_string())
        .arg(ca)
        .arg(daemon.home("alice"))
        .arg(version)
        .arg(if reuse { "1" } else { "0" })
        .arg(expect)
        .output()
        .expect("python3 must be installed to run this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success() && text.contains("ftplib ok"), text)
}

#[test]
fn ftplib_prot_p_with_session_reuse_in_every_mode() {
    let pki = pki();
    let ca = pki.ca.display().to_string();
    for mode in MODES {
        let daemon = start_ftps(mode, &[("alice", "secret")], &pki, &[], &[]);
        for version in ["1.3", "1.2"] {
            let (ok, output) = run(&daemon, &ca, version, true, "ok");
            assert!(ok, "{mode} TLS {version}: {output}\n{}", daemon.log_text());
        }
        assert!(!daemon.log_text().contains("did not resume"), "{mode}");
    }
}

#[test]
fn data_connection_without_session_reuse_is_refused_when_checked_and_accepted_when_not() {
    let pki = pki();
    let ca = pki.ca.display().to_string();
    for mode in MODES {
        let daemon = start_ftps(mode, &[("alice", "secret")], &pki, &[], &[]);
        for version in ["1.3", "1.2"] {
            let (ok, output) = run(&daemon, &ca, version, false, "refused");
            assert!(ok, "{mode} TLS {version}: {output}\n{}", daemon.log_text());
        }
        assert!(
            daemon.log_text().contains("did not resume the TLS session"),
            "{mode}: the refusal is logged"
        );
        drop(daemon);

        let daemon = start_ftps(
            mode,
            &[("alice", "secret")],
            &pki,
            &[],
            &[("WHARF_FTPD__TLS__REQUIRE_SESSION_REUSE", "false")],
        );
        let (ok, output) = run(&daemon, &ca, "1.3", false, "ok");
        assert!(ok, "{mode} check off: {output}\n{}", daemon.log_text());
    }
}
