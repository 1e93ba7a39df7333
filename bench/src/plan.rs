//! The run: every server started in turn, measured at each of its connection counts, stopped.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::affinity;
use crate::aggregate;
use crate::cpu::CpuMeter;
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
    /// Longest wait, per cell, for every servable connection's first round trip.
    pub ramp_limit: Duration,
    /// Loop time after the ramp, before each window.
    pub warmup: Duration,
    /// Measurement window per cell.
    pub window: Duration,
    /// Times the whole sequence of servers is run; each cell reports the medians.
    pub rounds: usize,
    /// CPUs the servers are pinned to (`None`: not pinned).
    pub server_cpus: Option<Vec<usize>>,
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
    /// Connections that completed a round trip before the window opened.
    pub ready: usize,
    /// Seconds from the last connect to the window's opening (ramp plus warm-up).
    pub ramp_secs: f64,
    /// Connections that completed a round trip in the window; fewer than `connections`
    /// when the server's mode caps concurrency (the rest wait in its backlog).
    pub served: usize,
    /// Connections within the server's cap left waiting for an echo through the whole window
    /// (their waits are in the latencies).
    pub starved: usize,
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
    /// How the server's CPU time was measured: `cgroup` (kernel sum, ns) or `proc`
    /// (process-tree sum, clock ticks).
    pub cpu_accounting: String,
    /// Connections that failed to connect or broke.
    pub connection_errors: usize,
    /// The first few of those errors.
    pub error_samples: Vec<String>,
    /// Why the cell could not be measured at all.
    pub failure: Option<String>,
    /// With several rounds: each round's own figures (the fields above are their medians).
    pub rounds: Vec<RoundSample>,
}

/// One round's figures of a cell, kept beside the medians.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundSample {
    /// Round trips per second.
    pub round_trips_per_sec: f64,
    /// Median latency in microseconds.
    pub p50_us: Option<f64>,
    /// 99th-percentile latency in microseconds.
    pub p99_us: Option<f64>,
    /// Server CPU per round trip in microseconds.
    pub server_cpu_us_per_rt: Option<f64>,
    /// Connections served in the window.
    pub served: usize,
    /// Why this round could not be measured.
    pub failure: Option<String>,
}

impl CellResult {
    fn measured(peer: Peer, m: &CellMeasurement, cpu_accounting: &str) -> Self {
        let micros = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e6);
        CellResult {
            server: peer.id().into(),
            connections: m.connections,
            connected: m.connected,
            ready: m.ready,
            ramp_secs: m.ramp.as_secs_f64(),
            served: m.served,
            starved: m.starved,
            concurrency_cap: peer.concurrency_cap(),
            round_trips: m.round_trips,
            window_secs: m.window.as_secs_f64(),
            round_trips_per_sec: m.rate(),
            p50_us: micros(m.latencies.quantile(0.5)),
            p99_us: micros(m.latencies.quantile(0.99)),
            max_us: micros(m.latencies.max()),
            server_cpu_us_per_rt: m.server_cpu_per_round_trip_us(),
            generator_cpu_us_per_rt: m.generator_cpu_per_round_trip_us(),
            cpu_accounting: cpu_accounting.into(),
            connection_errors: m.error_count,
            error_samples: m.errors.clone(),
            failure: None,
            rounds: Vec::new(),
        }
    }

    fn failed(peer: Peer, connections: usize, failure: String) -> Self {
        CellResult {
            server: peer.id().into(),
            connections,
            connected: 0,
            ready: 0,
            ramp_secs: 0.0,
            served: 0,
            starved: 0,
            concurrency_cap: peer.concurrency_cap(),
            round_trips: 0,
            window_secs: 0.0,
            round_trips_per_sec: 0.0,
            p50_us: None,
            p99_us: None,
            max_us: None,
            server_cpu_us_per_rt: None,
            generator_cpu_us_per_rt: None,
            cpu_accounting: String::new(),
            connection_errors: 0,
            error_samples: Vec::new(),
            failure: Some(failure),
            rounds: Vec::new(),
        }
    }

    /// This cell's figures as one round among several.
    pub fn sample(&self) -> RoundSample {
        RoundSample {
            round_trips_per_sec: self.round_trips_per_sec,
            p50_us: self.p50_us,
            p99_us: self.p99_us,
            server_cpu_us_per_rt: self.server_cpu_us_per_rt,
            served: self.served,
            failure: self.failure.clone(),
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
    for round in 1..=plan.rounds.max(1) {
        progress(&format!("round {round} of {}", plan.rounds.max(1)));
        for &peer in &plan.peers {
            run_server(plan, programs, peer, &runtime, &mut results, &mut progress)?;
        }
    }
    Ok(aggregate::combine(results))
}

/// Starts one server, measures each of its cells into `results`, and stops it.
fn run_server(
    plan: &Plan,
    programs: &Programs,
    peer: Peer,
    runtime: &tokio::runtime::Runtime,
    results: &mut Vec<CellResult>,
    progress: &mut impl FnMut(&str),
) -> std::io::Result<()> {
    let counts: Vec<usize> = plan
        .connection_counts
        .iter()
        .copied()
        .filter(|&c| peer.measured_at(c))
        .collect();
    let mut command = peer.command(programs);
    if let Some(cpus) = &plan.server_cpus {
        affinity::pin_command(&mut command, cpus)?;
    }
    let server = match RunningServer::start(command, START_TIMEOUT) {
        Ok(server) => server,
        Err(e) => {
            progress(&format!("{peer}: {e}"));
            let failed = counts
                .iter()
                .map(|&c| CellResult::failed(peer, c, e.to_string()));
            results.extend(failed);
            return Ok(());
        }
    };
    let meter = CpuMeter::for_server(server.pid());
    progress(&format!(
        "{peer}: listening on {}, CPU measured by {}",
        server.addr(),
        meter.method()
    ));
    for connections in counts {
        let config = CellConfig {
            connections,
            servable: peer
                .concurrency_cap()
                .unwrap_or(connections)
                .min(connections),
            message_size: plan.message_size,
            ramp_limit: plan.ramp_limit,
            warmup: plan.warmup,
            window: plan.window,
            connect_timeout: Duration::from_secs(5),
        };
        let measured = runtime.block_on(load::run_cell(server.addr(), &meter, config));
        let result = match measured {
            Ok(m) => CellResult::measured(peer, &m, meter.method()),
            Err(e) => CellResult::failed(peer, connections, e.to_string()),
        };
        progress(&summary(&result));
        results.push(result);
        settle(&meter);
    }
    server.stop();
    // Removing the group needs it empty: after the server and its children are gone.
    drop(meter);
    Ok(())
}

/// Waits (up to a limit) until the server's CPU time stops rising: closed connections are
/// torn down and queued ones drained before the next cell is measured.
fn settle(meter: &CpuMeter) {
    let limit = Instant::now() + SETTLE_LIMIT;
    let mut last = meter.read().ok();
    while Instant::now() < limit {
        std::thread::sleep(SETTLE_STEP);
        let now = meter.read().ok();
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
        "{} c={}: {:.0} rt/s, {} ready after {:.2} s, served {}/{}, {} starved, {} errors",
        result.server,
        result.connections,
        result.round_trips_per_sec,
        result.ready,
        result.ramp_secs,
        result.served,
        result.connections,
        result.starved,
        result.connection_errors
    )
}
