//! The targets of the performance issue, judged on wharf-ftpd in async mode:
//!
//! - single-session RETR and STOR at least as fast as the best peer;
//! - RETR at least 70% of the loopback limit;
//! - 10,000 idle sessions in under 150 MiB (RSS of the whole server);
//! - the largest concurrent download and upload counts no slower than the best peer;
//! - logins at least 80% of what the argon2 parameters allow on the server's CPUs;
//! - NOOP p99 on a live session under 20 ms during the login storm.

use serde::Serialize;

use super::argon2_cost::Argon2Cost;
use super::loopback::LoopbackLimit;
use super::results::{Cell, Metric, best, value_of};
use crate::targets::{Bound, Verdict};

/// The server the targets are about.
pub const SUBJECT: &str = "wharf-async";
/// Idle sessions the memory target speaks of.
pub const IDLE_TARGET_SESSIONS: usize = 10_000;
/// The memory target, MiB.
pub const IDLE_TARGET_MIB: f64 = 150.0;

/// One target and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is required, in words.
    pub target: String,
    /// The figure judged (a ratio, or MiB, or ms).
    pub measured: Option<f64>,
    /// The bound it must respect.
    pub bound: Bound,
    /// Met, missed or not measured.
    pub verdict: Verdict,
    /// The figures behind it.
    pub basis: String,
}

pub(crate) fn check(
    target: String,
    measured: Option<f64>,
    bound: Bound,
    basis: String,
) -> TargetCheck {
    let verdict = match measured {
        None => Verdict::NotMeasured,
        Some(value) => {
            let holds = match bound {
                Bound::AtMost(limit) => value <= limit,
                Bound::AtLeast(limit) => value >= limit,
            };
            if holds { Verdict::Pass } else { Verdict::Miss }
        }
    };
    TargetCheck {
        target,
        measured,
        bound,
        verdict,
        basis,
    }
}

/// `subject` against the best of `peers` on `metric`: the advantage (≥ 1 is as good or better).
fn against_best_peer(cells: &[Cell], metric: Metric, peers: &[&str]) -> TargetCheck {
    let ours = value_of(cells, SUBJECT, metric);
    let theirs = best(cells, metric, peers);
    let measured = match (ours, theirs) {
        (Some(ours), Some((_, theirs))) => metric.advantage(ours, theirs),
        _ => None,
    };
    let basis = format!(
        "{SUBJECT} {} vs {} {}",
        fmt(ours, metric.decimals()),
        theirs.map_or("–", |(server, _)| server),
        fmt(theirs.map(|(_, v)| v), metric.decimals())
    );
    check(
        format!("{} ≥ best peer", metric.label()),
        measured,
        Bound::AtLeast(1.0),
        basis,
    )
}

fn fmt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

/// Judges every target. `peers` are the peer ids measured in this run; `transfers` (sessions,
/// bytes each) and `login_count` are the largest counts measured.
pub fn judge(
    cells: &[Cell],
    peers: &[&str],
    loopback: &LoopbackLimit,
    argon2: Option<&Argon2Cost>,
    transfers: Option<(usize, u64)>,
    login_count: Option<usize>,
    storm: Option<usize>,
) -> Vec<TargetCheck> {
    let mut checks = vec![
        against_best_peer(cells, Metric::RetrSingle, peers),
        against_best_peer(cells, Metric::StorSingle, peers),
    ];
    let retr = value_of(cells, SUBJECT, Metric::RetrSingle);
    let limit = loopback.limit_mib_s();
    checks.push(check(
        "RETR, 1 session ≥ 70% of the loopback limit".into(),
        retr.zip(limit).map(|(retr, limit)| retr / limit),
        Bound::AtLeast(0.70),
        format!("{} MiB/s of {} MiB/s", fmt(retr, 0), fmt(limit, 0)),
    ));
    let idle = value_of(cells, SUBJECT, Metric::IdleRss(IDLE_TARGET_SESSIONS));
    let held_all = cells.iter().any(|c| {
        c.server == SUBJECT
            && c.metric == Metric::IdleRss(IDLE_TARGET_SESSIONS)
            && c.failure.is_none()
    });
    checks.push(check(
        format!("{IDLE_TARGET_SESSIONS} idle sessions < {IDLE_TARGET_MIB} MiB (RSS)"),
        idle.filter(|_| held_all),
        Bound::AtMost(IDLE_TARGET_MIB),
        format!("{} MiB", fmt(idle, 1)),
    ));
    if let Some((sessions, bytes)) = transfers {
        let downloads = Metric::Downloads { sessions, bytes };
        checks.push(against_best_peer(cells, downloads, peers));
        let uploads = Metric::Uploads { sessions, bytes };
        checks.push(against_best_peer(cells, uploads, peers));
    }
    if let Some(count) = login_count {
        let rate = value_of(cells, SUBJECT, Metric::Logins(count));
        let ceiling = argon2.map(|a| a.ceiling_logins_per_sec);
        checks.push(check(
            format!("connect+login ×{count} ≥ 80% of the argon2 ceiling"),
            rate.zip(ceiling).map(|(rate, ceiling)| rate / ceiling),
            Bound::AtLeast(0.80),
            format!(
                "{} logins/s of {} ({})",
                fmt(rate, 0),
                fmt(ceiling, 0),
                argon2.map_or_else(
                    || "argon2 cost not measured".to_string(),
                    |a| format!(
                        "{:.1} ms per hash, {} CPU{}",
                        a.verify_ms,
                        a.server_cpus,
                        if a.server_cpus == 1 { "" } else { "s" }
                    )
                )
            ),
        ));
    }
    if let Some(storm) = storm {
        let p99 = value_of(cells, SUBJECT, Metric::StormNoopP99(storm));
        checks.push(check(
            format!("NOOP p99 during {storm} logins < 20 ms"),
            p99,
            Bound::AtMost(20.0),
            format!("{} ms", fmt(p99, 2)),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pass_miss_or_go_unmeasured() {
        let cells = vec![
            Cell::measured(SUBJECT, Metric::RetrSingle, 900.0, None),
            Cell::measured("vsftpd", Metric::RetrSingle, 1000.0, None),
            Cell::measured("pyftpdlib", Metric::RetrSingle, 500.0, None),
            Cell::measured(SUBJECT, Metric::StorSingle, 800.0, None),
            Cell::measured("vsftpd", Metric::StorSingle, 700.0, None),
            Cell::measured(SUBJECT, Metric::IdleRss(10_000), 120.0, None),
            Cell::measured(SUBJECT, Metric::StormNoopP99(300), 3.0, None),
        ];
        let loopback = LoopbackLimit {
            blast_mib_s: Some(1000.0),
            iperf3_mib_s: None,
            notes: Vec::new(),
        };
        let checks = judge(
            &cells,
            &["vsftpd", "pyftpdlib"],
            &loopback,
            None,
            None,
            Some(1000),
            Some(300),
        );
        let verdicts: Vec<Verdict> = checks.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Miss,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::Pass,
                Verdict::NotMeasured,
                Verdict::Pass
            ]
        );
        assert!(
            checks[0].basis.contains("vs vsftpd 1000"),
            "{}",
            checks[0].basis
        );
    }
}
