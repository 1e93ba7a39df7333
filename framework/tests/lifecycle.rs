//! The life of connections and servers: verify_request, failing handlers, timeouts, shutdown,
//! Unix socket files and IPv6, in every mode where behaviour could differ.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use wharf::{Connection, HandlerError, ListenAddr, Phase, RequestHandler, Server};

use support::*;

/// Greets, then echoes lines; "slow" waits before answering, "stuck" never answers.
/// `BLOCKING` is its `RequestHandler::BLOCKING_IO`.
#[derive(Clone, Default)]
struct Scripted<const BLOCKING: bool> {
    phases: Arc<Mutex<Vec<&'static str>>>,
}

/// The handler on the runtime's sockets in every mode.
type Plain = Scripted<false>;

impl<const BLOCKING: bool> Scripted<BLOCKING> {
    fn record(&self, phase: &'static str) {
        self.phases.lock().unwrap().push(phase);
    }
}

async fn read_command(conn: &mut Connection) -> Result<String, HandlerError> {
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    Ok(line.trim().to_string())
}

impl<const BLOCKING: bool> RequestHandler for Scripted<BLOCKING> {
    const BLOCKING_IO: bool = BLOCKING;

    async fn setup(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        conn.write_all(b"hello\n").await?;
        conn.flush().await?;
        match read_command(conn).await?.as_str() {
            "fail-setup" => Err("setup refused".into()),
            "panic-setup" => panic!("setup panicked"),
            _ => {
                self.record("setup");
                Ok(())
            }
        }
    }

    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        self.record("handle");
        loop {
            let command = read_command(conn).await?;
            match command.as_str() {
                "" => return Ok(()),
                "fail" => return Err("handle refused".into()),
                "panic" => panic!("handle panicked"),
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    conn.write_all(b"done\n").await?;
                }
                "stuck" => std::future::pending::<()>().await,
                "transport" => {
                    let name = conn.transport_kind();
                    conn.write_all(format!("{name}\n").as_bytes()).await?;
                }
                "read-or-shutdown" => {
                    let signal = conn.shutdown_signal();
                    tokio::select! {
                        line = read_command(conn) => {
                            conn.write_all(format!("read {}\n", line?).as_bytes()).await?;
                        }
                        () = signal.triggered() => conn.write_all(b"bye\n").await?,
                    }
                    conn.flush().await?;
                    return Ok(());
                }
                "flood" => {
                    let block = vec![b'x'; 64 * 1024];
                    loop {
                        conn.write_all(&block).await?;
                    }
                }
                "random" => {
                    let drawn: u64 = rand::random();
                    conn.write_all(format!("{drawn:016x}\n").as_bytes()).await?;
                }
                "listening-at-shutdown" => {
                    conn.shutdown_signal().triggered().await;
                    let ListenAddr::Tcp(addr) = conn.listener_addr().clone() else {
                        return Err("not on TCP".into());
                    };
                    let answer = match tokio::net::TcpStream::connect(addr).await {
                        Ok(_) => "still listening\n",
                        Err(_) => "refused\n",
                    };
                    conn.write_all(answer.as_bytes()).await?;
                    conn.flush().await?;
                    return Ok(());
                }
                "wait-shutdown" => {
                    conn.shutdown_signal().triggered().await;
                    conn.write_all(b"bye\n").await?;
                    conn.flush().await?;
                    return Ok(());
                }
                other => conn.write_all(format!("{other}\n").as_bytes()).await?,
            }
            conn.flush().await?;
        }
    }

    async fn finish(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        self.record("finish");
        conn.write_all(b"finished\n").await?;
        conn.flush().await?;
        Ok(())
    }
}

