//! Session scenarios: N clients logging in at once, N idle logged-in sessions held while the
//! server's memory is read, and NOOP round trips on a live session during a login storm.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Barrier, Semaphore, watch};
use tokio::time::Instant;

use super::client::{FtpError, FtpSession};
use super::transfers::Target;
use crate::histogram::Histogram;
use crate::memory::{self, TreeMemory};

/// Logins in flight at once while idle sessions are opened.
const IDLE_CONCURRENCY: usize = 128;
/// Pause between NOOPs of the live session (a client polling, not a flood).
const NOOP_INTERVAL: Duration = Duration::from_millis(1);

/// What a burst of logins achieved.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Sessions that got to 230.
    pub logged_in: usize,
    /// From the burst's start to the last 230.
    pub elapsed: Duration,
    /// Connect-to-230 time of each successful login.
    pub latencies: Histogram,
    /// How many failed.
    pub failed: usize,
    /// The first failure.
    pub first_error: Option<String>,
}

impl LoginOutcome {
    /// Logins per second over the burst.
    pub fn rate(&self) -> f64 {
        self.logged_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The outcome of one client's login: its latency and finish time, or why it failed.
type LoginReport = Result<(Duration, Instant), String>;

/// `count` clients connect and log in at the same moment; all stay logged in until the last
/// one is, then quit.
pub async fn login_burst(target: &Target, count: usize) -> LoginOutcome {
    let (outcome, held) = login_burst_held(target, count).await;
    held.release().await;
    outcome
}

/// The sessions of a login burst, held until released.
#[derive(Debug)]
pub struct HeldSessions {
    /// Tells every client to quit.
    done: watch::Sender<bool>,
    /// The clients.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl HeldSessions {
    /// Makes every held session quit, and waits for them.
    pub async fn release(self) {
        self.done.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Like [`login_burst`], returning as soon as the last login is in, sessions still held.
pub async fn login_burst_held(target: &Target, count: usize) -> (LoginOutcome, HeldSessions) {
    let start = Arc::new(Barrier::new(count + 1));
    let (done_tx, done_rx) = watch::channel(false);
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel::<LoginReport>();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let target = target.clone();
        let start = Arc::clone(&start);
        let mut done = done_rx.clone();
        let report = report_tx.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let began = Instant::now();
            let result = async {
                let mut session = FtpSession::connect(target.addr, target.step_limit).await?;
                session.login(&target.user, &target.password).await?;
                Ok::<_, FtpError>(session)
            }
            .await;
            let finished = Instant::now();
            match result {
                Ok(session) => {
                    let _ = report.send(Ok((finished - began, finished)));
                    // Hold the session until every client is in: N sessions at once.
                    let _ = done.wait_for(|done| *done).await;
                    session.quit().await;
                }
                Err(error) => {
                    let _ = report.send(Err(error.to_string()));
                }
            }
        }));
    }
    drop(report_tx);
    start.wait().await;
    let started = Instant::now();
    let mut outcome = LoginOutcome {
        logged_in: 0,
        elapsed: Duration::ZERO,
        latencies: Histogram::new(),
        failed: 0,
        first_error: None,
    };
    for _ in 0..count {
        match report_rx.recv().await {
            Some(Ok((latency, finished))) => {
                outcome.logged_in += 1;
                outcome.latencies.record(latency);
                outcome.elapsed = outcome.elapsed.max(finished - started);
            }
            Some(Err(error)) => {
                outcome.failed += 1;
                outcome.first_error.get_or_insert(error);
            }
            // A task ended without reporting (it panicked): count it as failed.
            None => {
                outcome.failed += 1;
                outcome
                    .first_error
                    .get_or_insert("a client task ended without a result".into());
            }
        }
    }
    (
        outcome,
        HeldSessions {
            done: done_tx,
            tasks,
        },
    )
}

/// Memory of the server with a number of idle logged-in sessions.
#[derive(Debug, Clone)]
pub struct IdleCheckpoint {
    /// Sessions asked for.
    pub wanted: usize,
    /// Sessions actually logged in and held.
    pub held: usize,
    /// The server's memory with them.
    pub memory: Result<TreeMemory, String>,
}

