//! Smoke tests of the echo benchmark: the bench binary's quick run produces a complete JSON
//! record, and every server it can start answers with its own bytes. No timing is asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use wharf_bench::launch::RunningServer;
use wharf_bench::peers::{Peer, Programs};

const BENCH: &str = env!("CARGO_BIN_EXE_wharf-echo-bench");

fn programs() -> Programs {
    Programs {
        bench: BENCH.into(),
        python: "python3".into(),
        python_script: Path::new(env!("CARGO_MANIFEST_DIR")).join("python/socketserver_echo.py"),
    }
}

/// Sends a few messages on one connection and checks each comes back whole.
fn assert_echoes(server: &RunningServer) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for round in 0..3u8 {
        let message = [b'a' + round; 64];
        stream.write_all(&message).unwrap();
        let mut echo = [0u8; 64];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(echo, message);
    }
}

#[test]
fn quick_run_records_round_trips_for_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("echo.json");
    let output = Command::new(BENCH)
        .args(["--quick", "--servers", "bare-tokio,wharf-async", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "bench failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("| wharf-async / bare-tokio rt/s |"),
        "{stdout}"
    );

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = record["cells"].as_array().unwrap();
    let mut seen = Vec::new();
    for cell in cells {
        let server = cell["server"].as_str().unwrap();
        let connections = cell["connections"].as_u64().unwrap();
        assert!(
            cell["failure"].is_null(),
            "{server} c={connections}: {cell}"
        );
        assert!(cell["round_trips"].as_u64().unwrap() > 0, "{cell}");
        assert_eq!(cell["served"].as_u64(), Some(connections), "{cell}");
        assert!(cell["p99_us"].as_f64().unwrap() > 0.0, "{cell}");
        assert!(cell["server_cpu_us_per_rt"].is_number(), "{cell}");
        seen.push((server.to_string(), connections));
    }
    seen.sort();
    let expected = [
        ("bare-tokio", 1),
        ("bare-tokio", 10),
        ("wharf-async", 1),
        ("wharf-async", 10),
    ];
    assert_eq!(
        seen,
        expected.map(|(s, c)| (s.to_string(), c)),
        "one cell per server and connection count"
    );
    assert!(
        record["comparisons"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
}

#[test]
fn every_server_the_bench_starts_echoes() {
    for peer in Peer::ALL {
        let server = RunningServer::start(peer.command(&programs()), Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{peer}: {e}"));
        assert_echoes(&server);
        server.stop();
    }
}

#[test]
fn the_stand_alone_server_binaries_echo() {
    let bare = Command::new(env!("CARGO_BIN_EXE_bare-tokio-echo"));
    let mut wharf = Command::new(env!("CARGO_BIN_EXE_bench-wharf-echo"));
    wharf.args(["--mode", "threading", "--max-threads", "4"]);
    for command in [bare, wharf] {
        let server = RunningServer::start(command, Duration::from_secs(20)).unwrap();
        assert_echoes(&server);
        server.stop();
    }
}

#[test]
fn an_unknown_server_is_refused() {
    let output = Command::new(BENCH)
        .args(["--quick", "--servers", "nginx"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown server \"nginx\""));
}