/// Not a test: the entry point of the server child processes the tests start (ignored, so it
/// is never counted as one).
#[test]
#[ignore = "entry point of server child processes"]
fn server_process() {
    server_process_entry(|spec, builder| match spec.handler.as_str() {
        "scripted" => serve_announced(builder, Plain::default()),
        "scripted-blocking" => serve_announced(builder, Scripted::<true>::default()),
        "refuse-all" => serve_announced(builder.verify_request(|_| false), Plain::default()),
        // The accept loop draws once, as a server's own code may at start: the forking
        // parent's generator is then seeded, and every child copies the same state.
        "parent-draws" => {
            let drawn = std::sync::Once::new();
            serve_announced(
                builder.verify_request(move |_| {
                    drawn.call_once(|| {
                        let _: u64 = rand::random();
                    });
                    true
                }),
                Plain::default(),
            )
        }
        other => panic!("unknown handler {other}"),
    });
}

/// Every mode, each with the plain handler and with the one that asks for blocking sockets.
fn cases() -> impl Iterator<Item = (&'static str, bool)> {
    MODES
        .into_iter()
        .flat_map(|mode| [(mode, false), (mode, true)])
}

/// Starts `Scripted` per `spec`, on blocking sockets where the mode allows if `blocking`.
fn start_scripted(spec: Spec, blocking: bool) -> TestServer {
    if blocking {
        let spec = Spec {
            handler: "scripted-blocking".into(),
            ..spec
        };
        start_spec(&spec, Scripted::<true>::default())
    } else {
        start_spec(&spec, Plain::default())
    }
}

/// Connects, reads the greeting, sends `commands` and returns every line until the close.
fn session(addr: SocketAddr, commands: &[&str]) -> Vec<String> {
    let mut stream = connect(addr);
    let mut script = commands.join("\n");
    script.push('\n');
    std::io::Write::write_all(&mut stream, script.as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    read_lines(&mut stream)
}

#[test]
fn finish_runs_iff_setup_succeeded_and_failures_do_not_stop_the_server() {
    for (mode, blocking) in cases() {
        let server = start_scripted(Spec::new("scripted", mode), blocking);
        let addr = server.tcp();
        assert_eq!(
            session(addr, &["fail-setup"]),
            ["hello"],
            "{mode} blocking={blocking}"
        );
        assert_eq!(
            session(addr, &["panic-setup"]),
            ["hello"],
            "{mode} blocking={blocking}"
        );
        assert_eq!(
            session(addr, &["go", "fail"]),
            ["hello", "finished"],
            "{mode} blocking={blocking}"
        );
        assert_eq!(
            session(addr, &["go", "panic"]),
            ["hello", "finished"],
            "{mode} blocking={blocking}"
        );
        assert_eq!(
            session(addr, &["go", "ping"]),
            ["hello", "ping", "finished"],
            "{mode} blocking={blocking}: still serving after failures"
        );
        server.stop();
    }
}

#[test]
fn handle_error_is_told_the_phase_of_each_failure() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    let handler = Plain::default();
    let server = start(
        builder("async").handle_error(move |report| {
            seen.lock()
                .unwrap()
                .push((report.phase, report.failure.to_string()));
        }),
        handler.clone(),
    );
    session(server.tcp(), &["fail-setup"]);
    session(server.tcp(), &["go", "panic"]);
    session(server.tcp(), &["go", "fail"]);
    server.stop().unwrap();
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert_eq!(reports[0], (Phase::Setup, "setup refused".to_string()));
    assert_eq!(reports[1].0, Phase::Handle);
    assert!(reports[1].1.contains("handle panicked"), "{reports:?}");
    assert_eq!(reports[2], (Phase::Handle, "handle refused".to_string()));
    assert_eq!(
        *handler.phases.lock().unwrap(),
        ["setup", "handle", "finish", "setup", "handle", "finish"],
        "finish ran after each successful setup only"
    );
}

#[test]
fn refused_peers_are_closed_without_calling_the_handler() {
    for mode in MODES {
        let handler = Plain::default();
        let spec = Spec::new("refuse-all", mode);
        let server = if mode == "forking" {
            TestServer::Process(ServerProcess::start(&spec))
        } else {
            TestServer::Thread(start(
                spec.builder().verify_request(|_| false),
                handler.clone(),
            ))
        };
        let mut stream = connect(server.tcp());
        assert_eq!(read_to_end(&mut stream), "", "{mode}: no greeting");
        server.stop();
        assert!(handler.phases.lock().unwrap().is_empty(), "{mode}");
    }
}

