//! Data-connection addresses on the control channel: PORT/EPRT arguments (RFC 959, RFC 2428)
//! and the PASV/EPSV reply texts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::ParseError;

/// What EPSV asks for (RFC 2428 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: a passive port on the control connection's protocol.
    Any,
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(NetworkProtocol),
}

/// An RFC 2428 network protocol number this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkProtocol {
    /// Protocol 1: IPv4.
    V4,
    /// Protocol 2: IPv6.
    V6,
}

impl NetworkProtocol {
    /// The protocol number of an address family; `None` for unknown numbers.
    fn from_number(number: &str) -> Option<Self> {
        match number {
            "1" => Some(Self::V4),
            "2" => Some(Self::V6),
            _ => None,
        }
    }

    /// The protocol of an IP address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }
}

/// Parses a PORT argument `h1,h2,h3,h4,p1,p2` (spaces around the numbers allowed).
pub fn parse_port(verb: &'static str, arg: &str) -> Result<SocketAddrV4, ParseError> {
    let bad = |reason: &str| ParseError::InvalidArgument {
        verb,
        reason: reason.to_string(),
    };
    let fields: Vec<&str> = arg.split(',').map(str::trim).collect();
    if fields.len() != 6 {
        return Err(bad("expected h1,h2,h3,h4,p1,p2"));
    }
    let mut bytes = [0u8; 6];
    for (slot, field) in bytes.iter_mut().zip(&fields) {
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("each field must be a number from 0 to 255"));
        }
        *slot = field
            .parse()
            .map_err(|_| bad("each field must be a number from 0 to 255"))?;
    }
    let ip = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
    let port = u16::from_be_bytes([bytes[4], bytes[5]]);
    if port == 0 {
        return Err(bad("port 0 is not a valid data port"));
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// Parses an EPRT argument `<d>proto<d>address<d>port<d>` (RFC 2428 section 2).
pub fn parse_eprt(verb: &'static str, arg: &str) -> Result<SocketAddr, ParseError> {
    let bad = |reason: &str| ParseError::InvalidArgument {
        verb,
        reason: reason.to_string(),
    };
    let delimiter = arg
        .chars()
        .next()
        .filter(|c| ('!'..='~').contains(c))
        .ok_or_else(|| bad("expected <d>proto<d>address<d>port<d>"))?;
    let fields: Vec<&str> = arg.split(delimiter).collect();
    // A leading and a trailing delimiter make the first and last fields empty.
    let [empty_head, proto, address, port, empty_tail] = fields.as_slice() else {
        return Err(bad("expected <d>proto<d>address<d>port<d>"));
    };
    if !empty_head.is_empty() || !empty_tail.is_empty() {
        return Err(bad("expected <d>proto<d>address<d>port<d>"));
    }
    let protocol = NetworkProtocol::from_number(proto).ok_or(ParseError::UnsupportedProtocol {
        verb,
        protocol: proto.to_string(),
    })?;
    let ip: IpAddr = match protocol {
        NetworkProtocol::V4 => address
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| bad("not an IPv4 address"))?,
        NetworkProtocol::V6 => address
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| bad("not an IPv6 address"))?,
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("port must be a number from 1 to 65535"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad("port must be a number from 1 to 65535"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Parses an EPSV argument: none, `ALL`, or a protocol number.
pub fn parse_epsv(verb: &'static str, arg: &str) -> Result<EpsvArg, ParseError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Ok(EpsvArg::Any);
    }
    if arg.eq_ignore_ascii_case("ALL") {
        return Ok(EpsvArg::All);
    }
    if !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidArgument {
            verb,
            reason: "expected ALL or a network protocol number".to_string(),
        });
    }
    NetworkProtocol::from_number(arg)
        .map(EpsvArg::Protocol)
        .ok_or(ParseError::UnsupportedProtocol {
            verb,
            protocol: arg.to_string(),
        })
}

/// The text of a 227 reply for a passive IPv4 address:
/// `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_reply_text(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2}).")
}

/// The text of a 229 reply for a passive port: `Entering Extended Passive Mode (|||port|).`
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|).")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_argument_parses_to_address_and_port() {
        assert_eq!(
            parse_port("PORT", "127,0,0,1,4,1").unwrap(),
            "127.0.0.1:1025".parse().unwrap()
        );
        assert_eq!(
            parse_port("PORT", " 10, 1, 2, 3, 0, 21 ").unwrap(),
            "10.1.2.3:21".parse().unwrap()
        );
    }

    #[test]
    fn port_argument_rejects_bad_fields() {
        for bad in [
            "",
            "127,0,0,1,4",
            "127,0,0,1,4,1,9",
            "256,0,0,1,4,1",
            "127,0,0,1,-4,1",
            "127,0,0,1,+4,1",
            "a,b,c,d,e,f",
            "127,0,0,1,0,0",
            "127,,0,1,4,1",
        ] {
            assert!(
                matches!(
                    parse_port("PORT", bad),
                    Err(ParseError::InvalidArgument { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn eprt_argument_parses_ipv4_and_ipv6() {
        assert_eq!(
            parse_eprt("EPRT", "|1|127.0.0.1|6446|").unwrap(),
            "127.0.0.1:6446".parse().unwrap()
        );
        assert_eq!(
            parse_eprt("EPRT", "|2|::1|5282|").unwrap(),
            "[::1]:5282".parse().unwrap()
        );
        assert_eq!(
            parse_eprt("EPRT", "!2!fe80::1!21!").unwrap(),
            "[fe80::1]:21".parse().unwrap()
        );
    }

    #[test]
    fn eprt_argument_rejects_bad_shapes_and_reports_unknown_protocols() {
        for bad in [
            "",
            "|1|127.0.0.1|6446",
            "1|127.0.0.1|6446|",
            "|1|::1|6446|",
            "|2|127.0.0.1|6446|",
            "|1|127.0.0.1|0|",
            "|1|127.0.0.1|70000|",
            "|1|127.0.0.1||",
            " 1 127.0.0.1 6446 ",
        ] {
            assert!(
                matches!(
                    parse_eprt("EPRT", bad),
                    Err(ParseError::InvalidArgument { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_eprt("EPRT", "|3|x|1|"),
            Err(ParseError::UnsupportedProtocol { .. })
        ));
    }

    #[test]
    fn epsv_argument_forms() {
        assert_eq!(parse_epsv("EPSV", "").unwrap(), EpsvArg::Any);
        assert_eq!(parse_epsv("EPSV", "all").unwrap(), EpsvArg::All);
        assert_eq!(
            parse_epsv("EPSV", "2").unwrap(),
            EpsvArg::Protocol(NetworkProtocol::V6)
        );
        assert!(matches!(
            parse_epsv("EPSV", "3"),
            Err(ParseError::UnsupportedProtocol { .. })
        ));
        assert!(matches!(
            parse_epsv("EPSV", "x"),
            Err(ParseError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn passive_reply_texts_encode_address_and_port() {
        let addr: SocketAddrV4 = "192.168.1.2:50001".parse().unwrap();
        assert_eq!(
            pasv_reply_text(addr),
            "Entering Passive Mode (192,168,1,2,195,81)."
        );
        assert_eq!(parse_port("PORT", "192,168,1,2,195,81").unwrap(), addr);
        assert_eq!(
            epsv_reply_text(50001),
            "Entering Extended Passive Mode (|||50001|)."
        );
    }
}
