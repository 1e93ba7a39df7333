//! A fleet on loopback, as docs/cluster.md sets one up: wharf-ftpd nodes with their users,
//! quotas and bans in PostgreSQL and their files on Garage, behind HAProxy (control
//! connections with a PROXY v2 header, each node's passive range forwarded without one),
//! against one node of the same kind that clients reach directly.
//!
//! Four nodes and one HAProxy run for the whole comparison: the direct node, and three nodes
//! in balancer mode that HAProxy offers on three control frontends (node 1; nodes 1–2; nodes
//! 1–3). Each round measures every side in turn (each round starts with a different one): N
//! concurrent downloads of one file, then N concurrent uploads, with the bench's client; then
//! the same with a few curl processes at once, an independent client.
//!
//! - [`haproxy`]: the balancer's configuration and process.
//! - [`nodes`]: bringing the nodes, HAProxy and the test user up.
//! - [`curl_load`]: curl processes transferring at once, and their aggregate rate.

mod curl_load;
mod haproxy;
mod nodes;

use std::net::Ipv4Addr;
use std::time::Duration;

use self::nodes::Fleet;
use super::postgres::Database;
use super::record::{Ratio, Samples};
use super::{ComparePlan, Context};
use crate::ftp::cells::{MIB, transfer_cell};
use crate::ftp::results::Metric;
use crate::ftp::run::{TestFiles, flush_disk};
use crate::ftp::targets::TargetCheck;
use crate::ftp::transfers::{self, Direction};
use crate::ftp::variant::S3Bucket;

/// One node, clients straight to it, no PROXY protocol.
pub const DIRECT: &str = "direct, 1 node";
/// HAProxy in front of one, two and three nodes.
pub const BEHIND: [&str; 3] = ["HAProxy + 1 node", "HAProxy + 2 nodes", "HAProxy + 3 nodes"];
/// The sides in table order.
pub const SIDES: [&str; 4] = [DIRECT, BEHIND[0], BEHIND[1], BEHIND[2]];
/// curl processes transferring at once (a process each, so fewer than the bench's sessions).
pub const CURL_SESSIONS: usize = 30;
/// The balancer's address: the one clients are given, and the nodes' `--passive-address`.
pub const BALANCER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// Longest one measurement (one side, one direction, one client) may take; the rest of the
/// round goes on after it.
const MEASUREMENT_LIMIT: Duration = Duration::from_secs(300);
/// How long a node may take to listen.
const START_LIMIT: Duration = Duration::from_secs(30);
/// The test user's home: a key prefix in the bucket, the same on every node.
const HOME: &str = "fleet/";
/// The file every download fetches.
const DOWNLOAD: &str = "10m.bin";
/// The test user's quota: far above what the run stores, so none is refused, but every
/// upload still reserves room in PostgreSQL (the shared state being measured).
const QUOTA_BYTES: u64 = 1 << 40;

fn metric(direction: Direction, sessions: usize, bytes: u64) -> Metric {
    match direction {
        Direction::Download => Metric::Downloads { sessions, bytes },
        Direction::Upload => Metric::Uploads { sessions, bytes },
    }
}

/// Every metric of the comparison: the bench's sessions, then curl's, each way.
fn metrics(plan: &ComparePlan) -> Vec<Metric> {
    let mut all = Vec::new();
    for sessions in [plan.sessions, curl_sessions(plan)] {
        for direction in [Direction::Download, Direction::Upload] {
            all.push(metric(direction, sessions, plan.transfer_size));
        }
    }
    all
}

/// curl's count: [`CURL_SESSIONS`], fewer if the plan has fewer sessions, and never the
/// plan's own count (the two are told apart by it in the tables).
fn curl_sessions(plan: &ComparePlan) -> usize {
    CURL_SESSIONS.min(plan.sessions.saturating_sub(1)).max(1)
}

