//! The daemon harness itself, on a small Python server that serves a socket-activated
//! descriptor 3 like wharf-ftpd does: it is ready once it logs `listening on`, a restart keeps
//! the socket (a connection made while no process runs is served by the next one), and a
//! stopped daemon with its sockets closed refuses connections.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use wharf_testkit::daemon::DaemonBuilder;

/// Serves descriptor 3 (checking `LISTEN_PID` and `LISTEN_FDS` as a daemon must): each client
/// gets `hello PID`, SIGTERM ends it.
const SERVER: &str = r#"
import os, signal, socket, sys
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID names this process"
assert os.environ["LISTEN_FDS"] == "1" and os.environ["LISTEN_FDNAMES"] == "demo"
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listener = socket.socket(fileno=3)
host, port = listener.getsockname()
print("INFO demo: listening on %s:%d mode=test" % (host, port), file=sys.stderr, flush=True)
while True:
    client, _ = listener.accept()
    client.sendall(b"hello %d\n" % os.getpid())
    client.close()
"#;

fn greeting(stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

#[test]
fn a_socket_activated_daemon_is_ready_restarts_on_its_socket_and_stops() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut daemon = DaemonBuilder::new("python3")
        .args(["-c", SERVER])
        .activated_socket("demo", listener)
        .start();
    assert_eq!(daemon.addr(), addr, "{}", daemon.log_text());
    let first = daemon.pid().unwrap();
    assert_eq!(
        greeting(TcpStream::connect(addr).unwrap()),
        format!("hello {first}\n")
    );

    assert!(daemon.stop().is_some_and(|status| status.success()));
    assert_eq!(daemon.pid(), None);
    // No process runs, the socket is still held: the connection waits in the backlog.
    let waiting = TcpStream::connect(addr).unwrap();
    daemon.start_again();
    let second = daemon.pid().unwrap();
    assert_ne!(first, second);
    assert_eq!(greeting(waiting), format!("hello {second}\n"));

    daemon.kill();
    daemon.close_sockets();
    assert!(TcpStream::connect(addr).is_err(), "closed for good");
}

#[test]
fn a_daemon_that_exits_at_start_is_reported_with_its_log() {
    let outcome = std::panic::catch_unwind(|| {
        DaemonBuilder::new("python3")
            .args(["-c", "import sys; sys.exit('no config')"])
            .start()
    });
    let message = *outcome
        .expect_err("a daemon that exits cannot be ready")
        .downcast::<String>()
        .unwrap();
    assert!(message.contains("exited at start"), "{message}");
    assert!(message.contains("no config"), "{message}");
}
