//! Reading one PROXY header off an accepted TCP socket without consuming a byte after it, and
//! parsing one from bytes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;

use super::{ProxiedAddrs, ProxyError, ProxyProtocol};

/// How a v1 header starts.
const V1_PREFIX: &[u8] = b"PROXY ";
/// How a v2 header starts.
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// The longest v1 header, CRLF included (the specification's bound).
const V1_MAX: usize = 107;
/// The fixed part of a v2 header; bytes 14 and 15 give the length of the rest.
const V2_FIXED: usize = 16;
/// The longest v2 header accepted: the addresses and a few kilobytes of TLVs, more than
/// HAProxy sends (ALPN, authority, TLS details), far less than the format's 64 KiB.
const V2_MAX: usize = 4096;
/// How long to wait before looking again at a header that arrived in pieces.
const PIECE_WAIT: Duration = Duration::from_millis(2);

/// Whether these first bytes of a stream begin a PROXY header (v1 `PROXY ` or the v2
/// signature), so a header from an untrusted sender can be refused.
pub(crate) fn starts_with_header(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(V1_PREFIX) || first_bytes.starts_with(&V2_SIGNATURE)
}

/// What the first bytes of a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A v1 header.
    V1,
    /// A v2 header.
    V2,
    /// Not a header.
    Other,
    /// Too few bytes to tell.
    Undecided,
}

fn classify(bytes: &[u8]) -> Start {
    if bytes.starts_with(&V2_SIGNATURE) {
        Start::V2
    } else if bytes.starts_with(V1_PREFIX) {
        Start::V1
    } else if V2_SIGNATURE.starts_with(bytes) || V1_PREFIX.starts_with(bytes) {
        Start::Undecided
    } else {
        Start::Other
    }
}

/// The whole header's length, once `bytes` show it.
fn header_length(start: Start, bytes: &[u8]) -> Result<Option<usize>, ProxyError> {
    match start {
        Start::V1 => {
            let window = &bytes[..bytes.len().min(V1_MAX)];
            match window.windows(2).position(|pair| pair == b"\r\n") {
                Some(end) => Ok(Some(end + 2)),
                None if bytes.len() >= V1_MAX => Err(ProxyError::Malformed(format!(
                    "no CRLF within {V1_MAX} bytes"
                ))),
                None => Ok(None),
            }
        }
        Start::V2 if bytes.len() >= V2_FIXED => {
            let total = V2_FIXED + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
            if total > V2_MAX {
                return Err(ProxyError::Malformed(format!(
                    "a {total}-byte v2 header is longer than the {V2_MAX} bytes accepted"
                )));
            }
            Ok(Some(total))
        }
        _ => Ok(None),
    }
}

/// Parses one complete header at the start of `bytes`: the addresses (`None` for v2 LOCAL,
/// v1 UNKNOWN and address families without IP addresses, which keep the sender's address)
/// and the header's length.
pub fn parse_header(bytes: &[u8]) -> Result<(Option<ProxiedAddrs>, usize), ProxyError> {
    let start = classify(bytes);
    let length = match start {
        Start::Other => return Err(ProxyError::Missing),
        Start::Undecided => return Err(ProxyError::Truncated),
        Start::V1 | Start::V2 => header_length(start, bytes)?.ok_or(ProxyError::Truncated)?,
    };
    let header = bytes.get(..length).ok_or(ProxyError::Truncated)?;
    let addrs = if start == Start::V1 {
        let parsed = ppp::v1::Header::try_from(header)
            .map_err(|e| ProxyError::Malformed(format!("{e:?}")))?;
        match parsed.addresses {
            ppp::v1::Addresses::Tcp4(ip) => Some(ProxiedAddrs {
                source: (ip.source_address, ip.source_port).into(),
                destination: (ip.destination_address, ip.destination_port).into(),
            }),
            ppp::v1::Addresses::Tcp6(ip) => Some(ProxiedAddrs {
                source: (ip.source_address, ip.source_port).into(),
                destination: (ip.destination_address, ip.destination_port).into(),
            }),
            ppp::v1::Addresses::Unknown => None,
        }
    } else {
        let parsed = ppp::v2::Header::try_from(header)
            .map_err(|e| ProxyError::Malformed(format!("{e:?}")))?;
        match (parsed.command, parsed.addresses) {
            (ppp::v2::Command::Local, _) => None,
            (ppp::v2::Command::Proxy, _) if parsed.protocol == ppp::v2::Protocol::Datagram => {
                return Err(ProxyError::Malformed(
                    "a datagram header on a stream connection".into(),
                ));
            }
            (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(ip)) => Some(ProxiedAddrs {
                source: (ip.source_address, ip.source_port).into(),
                destination: (ip.destination_address, ip.destination_port).into(),
            }),
            (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(ip)) => Some(ProxiedAddrs {
                source: (ip.source_address, ip.source_port).into(),
                destination: (ip.destination_address, ip.destination_port).into(),
            }),
            (ppp::v2::Command::Proxy, _) => None,
        }
    };
    Ok((addrs, length))
}

/// Reads the header a trusted sender puts before the stream, consuming exactly its bytes.
///
/// `Ok(Some)` names the client; `Ok(None)` keeps the sender as the peer (v2 LOCAL, v1
/// UNKNOWN, or no header where none is required: then nothing was consumed).
pub(crate) async fn read_header(
    stream: &mut TcpStream,
    settings: &ProxyProtocol,
) -> Result<Option<ProxiedAddrs>, ProxyError> {
    let limit = settings.timeout();
    tokio::time::timeout(limit, read_within(stream, settings.is_required()))
        .await
        .map_err(|_| ProxyError::TimedOut(limit))?
}

async fn read_within(
    stream: &mut TcpStream,
    required: bool,
) -> Result<Option<ProxiedAddrs>, ProxyError> {
    let mut seen = vec![0u8; V2_MAX];
    let mut last = 0;
    loop {
        // Peeking leaves the bytes in the socket, so none past the header is ever taken.
        let n = stream.peek(&mut seen).await?;
        if n == 0 {
            // Nothing is ever consumed before the header is whole: no byte came at all.
            return Err(ProxyError::Closed);
        }
        let bytes = &seen[..n];
        let start = classify(bytes);
        match start {
            Start::Other if required => return Err(ProxyError::Missing),
            Start::Other => return Ok(None),
            Start::Undecided => {}
            Start::V1 | Start::V2 => {
                if let Some(length) = header_length(start, bytes)?
                    && length <= n
                {
                    let (addrs, length) = parse_header(&bytes[..length])?;
                    let mut header = vec![0u8; length];
                    stream.read_exact(&mut header).await?;
                    return Ok(addrs);
                }
            }
        }
        // The rest has not arrived: a peer that closed will send no more.
        if n == last && stream.ready(Interest::READABLE).await?.is_read_closed() {
            return Err(ProxyError::Truncated);
        }
        last = n;
        tokio::time::sleep(PIECE_WAIT).await;
    }
}

#[cfg(test)]
mod tests;
