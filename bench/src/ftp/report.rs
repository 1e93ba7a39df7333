//! The FTP results as Markdown tables (pasted as they are into `docs/benchmarks.md`) and as a
//! JSON record.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::argon2_cost::Argon2Cost;
use super::loopback::LoopbackLimit;
use super::results::{Cell, Metric, best, value_of};
use super::targets::TargetCheck;
use crate::affinity::CpuSplit;
use crate::machine::Machine;
use crate::targets::{Bound, Verdict};

/// The sizes and counts of a run, for the record.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Bytes of the single-session file.
    pub big_size: u64,
    /// Single-session rounds.
    pub rounds: usize,
    /// Login burst sizes.
    pub login_counts: Vec<usize>,
    /// Concurrent transfer counts.
    pub transfer_counts: Vec<usize>,
    /// Bytes per concurrent transfer.
    pub transfer_size: u64,
    /// Idle session checkpoints.
    pub idle_counts: Vec<usize>,
    /// Login storm size.
    pub storm: usize,
}

/// Everything a run produced, as written to the JSON file.
#[derive(Debug, Serialize)]
pub struct FtpRecord {
    /// Which benchmark this is.
    pub benchmark: &'static str,
    /// The machine it ran on.
    pub machine: Machine,
    /// CPUs of the generator and of the servers, when pinned.
    pub pinning: Option<CpuSplit>,
    /// Sizes and counts.
    pub scale: Scale,
    /// Servers in run order.
    pub servers: Vec<String>,
    /// The loopback limit.
    pub loopback: LoopbackLimit,
    /// The argon2 login ceiling.
    pub argon2: Option<Argon2Cost>,
    /// Every figure.
    pub cells: Vec<Cell>,
    /// The targets.
    pub targets: Vec<TargetCheck>,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
}

impl FtpRecord {
    /// Writes the record as pretty JSON, creating the parent directory.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }

    /// The peers measured.
    pub fn peers(&self) -> Vec<&str> {
        self.servers
            .iter()
            .map(String::as_str)
            .filter(|s| !s.starts_with("wharf-"))
            .collect()
    }

    /// The metrics measured, in first-seen order.
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics: Vec<Metric> = Vec::new();
        for cell in &self.cells {
            if !metrics.contains(&cell.metric) {
                metrics.push(cell.metric);
            }
        }
        metrics
    }

    /// Whether any figure is missing or partial.
    pub fn has_failures(&self) -> bool {
        self.cells.iter().any(|c| c.failure.is_some())
    }

    /// Whether a Wharf server has a failed or partial figure. A peer's (vsftpd's listen backlog
    /// overflowing in a burst of logins) is part of what is measured, not a failed run.
    pub fn has_wharf_failures(&self) -> bool {
        let peers = self.peers();
        self.cells
            .iter()
            .any(|c| c.failure.is_some() && !peers.contains(&c.server.as_str()))
    }

    /// Every table: figures, ratios of each Wharf mode to the best peer, targets, failures.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let peers = self.peers();
        let wharf: Vec<&str> = self
            .servers
            .iter()
            .map(String::as_str)
            .filter(|s| s.starts_with("wharf-"))
            .collect();
        let metrics = self.metrics();
        // Figures: one row per metric, one column per server.
        out.push_str("| | ");
        out.push_str(&self.servers.join(" | "));
        out.push_str(" |\n|---|");
        out.push_str(&"--:|".repeat(self.servers.len()));
        out.push('\n');
        for &metric in &metrics {
            let _ = write!(out, "| {} |", metric.label());
            for server in &self.servers {
                let cell = self
                    .cells
                    .iter()
                    .find(|c| c.metric == metric && &c.server == server);
                let _ = write!(out, " {} |", figure(cell, metric));
            }
            out.push('\n');
        }
        if let Some(limit) = self.loopback.limit_mib_s() {
            let _ = writeln!(
                out,
                "\nLoopback limit (one TCP stream between two processes): {limit:.0} MiB/s \
                 (own sink {}, iperf3 {}).",
                opt(self.loopback.blast_mib_s, 0),
                opt(self.loopback.iperf3_mib_s, 0)
            );
        }
        if let Some(argon2) = &self.argon2 {
            let _ = writeln!(
                out,
                "Argon2id {}: {:.1} ms per verification on one CPU; ceiling {:.0} logins/s on \
                 the server's {} CPU{}.",
                argon2.params,
                argon2.verify_ms,
                argon2.ceiling_logins_per_sec,
                argon2.server_cpus,
                if argon2.server_cpus == 1 { "" } else { "s" }
            );
        }
        if !peers.is_empty() && !wharf.is_empty() {
            out.push_str(
                "\nEach Wharf mode against the best peer (above 1.00: Wharf is better):\n\n",
            );
            out.push_str("| | best peer | ");
            out.push_str(&wharf.join(" | "));
            out.push_str(" |\n|---|---|");
            out.push_str(&"--:|".repeat(wharf.len()));
            out.push('\n');
            for &metric in &metrics {
                let top = best(&self.cells, metric, &peers);
                let _ = write!(
                    out,
                    "| {} | {} |",
                    metric.label(),
                    top.map_or_else(
                        || "–".to_string(),
                        |(server, value)| format!(
                            "{server} {value:.prec$}",
                            prec = metric.decimals()
                        )
                    )
                );
                for server in &wharf {
                    let ratio = value_of(&self.cells, server, metric)
                        .zip(top)
                        .and_then(|(ours, (_, theirs))| metric.advantage(ours, theirs));
                    let _ = write!(out, " {} |", opt(ratio, 2));
                }
                out.push('\n');
            }
        }
        if !self.targets.is_empty() {
            out.push_str("\nTargets (wharf-async):\n\n| target | measured | bound | | basis |\n|---|--:|---|---|---|\n");
            for check in &self.targets {
                let bound = match check.bound {
                    Bound::AtMost(limit) => format!("≤ {limit:.2}"),
                    Bound::AtLeast(limit) => format!("≥ {limit:.2}"),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {bound} | {} | {} |",
                    check.target,
                    opt(check.measured, 2),
                    check.verdict.mark(),
                    check.basis
                );
            }
            let count = |v| self.targets.iter().filter(|c| c.verdict == v).count();
            let _ = writeln!(
                out,
                "\nTargets: {} met, {} missed, {} not measured.",
                count(Verdict::Pass),
                count(Verdict::Miss),
                count(Verdict::NotMeasured)
            );
        }
        let failures: Vec<&Cell> = self.cells.iter().filter(|c| c.failure.is_some()).collect();
        if !failures.is_empty() {
            out.push_str("\nFailures and partial figures:\n\n");
            for cell in failures {
                let _ = writeln!(
                    out,
                    "- {} / {}: {}",
                    cell.server,
                    cell.metric.label(),
                    cell.failure.as_deref().unwrap_or("")
                );
            }
        }
        out
    }

    /// Details of each figure (spreads, latencies, sessions held), one line each.
    pub fn details(&self) -> String {
        let mut out = String::new();
        for cell in &self.cells {
            if let Some(detail) = &cell.detail {
                let _ = writeln!(out, "- {} / {}: {detail}", cell.server, cell.metric.label());
            }
        }
        out
    }
}

