//! Transfer scenarios: one session moving a big file each way, and N sessions moving a
//! 10 MiB file each at the same moment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Barrier, Semaphore};
use tokio::time::Instant;

use super::client::{FtpError, FtpSession};

/// Bytes per read or write of a data connection on the generator's side.
pub const DATA_BUFFER: usize = 256 * 1024;
/// Logins in flight at once while sessions are set up for a concurrent transfer.
const SETUP_CONCURRENCY: usize = 64;

/// Where and as whom the generator connects.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's control address.
    pub addr: SocketAddr,
    /// The test user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Time limit of each protocol step.
    pub step_limit: Duration,
}

impl Target {
    /// Connects, logs in and switches to binary mode.
    pub async fn session(&self) -> Result<FtpSession, FtpError> {
        let mut session = FtpSession::connect(self.addr, self.step_limit).await?;
        session.login(&self.user, &self.password).await?;
        session.binary().await?;
        Ok(session)
    }
}

/// The bytes the generator uploads: a fixed pattern that does not compress to nothing.
pub fn upload_pattern() -> Vec<u8> {
    (0..DATA_BUFFER)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// One session: STOR `size` bytes to `stor_path`, then RETR `retr_path` (expected to hold
/// `size` bytes). Returns both durations, each from the command to its 226.
pub async fn single_session(
    target: &Target,
    size: u64,
    stor_path: &str,
    retr_path: &str,
) -> Result<(Duration, Duration), FtpError> {
    let pattern = upload_pattern();
    let mut buffer = vec![0u8; DATA_BUFFER];
    let mut session = target.session().await?;
    let started = Instant::now();
    session.store(stor_path, size, &pattern).await?;
    let stor = started.elapsed();
    let started = Instant::now();
    let received = session.retrieve(retr_path, &mut buffer).await?;
    let retr = started.elapsed();
    if received != size {
        return Err(FtpError::Protocol(format!(
            "RETR {retr_path} sent {received} bytes, expected {size}"
        )));
    }
    session.delete(stor_path).await?;
    session.quit().await;
    Ok((stor, retr))
}

/// Which way the concurrent transfers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Every session downloads the same file.
    Download,
    /// Every session uploads its own file (`up-<i>.bin`).
    Upload,
}

/// What N concurrent transfers achieved.
#[derive(Debug, Clone)]
pub struct ConcurrentOutcome {
    /// Transfers that completed.
    pub completed: usize,
    /// From the common start to the last completion.
    pub elapsed: Duration,
    /// Bytes moved by the completed transfers.
    pub bytes: u64,
    /// The first failure, if any session failed.
    pub first_error: Option<String>,
    /// How many sessions failed (to log in or to transfer).
    pub failed: usize,
}

/// Logs in `sessions` sessions (not timed), then starts all their transfers of `size` bytes
/// at once: downloads of `download_path`, or uploads to `up-<i>.bin`.
pub async fn concurrent(
    target: &Target,
    sessions: usize,
    direction: Direction,
    size: u64,
    download_path: &str,
) -> ConcurrentOutcome {
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let setup = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let pattern: Arc<[u8]> = upload_pattern().into();
    let mut tasks = Vec::with_capacity(sessions);
    for index in 0..sessions {
        let target = target.clone();
        let barrier = Arc::clone(&barrier);
        let setup = Arc::clone(&setup);
        let pattern = Arc::clone(&pattern);
        let download_path = download_path.to_string();
        tasks.push(tokio::spawn(async move {
            let session = {
                let _permit = setup.acquire().await;
                target.session().await
            };
            // Every task reaches the barrier, logged in or not, so none waits forever.
            barrier.wait().await;
            let mut session = session?;
            let moved = match direction {
                Direction::Download => {
                    let mut buffer = vec![0u8; DATA_BUFFER];
                    let received = session.retrieve(&download_path, &mut buffer).await?;
                    if received != size {
                        return Err(FtpError::Protocol(format!(
                            "RETR {download_path} sent {received} bytes, expected {size}"
                        )));
                    }
                    received
                }
                Direction::Upload => {
                    session
                        .store(&format!("up-{index}.bin"), size, &pattern)
                        .await?;
                    size
                }
            };
            let finished = Instant::now();
            session.quit().await;
            Ok::<_, FtpError>((moved, finished))
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut outcome = ConcurrentOutcome {
        completed: 0,
        elapsed: Duration::ZERO,
        bytes: 0,
        first_error: None,
        failed: 0,
    };
    for task in tasks {
        match task.await {
            Ok(Ok((moved, finished))) => {
                outcome.completed += 1;
                outcome.bytes += moved;
                outcome.elapsed = outcome.elapsed.max(finished - started);
            }
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
    outcome
}
