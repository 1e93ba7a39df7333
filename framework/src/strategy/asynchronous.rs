//! The tokio-driven loops: async mode (a task per unit of work), sequential mode (each unit
//! to its end before the next), the async entry that serves inside a caller's runtime, and
//! `handle_request`.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::error::ServerError;
use crate::listener::accept_error_is_transient;
use crate::shared::{LimitPolicy, Shared};
use crate::shutdown::ShutdownState;
use crate::signals::{SignalSubscription, watch_signals};
use crate::strategy::{Intake, Work};

/// How long to back off after an accept error that is about the process, not one connection.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Where each unit of work runs in a tokio loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A task of its own (async mode).
    Task,
    /// In the loop, to its end, before the next is taken (sequential mode).
    Inline,
}

/// The async mode's runtime: `worker_threads` workers, or one per core.
pub(crate) fn multi_thread_runtime(
    name: &str,
    worker_threads: Option<usize>,
) -> Result<tokio::runtime::Runtime, ServerError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = worker_threads {
        builder.worker_threads(workers.max(1));
    }
    builder
        .enable_all()
        .thread_name(format!("{name}-worker"))
        .build()
        .map_err(ServerError::Runtime)
}

/// A runtime for one thread, as every non-async mode uses.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)
}

/// Background tasks that live as long as a serving loop: signal watch and service actions.
pub(crate) struct LoopTasks {
    _subscription: Option<SignalSubscription>,
    tasks: Vec<JoinHandle<()>>,
}

impl LoopTasks {
    /// Starts the signal watcher (if `signals`) and the service-actions ticker (if set).
    pub(crate) fn start(
        shared: &Shared,
        state: &Arc<ShutdownState>,
        signals: bool,
    ) -> Result<Self, ServerError> {
        let mut tasks = Vec::new();
        let subscription = if signals {
            let subscription = SignalSubscription::new()?;
            let receiver = subscription.async_receiver()?;
            let state = state.clone();
            tasks.push(tokio::spawn(watch_signals(receiver, move || {
                tracing::info!("stop signal received");
                state.escalate();
            })));
            Some(subscription)
        } else {
            None
        };
        if let Some((interval, action)) = shared.service_actions.clone() {
            tasks.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    action();
                }
            }));
        }
        Ok(LoopTasks {
            _subscription: subscription,
            tasks,
        })
    }
}

impl Drop for LoopTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A descriptor owned by the intake, registered with tokio for readiness only.
struct Source(RawFd);

impl AsRawFd for Source {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Waits until one source has work and takes it.
async fn next_work<I: Intake>(sources: &[AsyncFd<Source>], intake: &mut I) -> io::Result<I::Work> {
    poll_fn(|cx| {
        for (index, source) in sources.iter().enumerate() {
            loop {
                match source.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => match guard.try_io(|_| intake.take(index)) {
                        Ok(result) => return Poll::Ready(result),
                        // Nothing waited after all: readiness is cleared, poll again to
                        // register for the next wake-up.
                        Err(_would_block) => continue,
                    },
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
        }
        Poll::Pending
    })
    .await
}

/// Takes work until shutdown and runs each unit where `placement` says; then closes the
/// intake and waits for the units still running.
pub(crate) async fn serve_loop<I: Intake>(
    mut intake: I,
    shared: &Arc<Shared>,
    state: &Arc<ShutdownState>,
    placement: Placement,
    signals: bool,
) -> Result<(), ServerError> {
    let sources = intake
        .fds()
        .iter()
        .map(|fd| {
            // SAFETY: the intake owns the descriptor and keeps it open until `close`, which
            // runs only after `sources` is dropped below.
            unsafe { AsyncFd::register_with_interest(Source(fd.as_raw_fd()), Interest::READABLE) }
                .map_err(io::Error::from)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let loop_tasks = LoopTasks::start(shared, state, signals)?;
    // An inline unit keeps the loop from noticing shutdown, so it must hear it at once.
    if placement == Placement::Task {
        state.hold_sessions();
    }
    let stop = state.loop_signal();
    let signal = state.signal();
    let (limit, policy) = shared.connection_limit();
    let semaphore = limit.map(|n| Arc::new(Semaphore::new(n)));
    let tracker = tokio_util::task::TaskTracker::new();
    tracing::info!(server = %shared.info.name, mode = %shared.info.mode,
        addrs = ?shared.info.addrs, "serving");

    loop {
        let mut permit: Option<OwnedSemaphorePermit> = None;
        if let (Some(semaphore), LimitPolicy::Wait) = (&semaphore, policy) {
            tokio::select! {
                biased;
                _ = stop.triggered() => break,
                acquired = semaphore.clone().acquire_owned() => permit = acquired.ok(),
            }
        }
        let taken = tokio::select! {
            biased;
            _ = stop.triggered() => break,
            taken = next_work(&sources, &mut intake) => taken,
        };
        let work = match taken {
            Ok(work) => work,
            Err(e) if accept_error_is_transient(&e) => continue,
            Err(e) => {
                tracing::error!(server = %shared.info.name, "accept failed: {e}");
                tokio::select! {
                    _ = stop.triggered() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        if !shared.verify(work.peer()) {
            continue;
        }
        if let (None, Some(semaphore)) = (&permit, &semaphore) {
            match semaphore.clone().try_acquire_owned() {
                Ok(acquired) => permit = Some(acquired),
                Err(_) => {
                    tracing::debug!(server = %shared.info.name, peer = %work.peer(),
                        "refused: max_connections reached");
                    work.refuse(shared);
                    continue;
                }
            }
        }
        let run = work.run(shared.clone(), signal.clone(), false);
        match placement {
            Placement::Task => {
                // Boxed: an async block that awaits a future it captured holds it twice (the
                // capture and the awaited copy), and this is every connection's task.
                let run = Box::pin(run);
                tracker.spawn(async move {
                    run.await;
                    drop(permit);
                });
            }
            Placement::Inline => {
                run.await;
                drop(permit);
            }
        }
    }

    // Stop taking work: deregister, then close every listening socket and socket file.
    drop(sources);
    intake.close();
    state.release_sessions();
    tracker.close();
    tracker.wait().await;
    drop(loop_tasks);
    tracing::info!(server = %shared.info.name, "stopped");
    Ok(())
}

/// What [`handle_one`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneOutcome {
    /// Served one unit.
    Handled,
    /// `verify_request` refused it.
    Refused,
    /// Nothing arrived in time.
    TimedOut,
}

/// Waits up to `timeout` for one unit and serves it on the calling thread.
pub(crate) fn handle_one<I: Intake>(
    intake: &mut I,
    shared: &Arc<Shared>,
    state: &ShutdownState,
    timeout: Option<Duration>,
) -> Result<OneOutcome, ServerError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let work = loop {
        let wait = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(OneOutcome::TimedOut);
                }
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        let ready = {
            let mut fds: Vec<PollFd<'_>> = intake
                .fds()
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, wait) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(ServerError::Io(e.into())),
            }
            fds.iter()
                .position(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
        };
        let Some(index) = ready else { continue };
        match intake.take(index) {
            Ok(work) => break work,
            Err(e) if accept_error_is_transient(&e) => continue,
            Err(e) => return Err(ServerError::Io(e)),
        }
    };
    if !shared.verify(work.peer()) {
        return Ok(OneOutcome::Refused);
    }
    let runtime = current_thread_runtime()?;
    runtime.block_on(work.run(shared.clone(), state.signal(), false));
    Ok(OneOutcome::Handled)
}
