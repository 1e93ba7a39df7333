//! The `wharf-echo` binary over TCP, Unix and UDP in every mode, and its signal handling.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `wharf-echo` with the addresses it announced.
struct EchoProcess {
    child: Child,
    tcp: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    unix: Option<PathBuf>,
}

impl EchoProcess {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf-echo"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wharf-echo");
        let expected = args
            .iter()
            .filter(|a| {
                a.starts_with("--listen") || a.starts_with("--unix") || a.starts_with("--udp")
            })
            .count();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut process = EchoProcess {
            child,
            tcp: None,
            udp: None,
            unix: None,
        };
        for _ in 0..expected {
            let line = lines.next().expect("an address line").expect("read stdout");
            let addr = line.strip_prefix("listening on ").expect("listening line");
            if let Some(udp) = addr.strip_prefix("udp:") {
                process.udp = Some(udp.parse().unwrap());
            } else if let Some(path) = addr.strip_prefix("unix:") {
                process.unix = Some(PathBuf::from(path));
            } else {
                process.tcp = Some(addr.parse().unwrap());
            }
        }
        process
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the process to exit; panics if it takes longer than `limit`.
    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "wharf-echo did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EchoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `messages` distinct payloads and checks each comes back exactly.
fn echo_round_trips(mut stream: impl Read + Write, client: usize, messages: usize) {
    let mut reply = Vec::new();
    for message in 0..messages {
        // Different lengths and bytes per client and message, including non-text bytes.
        let payload: Vec<u8> = (0..(16 + (client * 7 + message) % 200))
            .map(|i| (i * 31 + client * 3 + message) as u8)
            .collect();
        stream.write_all(&payload).unwrap();
        reply.resize(payload.len(), 0);
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply, payload, "client {client} message {message}");
    }
}

fn tcp_client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

fn unix_client(path: &Path) -> UnixStream {
    let stream = UnixStream::connect(path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

#[test]
fn fifty_clients_over_tcp_and_unix_and_udp_peers_in_every_mode() {
    for mode in ["sequential", "threading", "forking", "async"] {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("echo.sock");
        let mut server = EchoProcess::start(&[
            "--listen",
            "127.0.0.1:0",
            "--unix",
            socket.to_str().unwrap(),
            "--udp",
            "127.0.0.1:0",
            "--mode",
            mode,
        ]);
        let tcp = server.tcp.unwrap();
        let unix = server.unix.clone().unwrap();
        let mut clients = Vec::new();
        for client in 0..50 {
            clients.push(std::thread::spawn(move || {
                echo_round_trips(tcp_client(tcp), client, 100)
            }));
        }
        for client in 0..10 {
            let unix = unix.clone();
            clients.push(std::thread::spawn(move || {
                echo_round_trips(unix_client(&unix), client, 100)
            }));
        }
        for client in clients {
            client.join().expect("client");
        }

        let udp = server.udp.unwrap();
        let peers: Vec<UdpSocket> = (0..5)
            .map(|_| {
                let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
                peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                peer
            })
            .collect();
        for round in 0..20 {
            for (index, peer) in peers.iter().enumerate() {
                let message = format!("peer {index} round {round}");
                peer.send_to(message.as_bytes(), udp).unwrap();
                let mut buf = [0u8; 256];
                let (len, from) = peer
                    .recv_from(&mut buf)
                    .unwrap_or_else(|e| panic!("{mode}: UDP echo: {e}"));
                assert_eq!(from, udp);
                assert_eq!(&buf[..len], message.as_bytes(), "{mode}");
            }
        }

        server.signal(Signal::SIGTERM);
        assert!(server.wait(TIMEOUT).success(), "{mode}: clean exit");
        assert!(!socket.exists(), "{mode}: Unix socket file removed");
    }
}

#[test]
fn upper_case_option() {
    let server =
        EchoProcess::start(&["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--upper"]);
    let mut stream = tcp_client(server.tcp.unwrap());
    stream.write_all(b"Hello, Wharf!").unwrap();
    let mut reply = [0u8; 13];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"HELLO, WHARF!");

    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.send_to(b"quiet", server.udp.unwrap()).unwrap();
    let mut buf = [0u8; 16];
    let (len, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"QUIET");
}

#[test]
fn sigterm_waits_for_connections_and_a_second_signal_forces() {
    for mode in ["threading", "forking", "async", "sequential"] {
        let mut server = EchoProcess::start(&[
            "--listen",
            "127.0.0.1:0",
            "--mode",
            mode,
            "--shutdown-timeout",
            "60",
        ]);
        let mut idle = tcp_client(server.tcp.unwrap());
        echo_round_trips(&mut idle, 0, 1);
        server.signal(Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "{mode}: the first signal waits for the open connection"
        );
        server.signal(Signal::SIGINT);
        let status = server.wait(Duration::from_secs(10));
        assert!(status.success(), "{mode}: {status}");
        let mut rest = Vec::new();
        assert_eq!(
            idle.read_to_end(&mut rest).unwrap_or(0),
            0,
            "{mode}: closed"
        );
    }
}

#[test]
fn bad_arguments_are_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_wharf-echo"))
        .args(["--listen", "127.0.0.1:0", "--mode", "spawning"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("spawning"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_wharf-echo"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to listen on"));
}
