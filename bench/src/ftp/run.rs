//! The run: each server prepared, started pinned, put through every scenario, stopped; the
//! figures collected as [`Cell`]s.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cells::{MIB, idle_cells, login_cell, range, storm_cells, summary, transfer_cell};
use super::client::FtpSession;
use super::results::{Cell, Metric};
use super::servers::{FtpServer, Programs};
use super::sessions;
use super::setup::{self, Credentials};
use super::transfers::{self, Direction, Target, upload_pattern};
use crate::affinity;
use crate::aggregate::median;
use crate::cpu::CpuMeter;
use crate::launch::RunningServer;

/// Name of the big file every server's root holds for single-session RETR.
pub(crate) const BIG_FILE: &str = "big.bin";
/// Name of the file concurrent downloads fetch.
pub(crate) const SMALL_FILE: &str = "10m.bin";
/// Name single-session STOR writes.
pub(crate) const STOR_FILE: &str = "stor.bin";
/// How long a server may take to greet its first client.
const START_LIMIT: Duration = Duration::from_secs(30);

/// What to measure.
#[derive(Debug, Clone)]
pub struct FtpPlan {
    /// Servers, in run order.
    pub servers: Vec<FtpServer>,
    /// Bytes of the single-session STOR and RETR.
    pub big_size: u64,
    /// Single-session rounds; the cell reports their median (0: not measured).
    pub rounds: usize,
    /// Clients logging in at once, one cell each.
    pub login_counts: Vec<usize>,
    /// Sessions transferring at once, one download and one upload cell each.
    pub transfer_counts: Vec<usize>,
    /// Bytes per concurrent transfer.
    pub transfer_size: u64,
    /// Idle session counts at which memory is read (one ramp, increasing).
    pub idle_counts: Vec<usize>,
    /// Servers whose ramp stops at the smallest idle count.
    pub idle_limited: Vec<FtpServer>,
    /// Clients logging in at once while the live session sends NOOPs (0: no storm).
    pub storm: usize,
    /// Time limit of each protocol step.
    pub step_limit: Duration,
    /// Pause before memory is read at an idle checkpoint.
    pub idle_settle: Duration,
    /// CPUs the servers are pinned to (`None`: not pinned).
    pub server_cpus: Option<Vec<usize>>,
    /// Where servers' roots, configurations and logs go (one folder per server).
    pub work_dir: PathBuf,
}

/// The shared test files, made once per run and hard-linked into every server's root.
#[derive(Debug)]
pub struct TestFiles {
    /// The big file (single-session RETR).
    big: PathBuf,
    /// The 10 MiB file (concurrent downloads).
    small: PathBuf,
}

impl TestFiles {
    /// Writes both files under `dir` (readable by everyone, as every server must read them).
    pub fn create(dir: &Path, big_size: u64, small_size: u64) -> io::Result<TestFiles> {
        fs::create_dir_all(dir)?;
        let files = TestFiles {
            big: dir.join(BIG_FILE),
            small: dir.join(SMALL_FILE),
        };
        write_pattern(&files.big, big_size)?;
        write_pattern(&files.small, small_size)?;
        Ok(files)
    }

    /// The big file.
    pub fn big(&self) -> &Path {
        &self.big
    }

    /// Links both into `root`.
    pub(crate) fn link_into(&self, root: &Path) -> io::Result<()> {
        fs::hard_link(&self.big, root.join(BIG_FILE))?;
        fs::hard_link(&self.small, root.join(SMALL_FILE))
    }
}

