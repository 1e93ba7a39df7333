//! Each concurrency mode over real sockets: overlap, isolation and limits.

mod support;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use wharf::{Connection, HandlerError, LimitPolicy, Mode, RequestHandler};

use support::*;

/// Answers each line with `<pid> <line>`, and counts handlers running at once.
#[derive(Clone, Default)]
struct LineEcho {
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl RequestHandler for LineEcho {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let result = async {
            let mut line = String::new();
            while conn.read_line(&mut line).await? > 0 {
                let reply = format!("{} {}", std::process::id(), line);
                conn.write_all(reply.as_bytes()).await?;
                conn.flush().await?;
                line.clear();
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        self.active.fetch_sub(1, Ordering::SeqCst);
        Ok(result?)
    }
}

/// Not a test: the entry point of the server child processes the tests start (ignored, so it
/// is never counted as one).
#[test]
#[ignore = "entry point of server child processes"]
fn server_process() {
    server_process_entry(|spec, builder| match spec.handler.as_str() {
        "line" => serve_announced(builder, LineEcho::default()),
        other => panic!("unknown handler {other}"),
    });
}

/// A second client's request is answered while a first client holds its connection open
/// (without sending anything) only in the concurrent modes.
fn second_client_served_while_first_is_open(mode: &str) -> bool {
    let server = start_spec(&Spec::new("line", mode), LineEcho::default());
    let first = connect(server.tcp());
    // Give the server time to pick the first connection up.
    std::thread::sleep(Duration::from_millis(200));
    let mut second = connect(server.tcp());
    second
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let served = request(&mut second, "ping").is_ok();
    drop(first);
    if !served {
        // Once the first client leaves, the waiting one is served after all.
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let late = read_line(&mut second).expect("served after the first client left");
        assert!(late.ends_with(" ping"), "{late}");
    }
    drop(second);
    server.stop();
    served
}

#[test]
fn sequential_mode_serves_one_connection_at_a_time() {
    assert!(!second_client_served_while_first_is_open("sequential"));
}

#[test]
fn concurrent_modes_overlap_connections() {
    for mode in CONCURRENT_MODES {
        assert!(
            second_client_served_while_first_is_open(mode),
            "{mode} mode did not serve two connections at once"
        );
    }
}

#[test]
fn forking_mode_serves_each_connection_in_another_process() {
    let server = start_spec(&Spec::new("line", "forking"), LineEcho::default());
    let mut pids = Vec::new();
    for _ in 0..3 {
        let mut client = connect(server.tcp());
        let reply = request(&mut client, "who").unwrap();
        let pid: u32 = reply.split(' ').next().unwrap().parse().unwrap();
        assert_ne!(
            pid,
            std::process::id(),
            "handled in the server's own process"
        );
        pids.push(pid);
    }
    pids.sort();
    pids.dedup();
    assert_eq!(
        pids.len(),
        3,
        "each connection gets its own process: {pids:?}"
    );
    server.stop();
}

#[test]
fn other_modes_serve_in_the_server_process() {
    for mode in ["sequential", "threading", "async"] {
        let server = start(builder(mode), LineEcho::default());
        let mut client = connect(server.tcp());
        let reply = request(&mut client, "who").unwrap();
        assert_eq!(reply, format!("{} who", std::process::id()), "{mode}");
        drop(client);
        server.stop().unwrap();
    }
}

/// Opens `total` idle connections, then checks which of them get an answer quickly.
fn answered_connections(spec: Spec, total: usize) -> (usize, LineEcho) {
    let handler = LineEcho::default();
    let server = start_spec(&spec, handler.clone());
    let mut clients: Vec<TcpStream> = (0..total).map(|_| connect(server.tcp())).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut answered = 0;
    for client in &mut clients {
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        if request(client, "x").is_ok() {
            answered += 1;
        }
    }
    drop(clients);
    server.stop();
    (answered, handler)
}

#[test]
fn max_connections_holds_in_every_mode() {
    for mode in MODES {
        let (answered, handler) = answered_connections(
            Spec::new("line", mode).max_connections(2, LimitPolicy::Wait),
            5,
        );
        let expected = if mode == "sequential" { 1 } else { 2 };
        assert_eq!(answered, expected, "{mode}: answered connections");
        if mode != "forking" {
            assert!(
                handler.peak.load(Ordering::SeqCst) <= expected,
                "{mode}: peak {}",
                handler.peak.load(Ordering::SeqCst)
            );
        }
    }
}

#[test]
fn max_connections_reject_policy_closes_extra_connections() {
    let server = start(
        builder("async").max_connections(1, LimitPolicy::Reject),
        LineEcho::default(),
    );
    let mut first = connect(server.tcp());
    request(&mut first, "a").unwrap();
    let mut second = connect(server.tcp());
    assert!(
        request(&mut second, "b").is_err(),
        "the connection past the limit is closed"
    );
    request(&mut first, "still").unwrap();
    drop(first);
    server.stop().unwrap();
}

#[test]
fn max_threads_and_max_children_hold() {
    let threading = Mode::Threading {
        max_threads: 3,
        daemon_threads: false,
        block_on_close: true,
    };
    let (answered, handler) = answered_connections(Spec::new("line", "async").mode(threading), 6);
    assert_eq!(answered, 3, "threading: answered connections");
    assert!(handler.peak.load(Ordering::SeqCst) <= 3);

    let forking = Mode::Forking {
        max_children: 2,
        block_on_close: true,
    };
    let (answered, _) = answered_connections(Spec::new("line", "async").mode(forking), 5);
    assert_eq!(answered, 2, "forking: answered connections");
}

#[test]
fn fifty_clients_each_get_their_own_bytes_in_every_concurrent_mode() {
    for mode in CONCURRENT_MODES {
        let server = start_spec(&Spec::new("line", mode), LineEcho::default());
        let addr = server.tcp();
        let clients: Vec<_> = (0..50)
            .map(|client| {
                std::thread::spawn(move || {
                    let mut stream = connect(addr);
                    for message in 0..100 {
                        let text = format!("client {client} message {message}");
                        let reply = request(&mut stream, &text).unwrap();
                        assert!(reply.ends_with(&text), "{reply} != {text}");
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("client thread");
        }
        server.stop();
    }
}

#[test]
fn handle_request_serves_one_connection_or_times_out() {
    let mut server = builder("sequential")
        .handle_signals(false)
        .build(LineEcho::default())
        .unwrap();
    let addr = server.local_addr().as_tcp().unwrap();
    let started = Instant::now();
    let outcome = server
        .handle_request(Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(outcome, wharf::RequestOutcome::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(200));

    let client = std::thread::spawn(move || {
        let mut stream = connect(addr);
        let reply = request(&mut stream, "once").unwrap();
        drop(stream);
        reply
    });
    let outcome = server
        .handle_request(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(outcome, wharf::RequestOutcome::Handled);
    assert!(client.join().unwrap().ends_with(" once"));
}
