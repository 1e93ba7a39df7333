//! The results as Markdown tables (readable in a terminal, pasted as is into
//! `docs/benchmarks.md`) and as a JSON record.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::affinity::CpuSplit;
use crate::machine::Machine;
use crate::plan::{CellResult, Plan, RoundSample};
use crate::targets::{self, Bound, Comparison, Verdict};

/// Everything a run produced, as written to the JSON file.
#[derive(Debug, Serialize)]
pub struct Record {
    /// Which benchmark this is.
    pub benchmark: &'static str,
    /// The machine it ran on.
    pub machine: Machine,
    /// The CPUs of the load generator and of the servers, when pinned.
    pub pinning: Option<CpuSplit>,
    /// Bytes per message.
    pub message_size: usize,
    /// Warm-up per cell, seconds.
    pub warmup_secs: f64,
    /// Measurement window per cell, seconds.
    pub window_secs: f64,
    /// Every cell, in run order.
    pub cells: Vec<CellResult>,
    /// Ratios and targets per connection count.
    pub comparisons: Vec<Comparison>,
}

impl Record {
    /// Gathers the cells of a run and judges the targets.
    pub fn new(
        machine: Machine,
        pinning: Option<CpuSplit>,
        plan: &Plan,
        cells: Vec<CellResult>,
    ) -> Self {
        let comparisons = plan
            .connection_counts
            .iter()
            .flat_map(|&c| targets::compare(&cells, c))
            .collect();
        Record {
            benchmark: "echo",
            machine,
            pinning,
            message_size: plan.message_size,
            warmup_secs: plan.warmup.as_secs_f64(),
            window_secs: plan.window.as_secs_f64(),
            cells,
            comparisons,
        }
    }

    /// Writes the record as pretty JSON, creating the parent directory.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }

    /// Targets met and missed, as (met, missed, not measured); ratios without a target aside.
    pub fn tally(&self) -> (usize, usize, usize) {
        let count = |v| {
            self.comparisons
                .iter()
                .filter(|c| c.bound.is_some() && c.verdict == v)
                .count()
        };
        (
            count(Verdict::Pass),
            count(Verdict::Miss),
            count(Verdict::NotMeasured),
        )
    }

    /// Whether any cell could not be measured at all.
    pub fn has_failed_cells(&self) -> bool {
        self.cells.iter().any(|c| c.failure.is_some())
    }

    /// The tables: per connection count, the servers and then the ratios.
    pub fn to_markdown(&self, connection_counts: &[usize]) -> String {
        let mut out = String::new();
        for &connections in connection_counts {
            let cells: Vec<&CellResult> = self
                .cells
                .iter()
                .filter(|c| c.connections == connections)
                .collect();
            if cells.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "#### {connections} connection{}\n",
                plural(connections)
            );
            out.push_str(&cell_table(&cells));
            let comparisons: Vec<&Comparison> = self
                .comparisons
                .iter()
                .filter(|c| c.connections == connections)
                .collect();
            if !comparisons.is_empty() {
                out.push('\n');
                out.push_str(&comparison_table(&comparisons));
            }
            out.push('\n');
        }
        let (met, missed, unmeasured) = self.tally();
        let _ = writeln!(
            out,
            "Targets: {met} met, {missed} missed, {unmeasured} not measured."
        );
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

/// One row per server: rate, latency, CPU per round trip and how many connections were served.
fn cell_table(cells: &[&CellResult]) -> String {
    let mut out = String::from(
        "| server | rt/s | rt/s range | p50 µs | p99 µs | server CPU µs/rt | CPU range | \
         load-gen CPU µs/rt | served |\n|---|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for cell in cells {
        let served = if let Some(failure) = &cell.failure {
            format!("failed: {failure}")
        } else if cell.capped() {
            let cap = cell
                .concurrency_cap
                .filter(|&cap| cap < cell.connections)
                .map_or_else(String::new, |cap| format!(" (cap {cap})"));
            format!("{}/{}{cap}", cell.served, cell.connections)
        } else {
            format!("{}/{}", cell.served, cell.connections)
        };
        let errors = match cell.connection_errors {
            0 => String::new(),
            n => format!(", {n} errors"),
        };
        let rates = range(cell, |r| Some(r.round_trips_per_sec), 0);
        let cpus = range(cell, |r| r.server_cpu_us_per_rt, 1);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {rates} | {} | {} | {} | {cpus} | {} | {served}{errors} |",
            cell.server,
            cell.round_trips_per_sec,
            number(cell.p50_us, 0),
            number(cell.p99_us, 0),
            number(cell.server_cpu_us_per_rt, 1),
            number(cell.generator_cpu_us_per_rt, 1),
        );
    }
    out
}