#[test]
fn shutdown_lets_in_flight_connections_finish() {
    for (mode, blocking) in cases() {
        let server = start_scripted(Spec::new("scripted", mode), blocking);
        let addr = server.tcp();
        let client = std::thread::spawn(move || session(addr, &["go", "slow"]));
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        server.stop();
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{mode} blocking={blocking}: stopped within the shutdown timeout"
        );
        assert_eq!(
            client.join().unwrap(),
            ["hello", "done", "finished"],
            "{mode} blocking={blocking}: the in-flight request completed"
        );
        assert!(
            stops_listening(addr),
            "{mode} blocking={blocking}: no longer listening"
        );
    }
}

#[test]
fn shutdown_signal_reaches_handlers() {
    for (mode, blocking) in cases() {
        let server = start_scripted(Spec::new("scripted", mode), blocking);
        let addr = server.tcp();
        let client = std::thread::spawn(move || session(addr, &["go", "wait-shutdown"]));
        std::thread::sleep(Duration::from_millis(300));
        server.stop();
        assert_eq!(
            client.join().unwrap(),
            ["hello", "bye", "finished"],
            "{mode} blocking={blocking}"
        );
    }
}

#[test]
fn every_connection_draws_its_own_random_numbers_in_every_mode() {
    // A forked child starts with a copy of its parent's generator; it must not draw what its
    // siblings draw (lease ids, temporary file names).
    for mode in MODES {
        let server = start_spec(&Spec::new("parent-draws", mode), Plain::default());
        let draws: Vec<String> = (0..3)
            .map(|_| session(server.tcp(), &["go", "random"])[1].clone())
            .collect();
        let mut distinct = draws.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), draws.len(), "{mode}: {draws:?}");
        server.stop();
    }
}

#[test]
fn connections_hear_of_shutdown_only_once_the_listeners_are_closed() {
    // A client told to go (FTP's 421) that reconnects at once must be refused here and go to
    // another node, not reach a listener about to close. Sequential mode serves its one
    // connection inside the accept loop, so that connection hears at once.
    for mode in CONCURRENT_MODES {
        let server = start_scripted(Spec::new("scripted", mode), false);
        let addr = server.tcp();
        let client = std::thread::spawn(move || session(addr, &["go", "listening-at-shutdown"]));
        std::thread::sleep(Duration::from_millis(300));
        server.stop();
        assert_eq!(
            client.join().unwrap(),
            ["hello", "refused", "finished"],
            "{mode}"
        );
    }
}

/// Gives the handler 300 ms to settle into what it waits for, stops the server and returns
/// how long the stop took.
fn stop_after_settling(server: TestServer) -> Duration {
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.stop();
    started.elapsed()
}

/// Checks that a stop took about a 500 ms shutdown timeout: it waited, then closed.
fn assert_closed_at_the_timeout(took: Duration, case: &str) {
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{case}: took {took:?}"
    );
}

#[test]
fn stuck_connections_are_closed_after_the_shutdown_timeout() {
    for (mode, blocking) in cases() {
        let spec = Spec::new("scripted", mode).shutdown_timeout(Duration::from_millis(500));
        let server = start_scripted(spec, blocking);
        let addr = server.tcp();
        let client = std::thread::spawn(move || session(addr, &["go", "stuck"]));
        let took = stop_after_settling(server);
        assert_closed_at_the_timeout(took, &format!("{mode} blocking={blocking}"));
        assert_eq!(
            client.join().unwrap(),
            ["hello"],
            "{mode} blocking={blocking}: closed, not finished"
        );
    }
}

/// Connects, sends `go` and `command` without closing the write side, and reads the greeting.
fn open_session(addr: SocketAddr, command: &str) -> TcpStream {
    let mut stream = connect(addr);
    std::io::Write::write_all(&mut stream, format!("go\n{command}\n").as_bytes()).unwrap();
    assert_eq!(read_line(&mut stream).unwrap(), "hello");
    stream
}

