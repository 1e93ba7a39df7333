//! PROXY protocol headers (v1 text, v2 binary), which a balancer puts in front of a stream.
//!
//! Invariants, for any bytes: an accepted header's length lies within the bytes and the
//! format's bounds, the header alone parses the same, and the addresses it gave, written again
//! as a v1 and a v2 header, parse to the same addresses. For valid headers built from the
//! input (either version, TLVs, bytes after the header): parsing gives exactly the addresses
//! and the length that were written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Arbitrary, Unstructured};
use wharf::proxy::parse_header;

/// How a v1 header starts.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;
/// The fixed part of a v2 header.
const V2_FIXED: usize = 16;
/// The longest v2 header the framework accepts.
const V2_MAX: usize = 4096;

/// Even first byte: the rest is raw bytes; odd: it describes a valid header to build.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        check_raw(rest);
    } else {
        let _ = check_built(&mut Unstructured::new(rest));
    }
}

/// Whatever the bytes, an accepted header is consistent and its addresses round-trip.
fn check_raw(bytes: &[u8]) {
    let Ok((addrs, length)) = parse_header(bytes) else {
        return;
    };
    assert!(
        length <= bytes.len(),
        "a {length}-byte header in {} bytes",
        bytes.len()
    );
    if bytes.starts_with(V1_PREFIX) {
        assert!(length <= V1_MAX, "a {length}-byte v1 header");
        assert!(bytes[..length].ends_with(b"\r\n"));
    } else {
        assert!(
            (V2_FIXED..=V2_MAX).contains(&length),
            "a {length}-byte v2 header"
        );
        let declared = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        assert_eq!(length, V2_FIXED + declared);
    }
    let alone = parse_header(&bytes[..length]).expect("the header alone parses");
    assert_eq!(alone, (addrs, length));
    if let Some(addrs) = addrs {
        let (source, destination) = (addrs.source, addrs.destination);
        let v2 = v2_header(source, destination, &[]);
        assert_eq!(parse_header(&v2).expect("v2").0, Some(addrs));
        if let Some(v1) = v1_header(source, destination) {
            assert_eq!(parse_header(v1.as_bytes()).expect("v1").0, Some(addrs));
        }
    }
}

/// A valid header of either version built from the input parses to what was written.
fn check_built(input: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let v6 = bool::arbitrary(input)?;
    let address = |input: &mut Unstructured<'_>| -> arbitrary::Result<SocketAddr> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(u128::arbitrary(input)?))
        } else {
            IpAddr::V4(Ipv4Addr::from(u32::arbitrary(input)?))
        };
        Ok(SocketAddr::new(ip, u16::arbitrary(input)?))
    };
    let (source, destination) = (address(input)?, address(input)?);
    let trailing: Vec<u8> = Vec::arbitrary(input)?;
    let header = if bool::arbitrary(input)? {
        v1_header(source, destination)
            .expect("same family")
            .into_bytes()
    } else {
        let mut tlvs = Vec::new();
        let mut room = V2_MAX - V2_FIXED - 36;
        while bool::arbitrary(input)? {
            let kind = u8::arbitrary(input)?;
            let value: Vec<u8> = Vec::arbitrary(input)?;
            if value.len() + 3 > room {
                break;
            }
            room -= value.len() + 3;
            tlvs.push((kind, value));
        }
        v2_header(source, destination, &tlvs)
    };
    let mut stream = header.clone();
    stream.extend_from_slice(&trailing);
    let parsed = parse_header(&stream);
    assert!(
        matches!(parsed, Ok((Some(got), length))
            if got.source == source && got.destination == destination && length == header.len()),
        "{source} to {destination} written as {header:?} parsed as {parsed:?}"
    );
    Ok(())
}

/// A v1 header for the pair, if both addresses are of one family.
fn v1_header(source: SocketAddr, destination: SocketAddr) -> Option<String> {
    let addresses = ppp::v1::Addresses::from((source, destination));
    (addresses != ppp::v1::Addresses::Unknown).then(|| addresses.to_string())
}

/// A v2 PROXY/stream header for the pair with these TLVs.
fn v2_header(source: SocketAddr, destination: SocketAddr, tlvs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    use ppp::v2::{Builder, Command, Protocol, Version};
    let mut builder = Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    );
    for (kind, value) in tlvs {
        builder = builder
            .write_tlv(*kind, value)
            .expect("TLVs within the room left fit a header");
    }
    builder
        .build()
        .expect("a header within the size limit builds")
}
