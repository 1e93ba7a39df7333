use std::net::SocketAddr;

use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::proxy::Cidr;

/// A connected pair on loopback: (the client side, the accepted side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

fn settings() -> ProxyProtocol {
    ProxyProtocol::new(["127.0.0.1".parse::<Cidr>().unwrap()])
        .header_timeout(Duration::from_millis(300))
}

fn v2(source: &str, destination: &str, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let source: SocketAddr = source.parse().unwrap();
    let destination: SocketAddr = destination.parse().unwrap();
    let mut builder = ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (source, destination),
    );
    for (kind, value) in tlvs {
        builder = builder.write_tlv(*kind, value).unwrap();
    }
    builder.build().unwrap()
}

/// Sends `bytes` then `after`, reads the header on the other side and returns it with what the
/// application then reads.
async fn exchange(
    bytes: &[u8],
    after: &[u8],
    settings: &ProxyProtocol,
) -> (Result<Option<ProxiedAddrs>, ProxyError>, Vec<u8>) {
    let (mut client, mut accepted) = pair().await;
    client.write_all(bytes).await.unwrap();
    client.write_all(after).await.unwrap();
    client.shutdown().await.unwrap();
    let header = read_header(&mut accepted, settings).await;
    let mut rest = Vec::new();
    let _ = accepted.read_to_end(&mut rest).await;
    (header, rest)
}

fn addrs(source: &str, destination: &str) -> Option<ProxiedAddrs> {
    Some(ProxiedAddrs {
        source: source.parse().unwrap(),
        destination: destination.parse().unwrap(),
    })
}

#[tokio::test]
async fn v1_tcp4_tcp6_and_unknown() {
    let (header, rest) = exchange(
        b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 21\r\n",
        b"USER alice\r\n",
        &settings(),
    )
    .await;
    assert_eq!(header.unwrap(), addrs("203.0.113.7:56324", "192.0.2.1:21"));
    assert_eq!(
        rest, b"USER alice\r\n",
        "bytes after the header stay for the application"
    );
    let (header, _) = exchange(
        b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 2121\r\n",
        b"",
        &settings(),
    )
    .await;
    assert_eq!(
        header.unwrap(),
        addrs("[2001:db8::7]:40000", "[2001:db8::1]:2121")
    );
    let (header, rest) = exchange(b"PROXY UNKNOWN\r\n", b"x", &settings()).await;
    assert_eq!(header.unwrap(), None);
    assert_eq!(rest, b"x");
}

#[tokio::test]
async fn v2_proxy_local_and_tlvs() {
    let header = v2("198.51.100.4:5000", "192.0.2.1:21", &[]);
    let (read, rest) = exchange(&header, b"after", &settings()).await;
    assert_eq!(read.unwrap(), addrs("198.51.100.4:5000", "192.0.2.1:21"));
    assert_eq!(rest, b"after");
    let header = v2(
        "[2001:db8::9]:6000",
        "[2001:db8::1]:21",
        &[(0x01, b"ftp"), (0x02, b"example.org")],
    );
    let (read, rest) = exchange(&header, b"z", &settings()).await;
    assert_eq!(
        read.unwrap(),
        addrs("[2001:db8::9]:6000", "[2001:db8::1]:21")
    );
    assert_eq!(rest, b"z");
    let local = ppp::v2::Builder::new(
        ppp::v2::Version::Two | ppp::v2::Command::Local,
        ppp::v2::AddressFamily::Unspecified | ppp::v2::Protocol::Unspecified,
    )
    .build()
    .unwrap();
    let (read, rest) = exchange(&local, b"health", &settings()).await;
    assert_eq!(read.unwrap(), None);
    assert_eq!(rest, b"health");
}

#[tokio::test]
async fn a_header_in_two_pieces_is_read_whole() {
    let (mut client, mut accepted) = pair().await;
    let header = v2("198.51.100.4:5000", "192.0.2.1:21", &[]);
    let (first, second) = header.split_at(7);
    client.write_all(first).await.unwrap();
    let sending = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.write_all(second).await.unwrap();
        client.write_all(b"next").await.unwrap();
    };
    let settings = settings();
    let (read, ()) = tokio::join!(read_header(&mut accepted, &settings), sending);
    assert_eq!(read.unwrap(), addrs("198.51.100.4:5000", "192.0.2.1:21"));
    let mut next = [0u8; 4];
    accepted.read_exact(&mut next).await.unwrap();
    assert_eq!(&next, b"next");
}

#[tokio::test]
async fn truncated_malformed_missing_slow_and_oversize_headers_are_refused() {
    let (read, _) = exchange(b"PROXY TCP4 203.0.113.7 192.0", b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Truncated)), "{read:?}");
    let (read, _) = exchange(b"", b"", &settings()).await;
    assert!(
        matches!(read, Err(ProxyError::Closed)),
        "a health check: {read:?}"
    );
    let header = v2("198.51.100.4:5000", "192.0.2.1:21", &[]);
    let (read, _) = exchange(&header[..20], b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Truncated)), "{read:?}");
    let (read, _) = exchange(b"PROXY TCP4 nonsense here 1 2\r\n", b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Malformed(_))), "{read:?}");
    let mut bad_version = header.clone();
    bad_version[12] = 0x11;
    let (read, _) = exchange(&bad_version, b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Malformed(_))), "{read:?}");
    let long = [b"PROXY ".as_slice(), &[b'A'; 200]].concat();
    let (read, _) = exchange(&long, b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Malformed(_))), "{read:?}");
    let mut oversize = header[..16].to_vec();
    oversize[14..16].copy_from_slice(&60000u16.to_be_bytes());
    let (read, _) = exchange(&oversize, b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Malformed(_))), "{read:?}");
    let (read, _) = exchange(b"USER alice\r\n", b"", &settings()).await;
    assert!(matches!(read, Err(ProxyError::Missing)), "{read:?}");

    let (_client, mut accepted) = pair().await;
    let started = std::time::Instant::now();
    let read = read_header(&mut accepted, &settings()).await;
    assert!(matches!(read, Err(ProxyError::TimedOut(_))), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn without_a_required_header_the_first_bytes_stay_unread() {
    let optional = settings().required(false);
    let (read, rest) = exchange(b"GET / HTTP/1.0\r\n", b"", &optional).await;
    assert_eq!(read.unwrap(), None);
    assert_eq!(rest, b"GET / HTTP/1.0\r\n");
}

#[test]
fn starts_with_header_knows_both_versions() {
    assert!(starts_with_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
    assert!(starts_with_header(&V2_SIGNATURE));
    assert!(!starts_with_header(b"USER alice\r\n"));
    assert!(!starts_with_header(b"PROX"));
}

proptest! {
    #[test]
    fn parse_header_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_header(&bytes);
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&bytes);
        let _ = parse_header(&v2);
        let mut v1 = V1_PREFIX.to_vec();
        v1.extend_from_slice(&bytes);
        let _ = parse_header(&v1);
    }
}