#[test]
fn blocking_sockets_only_where_the_handler_asks_and_the_mode_allows() {
    for (mode, blocking) in cases() {
        let server = start_scripted(Spec::new("scripted", mode), blocking);
        let expected = match (blocking, mode) {
            (true, "threading" | "forking") => "blocking-tcp",
            _ => "tcp",
        };
        assert_eq!(
            session(server.tcp(), &["go", "transport", "ping"]),
            ["hello", expected, "ping", "finished"],
            "{mode} blocking={blocking}"
        );
        server.stop();
    }
}

#[test]
fn a_handler_waiting_in_a_read_still_sees_the_shutdown_signal() {
    for (mode, blocking) in cases() {
        let server = start_scripted(Spec::new("scripted", mode), blocking);
        let mut stream = open_session(server.tcp(), "read-or-shutdown");
        let took = stop_after_settling(server);
        // Had the signal gone unseen, the server would have closed the connection at its
        // 5 s shutdown timeout without "bye" or "finished".
        assert_eq!(
            read_lines(&mut stream),
            ["bye", "finished"],
            "{mode} blocking={blocking}"
        );
        assert!(
            took < Duration::from_secs(3),
            "{mode} blocking={blocking}: took {took:?}"
        );
    }
}

#[test]
fn a_handler_stuck_writing_to_a_peer_that_does_not_read_is_closed_at_the_shutdown_timeout() {
    for (mode, blocking) in cases() {
        let spec = Spec::new("scripted", mode).shutdown_timeout(Duration::from_millis(500));
        let server = start_scripted(spec, blocking);
        // The client never reads past the greeting, so the handler's writes fill both
        // socket buffers and then wait.
        let stream = open_session(server.tcp(), "flood");
        let took = stop_after_settling(server);
        assert_closed_at_the_timeout(took, &format!("{mode} blocking={blocking}"));
        // The connection is closed: what was in flight drains, then end of stream (a
        // handler still writing would go on past the limit or leave the read to time out).
        let limit = 64 * 1024 * 1024;
        let drained = std::io::copy(
            &mut std::io::Read::take(stream, limit),
            &mut std::io::sink(),
        );
        assert!(
            drained.as_ref().is_ok_and(|&n| n < limit),
            "{mode} blocking={blocking}: {drained:?}"
        );
    }
}

/// Serves `handler` in `mode` with a 300 ms read timeout; checks that an idle client is closed
/// after the greeting, in time.
fn read_timeout_case<H: RequestHandler>(mode: &str, handler: H) {
    let server = start(
        builder(mode).read_timeout(Some(Duration::from_millis(300))),
        handler,
    );
    let mut stream = connect(server.tcp());
    let started = Instant::now();
    assert_eq!(read_lines(&mut stream), ["hello"], "{mode}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{mode}: took {took:?}"
    );
    server.stop().unwrap();
}

#[test]
fn read_timeout_closes_idle_connections() {
    read_timeout_case("async", Plain::default());
    read_timeout_case("threading", Plain::default());
    read_timeout_case("threading", Scripted::<true>::default());
}

