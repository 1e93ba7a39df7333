//! The loopback limit: how fast one plain TCP stream moves between two processes on this
//! machine, pinned like the benchmark's generator and servers. Measured with our own sink
//! (the bench binary run as `serve-sink`) and, where installed, with iperf3; the larger of
//! the two is the limit transfers are compared with.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::launch::RunningServer;

/// Bytes per write and per read, the generator's data buffer size.
const BLAST_BUFFER: usize = 256 * 1024;
/// How long a sink or iperf3 may take to start.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The loopback figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LoopbackLimit {
    /// Our own two-process stream, MiB/s.
    pub blast_mib_s: Option<f64>,
    /// iperf3's single stream, MiB/s (`None` when iperf3 is not installed or failed).
    pub iperf3_mib_s: Option<f64>,
    /// Why a measurement is missing.
    pub notes: Vec<String>,
}

impl LoopbackLimit {
    /// The limit: the faster of the two measurements.
    pub fn limit_mib_s(&self) -> Option<f64> {
        match (self.blast_mib_s, self.iperf3_mib_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Serves the sink: for each connection, reads everything, then answers with the byte count
/// (8 bytes, big-endian). Announces `listening on ADDR` first.
pub fn serve_sink(listen: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    crate::peers::bare::announce(listener.local_addr()?)?;
    let mut buffer = vec![0u8; BLAST_BUFFER];
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut total = 0u64;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => total += read as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = stream.write_all(&total.to_be_bytes());
    }
    Ok(())
}

/// Streams to the sink at `addr` for `duration`, then waits for its count; returns MiB/s.
pub fn blast(addr: SocketAddr, duration: Duration) -> io::Result<f64> {
    let mut stream = TcpStream::connect(addr)?;
    let chunk = vec![0x5au8; BLAST_BUFFER];
    let started = Instant::now();
    while started.elapsed() < duration {
        stream.write_all(&chunk)?;
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count)?;
    let elapsed = started.elapsed();
    let bytes = u64::from_be_bytes(count);
    Ok(bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64())
}

/// Measures both ways; `sink` is the command that starts our sink (pinned as a server).
/// `iperf3_server` and `iperf3_client` start iperf3 pinned as a server and as the generator.
pub fn measure(
    sink: Command,
    iperf3: Option<(Command, Command)>,
    duration: Duration,
    log: &Path,
) -> LoopbackLimit {
    let mut limit = LoopbackLimit {
        blast_mib_s: None,
        iperf3_mib_s: None,
        notes: Vec::new(),
    };
    match RunningServer::start(sink, START_LIMIT) {
        Ok(server) => {
            match blast(server.addr(), duration) {
                Ok(rate) => limit.blast_mib_s = Some(rate),
                Err(e) => limit.notes.push(format!("TCP blast failed: {e}")),
            }
            server.stop();
        }
        Err(e) => limit.notes.push(format!("TCP sink did not start: {e}")),
    }
    match iperf3 {
        None => limit.notes.push("iperf3 is not installed".into()),
        Some((server, client)) => match run_iperf3(server, client, log) {
            Ok(rate) => limit.iperf3_mib_s = Some(rate),
            Err(e) => limit.notes.push(format!("iperf3 failed: {e}")),
        },
    }
    limit
}

/// Runs an iperf3 server (`-s -1`, started by `server`) and `client` (`-J`); returns the
/// received rate in MiB/s.
fn run_iperf3(server: Command, mut client: Command, log: &Path) -> Result<f64, String> {
    let probe = super::setup::free_port().map_err(|e| e.to_string())?;
    let mut server = server;
    server.args(["-p", &probe.port().to_string()]);
    client.args(["-p", &probe.port().to_string()]);
    let running = RunningServer::spawn(server, probe, log).map_err(|e| e.to_string())?;
    // iperf3 buffers what it prints when not on a terminal: wait until its port listens. A
    // probe connection would use up the one-off server, so the kernel's table is read instead.
    let deadline = Instant::now() + START_LIMIT;
    while !listening(probe.port()) {
        if Instant::now() > deadline {
            running.stop();
            return Err("the iperf3 server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = client.output().map_err(|e| e.to_string());
    running.stop();
    let output = output?;
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("unreadable output: {e}"))?;
    json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|bits| bits / 8.0 / (1024.0 * 1024.0))
        .ok_or_else(|| {
            let error = json["error"]
                .as_str()
                .unwrap_or("no sum_received in its report");
            error.to_string()
        })
}

/// Whether a TCP socket listens on `port` (IPv4 or IPv6), from `/proc/net/tcp{,6}`.
fn listening(port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let mut fields = line.split_whitespace();
                let local = fields.nth(1).unwrap_or("");
                // Field 4 is the state; 0A is LISTEN.
                let state = fields.nth(1).unwrap_or("");
                local.ends_with(&wanted) && state == "0A"
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blast_to_a_sink_thread_moves_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = vec![0u8; BLAST_BUFFER];
            let mut total = 0u64;
            loop {
                match stream.read(&mut buffer).unwrap() {
                    0 => break,
                    read => total += read as u64,
                }
            }
            stream.write_all(&total.to_be_bytes()).unwrap();
        });
        let rate = blast(addr, Duration::from_millis(100)).unwrap();
        assert!(rate > 0.0);
    }

    #[test]
    fn a_listening_port_is_seen_in_the_kernel_table() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening(port));
        drop(listener);
        assert!(!listening(port));
    }

    #[test]
    fn the_limit_is_the_faster_measurement() {
        let both = LoopbackLimit {
            blast_mib_s: Some(100.0),
            iperf3_mib_s: Some(150.0),
            notes: Vec::new(),
        };
        assert_eq!(both.limit_mib_s(), Some(150.0));
        let one = LoopbackLimit {
            blast_mib_s: Some(100.0),
            iperf3_mib_s: None,
            notes: Vec::new(),
        };
        assert_eq!(one.limit_mib_s(), Some(100.0));
    }
}
