//! `wharf-ftpd demo` offers FTPS with a self-signed certificate whose SHA-256 fingerprint it
//! prints: a client (Python's ftplib) sees exactly that certificate and can work over TLS.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use nix::sys::signal::Signal;

/// Connects over AUTH TLS without verification, prints the certificate's SHA-256 (as the demo
/// shows it), then logs in and stores a file over a protected data connection.
const SCRIPT: &str = r#"
import ftplib, hashlib, io, ssl, sys

port = int(sys.argv[1])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE

class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

ftp = ReusingFTP_TLS(context=context)
ftp.connect("127.0.0.1", port, timeout=30)
ftp.auth()
der = ftp.sock.getpeercert(binary_form=True)
print("seen " + ":".join("%02X" % b for b in hashlib.sha256(der).digest()))
ftp.login("demo", "demo")
ftp.prot_p()
ftp.storbinary("STOR tls.txt", io.BytesIO(b"over TLS"))
assert ftp.nlst() == ["tls.txt"], ftp.nlst()
ftp.quit()
print("ftplib ok")
"#;

#[test]
fn demo_offers_tls_with_the_certificate_whose_fingerprint_it_prints() {
    let mut demo = common::ftpd::demo();
    let addr = demo.addr();
    let banner = demo.wait_for_stdout("Ctrl-C", Duration::from_secs(60));
    let fingerprint = banner
        .lines()
        .skip_while(|line| !line.contains("fingerprint"))
        .nth(1)
        .map(str::trim)
        .expect("fingerprint line")
        .to_string();
    assert_eq!(fingerprint.split(':').count(), 32, "{banner}");
    assert!(banner.contains("--ssl-reqd"), "{banner}");

    let output = common::python::script(SCRIPT)
        .arg(addr.port().to_string())
        .output()
        .expect("python3 must be installed to run this test");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success() && text.contains("ftplib ok"),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains(&format!("seen {fingerprint}")),
        "{text} vs {fingerprint}"
    );

    demo.signal(Signal::SIGINT);
    let status = demo
        .wait_exit(Duration::from_secs(20))
        .expect("the demo did not stop on SIGINT");
    assert!(status.success(), "{status:?}");
}
