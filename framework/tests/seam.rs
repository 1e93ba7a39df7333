//! The seam between the framework and handlers, over real sockets: named listeners, the
//! socket's own local address, capabilities by mode, owned transports, the refusal line, the
//! async entry in a caller's runtime, and datagram servers from their own builder.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::{
    CONCURRENT_MODES, MODES, Spec, connect, read_line, read_to_end, server_process_entry, start,
    start_spec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf::{
    Connection, Datagram, DatagramHandler, DatagramReply, DatagramServer, HandlerError,
    LimitPolicy, RequestHandler, Server,
};

/// Tells the client what the connection knows about itself, then echoes one line.
#[derive(Clone)]
struct Probe;

impl RequestHandler for Probe {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        let caps = conn.capabilities();
        let report = format!(
            "{} {} {} {} {} {}\n",
            conn.listener_name(),
            conn.local_addr(),
            conn.listener_addr(),
            conn.peer(),
            caps.owns_thread,
            caps.shares_memory,
        );
        conn.write_all(report.as_bytes()).await?;
        conn.flush().await?;
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(conn, &mut line).await?;
        conn.write_all(line.as_bytes()).await?;
        Ok(())
    }
}

/// Waits for one line, then hands the transport (with what was read ahead) to a raw copy loop.
#[derive(Clone)]
struct TakesTransport;

impl RequestHandler for TakesTransport {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        let mut first = String::new();
        tokio::io::AsyncBufReadExt::read_line(conn, &mut first).await?;
        conn.write_all(b"taking\n").await?;
        let mut transport = conn.take_transport().await?;
        assert!(
            conn.socket().is_none(),
            "the connection gave its socket away"
        );
        assert!(conn.write_all(b"x").await.is_err(), "closed once taken");
        let mut rest = Vec::new();
        transport.read_to_end(&mut rest).await?;
        transport.write_all(&rest).await?;
        transport.shutdown().await?;
        Ok(())
    }
}

/// Holds its connection until the client sends a line.
#[derive(Clone)]
struct Holds;

impl RequestHandler for Holds {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        conn.write_all(b"served\n").await?;
        conn.flush().await?;
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(conn, &mut line).await?;
        Ok(())
    }
}

/// Not a test: the entry point of the server child processes the tests start (ignored, so it
/// is never counted as one).
#[test]
#[ignore = "entry point of server child processes"]
fn server_process() {
    server_process_entry(|spec, builder| match spec.handler.as_str() {
        "holds" => support::serve_announced(builder, Holds),
        other => panic!("unknown handler {other}"),
    });
}

#[test]
fn connections_name_their_listener_and_see_the_socket_address() {
    let server = Server::builder()
        .listen_as("public", "0.0.0.0:0".parse::<SocketAddr>().unwrap())
        .listen_as("admin", "127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .listen("[::1]:0".parse::<SocketAddr>().unwrap())
        .handle_signals(false)
        .build(Probe)
        .unwrap();
    let public = server.listener_addr("public").unwrap().as_tcp().unwrap();
    let admin = server.listener_addr("admin").unwrap().as_tcp().unwrap();
    let v6 = server.listeners()[2].addr.as_tcp().unwrap();
    assert_eq!(
        server.listeners()[2].name,
        "[::1]:0",
        "listen names by the address given"
    );
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.serve_forever());

    let reached = SocketAddr::from(([127, 0, 0, 1], public.port()));
    let mut stream = connect(reached);
    let report = read_line(&mut stream).unwrap();
    let fields: Vec<&str> = report.split(' ').collect();
    assert_eq!(fields[0], "public");
    assert_eq!(
        fields[1],
        reached.to_string(),
        "the socket's own address, not 0.0.0.0"
    );
    assert_eq!(fields[2], public.to_string(), "the listener's address");
    assert_eq!(fields[3], stream.local_addr().unwrap().to_string());
    stream.write_all(b"bye\n").unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "bye");

    let mut stream = connect(admin);
    assert!(read_line(&mut stream).unwrap().starts_with("admin "));
    let mut stream6 = connect(v6);
    assert!(read_line(&mut stream6).unwrap().starts_with("[::1]:0 "));
    drop((stream, stream6));
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