pub(crate) fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

/// A table entry: the value, starred when partial, `failed` when missing, `–` when not run.
pub(crate) fn figure(cell: Option<&Cell>, metric: Metric) -> String {
    match cell {
        None => "–".into(),
        Some(cell) => match (cell.value, &cell.failure) {
            (Some(value), None) => format!("{value:.prec$}", prec = metric.decimals()),
            (Some(value), Some(_)) => format!("{value:.prec$}*", prec = metric.decimals()),
            (None, _) => "failed".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::targets;

    fn record(cells: Vec<Cell>) -> FtpRecord {
        let loopback = LoopbackLimit {
            blast_mib_s: Some(2000.0),
            iperf3_mib_s: None,
            notes: Vec::new(),
        };
        let checks = targets::judge(&cells, &["vsftpd"], &loopback, None, None, None, Some(300));
        FtpRecord {
            benchmark: "ftp",
            machine: Machine::describe(),
            pinning: None,
            scale: Scale {
                big_size: 1 << 20,
                rounds: 1,
                login_counts: vec![],
                transfer_counts: vec![],
                transfer_size: 0,
                idle_counts: vec![],
                storm: 300,
            },
            servers: vec!["vsftpd".into(), "wharf-async".into()],
            loopback,
            argon2: None,
            cells,
            targets: checks,
            elapsed_secs: 1.0,
        }
    }

    /// A record where only a peer's figure failed.
    fn record_with_peer_failure_only() -> FtpRecord {
        record(vec![
            Cell::measured("wharf-async", Metric::RetrSingle, 1500.0, None),
            Cell::failed("vsftpd", Metric::RetrSingle, "did not start"),
        ])
    }

    #[test]
    fn tables_show_figures_ratios_targets_and_failures() {
        let mut partial = Cell::measured("wharf-async", Metric::IdleRss(10_000), 90.0, None);
        partial.failure = Some("only 9000 of 10000 sessions logged in".into());
        let record = record(vec![
            Cell::measured("vsftpd", Metric::RetrSingle, 1000.0, None),
            Cell::measured("wharf-async", Metric::RetrSingle, 1500.0, None),
            Cell::failed("vsftpd", Metric::IdleRss(10_000), "did not start"),
            partial,
        ]);
        let text = record.to_markdown();
        assert!(
            text.contains("| RETR, 1 session (MiB/s) | 1000 | 1500 |"),
            "{text}"
        );
        assert!(
            text.contains("| 10000 idle sessions, RSS (MiB) | failed | 90.0* |"),
            "{text}"
        );
        assert!(
            text.contains("| RETR, 1 session (MiB/s) | vsftpd 1000 | 1.50 |"),
            "{text}"
        );
        assert!(text.contains("Loopback limit"), "{text}");
        assert!(text.contains("- vsftpd / 10000 idle sessions, RSS (MiB): did not start"));
        assert!(record.has_failures());
        assert!(
            record.has_wharf_failures(),
            "wharf-async's figure is partial"
        );
        let peer_only = record_with_peer_failure_only();
        assert!(peer_only.has_failures() && !peer_only.has_wharf_failures());
        // The idle target is not judged on a partial figure.
        assert!(
            text.contains("| 10000 idle sessions < 150 MiB (RSS) | – |"),
            "{text}"
        );
    }

    #[test]
    fn the_json_record_is_written_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/ftp.json");
        let record = record(vec![Cell::measured(
            "vsftpd",
            Metric::RetrSingle,
            1.0,
            None,
        )]);
        record.write_json(&path).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["cells"][0]["server"], "vsftpd");
        assert_eq!(value["cells"][0]["metric"], "retr_single");
    }
}
