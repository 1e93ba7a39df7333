//! The framework's performance targets (issue 2, item 7), judged on the measured cells, and
//! the ratios shown beside them.
//!
//! - async mode within 10% of bare tokio in CPU per round trip and in round trips per second,
//!   at every connection count;
//! - at 1000 connections, async mode at most a quarter of Python threading's CPU per round
//!   trip and at most a fifth of its p99 latency;
//! - threading and forking modes at least as fast (round trips per second) as Python's
//!   threading and forking servers.

use serde::Serialize;

use crate::peers::Peer;
use crate::plan::CellResult;

/// What a comparison divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Server CPU microseconds per round trip (lower is better).
    CpuPerRoundTrip,
    /// Round trips per second (higher is better).
    RoundTripsPerSec,
    /// 99th-percentile latency (lower is better).
    P99,
}

impl Metric {
    fn of(self, cell: &CellResult) -> Option<f64> {
        let value = match self {
            Metric::CpuPerRoundTrip => cell.server_cpu_us_per_rt,
            Metric::RoundTripsPerSec => Some(cell.round_trips_per_sec),
            Metric::P99 => cell.p99_us,
        };
        value.filter(|v| *v > 0.0 && cell.failure.is_none() && cell.round_trips > 0)
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Metric::CpuPerRoundTrip => "CPU/rt",
            Metric::RoundTripsPerSec => "rt/s",
            Metric::P99 => "p99",
        }
    }
}

/// The limit a ratio must respect to pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The ratio must be at most this.
    AtMost(f64),
    /// The ratio must be at least this.
    AtLeast(f64),
}

impl Bound {
    fn holds(self, ratio: f64) -> bool {
        match self {
            Bound::AtMost(limit) => ratio <= limit,
            Bound::AtLeast(limit) => ratio >= limit,
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The target is met.
    Pass,
    /// The target is missed.
    Miss,
    /// A shown ratio with no target.
    Info,
    /// One side was not measured (or measured nothing).
    NotMeasured,
}

impl Verdict {
    /// The mark printed in tables.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "",
            Verdict::NotMeasured => "n/a",
        }
    }
}

/// One ratio `subject / baseline` of a metric at one connection count.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Connections of both cells.
    pub connections: usize,
    /// The server judged.
    pub subject: String,
    /// The server it is divided by.
    pub baseline: String,
    /// What is divided.
    pub metric: Metric,
    /// `subject / baseline`, when both were measured.
    pub ratio: Option<f64>,
    /// The target, if this ratio has one.
    pub bound: Option<Bound>,
    /// Met, missed, shown only, or not measured.
    pub verdict: Verdict,
}