#[test]
fn two_listeners_with_one_name_are_refused() {
    let built = Server::builder()
        .listen_as("ftp", "127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .listen_as("ftp", "127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build(Probe);
    let error = built.unwrap_err().to_string();
    assert!(error.contains("named \"ftp\""), "{error}");
}

#[test]
fn capabilities_follow_the_mode() {
    // Forking mode reports from a child process; the others from a thread of this one.
    let expected = [
        ("sequential", "true true"),
        ("threading", "true true"),
        ("async", "false true"),
    ];
    for (mode, caps) in expected {
        let running = start(support::builder(mode), Probe);
        let mut stream = connect(running.tcp());
        let report = read_line(&mut stream).unwrap();
        assert!(report.ends_with(caps), "{mode}: {report}");
        drop(stream);
        running.stop().unwrap();
    }
    let info_caps = |mode: &str| {
        Server::builder()
            .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
            .mode(mode.parse().unwrap())
            .build(Probe)
            .unwrap()
            .info()
            .capabilities()
    };
    let forking = info_caps("forking");
    assert!(forking.owns_thread && !forking.shares_memory);
}

#[test]
fn a_taken_transport_keeps_the_bytes_read_ahead() {
    for mode in ["sequential", "threading", "async"] {
        let running = start(support::builder(mode), TakesTransport);
        let mut stream = connect(running.tcp());
        // The second line arrives with the first, so the connection's buffer holds it.
        stream.write_all(b"first\nsecond line\nthird").unwrap();
        assert_eq!(read_line(&mut stream).unwrap(), "taking", "{mode}");
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut stream), "second line\nthird", "{mode}");
        running.stop().unwrap();
    }
}

#[test]
fn a_connection_over_the_limit_gets_the_refusal_line_in_every_concurrent_mode() {
    // Sequential mode takes the next connection only after the current one ends: the
    // backlog holds the rest, so nothing is ever refused there.
    for mode in CONCURRENT_MODES {
        let spec = Spec::new("holds", mode)
            .max_connections(1, LimitPolicy::Reject)
            .refusal("421 Too many connections\r\n");
        let server = start_spec(&spec, Holds);
        let mut first = connect(server.tcp());
        assert_eq!(read_line(&mut first).unwrap(), "served", "{mode}");
        let mut second = connect(server.tcp());
        let mut refused = String::new();
        second.read_to_string(&mut refused).unwrap();
        assert_eq!(refused, "421 Too many connections\r\n", "{mode}");
        first.write_all(b"done\n").unwrap();
        drop(first);
        server.stop();
    }
}

#[test]
fn the_async_entry_serves_in_the_callers_runtime_until_its_future_resolves() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::builder()
            .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
            .build(Probe)
            .unwrap();
        let addr = server.local_addr().as_tcp().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut report = vec![0u8; 256];
        let n = stream.read(&mut report).await.unwrap();
        assert!(String::from_utf8_lossy(&report[..n]).contains("false true"));
        stream.write_all(b"hi\n").await.unwrap();
        let mut echoed = String::new();
        stream.read_to_string(&mut echoed).await.unwrap();
        assert_eq!(echoed, "hi\n");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("run returns once its future resolves")
            .unwrap()
            .unwrap();
        assert!(support::stops_listening(addr), "no longer listening");
    });
}

#[test]
fn the_async_entry_needs_async_mode() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = Server::builder()
        .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .mode(wharf::Mode::threading())
        .build(Probe)
        .unwrap();
    let error = runtime
        .block_on(server.run(std::future::pending()))
        .unwrap_err();
    assert!(error.to_string().contains("async mode"), "{error}");
}

/// Answers each datagram with its length.
#[derive(Clone)]
struct Length;

impl DatagramHandler for Length {
    async fn handle(
        &mut self,
        datagram: Datagram,
        reply: DatagramReply,
    ) -> Result<(), HandlerError> {
        reply
            .send(datagram.data.len().to_string().as_bytes())
            .await?;
        Ok(())
    }
}

#[test]
fn datagram_servers_run_on_the_same_strategies_in_every_mode() {
    for mode in MODES {
        let server = DatagramServer::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .mode(mode.parse().unwrap())
            .max_packet_size(4)
            .handle_signals(false)
            .build(Length)
            .unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve_forever());
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = [0u8; 16];
        for (payload, expected) in [(&b"abc"[..], "3"), (&b"abcdefgh"[..], "4")] {
            client.send_to(payload, addr).unwrap();
            let (n, _) = client.recv_from(&mut answer).unwrap();
            assert_eq!(&answer[..n], expected.as_bytes(), "{mode}");
        }
        handle.shutdown();
        thread.join().unwrap().unwrap();
    }
}

#[test]
fn a_datagram_builder_without_an_address_is_refused() {
    let error = DatagramServer::builder().build(Length).unwrap_err();
    assert!(matches!(error, wharf::ServerError::NoAddress), "{error}");
}

#[test]
fn an_unknown_run_as_user_stops_the_build_before_binding() {
    let error = Server::builder()
        .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .run_as("no-such-user-wharf", None)
        .build(Probe)
        .unwrap_err();
    assert!(error.to_string().contains("no-such-user-wharf"), "{error}");
}
