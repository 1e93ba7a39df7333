//! Smoke tests of the FTP benchmark: a quick run against wharf-ftpd (the bench's built-in
//! `serve-ftpd`) and pyftpdlib produces every figure, the ratios, the targets table, the JSON
//! record and the SVG chart. Small sizes; no timing is asserted.

use std::path::Path;
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_wharf-ftp-bench");

/// Runs a quick benchmark of `servers` writing into `dir`; returns stdout and the JSON record.
fn quick_run(servers: &str, dir: &Path) -> (String, serde_json::Value) {
    let output = Command::new(BENCH)
        .args(["--quick", "--pin", "none", "--servers", servers])
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--json")
        .arg(dir.join("ftp.json"))
        .arg("--markdown")
        .arg(dir.join("ftp.md"))
        .arg("--chart")
        .arg(dir.join("ftp.svg"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "bench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ftp.json")).unwrap()).unwrap();
    (stdout, record)
}

#[test]
fn a_quick_run_measures_every_scenario_of_wharf_and_pyftpdlib() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, record) = quick_run("pyftpdlib,wharf-async,wharf-sequential", dir.path());
    let cells = record["cells"].as_array().unwrap();
    for server in ["pyftpdlib", "wharf-async"] {
        let metrics: Vec<&serde_json::Value> = cells
            .iter()
            .filter(|c| c["server"] == server)
            .map(|c| &c["metric"])
            .collect();
        // Single RETR and STOR, one login burst, one download and one upload count, the
        // storm's three figures, RSS and PSS at one idle count.
        assert_eq!(metrics.len(), 2 + 1 + 2 + 3 + 2, "{server}: {metrics:?}");
    }
    for cell in cells {
        assert!(cell["failure"].is_null(), "{cell}");
        assert!(cell["value"].as_f64().unwrap() > 0.0, "{cell}");
    }
    // Sequential mode serves one session at a time: only single-session figures.
    let sequential: Vec<_> = cells
        .iter()
        .filter(|c| c["server"] == "wharf-sequential")
        .collect();
    assert_eq!(sequential.len(), 2, "{sequential:?}");
    let idle = cells
        .iter()
        .find(|c| c["server"] == "wharf-async" && c["metric"]["idle_rss"] == 20)
        .unwrap();
    assert!(
        idle["detail"].as_str().unwrap().starts_with("20/20 held"),
        "{idle}"
    );
    assert!(record["loopback"]["blast_mib_s"].as_f64().unwrap() > 0.0);
    assert!(record["argon2"]["verify_ms"].as_f64().unwrap() > 0.0);
    assert!(!record["targets"].as_array().unwrap().is_empty());

    assert!(
        stdout.contains("| | pyftpdlib | wharf-async | wharf-sequential |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Each Wharf mode against the best peer"),
        "{stdout}"
    );
    assert!(stdout.contains("Targets (wharf-async):"), "{stdout}");
    let markdown = std::fs::read_to_string(dir.path().join("ftp.md")).unwrap();
    assert!(
        markdown.contains("| RETR, 1 session (MiB/s) |"),
        "{markdown}"
    );
    let svg = std::fs::read_to_string(dir.path().join("ftp.svg")).unwrap();
    assert!(
        svg.starts_with("<svg ") && svg.contains("wharf-async"),
        "{svg}"
    );
}

#[test]
fn an_unknown_server_or_scenario_is_refused() {
    for args in [["--servers", "wu-ftpd"], ["--skip", "everything"]] {
        let output = Command::new(BENCH)
            .arg("--quick")
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("unknown"), "{args:?}: {stderr}");
    }
}
