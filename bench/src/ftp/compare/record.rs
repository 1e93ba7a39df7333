//! A comparison's samples and what is made of them: one [`Cell`] per side and metric (the
//! median over rounds), the ratios between sides (of the medians, with the spread of the
//! per-round ratios), the targets, as Markdown tables and a JSON record.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::affinity::CpuSplit;
use crate::aggregate::median;
use crate::ftp::report::{figure, opt};
use crate::ftp::results::{Cell, Metric};
use crate::ftp::targets::{TargetCheck, check};
use crate::machine::Machine;
use crate::targets::{Bound, Verdict};

/// Every value measured, by side and metric, in round order.
#[derive(Debug, Default)]
pub struct Samples {
    /// `(side, metric, values per round, details, first failure)`, in first-seen order.
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    side: String,
    metric: Metric,
    /// One value per round; `None` where that round failed.
    values: Vec<Option<f64>>,
    /// Details worth keeping (per round).
    details: Vec<String>,
    failure: Option<String>,
}

impl Samples {
    fn row(&mut self, side: &str, metric: Metric) -> &mut Row {
        let index = match self
            .rows
            .iter()
            .position(|row| row.side == side && row.metric == metric)
        {
            Some(index) => index,
            None => {
                self.rows.push(Row {
                    side: side.into(),
                    metric,
                    values: Vec::new(),
                    details: Vec::new(),
                    failure: None,
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[index]
    }

    /// Records one round's value.
    pub fn push(&mut self, side: &str, metric: Metric, value: f64) {
        self.row(side, metric).values.push(Some(value));
    }

    /// Records a detail of one round (kept in the cell's detail line).
    pub fn note(&mut self, side: &str, metric: Metric, detail: impl Into<String>) {
        self.row(side, metric).details.push(detail.into());
    }

    /// Records a failed round; the first failure is kept.
    pub fn fail(&mut self, side: &str, metric: Metric, failure: impl Into<String>) {
        let row = self.row(side, metric);
        row.values.push(None);
        row.failure.get_or_insert(failure.into());
    }

    /// Records one round's cell: its value, or its failure; a partial cell both. The NOOP
    /// latency cells keep their detail (NOOP count and maximum).
    pub fn add_cell(&mut self, cell: &Cell) {
        match (cell.value, &cell.failure) {
            (Some(value), None) => self.push(&cell.server, cell.metric, value),
            (Some(value), Some(failure)) => {
                self.push(&cell.server, cell.metric, value);
                self.note(&cell.server, cell.metric, format!("partial: {failure}"));
            }
            (None, failure) => self.fail(
                &cell.server,
                cell.metric,
                failure.clone().unwrap_or_default(),
            ),
        }
        if let Some(detail) = &cell.detail
            && matches!(cell.metric, Metric::StormNoopP99(_))
        {
            self.note(&cell.server, cell.metric, detail.clone());
        }
    }

    /// The values of every round of `side` on `metric` (`None`: failed).
    fn values(&self, side: &str, metric: Metric) -> Vec<Option<f64>> {
        self.rows
            .iter()
            .find(|row| row.side == side && row.metric == metric)
            .map(|row| row.values.clone())
            .unwrap_or_default()
    }

    /// One cell per side and metric: the median, the rounds' range and details.
    pub fn cells(&self) -> Vec<Cell> {
        self.rows
            .iter()
            .map(|row| {
                let measured: Vec<f64> = row.values.iter().flatten().copied().collect();
                let decimals = row.metric.decimals();
                let mut detail = if measured.len() > 1 {
                    let low = measured.iter().copied().fold(f64::INFINITY, f64::min);
                    let high = measured.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    format!(
                        "{} rounds: {}; range {low:.decimals$}–{high:.decimals$}",
                        measured.len(),
                        measured
                            .iter()
                            .map(|v| format!("{v:.decimals$}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                };
                if !row.details.is_empty() {
                    if !detail.is_empty() {
                        detail.push_str("; ");
                    }
                    detail.push_str(&row.details.join("; "));
                }
                let detail = (!detail.is_empty()).then_some(detail);
                let mut cell = match median(measured.clone()) {
                    Some(value) => Cell::measured(&row.side, row.metric, value, detail),
                    None => Cell::failed(
                        &row.side,
                        row.metric,
                        row.failure.clone().unwrap_or_else(|| "not measured".into()),
                    ),
                };
                if cell.value.is_some()
                    && let Some(failure) = &row.failure
                {
                    let failed = row.values.iter().filter(|v| v.is_none()).count();
                    cell.failure = Some(format!(
                        "{failed} of {} rounds failed: {failure}",
                        row.values.len()
                    ));
                }
                cell
            })
            .collect()
    }

    /// `subject` against `baseline` on `metric`: the ratio of the medians (subject over
    /// baseline, whichever way the metric points) and the ratio of each round.
    pub fn ratio(&self, metric: Metric, subject: &str, baseline: &str) -> Ratio {
        let ours = self.values(subject, metric);
        let theirs = self.values(baseline, metric);
        let per_round: Vec<f64> = ours
            .iter()
            .zip(&theirs)
            .filter_map(|(a, b)| Some((*a)? / (*b)?))
            .filter(|ratio| ratio.is_finite())
            .collect();
        let middle = |values: &[Option<f64>]| median(values.iter().flatten().copied().collect());
        let value = middle(&ours)
            .zip(middle(&theirs))
            .and_then(|(a, b)| (b > 0.0).then(|| a / b));
        Ratio {
            metric,
            subject: subject.into(),
            baseline: baseline.into(),
            value,
            per_round,
        }
    }
}

/// One side against another on one metric.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub metric: Metric,
    /// The side on top.
    pub subject: String,
    /// The side below.
    pub baseline: String,
    /// Median of the subject over median of the baseline.
    pub value: Option<f64>,
    /// Subject over baseline within each round.
    pub per_round: Vec<f64>,
}

impl Ratio {
    /// A target on this ratio: `subject / baseline` within `bound`.
    pub fn target(&self, bound: Bound) -> TargetCheck {
        check(
            format!(
                "{} {} / {} {}",
                self.metric.label(),
                self.subject,
                self.baseline,
                bound_text(bound)
            ),
            self.value,
            bound,
            format!(
                "per round {}",
                if self.per_round.is_empty() {
                    "–".to_string()
                } else {
                    self.per_round
                        .iter()
                        .map(|v| format!("{v:.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )
    }
}

fn bound_text(bound: Bound) -> String {
    match bound {
        Bound::AtMost(limit) => format!("≤ {limit:.2}"),
        Bound::AtLeast(limit) => format!("≥ {limit:.2}"),
    }
}

/// Everything a comparison produced, as written to its JSON file.
#[derive(Debug, Serialize)]
pub struct CompareRecord {
    /// `ftp-s3`, `ftp-postgres` or `ftp-durability`.
    pub benchmark: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// CPUs of the generator and of the FTP servers, when pinned.
    pub pinning: Option<CpuSplit>,
    /// The file system the servers wrote to.
    pub disk: Option<String>,
    /// The 1-minute load average at the start and at the end.
    pub load: (Option<f64>, Option<f64>),
    /// Rounds run.
    pub rounds: usize,
    /// The sides, in table order.
    pub sides: Vec<String>,
    /// Every figure (medians).
    pub cells: Vec<Cell>,
    /// Ratios shown, some judged as targets.
    pub ratios: Vec<Ratio>,
    /// The targets.
    pub targets: Vec<TargetCheck>,
    /// Facts about the run worth reading with the tables.
    pub notes: Vec<String>,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
}

impl CompareRecord {
    /// Writes the record as pretty JSON, creating the parent directory.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }

    /// Whether any figure is missing or partial.
    pub fn has_failures(&self) -> bool {
        self.cells.iter().any(|c| c.failure.is_some())
    }

    /// The figures, ratios, targets and notes as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let mut metrics: Vec<Metric> = Vec::new();
        for cell in &self.cells {
            if !metrics.contains(&cell.metric) {
                metrics.push(cell.metric);
            }
        }
        let _ = writeln!(
            out,
            "| median of {} rounds | {} |",
            self.rounds,
            self.sides.join(" | ")
        );
        out.push_str("|---|");
        out.push_str(&"--:|".repeat(self.sides.len()));
        out.push('\n');
        for &metric in &metrics {
            let _ = write!(out, "| {} |", metric.label());
            for side in &self.sides {
                let cell = self
                    .cells
                    .iter()
                    .find(|c| c.metric == metric && &c.server == side);
                let _ = write!(out, " {} |", figure(cell, metric));
            }
            out.push('\n');
        }
        if !self.ratios.is_empty() {
            out.push_str("\n| ratio | of the medians | per round |\n|---|--:|---|\n");
            for ratio in &self.ratios {
                let _ = writeln!(
                    out,
                    "| {}: {} / {} | {} | {} |",
                    ratio.metric.label(),
                    ratio.subject,
                    ratio.baseline,
                    opt(ratio.value, 2),
                    ratio
                        .per_round
                        .iter()
                        .map(|v| format!("{v:.2}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        if !self.targets.is_empty() {
            out.push_str("\n| target | measured | | basis |\n|---|--:|---|---|\n");
            for target in &self.targets {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    target.target,
                    opt(target.measured, 2),
                    target.verdict.mark(),
                    target.basis
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
        let _ = writeln!(
            out,
            "\nDisk: {}. Load average {} at the start, {} at the end.",
            self.disk.as_deref().unwrap_or("unknown"),
            opt(self.load.0, 2),
            opt(self.load.1, 2)
        );
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
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

    /// Details of each figure (rounds, latencies), one line each.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ratios_and_failed_rounds() {
        let mut samples = Samples::default();
        for (a, b) in [(100.0, 200.0), (120.0, 150.0), (90.0, 300.0)] {
            samples.push("ours", Metric::StorSingle, a);
            samples.push("theirs", Metric::StorSingle, b);
        }
        samples.fail("ours", Metric::RetrSingle, "timed out");
        samples.push("ours", Metric::RetrSingle, 50.0);
        let cells = samples.cells();
        let ours = cells
            .iter()
            .find(|c| c.server == "ours" && c.metric == Metric::StorSingle)
            .unwrap();
        assert_eq!(ours.value, Some(100.0));
        assert!(ours.detail.as_deref().unwrap().contains("range 90–120"));
        let retr = cells
            .iter()
            .find(|c| c.metric == Metric::RetrSingle)
            .unwrap();
        assert_eq!(retr.value, Some(50.0));
        assert!(
            retr.failure
                .as_deref()
                .unwrap()
                .starts_with("1 of 2 rounds failed")
        );
        let ratio = samples.ratio(Metric::StorSingle, "ours", "theirs");
        assert_eq!(ratio.value, Some(0.5));
        assert_eq!(ratio.per_round, vec![0.5, 0.8, 0.3]);
        let target = ratio.target(Bound::AtLeast(0.8));
        assert_eq!(target.verdict, Verdict::Miss);
        let absent = samples.ratio(Metric::StorSingle, "ours", "nobody");
        assert_eq!(absent.value, None);
        assert_eq!(
            absent.target(Bound::AtLeast(0.8)).verdict,
            Verdict::NotMeasured
        );
    }
}
