//! Turning what the scenarios measured into [`Cell`]s, with their details and failures, and
//! the progress line printed for each.

use std::time::Duration;

use super::results::{Cell, Metric};
use super::sessions;
use super::transfers;

/// Bytes in a MiB.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// `low–high` of several values, `None` for fewer than two.
pub(crate) fn range(values: &[f64]) -> Option<String> {
    if values.len() < 2 {
        return None;
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(format!("rounds {low:.0}–{high:.0}"))
}

/// Milliseconds with one decimal, `–` when absent.
fn millis(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

pub(crate) fn login_cell(
    id: &str,
    metric: Metric,
    outcome: &sessions::LoginOutcome,
    count: usize,
) -> Cell {
    if outcome.logged_in == 0 {
        return Cell::failed(id, metric, outcome.first_error.clone().unwrap_or_default());
    }
    let cell = Cell::measured(
        id,
        metric,
        outcome.rate(),
        Some(format!(
            "p50 {} ms, p99 {} ms",
            millis(outcome.latencies.quantile(0.5)),
            millis(outcome.latencies.quantile(0.99))
        )),
    );
    with_failures(cell, outcome.failed, count, &outcome.first_error)
}

pub(crate) fn transfer_cell(
    id: &str,
    metric: Metric,
    outcome: &transfers::ConcurrentOutcome,
    count: usize,
) -> Cell {
    if outcome.completed == 0 {
        return Cell::failed(id, metric, outcome.first_error.clone().unwrap_or_default());
    }
    let rate = outcome.bytes as f64 / MIB / outcome.elapsed.as_secs_f64().max(1e-9);
    let cell = Cell::measured(
        id,
        metric,
        rate,
        Some(format!(
            "all done in {:.2} s",
            outcome.elapsed.as_secs_f64()
        )),
    );
    with_failures(cell, outcome.failed, count, &outcome.first_error)
}

pub(crate) fn storm_cells(id: &str, count: usize, storm: &sessions::StormOutcome) -> Vec<Cell> {
    let ms = |q: f64| storm.noops.quantile(q).map(|d| d.as_secs_f64() * 1e3);
    let noop_detail = Some(format!(
        "{} NOOPs, max {} ms",
        storm.noops.len(),
        millis(storm.noops.max())
    ));
    let mut cells = Vec::new();
    for (metric, value) in [
        (Metric::StormNoopP50(count), ms(0.5)),
        (Metric::StormNoopP99(count), ms(0.99)),
    ] {
        cells.push(match (value, &storm.live_error) {
            (Some(value), None) => Cell::measured(id, metric, value, noop_detail.clone()),
            (_, error) => Cell::failed(
                id,
                metric,
                error.clone().unwrap_or_else(|| "no NOOP completed".into()),
            ),
        });
    }
    cells.push(login_cell(
        id,
        Metric::StormLogins(count),
        &storm.logins,
        count,
    ));
    cells
}

pub(crate) fn idle_cells(id: &str, outcome: &sessions::IdleOutcome) -> Vec<Cell> {
    let mut cells = Vec::new();
    let baseline = outcome.baseline.as_ref().ok();
    for checkpoint in &outcome.checkpoints {
        let wanted = checkpoint.wanted;
        let memory = match &checkpoint.memory {
            Ok(memory) => memory,
            Err(error) => {
                cells.push(Cell::failed(id, Metric::IdleRss(wanted), error.clone()));
                cells.push(Cell::failed(id, Metric::IdlePss(wanted), error.clone()));
                continue;
            }
        };
        let per_session = baseline.map(|base| {
            (memory.rss_bytes.saturating_sub(base.rss_bytes)) as f64
                / 1024.0
                / checkpoint.held.max(1) as f64
        });
        let detail = format!(
            "{}/{wanted} held, {} processes{}",
            checkpoint.held,
            memory.processes,
            per_session.map_or_else(String::new, |kib| format!(", {kib:.1} KiB/session RSS"))
        );
        let partial = (checkpoint.held < wanted).then(|| {
            format!(
                "only {} of {wanted} sessions logged in: {}",
                checkpoint.held,
                outcome.first_error.clone().unwrap_or_default()
            )
        });
        let mut rss = Cell::measured(
            id,
            Metric::IdleRss(wanted),
            memory.rss_bytes as f64 / MIB,
            Some(detail.clone()),
        );
        rss.failure = partial.clone();
        cells.push(rss);
        let mut pss = match memory.pss_bytes {
            Some(pss) => {
                Cell::measured(id, Metric::IdlePss(wanted), pss as f64 / MIB, Some(detail))
            }
            None => Cell::failed(id, Metric::IdlePss(wanted), "no smaps_rollup"),
        };
        pss.failure = pss.failure.or(partial);
        cells.push(pss);
    }
    cells
}

/// One progress line for a cell.
pub(crate) fn summary(cell: &Cell) -> String {
    let value = cell.value.map_or_else(
        || "–".to_string(),
        |v| format!("{v:.prec$}", prec = cell.metric.decimals()),
    );
    let mut line = format!("{}: {} = {value}", cell.server, cell.metric.label());
    if let Some(detail) = &cell.detail {
        line.push_str(&format!(" ({detail})"));
    }
    if let Some(failure) = &cell.failure {
        line.push_str(&format!(" FAILED: {failure}"));
    }
    line
}

/// Marks `cell` partial when `failed` of `count` sessions failed, naming the first error.
fn with_failures(
    mut cell: Cell,
    failed: usize,
    count: usize,
    first_error: &Option<String>,
) -> Cell {
    if failed > 0 {
        cell.failure = Some(format!(
            "{failed} of {count} failed: {}",
            first_error.clone().unwrap_or_default()
        ));
    }
    cell
}