/// Writes `size` bytes of the upload pattern to `path` (a real file, so reads hit real pages).
fn write_pattern(path: &Path, size: u64) -> io::Result<()> {
    use std::io::Write;
    let pattern = upload_pattern();
    let mut file = io::BufWriter::new(fs::File::create(path)?);
    let mut left = size;
    while left > 0 {
        let piece = pattern
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        file.write_all(&pattern[..piece])?;
        left -= piece as u64;
    }
    file.flush()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

/// A started server and what it needs to be measured.
pub(crate) struct Live {
    /// The process.
    pub(crate) server: RunningServer,
    /// Where and as whom to connect.
    pub(crate) target: Target,
}

/// Prepares and starts `server` in `dir` (pinned to `cpus`), waiting for its greeting.
pub(crate) async fn start(
    server: FtpServer,
    cpus: Option<&[usize]>,
    step_limit: Duration,
    programs: &Programs,
    credentials: &Credentials,
    files: &TestFiles,
    dir: &Path,
) -> Result<Live, String> {
    clean(dir)?;
    let prepared = setup::prepare(server, programs, credentials, dir).map_err(|e| e.to_string())?;
    files
        .link_into(&prepared.root)
        .map_err(|e| format!("linking the test files: {e}"))?;
    launch(prepared, cpus, credentials, step_limit).await
}

/// Removes what a previous start left in `dir`.
pub(crate) fn clean(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cleaning {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Starts a prepared server, pinned to `cpus`, and waits for its greeting.
pub(crate) async fn launch(
    mut prepared: setup::Prepared,
    cpus: Option<&[usize]>,
    credentials: &Credentials,
    step_limit: Duration,
) -> Result<Live, String> {
    if let Some(cpus) = cpus {
        affinity::pin_command(&mut prepared.command, cpus).map_err(|e| e.to_string())?;
    }
    let mut running = RunningServer::spawn(prepared.command, prepared.addr, &prepared.log)
        .map_err(|e| e.to_string())?;
    let target = Target {
        addr: prepared.addr,
        user: credentials.user.clone(),
        password: credentials.password.clone(),
        step_limit,
    };
    let deadline = tokio::time::Instant::now() + START_LIMIT;
    loop {
        match FtpSession::connect(target.addr, Duration::from_secs(5)).await {
            Ok(session) => {
                session.quit().await;
                return Ok(Live {
                    server: running,
                    target,
                });
            }
            Err(error) => {
                if !running.is_running() || tokio::time::Instant::now() > deadline {
                    let log = fs::read_to_string(&prepared.log).unwrap_or_default();
                    let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                    return Err(format!("did not start ({error}); log: {tail}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Measures one server through every scenario; failures become failed cells.
pub async fn measure_server(
    server: FtpServer,
    plan: &FtpPlan,
    programs: &Programs,
    credentials: &Credentials,
    files: &TestFiles,
    progress: &mut impl FnMut(&str),
) -> Vec<Cell> {
    let id = server.id();
    settle(id, progress).await;
    let dir = plan.work_dir.join(id);
    let mut cells = Vec::new();
    let metrics = metrics_of(server, plan);
    let live = match start(
        server,
        plan.server_cpus.as_deref(),
        plan.step_limit,
        programs,
        credentials,
        files,
        &dir,
    )
    .await
    {
        Ok(live) => live,
        Err(failure) => {
            progress(&format!("{id}: {failure}"));
            return metrics
                .into_iter()
                .map(|metric| Cell::failed(id, metric, failure.clone()))
                .collect();
        }
    };
    progress(&format!("{id}: listening on {}", live.target.addr));
    if plan.rounds > 0 {
        single_session(id, plan, &live.target, &mut cells, progress).await;
    }
    if !server.one_session_at_a_time() {
        let meter = CpuMeter::for_server(live.server.pid());
        for &count in &plan.login_counts {
            let before = meter.read().ok();
            let outcome = sessions::login_burst(&live.target, count).await;
            let used = meter
                .read()
                .ok()
                .zip(before)
                .map(|(after, before)| after - before);
            let mut cell = login_cell(id, Metric::Logins(count), &outcome, count);
            if let (Some(used), Some(detail)) = (used, cell.detail.as_mut()) {
                let per_login = used.as_secs_f64() * 1e3 / outcome.logged_in.max(1) as f64;
                detail.push_str(&format!(", server CPU {per_login:.1} ms/login"));
            }
            progress(&summary(&cell));
            cells.push(cell);
        }
        for &count in &plan.transfer_counts {
            for direction in [Direction::Download, Direction::Upload] {
                flush_disk().await;
                let outcome = transfers::concurrent(
                    &live.target,
                    count,
                    direction,
                    plan.transfer_size,
                    SMALL_FILE,
                )
                .await;
                let metric = match direction {
                    Direction::Download => Metric::Downloads {
                        sessions: count,
                        bytes: plan.transfer_size,
                    },
                    Direction::Upload => Metric::Uploads {
                        sessions: count,
                        bytes: plan.transfer_size,
                    },
                };
                let cell = transfer_cell(id, metric, &outcome, count);
                progress(&summary(&cell));
                cells.push(cell);
                remove_uploads(&dir.join("root"));
            }
        }
        if plan.storm > 0 {
            let storm = sessions::login_storm(&live.target, plan.storm).await;
            for cell in storm_cells(id, plan.storm, &storm) {
                progress(&summary(&cell));
                cells.push(cell);
            }
        }
    }
    live.server.stop();
    if !server.one_session_at_a_time() && !plan.idle_counts.is_empty() {
        // A fresh server, so memory left over by the transfers does not count.
        match start(
            server,
            plan.server_cpus.as_deref(),
            plan.step_limit,
            programs,
            credentials,
            files,
            &dir,
        )
        .await
        {
            Ok(live) => {
                let outcome = sessions::idle_sessions(
                    &live.target,
                    live.server.pid(),
                    idle_counts(server, plan),
                    plan.idle_settle,
                )
                .await;
                for cell in idle_cells(id, &outcome) {
                    progress(&summary(&cell));
                    cells.push(cell);
                }
                live.server.stop();
            }
            Err(failure) => {
                for &count in idle_counts(server, plan) {
                    cells.push(Cell::failed(id, Metric::IdleRss(count), failure.clone()));
                    cells.push(Cell::failed(id, Metric::IdlePss(count), failure.clone()));
                }
            }
        }
    }
    let _ = fs::remove_dir_all(&dir);
    cells
}

/// The metrics a server is measured on in this plan.
fn metrics_of(server: FtpServer, plan: &FtpPlan) -> Vec<Metric> {
    let mut metrics = Vec::new();
    if plan.rounds > 0 {
        metrics.extend([Metric::RetrSingle, Metric::StorSingle]);
    }
    if server.one_session_at_a_time() {
        return metrics;
    }
    metrics.extend(plan.login_counts.iter().map(|&n| Metric::Logins(n)));
    for &sessions in &plan.transfer_counts {
        let bytes = plan.transfer_size;
        metrics.extend([
            Metric::Downloads { sessions, bytes },
            Metric::Uploads { sessions, bytes },
        ]);
    }
    if plan.storm > 0 {
        metrics.extend([
            Metric::StormNoopP50(plan.storm),
            Metric::StormNoopP99(plan.storm),
            Metric::StormLogins(plan.storm),
        ]);
    }
    for &n in idle_counts(server, plan) {
        metrics.extend([Metric::IdleRss(n), Metric::IdlePss(n)]);
    }
    metrics
}

/// The idle counts `server` is measured at.
fn idle_counts(server: FtpServer, plan: &FtpPlan) -> &[usize] {
    if plan.idle_limited.contains(&server) {
        &plan.idle_counts[..plan.idle_counts.len().min(1)]
    } else {
        &plan.idle_counts
    }
}

/// Longest wait for a quiet machine before a server's turn.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// A machine counts as quiet once its CPUs were this idle over one [`SETTLE_WINDOW`].
const QUIET_IDLE: f64 = 0.9;
/// The window over which idleness is read.
const SETTLE_WINDOW: Duration = Duration::from_millis(250);

/// Flushes the disk and waits, up to [`SETTLE_LIMIT`], until the machine's CPUs are idle, so
/// that a server does not start while work left by the one before (such as the teardown of
/// its 10,000 idle sessions) still runs: in one recording without this, the single-session
/// rounds of the server measured right after 10,000 sessions ranged from 1,482 to 2,786 MiB/s.
pub(crate) async fn settle(id: &str, progress: &mut impl FnMut(&str)) {
    flush_disk().await;
    let started = Instant::now();
    let mut before = machine_cpu_times();
    while started.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(SETTLE_WINDOW).await;
        let now = machine_cpu_times();
        if let (Some((busy0, total0)), Some((busy1, total1))) = (before, now) {
            let total = total1.saturating_sub(total0);
            if total > 0 && 1.0 - busy1.saturating_sub(busy0) as f64 / total as f64 >= QUIET_IDLE {
                return;
            }
        } else {
            return;
        }
        before = now;
    }
    progress(&format!(
        "{id}: the machine stayed busy for {} s; measuring anyway",
        SETTLE_LIMIT.as_secs()
    ));
}

/// Busy and total CPU time of the whole machine so far, in clock ticks (`/proc/stat`).
pub(crate) fn machine_cpu_times() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user and nice).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total - idle, total))
}

/// Writes every dirty page to disk before an upload is measured, so that it does not share
/// the disk with the write-back of the uploads before it (the previous round's, or the
/// previous server's): measured here, that alone moved one 1 GiB STOR between about 1,500
/// and 3,000 MiB/s.
pub(crate) async fn flush_disk() {
    if let Err(error) = tokio::task::spawn_blocking(nix::unistd::sync).await {
        tracing::warn!(%error, "flushing the disk failed");
    }
}

/// Removes the files concurrent uploads left in `root`.
pub(crate) fn remove_uploads(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("up-") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Single-session STOR and RETR over `plan.rounds` rounds: the median, the range as detail.
async fn single_session(
    id: &str,
    plan: &FtpPlan,
    target: &Target,
    cells: &mut Vec<Cell>,
    progress: &mut impl FnMut(&str),
) {
    let mut stor = Vec::new();
    let mut retr = Vec::new();
    let mut failure = None;
    for _ in 0..plan.rounds.max(1) {
        flush_disk().await;
        match transfers::single_session(target, plan.big_size, STOR_FILE, BIG_FILE).await {
            Ok((stor_time, retr_time)) => {
                let mib = plan.big_size as f64 / MIB;
                stor.push(mib / stor_time.as_secs_f64());
                retr.push(mib / retr_time.as_secs_f64());
            }
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        }
    }
    for (metric, values) in [(Metric::RetrSingle, retr), (Metric::StorSingle, stor)] {
        let cell = match median(values.clone()) {
            Some(value) => Cell::measured(id, metric, value, range(&values)),
            None => Cell::failed(id, metric, failure.clone().unwrap_or_default()),
        };
        progress(&summary(&cell));
        cells.push(cell);
    }
}