/// Every comparison for one connection count, targets first.
pub fn compare(cells: &[CellResult], connections: usize) -> Vec<Comparison> {
    let mut checks = vec![
        (
            Peer::WharfAsync,
            Peer::BareTokio,
            Metric::CpuPerRoundTrip,
            Some(Bound::AtMost(1.10)),
        ),
        (
            Peer::WharfAsync,
            Peer::BareTokio,
            Metric::RoundTripsPerSec,
            Some(Bound::AtLeast(0.90)),
        ),
    ];
    let at_1000 = connections == 1000;
    checks.extend([
        (
            Peer::WharfAsync,
            Peer::PythonThreading,
            Metric::CpuPerRoundTrip,
            at_1000.then_some(Bound::AtMost(0.25)),
        ),
        (
            Peer::WharfAsync,
            Peer::PythonThreading,
            Metric::P99,
            at_1000.then_some(Bound::AtMost(0.20)),
        ),
        (
            Peer::WharfThreading,
            Peer::PythonThreading,
            Metric::RoundTripsPerSec,
            Some(Bound::AtLeast(1.0)),
        ),
        (
            Peer::WharfForking,
            Peer::PythonForking,
            Metric::RoundTripsPerSec,
            Some(Bound::AtLeast(1.0)),
        ),
        (
            Peer::WharfThreading,
            Peer::PythonThreading,
            Metric::CpuPerRoundTrip,
            None,
        ),
        (
            Peer::WharfForking,
            Peer::PythonForking,
            Metric::CpuPerRoundTrip,
            None,
        ),
    ]);
    let cell = |peer: Peer| {
        cells
            .iter()
            .find(|c| c.server == peer.id() && c.connections == connections)
    };
    let mut comparisons = Vec::new();
    for (subject, baseline, metric, bound) in checks {
        let (Some(subject_cell), Some(baseline_cell)) = (cell(subject), cell(baseline)) else {
            continue;
        };
        let ratio = match (metric.of(subject_cell), metric.of(baseline_cell)) {
            (Some(s), Some(b)) => Some(s / b),
            _ => None,
        };
        let verdict = match (ratio, bound) {
            (None, _) => Verdict::NotMeasured,
            (Some(_), None) => Verdict::Info,
            (Some(r), Some(bound)) if bound.holds(r) => Verdict::Pass,
            (Some(_), Some(_)) => Verdict::Miss,
        };
        comparisons.push(Comparison {
            connections,
            subject: subject.id().into(),
            baseline: baseline.id().into(),
            metric,
            ratio,
            bound,
            verdict,
        });
    }
    comparisons.sort_by_key(|c| c.bound.is_none());
    comparisons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(server: Peer, connections: usize, rate: f64, cpu: f64, p99: f64) -> CellResult {
        CellResult {
            server: server.id().into(),
            connections,
            connected: connections,
            ready: connections,
            ramp_secs: 0.5,
            served: connections,
            starved: 0,
            concurrency_cap: None,
            round_trips: 1000,
            window_secs: 1.0,
            round_trips_per_sec: rate,
            p50_us: Some(p99 / 2.0),
            p99_us: Some(p99),
            max_us: Some(p99),
            server_cpu_us_per_rt: Some(cpu),
            generator_cpu_us_per_rt: Some(1.0),
            cpu_accounting: "cgroup".into(),
            connection_errors: 0,
            error_samples: Vec::new(),
            failure: None,
            rounds: Vec::new(),
        }
    }

    fn verdict(
        comparisons: &[Comparison],
        subject: Peer,
        baseline: Peer,
        metric: Metric,
    ) -> Verdict {
        comparisons
            .iter()
            .find(|c| {
                c.subject == subject.id() && c.baseline == baseline.id() && c.metric == metric
            })
            .map(|c| c.verdict)
            .unwrap()
    }

    #[test]
    fn async_within_ten_percent_of_bare_tokio_passes_and_beyond_misses() {
        let cells = [
            cell(Peer::BareTokio, 10, 100_000.0, 10.0, 100.0),
            cell(Peer::WharfAsync, 10, 91_000.0, 11.5, 100.0),
        ];
        let comparisons = compare(&cells, 10);
        let rate = verdict(
            &comparisons,
            Peer::WharfAsync,
            Peer::BareTokio,
            Metric::RoundTripsPerSec,
        );
        let cpu = verdict(
            &comparisons,
            Peer::WharfAsync,
            Peer::BareTokio,
            Metric::CpuPerRoundTrip,
        );
        assert_eq!(rate, Verdict::Pass);
        assert_eq!(cpu, Verdict::Miss);
    }

    #[test]
    fn python_ratios_are_targets_only_at_1000_connections() {
        let cells = |c| {
            [
                cell(Peer::WharfAsync, c, 50_000.0, 10.0, 1_000.0),
                cell(Peer::PythonThreading, c, 20_000.0, 48.0, 4_000.0),
            ]
        };
        let at_100 = compare(&cells(100), 100);
        assert_eq!(
            verdict(
                &at_100,
                Peer::WharfAsync,
                Peer::PythonThreading,
                Metric::P99
            ),
            Verdict::Info
        );
        let at_1000 = compare(&cells(1000), 1000);
        // 10/48 is under a quarter; 1000/4000 is over a fifth.
        assert_eq!(
            verdict(
                &at_1000,
                Peer::WharfAsync,
                Peer::PythonThreading,
                Metric::CpuPerRoundTrip
            ),
            Verdict::Pass
        );
        assert_eq!(
            verdict(
                &at_1000,
                Peer::WharfAsync,
                Peer::PythonThreading,
                Metric::P99
            ),
            Verdict::Miss
        );
    }

    #[test]
    fn a_failed_cell_is_not_measured_rather_than_passed() {
        let mut failed = cell(Peer::PythonForking, 100, 0.0, 0.0, 0.0);
        failed.failure = Some("did not start".into());
        failed.round_trips = 0;
        let cells = [cell(Peer::WharfForking, 100, 5_000.0, 30.0, 900.0), failed];
        let comparisons = compare(&cells, 100);
        assert_eq!(
            verdict(
                &comparisons,
                Peer::WharfForking,
                Peer::PythonForking,
                Metric::RoundTripsPerSec
            ),
            Verdict::NotMeasured
        );
    }
}