#[test]
fn service_actions_tick_while_serving() {
    for mode in ["sequential", "threading", "async"] {
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let server = start(
            builder(mode).service_actions(Duration::from_millis(20), move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
            Plain::default(),
        );
        std::thread::sleep(Duration::from_millis(400));
        server.stop().unwrap();
        let count = ticks.load(Ordering::SeqCst);
        assert!(count >= 3, "{mode}: {count} ticks");
    }
}

fn unix_session(path: &std::path::Path, command: &str) -> Vec<String> {
    let mut stream = UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(&mut stream, format!("go\n{command}\n").as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    std::io::BufRead::lines(std::io::BufReader::new(stream))
        .map_while(Result::ok)
        .collect()
}

#[test]
fn unix_sockets_serve_and_their_files_are_removed() {
    for mode in ["sequential", "threading", "async"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.sock");
        let server = start(
            Server::builder()
                .listen(ListenAddr::Unix(path.clone()))
                .mode(mode.parse().unwrap()),
            Plain::default(),
        );
        assert_eq!(unix_session(&path, "unix"), ["hello", "unix", "finished"]);
        server.stop().unwrap();
        assert!(!path.exists(), "{mode}: socket file removed");
    }
}

#[test]
fn a_blocking_handler_gets_a_blocking_unix_socket_in_threading_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wharf.sock");
    let server = start(
        Server::builder()
            .listen(ListenAddr::Unix(path.clone()))
            .mode("threading".parse().unwrap()),
        Scripted::<true>::default(),
    );
    assert_eq!(
        unix_session(&path, "transport"),
        ["hello", "blocking-unix", "finished"]
    );
    assert_eq!(unix_session(&path, "unix"), ["hello", "unix", "finished"]);
    server.stop().unwrap();
    assert!(!path.exists(), "socket file removed");
}

#[test]
fn a_stale_unix_socket_file_is_replaced_but_a_live_one_or_a_plain_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a dead server's file is left behind");
    let server = start(
        Server::builder().listen(ListenAddr::Unix(path.clone())),
        Plain::default(),
    );
    assert_eq!(unix_session(&path, "fresh"), ["hello", "fresh", "finished"]);

    let second = Server::builder()
        .listen(ListenAddr::Unix(path.clone()))
        .build(Plain::default());
    assert!(second.is_err(), "a live socket is not taken over");
    server.stop().unwrap();

    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"data").unwrap();
    let refused = Server::builder()
        .listen(ListenAddr::Unix(plain.clone()))
        .build(Plain::default());
    assert!(refused.is_err());
    assert_eq!(
        std::fs::read(&plain).unwrap(),
        b"data",
        "the file is untouched"
    );
}

#[test]
fn tcp_over_ipv6_with_port_zero_resolved() {
    let server = start(
        Server::builder().listen("[::1]:0".parse::<SocketAddr>().unwrap()),
        Plain::default(),
    );
    let addr = server.tcp();
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    assert_eq!(session(addr, &["go", "six"]), ["hello", "six", "finished"]);
    server.stop().unwrap();
}

#[test]
fn one_server_listens_on_several_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.sock");
    let server = Server::builder()
        .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .listen(ListenAddr::Unix(path.clone()))
        .handle_signals(false)
        .build(Plain::default())
        .unwrap();
    let tcp = server.local_addrs()[0].as_tcp().unwrap();
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.serve_forever());
    assert_eq!(session(tcp, &["go", "tcp"]), ["hello", "tcp", "finished"]);
    assert_eq!(unix_session(&path, "unix"), ["hello", "unix", "finished"]);
    handle.shutdown();
    thread.join().unwrap().unwrap();
    assert!(!path.exists());
}

#[test]
fn binding_a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Server::builder()
        .listen(addr)
        .reuse_address(false)
        .build(Plain::default())
        .unwrap_err();
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
    let error = Server::builder().build(Plain::default()).unwrap_err();
    assert!(matches!(error, wharf::ServerError::NoAddress));
}

#[test]
fn daemon_threads_and_no_block_on_close_do_not_wait_for_connections() {
    let modes = [
        wharf::Mode::Threading {
            max_threads: 8,
            daemon_threads: true,
            block_on_close: true,
        },
        wharf::Mode::Threading {
            max_threads: 8,
            daemon_threads: false,
            block_on_close: false,
        },
        wharf::Mode::Forking {
            max_children: 8,
            block_on_close: false,
        },
    ];
    for mode in modes {
        let spec = Spec::new("scripted", "async")
            .mode(mode)
            .shutdown_timeout(Duration::from_secs(30));
        let server = start_spec(&spec, Plain::default());
        let addr = server.tcp();
        let mut stream = connect(addr);
        std::io::Write::write_all(&mut stream, b"go\nstuck\n").unwrap();
        assert_eq!(read_line(&mut stream).unwrap(), "hello");
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        server.stop();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{mode:?}: returned without waiting for the 30 s shutdown timeout"
        );
        assert!(stops_listening(addr), "{mode:?}: not listening");
    }
}