/// What holding idle sessions showed.
#[derive(Debug, Clone)]
pub struct IdleOutcome {
    /// The server's memory before any session.
    pub baseline: Result<TreeMemory, String>,
    /// One reading per checkpoint, in increasing order.
    pub checkpoints: Vec<IdleCheckpoint>,
    /// Logins that failed.
    pub failed: usize,
    /// The first failure.
    pub first_error: Option<String>,
}

/// Opens idle logged-in sessions up to each of `checkpoints` (increasing), reading the memory
/// of the server `pid` (its whole process tree) at each, after `settle`. Sessions stay open
/// until the last reading, then all quit.
pub async fn idle_sessions(
    target: &Target,
    pid: u32,
    checkpoints: &[usize],
    settle: Duration,
) -> IdleOutcome {
    let read_memory = || memory::tree_memory(pid).map_err(|e| e.to_string());
    let mut outcome = IdleOutcome {
        baseline: read_memory(),
        checkpoints: Vec::new(),
        failed: 0,
        first_error: None,
    };
    let gate = Arc::new(Semaphore::new(IDLE_CONCURRENCY));
    let mut held: Vec<FtpSession> = Vec::new();
    let mut asked = 0;
    for &wanted in checkpoints {
        let mut tasks = Vec::new();
        while asked < wanted {
            asked += 1;
            let target = target.clone();
            let gate = Arc::clone(&gate);
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let mut session = FtpSession::connect(target.addr, target.step_limit).await?;
                session.login(&target.user, &target.password).await?;
                Ok::<_, FtpError>(session)
            }));
        }
        for task in tasks {
            match task.await {
                Ok(Ok(session)) => held.push(session),
                Ok(Err(error)) => {
                    outcome.failed += 1;
                    outcome.first_error.get_or_insert(error.to_string());
                }
                Err(join) => {
                    outcome.failed += 1;
                    outcome.first_error.get_or_insert(join.to_string());
                }
            }
        }
        tokio::time::sleep(settle).await;
        outcome.checkpoints.push(IdleCheckpoint {
            wanted,
            held: held.len(),
            memory: read_memory(),
        });
    }
    // Closing is not measured: drop the connections rather than wait for 10,000 goodbyes.
    drop(held);
    outcome
}

/// What a live session saw while a login storm went on.
#[derive(Debug, Clone)]
pub struct StormOutcome {
    /// NOOP round trips of the live session during the storm.
    pub noops: Histogram,
    /// The storm's own logins.
    pub logins: LoginOutcome,
    /// Why the live session failed, if it did.
    pub live_error: Option<String>,
}

/// One logged-in session sends NOOP every millisecond while `count` clients log in at once;
/// the NOOPs are timed from the storm's start to its last login (at least one, which may end
/// just after a storm shorter than a round trip).
pub async fn login_storm(target: &Target, count: usize) -> StormOutcome {
    let mut live = match target.session().await {
        Ok(session) => session,
        Err(error) => {
            return StormOutcome {
                noops: Histogram::new(),
                logins: LoginOutcome {
                    logged_in: 0,
                    elapsed: Duration::ZERO,
                    latencies: Histogram::new(),
                    failed: 0,
                    first_error: None,
                },
                live_error: Some(error.to_string()),
            };
        }
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let pinger = tokio::spawn(async move {
        let mut noops = Histogram::new();
        let mut error = None;
        // At least one NOOP, even when a small storm is over before this task first runs
        // (a quick run on a busy machine): then that one is timed just after it.
        loop {
            match live.noop().await {
                Ok(round_trip) => noops.record(round_trip),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
            if *stop_rx.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(NOOP_INTERVAL) => {}
                _ = stop_rx.changed() => {}
            }
        }
        live.quit().await;
        (noops, error)
    });
    let (logins, held) = login_burst_held(target, count).await;
    stop_tx.send_replace(true);
    held.release().await;
    let (noops, live_error) = match pinger.await {
        Ok(result) => result,
        Err(join) => (Histogram::new(), Some(join.to_string())),
    };
    StormOutcome {
        noops,
        logins,
        live_error,
    }
}
