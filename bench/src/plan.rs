//! The run: every server started in turn, measured at each of its connection counts, stopped.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cpu;
use crate::launch::RunningServer;
use crate::load::{self, CellConfig, CellMeasurement};
use crate::peers::{Peer, Programs};

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for a server to go idle between cells.
const SETTLE_LIMIT: Duration = Duration::from_secs(3);
/// Sampling interval while waiting for a server to go idle.
const SETTLE_STEP: Duration = Duration::from_millis(50);

/// What to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Servers, in run order.
    pub peers: Vec<Peer>,
    /// Connection counts, each a cell per server.
    pub connection_counts: Vec<usize>,
    /// Bytes per message.
    pub message_size: usize,
    /// Loop time before each window.
    pub warmup: Duration,
    /// Measurement window per cell.
    pub window: Duration,
}

/// One measured (or failed) cell, as printed and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// The server's id (`wharf-async`, `python-threading`, ...).
    pub server: String,
    /// Connections opened.
    pub connections: usize,
    /// Connections established.
    pub connected: usize,
    /// Connections that completed a round trip in the window; fewer than `connections`
    /// when the server's mode caps concurrency (the rest wait in its backlog).
    pub served: usize,
    /// The server's cap on concurrent connections, if its mode has one.
    pub concurrency_cap: Option<usize>,
    /// Round trips completed in the window.
    pub round_trips: u64,
    /// The window in seconds.
    pub window_secs: f64,
    /// Round trips per second.
    pub round_trips_per_sec: f64,
    /// Median latency in microseconds.
    pub p50_us: Option<f64>,
    /// 99th-percentile latency in microseconds.
    pub p99_us: Option<f64>,
    /// Largest latency in microseconds.
    pub max_us: Option<f64>,
    /// Server CPU (process tree) per round trip in microseconds.
    pub server_cpu_us_per_rt: Option<f64>,
    /// Load-generator CPU per round trip in microseconds.
    pub generator_cpu_us_per_rt: Option<f64>,
    /// Connections that failed to connect or broke.
    pub connection_errors: usize,
    /// The first few of those errors.
    pub error_samples: Vec<String>,
    /// Why the cell could not be measured at all.
    pub failure: Option<String>,
}

impl CellResult {
    fn measured(peer: Peer, m: &CellMeasurement) -> Self {
        let micros = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e6);
        CellResult {
            server: peer.id().into(),
            connections: m.connections,
            connected: m.connected,
            served: m.served,
            concurrency_cap: peer.concurrency_cap(),
            round_trips: m.round_trips,
            window_secs: m.window.as_secs_f64(),
            round_trips_per_sec: m.rate(),
            p50_us: micros(m.latencies.quantile(0.5)),
            p99_us: micros(m.latencies.quantile(0.99)),
            max_us: micros(m.latencies.max()),
            server_cpu_us_per_rt: m.server_cpu_per_round_trip_us(),
            generator_cpu_us_per_rt: m.generator_cpu_per_round_trip_us(),
            connection_errors: m.error_count,
            error_samples: m.errors.clone(),
            failure: None,
        }
    }

    fn failed(peer: Peer, connections: usize, failure: String) -> Self {
        CellResult {
            server: peer.id().into(),
            connections,
            connected: 0,
            served: 0,
            concurrency_cap: peer.concurrency_cap(),
            round_trips: 0,
            window_secs: 0.0,
            round_trips_per_sec: 0.0,
            p50_us: None,
            p99_us: None,
            max_us: None,
            server_cpu_us_per_rt: None,
            generator_cpu_us_per_rt: None,
            connection_errors: 0,
            error_samples: Vec::new(),
            failure: Some(failure),
        }
    }

    /// Whether the server's cap left some connections unserved in this cell.
    pub fn capped(&self) -> bool {
        self.failure.is_none() && self.served < self.connections
    }
}

/// Runs the plan; `progress` hears one line per step. Failed cells are recorded, not fatal.
pub fn run(
    plan: &Plan,
    programs: &Programs,
    mut progress: impl FnMut(&str),
) -> std::io::Result<Vec<CellResult>> {
    // The load generator's runtime: one worker per core, sharing the cores with the server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()?;
    let mut results = Vec::new();
    for &peer in &plan.peers {
        let counts: Vec<usize> = plan
            .connection_counts
            .iter()
            .copied()
            .filter(|&c| peer.measured_at(c))
            .collect();
        let server = match RunningServer::start(peer.command(programs), START_TIMEOUT) {
            Ok(server) => server,
            Err(e) => {
                progress(&format!("{peer}: {e}"));
                results.extend(
                    counts
                        .iter()
                        .map(|&c| CellResult::failed(peer, c, e.to_string())),
                );
                continue;
            }
        };
        progress(&format!("{peer}: listening on {}", server.addr()));
        for connections in counts {
            let config = CellConfig {
                connections,
                message_size: plan.message_size,
                warmup: plan.warmup,
                window: plan.window,
                connect_timeout: Duration::from_secs(5),
            };
            let measured = runtime.block_on(load::run_cell(server.addr(), server.pid(), config));
            let result = match measured {
                Ok(m) => CellResult::measured(peer, &m),
                Err(e) => CellResult::failed(peer, connections, e.to_string()),
            };
            progress(&summary(&result));
            results.push(result);
            settle(server.pid());
        }
        server.stop();
    }
    Ok(results)
}

/// Waits (up to a limit) until the server's CPU time stops rising: closed connections are
/// torn down and queued ones drained before the next cell is measured.
fn settle(pid: u32) {
    let limit = Instant::now() + SETTLE_LIMIT;
    let mut last = cpu::process_tree_time(pid).ok();
    while Instant::now() < limit {
        std::thread::sleep(SETTLE_STEP);
        let now = cpu::process_tree_time(pid).ok();
        if now.is_none() || now == last {
            return;
        }
        last = now;
    }
}

/// One progress line for a finished cell.
fn summary(result: &CellResult) -> String {
    if let Some(failure) = &result.failure {
        return format!(
            "{} c={}: FAILED: {failure}",
            result.server, result.connections
        );
    }
    format!(
        "{} c={}: {:.0} rt/s, served {}/{}, {} errors",
        result.server,
        result.connections,
        result.round_trips_per_sec,
        result.served,
        result.connections,
        result.connection_errors
    )
}