/// The lowest and highest of a figure over a cell's measured rounds (empty for one round).
fn range(cell: &CellResult, field: fn(&RoundSample) -> Option<f64>, decimals: usize) -> String {
    let values: Vec<f64> = cell
        .rounds
        .iter()
        .filter(|r| r.failure.is_none())
        .filter_map(field)
        .collect();
    if values.len() < 2 {
        return String::new();
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{low:.decimals$}–{high:.decimals$}")
}

/// One row per ratio, with its target and mark.
fn comparison_table(comparisons: &[&Comparison]) -> String {
    let mut out = String::from("| ratio | value | target | |\n|---|--:|---|---|\n");
    for c in comparisons {
        let target = match c.bound {
            Some(Bound::AtMost(limit)) => format!("≤ {limit:.2}"),
            Some(Bound::AtLeast(limit)) => format!("≥ {limit:.2}"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} / {} {} | {} | {target} | {} |",
            c.subject,
            c.baseline,
            c.metric.label(),
            number(c.ratio, 2),
            c.verdict.mark()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Peer;
    use std::time::Duration;

    fn cell(server: Peer, served: usize, failure: Option<&str>) -> CellResult {
        CellResult {
            server: server.id().into(),
            connections: 100,
            connected: 100,
            ready: served,
            ramp_secs: 0.5,
            served,
            starved: 0,
            concurrency_cap: server.concurrency_cap(),
            round_trips: if failure.is_some() { 0 } else { 5000 },
            window_secs: 2.0,
            round_trips_per_sec: if failure.is_some() { 0.0 } else { 2500.0 },
            p50_us: Some(40.0),
            p99_us: Some(90.0),
            max_us: Some(120.0),
            server_cpu_us_per_rt: Some(12.5),
            generator_cpu_us_per_rt: Some(8.0),
            cpu_accounting: "cgroup".into(),
            connection_errors: 0,
            error_samples: Vec::new(),
            failure: failure.map(String::from),
            rounds: Vec::new(),
        }
    }

    #[test]
    fn tables_mark_capped_and_failed_cells_and_judge_targets() {
        let plan = Plan {
            peers: vec![Peer::WharfForking, Peer::PythonForking],
            connection_counts: vec![100],
            message_size: 64,
            ramp_limit: Duration::from_secs(1),
            warmup: Duration::from_millis(100),
            window: Duration::from_secs(2),
            rounds: 1,
            server_cpus: None,
        };
        let cells = vec![
            cell(Peer::WharfForking, 40, None),
            cell(Peer::PythonForking, 0, Some("did not start")),
        ];
        let record = Record::new(Machine::describe(), None, &plan, cells);
        let text = record.to_markdown(&plan.connection_counts);
        assert!(
            text.contains(
                "| wharf-forking | 2500 |  | 40 | 90 | 12.5 |  | 8.0 | 40/100 (cap 40) |"
            ),
            "{text}"
        );
        assert!(text.contains("failed: did not start"));
        assert!(text.contains("| wharf-forking / python-forking rt/s | – | ≥ 1.00 | n/a |"));
        assert_eq!(record.tally(), (0, 0, 1));
        assert!(record.has_failed_cells());
    }

    #[test]
    fn several_rounds_show_their_range_beside_the_median() {
        let mut combined = cell(Peer::BareTokio, 100, None);
        combined.rounds = [2000.0, 2500.0, 3100.0]
            .iter()
            .zip([13.0, 12.5, 11.0])
            .map(|(&rate, cpu)| RoundSample {
                round_trips_per_sec: rate,
                p50_us: Some(40.0),
                p99_us: Some(90.0),
                server_cpu_us_per_rt: Some(cpu),
                served: 100,
                failure: None,
            })
            .collect();
        let table = cell_table(&[&combined]);
        assert!(
            table.contains("| bare-tokio | 2500 | 2000–3100 | 40 | 90 | 12.5 | 11.0–13.0 |"),
            "{table}"
        );
    }

    #[test]
    fn the_json_record_is_written_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/echo.json");
        let plan = Plan {
            peers: vec![Peer::BareTokio],
            connection_counts: vec![100],
            message_size: 64,
            ramp_limit: Duration::from_secs(1),
            warmup: Duration::from_millis(100),
            window: Duration::from_secs(2),
            rounds: 1,
            server_cpus: None,
        };
        let record = Record::new(
            Machine::describe(),
            None,
            &plan,
            vec![cell(Peer::BareTokio, 100, None)],
        );
        record.write_json(&path).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["cells"][0]["server"], "bare-tokio");
        assert_eq!(value["cells"][0]["round_trips"], 5000);
    }
}