/// Runs the comparison; returns the ratios of each balanced side to the direct node (there
/// are no targets: the issue asks for the overhead, not for a bound on it).
pub async fn measure(
    ctx: &Context<'_>,
    bucket: &S3Bucket,
    database: &Database,
    files: &TestFiles,
    samples: &mut Samples,
    notes: &mut Vec<String>,
    progress: &mut impl FnMut(&str),
) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let plan = ctx.plan;
    match nodes::start(ctx, bucket, database).await {
        Ok(fleet) => {
            progress(&format!(
                "fleet up: direct node {}, HAProxy frontends {}",
                fleet.targets[0].addr,
                fleet.targets[1..]
                    .iter()
                    .map(|t| t.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for round in 0..plan.rounds {
                rounds_of_sessions(&fleet, plan, round, samples, progress).await;
                rounds_of_curl(ctx, &fleet, files, round, samples, progress).await;
                progress(&format!("round {} done", round + 1));
            }
            fleet.stop();
        }
        Err(failure) => {
            progress(&format!("the fleet did not start: {failure}"));
            for side in SIDES {
                for metric in metrics(plan) {
                    samples.fail(side, metric, failure.clone());
                }
            }
        }
    }
    notes.push(format!(
        "Every node in async mode, its users, quota leases, bans and session slots in one \
         PostgreSQL database, its files on one Garage bucket (home `{HOME}`, a {} TiB quota so \
         each upload reserves); HAProxy {} with `balance roundrobin` (every client here comes \
         from 127.0.0.1, so `balance source` would send them all to one node), `send-proxy-v2` \
         to the nodes' control ports, and each node's own passive range forwarded without a \
         header; the nodes advertise {BALANCER}. The direct node has the same configuration \
         without `--proxy-protocol-from` and `--passive-address`.",
        QUOTA_BYTES >> 40,
        haproxy::version().unwrap_or_else(|| "(version unknown)".into()),
    ));
    notes.push(format!(
        "The {} × rows are the bench's client ({} sessions logged in first, then all \
         transfers started at once, timed to the last 226); the {} × rows are {} curl \
         processes started at once, timed from the first one's start of transfer to the last \
         one's end (curl's own time_pretransfer and time_total), so their logins are left out \
         as far as they do not overlap others' transfers.",
        plan.sessions,
        plan.sessions,
        curl_sessions(plan),
        curl_sessions(plan),
    ));
    let mut ratios = Vec::new();
    for metric in metrics(plan) {
        for side in BEHIND {
            ratios.push(samples.ratio(metric, side, DIRECT));
        }
    }
    (ratios, Vec::new())
}

/// One round of the bench's concurrent sessions: downloads on every side, then uploads.
async fn rounds_of_sessions(
    fleet: &Fleet,
    plan: &ComparePlan,
    round: usize,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) {
    for direction in [Direction::Download, Direction::Upload] {
        let metric = metric(direction, plan.sessions, plan.transfer_size);
        for turn in 0..SIDES.len() {
            let index = (round + turn) % SIDES.len();
            let side = SIDES[index];
            flush_disk().await;
            let before = fleet.cpu(index);
            let measured = tokio::time::timeout(
                MEASUREMENT_LIMIT,
                transfers::concurrent(
                    &fleet.targets[index],
                    plan.sessions,
                    direction,
                    plan.transfer_size,
                    DOWNLOAD,
                ),
            )
            .await;
            let Ok(outcome) = measured else {
                let failure = format!("not done within {} s", MEASUREMENT_LIMIT.as_secs());
                progress(&format!("{side}: {}: {failure}", metric.label()));
                samples.fail(side, metric, failure);
                continue;
            };
            let cell = transfer_cell(side, metric, &outcome, plan.sessions);
            progress(&crate::ftp::cells::summary(&cell));
            samples.add_cell(&cell);
            if let Some(text) = cpu_note(before, fleet.cpu(index), outcome.bytes) {
                samples.note(side, metric, text);
            }
        }
    }
}

/// The CPU the side's processes spent per MiB moved between two readings (the nodes' figure
/// includes the sessions' logins, argon2id hashes among them).
fn cpu_note(
    before: Option<(Duration, Option<Duration>)>,
    after: Option<(Duration, Option<Duration>)>,
    bytes: u64,
) -> Option<String> {
    let ((nodes0, balancer0), (nodes1, balancer1)) = before.zip(after)?;
    let mib = (bytes as f64 / MIB).max(1.0);
    let per_mib = |a: Duration, b: Duration| b.saturating_sub(a).as_secs_f64() * 1e3 / mib;
    let mut text = format!(
        "nodes {:.2} ms CPU/MiB with the logins",
        per_mib(nodes0, nodes1)
    );
    if let Some((a, b)) = balancer0.zip(balancer1) {
        text.push_str(&format!(", HAProxy {:.2} ms CPU/MiB", per_mib(a, b)));
    }
    Some(text)
}

/// One round of curl processes: downloads on every side, then uploads.
async fn rounds_of_curl(
    ctx: &Context<'_>,
    fleet: &Fleet,
    files: &TestFiles,
    round: usize,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) {
    let plan = ctx.plan;
    let count = curl_sessions(plan);
    for direction in [Direction::Download, Direction::Upload] {
        let metric = metric(direction, count, plan.transfer_size);
        for turn in 0..SIDES.len() {
            let index = (round + turn) % SIDES.len();
            let side = SIDES[index];
            let target = &fleet.targets[index];
            let load = curl_load::CurlLoad {
                addr: target.addr,
                user: target.user.clone(),
                password: target.password.clone(),
                limit: MEASUREMENT_LIMIT,
            };
            flush_disk().await;
            let outcome = match direction {
                Direction::Download => load.downloads(count, DOWNLOAD, plan.transfer_size).await,
                Direction::Upload => load.uploads(count, files.big(), plan.transfer_size).await,
            };
            match outcome {
                Ok(rate) => {
                    progress(&format!("{side}: curl {}: {rate:.0}", metric.label()));
                    samples.push(side, metric, rate);
                }
                Err(failure) => {
                    progress(&format!("{side}: curl {}: {failure}", metric.label()));
                    samples.fail(side, metric, failure);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_rows_never_share_the_sessions_count() {
        let plan = |sessions| ComparePlan {
            suite: super::super::Suite::Fleet,
            rounds: 1,
            big_size: 0,
            sessions,
            transfer_size: 1 << 20,
            storm: 0,
            peers: Vec::new(),
            step_limit: Duration::from_secs(1),
            server_cpus: None,
            work_dir: std::env::temp_dir(),
        };
        assert_eq!(curl_sessions(&plan(300)), CURL_SESSIONS);
        assert_eq!(curl_sessions(&plan(4)), 3);
        assert_eq!(metrics(&plan(300)).len(), 4);
        let mut distinct = metrics(&plan(4));
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn cpu_per_mib_names_the_balancer_only_when_there_is_one() {
        let s = Duration::from_secs;
        let direct = cpu_note(Some((s(1), None)), Some((s(3), None)), 1000 << 20);
        assert_eq!(
            direct.as_deref(),
            Some("nodes 2.00 ms CPU/MiB with the logins")
        );
        let behind = cpu_note(
            Some((s(1), Some(s(0)))),
            Some((s(2), Some(s(1)))),
            500 << 20,
        );
        assert_eq!(
            behind.as_deref(),
            Some("nodes 2.00 ms CPU/MiB with the logins, HAProxy 2.00 ms CPU/MiB")
        );
        assert_eq!(cpu_note(None, Some((s(1), None)), 1), None);
    }
}
