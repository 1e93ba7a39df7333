//! PROXY protocol on a listener, in every mode, over real sockets: v1 and v2 headers from a
//! trusted sender change the peer the handler sees; a header from an untrusted sender, and
//! malformed, truncated, slow and missing required headers close the connection before the
//! handler runs (or, untrusted, at its first read).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{MODES, Spec, connect, read_line, server_process_entry, start_spec};
use wharf::{Connection, HandlerError, RequestHandler};

/// Reports the peer and the balancer it came through, then echoes one line.
#[derive(Clone)]
struct Peers;

impl RequestHandler for Peers {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        use tokio::io::AsyncWriteExt;
        let by = conn
            .proxied_by()
            .map_or("direct".to_string(), |addr| addr.to_string());
        let report = format!("{} {by}\n", conn.peer());
        conn.write_all(report.as_bytes()).await?;
        conn.flush().await?;
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(conn, &mut line).await?;
        conn.write_all(line.as_bytes()).await?;
        Ok(())
    }
}

/// Not a test: the entry point of the server child processes the tests start (ignored, so it
/// is never counted as one).
#[test]
#[ignore = "entry point of server child processes"]
fn server_process() {
    server_process_entry(|spec, builder| match spec.handler.as_str() {
        "peers" => support::serve_announced(builder, Peers),
        other => panic!("unknown handler {other}"),
    });
}

fn v2_header(source: &str, destination: &str) -> Vec<u8> {
    let source: SocketAddr = source.parse().unwrap();
    let destination: SocketAddr = destination.parse().unwrap();
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (source, destination),
    )
    .build()
    .unwrap()
}

/// Everything the server sends until it closes, within 5 s.
fn until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn trusted_headers_name_the_client_in_every_mode() {
    for mode in MODES {
        let server = start_spec(
            &Spec::new("peers", mode).proxy_from(&["127.0.0.0/8"]),
            Peers,
        );
        let mut v1 = connect(server.tcp());
        v1.write_all(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 21\r\nhello\n")
            .unwrap();
        let report = read_line(&mut v1).unwrap();
        let balancer = v1.local_addr().unwrap();
        assert_eq!(report, format!("203.0.113.7:56324 {balancer}"), "{mode}");
        assert_eq!(
            read_line(&mut v1).unwrap(),
            "hello",
            "{mode}: bytes after the header"
        );
        drop(v1);

        let mut v2 = connect(server.tcp());
        v2.write_all(&v2_header("[2001:db8::7]:40000", "[2001:db8::1]:21"))
            .unwrap();
        let report = read_line(&mut v2).unwrap();
        assert!(
            report.starts_with("[2001:db8::7]:40000 127.0.0.1:"),
            "{mode}: {report}"
        );
        v2.write_all(b"bye\n").unwrap();
        assert_eq!(read_line(&mut v2).unwrap(), "bye");
        drop(v2);
        server.stop();
    }
}

#[test]
fn bad_headers_close_the_connection_before_the_handler_in_every_mode() {
    for mode in MODES {
        let server = start_spec(&Spec::new("peers", mode).proxy_from(&["127.0.0.1"]), Peers);
        let cases: [(&str, &[u8]); 4] = [
            ("malformed v1", b"PROXY TCP4 not addresses at all\r\n"),
            ("malformed v2", &{
                let mut bad = v2_header("198.51.100.4:5000", "192.0.2.1:21");
                bad[12] = 0x31;
                bad
            }),
            ("missing", b"hello\n"),
            (
                "oversize v1",
                &[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30),
            ),
        ];
        for (case, bytes) in cases {
            let mut stream = connect(server.tcp());
            stream.write_all(bytes).unwrap();
            assert_eq!(
                until_closed(&mut stream),
                "",
                "{mode}: {case}: closed, no handler"
            );
        }
        // Truncated: the sender stops mid-header and closes its side.
        let mut stream = connect(server.tcp());
        stream.write_all(b"PROXY TCP4 203.0.113.7 192.0").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(until_closed(&mut stream), "", "{mode}: truncated");
        // Slow: nothing within the 500 ms header timeout.
        let started = Instant::now();
        let mut stream = connect(server.tcp());
        assert_eq!(until_closed(&mut stream), "", "{mode}: slow");
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{mode}: waited for it"
        );
        // The listener still serves good connections.
        let mut good = connect(server.tcp());
        good.write_all(b"PROXY UNKNOWN\r\n").unwrap();
        let report = read_line(&mut good).unwrap();
        assert!(
            report.ends_with(" direct"),
            "{mode}: UNKNOWN keeps the sender: {report}"
        );
        drop(good);
        server.stop();
    }
}

#[test]
fn an_untrusted_sender_is_served_as_itself_and_its_header_closes_the_connection() {
    for mode in MODES {
        // Only 10.0.0.0/8 may send headers; the test connects from 127.0.0.1.
        let server = start_spec(&Spec::new("peers", mode).proxy_from(&["10.0.0.0/8"]), Peers);
        let mut plain = connect(server.tcp());
        let report = read_line(&mut plain).unwrap();
        assert_eq!(
            report,
            format!("{} direct", plain.local_addr().unwrap()),
            "{mode}"
        );
        plain.write_all(b"echo\n").unwrap();
        assert_eq!(read_line(&mut plain).unwrap(), "echo", "{mode}");
        drop(plain);

        let mut forged = connect(server.tcp());
        forged
            .write_all(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 21\r\nhello\n")
            .unwrap();
        let seen = until_closed(&mut forged);
        assert!(
            !seen.contains("203.0.113.7"),
            "{mode}: the header was not believed: {seen}"
        );
        assert!(
            !seen.contains("hello"),
            "{mode}: closed at the first read: {seen}"
        );
        server.stop();
    }
}
