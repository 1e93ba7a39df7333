//! PORT, EPRT and EPSV arguments (RFC 959, RFC 2428), the addresses a client asks the server
//! to connect to.
//!
//! Invariants: a parsed address has a non-zero port; EPRT's address family is the one its
//! protocol number names; the address written back in canonical form (and, for EPRT, with any
//! other delimiter) parses to the same address; EPSV arguments are total.

use std::net::SocketAddr;

use wharf_ftp::protocol::Command;
use wharf_ftp::protocol::command::{EpsvArg, NetworkProtocol};

/// The delimiters RFC 2428 allows for EPRT, a few of them: any printable ASCII byte works.
const DELIMITERS: [char; 4] = ['|', '!', '#', '~'];

/// Parses `data` as the argument of PORT, EPRT and EPSV.
pub fn run(data: &[u8]) {
    let arg = String::from_utf8_lossy(data);
    if let Ok(command) = Command::parse(&format!("PORT {arg}")) {
        let Command::Port(addr) = command else {
            panic!("PORT parsed as {command:?}");
        };
        assert_ne!(addr.port(), 0, "PORT {arg:?}");
        let [h1, h2, h3, h4] = addr.ip().octets();
        let [p1, p2] = addr.port().to_be_bytes();
        // Spaces around the numbers are allowed and change nothing.
        for line in [
            format!("PORT {h1},{h2},{h3},{h4},{p1},{p2}"),
            format!("PORT {h1} , {h2},{h3},{h4} ,{p1}, {p2} "),
        ] {
            assert_eq!(Command::parse(&line), Ok(Command::Port(addr)), "{line:?}");
        }
    }
    if let Ok(command) = Command::parse(&format!("EPRT {arg}")) {
        let Command::Eprt(addr) = command else {
            panic!("EPRT parsed as {command:?}");
        };
        check_eprt(&arg, addr);
    }
    match Command::parse(&format!("EPSV {arg}")) {
        Ok(Command::Epsv(EpsvArg::Protocol(protocol))) => {
            let number = match protocol {
                NetworkProtocol::V4 => "1",
                NetworkProtocol::V6 => "2",
            };
            assert_eq!(arg.trim(), number, "EPSV {arg:?}");
        }
        Ok(Command::Epsv(EpsvArg::All)) => assert!(arg.trim().eq_ignore_ascii_case("ALL")),
        Ok(Command::Epsv(EpsvArg::Any)) => assert!(arg.trim().is_empty(), "EPSV {arg:?}"),
        Ok(other) => panic!("EPSV parsed as {other:?}"),
        Err(_) => {}
    }
}

/// Checks a parsed EPRT address against its argument and its canonical forms.
fn check_eprt(arg: &str, addr: SocketAddr) {
    assert_ne!(addr.port(), 0, "EPRT {arg:?}");
    let delimiter = arg
        .chars()
        .next()
        .expect("a parsed EPRT argument is not empty");
    let protocol = arg
        .split(delimiter)
        .nth(1)
        .expect("a parsed EPRT argument has fields");
    let expected = match protocol {
        "1" => NetworkProtocol::V4,
        "2" => NetworkProtocol::V6,
        other => panic!("EPRT {arg:?} accepted protocol {other:?}"),
    };
    assert_eq!(NetworkProtocol::of(addr.ip()), expected, "EPRT {arg:?}");
    for delimiter in DELIMITERS {
        let line = format!(
            "EPRT {delimiter}{protocol}{delimiter}{}{delimiter}{}{delimiter}",
            addr.ip(),
            addr.port()
        );
        assert_eq!(Command::parse(&line), Ok(Command::Eprt(addr)), "{line:?}");
    }
}
