//! FTPS with the `suppaftp` crate over rustls (an independent Rust client), in every
//! concurrency mode: explicit AUTH TLS, TLS 1.3 and 1.2, passive and active, with the data
//! connections resuming the control session (the server's check is on by default).

mod support;
mod tls_support;

use std::io::Cursor;

use suppaftp::types::FileType;
use suppaftp::{Mode, RustlsConnector, RustlsFtpStream};
use support::{MODES, random_bytes};
use tls_support::{pki, start_ftps};

#[test]
fn suppaftp_over_rustls_transfers_in_every_mode() {
    let pki = pki();
    let payload = random_bytes(1 << 20, 77);
    for mode in MODES {
        let daemon = start_ftps(mode, &[("alice", "secret")], &pki, &[], &[]);
        for (version, versions) in [
            ("1.3", &[&rustls::version::TLS13][..]),
            ("1.2", &[&rustls::version::TLS12][..]),
        ] {
            let what = format!("{mode} TLS {version}");
            let config = pki.client_config_with(versions);
            let plain = RustlsFtpStream::connect(daemon.addr).expect("connect");
            let mut ftp = plain
                .into_secure(RustlsConnector::from(config), "127.0.0.1")
                .unwrap_or_else(|e| panic!("{what}: AUTH TLS: {e}"));
            ftp.login("alice", "secret").expect("login");
            // suppaftp 12 starts in ASCII type and converts line ends; the payload is binary.
            ftp.transfer_type(FileType::Binary).expect("TYPE I");
            for transfer_mode in [Mode::Passive, Mode::Active] {
                ftp.set_mode(transfer_mode);
                let name = format!("{version}-{transfer_mode:?}.bin");
                ftp.put_file(&name, &mut Cursor::new(&payload))
                    .unwrap_or_else(|e| {
                        panic!("{what} {transfer_mode:?}: STOR: {e}\n{}", daemon.log_text())
                    });
                let stored = std::fs::read(daemon.home("alice").join(&name)).expect("stored");
                assert!(
                    stored == payload,
                    "{what} {transfer_mode:?}: stored bytes differ"
                );
                let back = ftp.retr_as_buffer(&name).unwrap_or_else(|e| {
                    panic!("{what} {transfer_mode:?}: RETR: {e}\n{}", daemon.log_text())
                });
                assert!(
                    back.into_inner() == payload,
                    "{what}: downloaded bytes differ"
                );
                let names = ftp.nlst(None).expect("NLST");
                assert!(names.iter().any(|n| n == &name), "{what}: {names:?}");
            }
            // Several uploads in a row: each data connection resumes the control session.
            for index in 0..5 {
                ftp.put_file(format!("small{index}.txt"), &mut Cursor::new(b"x"))
                    .unwrap_or_else(|e| {
                        panic!("{what}: small upload {index}: {e}\n{}", daemon.log_text())
                    });
            }
            ftp.quit().expect("QUIT");
        }
        assert!(!daemon.log_text().contains("did not resume"), "{mode}");
    }
}
