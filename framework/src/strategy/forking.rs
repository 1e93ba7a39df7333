//! Forking mode: a process per connection (Unix).
//!
//! The parent never touches tokio: it accepts with std sockets and `poll`, reaps its children
//! with `waitpid`, closes its copy of each accepted socket, and forwards shutdown to children
//! (SIGTERM, then SIGKILL after the grace period). Each child builds a fresh current-thread
//! runtime, serves its one connection and leaves with `_exit`.

use std::collections::HashSet;
use std::future::Future;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::error::ServerError;
use crate::shared::Shared;
use crate::shutdown::{ShutdownSignal, ShutdownState};
use crate::signals::{self, BlockedStopSignals, SignalSubscription};
use crate::strategy::asynchronous::current_thread_runtime;
use crate::strategy::blocking::{self, Dispatcher};
use crate::strategy::{Intake, Work};

/// Extra time, past the shutdown timeout, before children are killed.
const KILL_MARGIN: Duration = Duration::from_secs(1);
/// Exit status of a child whose set-up failed or that panicked outside the handler.
const CHILD_FAILURE: i32 = 70;

/// Serves in forking mode; `block_on_close`: wait for the children when the server stops.
pub(crate) fn serve<I: Intake>(
    intake: I,
    shared: &Arc<Shared>,
    state: &Arc<ShutdownState>,
    block_on_close: bool,
) -> Result<(), ServerError> {
    let mut dispatcher = ForkDispatcher {
        shared: shared.clone(),
        children: Children::default(),
        close_in_child: intake.child_closes(),
        block_on_close,
    };
    blocking::serve(intake, shared, state, &mut dispatcher)
}

/// Forks a child per unit of work.
struct ForkDispatcher {
    shared: Arc<Shared>,
    /// Children not yet reaped.
    children: Children,
    /// The parent's descriptors each child closes (listening sockets).
    close_in_child: Vec<RawFd>,
    /// Wait for children when the server stops.
    block_on_close: bool,
}

impl<W: Work> Dispatcher<W> for ForkDispatcher {
    fn active(&mut self) -> usize {
        self.children.reap();
        self.children.len()
    }

    fn dispatch(&mut self, work: W) {
        let shared = self.shared.clone();
        let spawned = spawn_process(&self.close_in_child, move |signal| async move {
            if work.run(shared, signal, true).await {
                0
            } else {
                CHILD_FAILURE
            }
        });
        // In the parent, the unit (and its socket) was moved into the closure and is closed
        // by now.
        match spawned {
            Ok(pid) => self.children.insert(pid),
            Err(e) => tracing::error!("fork failed: {e}"),
        }
    }

    fn drain(&mut self, state: &ShutdownState, signals: Option<&SignalSubscription>) {
        let grace = self.shared.info.shutdown_timeout;
        self.children
            .drain(state, signals, grace, self.block_on_close);
    }
}

/// The live children of a forking server.
#[derive(Debug, Default)]
struct Children {
    pids: HashSet<Pid>,
}

impl Children {
    /// Records a new child.
    fn insert(&mut self, pid: Pid) {
        self.pids.insert(pid);
    }

    /// How many children are alive (as of the last `reap`).
    fn len(&self) -> usize {
        self.pids.len()
    }

    /// Collects every child that has exited; only our own children, so other child processes
    /// of the program (e.g. `std::process::Command`) keep their statuses.
    fn reap(&mut self) {
        self.pids
            .retain(|&pid| match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => true,
                Ok(WaitStatus::Exited(_, code)) => {
                    if code != 0 {
                        tracing::warn!(%pid, code, "connection process failed");
                    }
                    false
                }
                Ok(_) => false,
                Err(nix::errno::Errno::EINTR) => true,
                Err(_) => false,
            });
    }

    fn signal_all(&self, signal: Signal) {
        for &pid in &self.pids {
            let _ = kill(pid, signal);
        }
    }

    /// Forwards shutdown to the children (SIGTERM); if `wait`, waits up to `grace` (less if
    /// forced), then kills what is left with SIGKILL.
    fn drain(
        &mut self,
        state: &ShutdownState,
        signals: Option<&SignalSubscription>,
        grace: Duration,
        wait: bool,
    ) {
        self.reap();
        if self.pids.is_empty() {
            return;
        }
        self.signal_all(Signal::SIGTERM);
        if !wait {
            return;
        }
        let deadline = Instant::now() + grace + KILL_MARGIN;
        let finished = blocking::wait_until(state, signals, deadline, || {
            self.reap();
            self.pids.is_empty()
        });
        if !finished {
            tracing::warn!(children = self.pids.len(), "killing connection processes");
            self.signal_all(Signal::SIGKILL);
            let deadline = Instant::now() + KILL_MARGIN;
            while !self.pids.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
                self.reap();
            }
        }
    }
}

/// Forks a child that runs the future `work` makes on a fresh current-thread runtime, with
/// its own shutdown signal (raised by SIGTERM/SIGINT), then `_exit`s with its result.
/// `close_fds` are the parent's descriptors the child must not keep (listening sockets).
/// Returns the child's pid in the parent; never returns in the child.
fn spawn_process<F, Fut>(close_fds: &[RawFd], work: F) -> std::io::Result<Pid>
where
    F: FnOnce(ShutdownSignal) -> Fut,
    Fut: Future<Output = i32>,
{
    // Blocked so no stop signal is handled between the fork and the child's own set-up.
    let blocked = BlockedStopSignals::new()?;
    // SAFETY: the child only runs this crate's set-up and `work` on a fresh runtime, then
    // leaves with `_exit`; it never returns into the caller's frames.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(blocked);
            drop(work);
            Ok(child)
        }
        Ok(ForkResult::Child) => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child_main(close_fds, work)
            }))
            .unwrap_or(CHILD_FAILURE);
            // SAFETY: ending the child without running the parent's destructors (which
            // would, for one, remove the parent's Unix socket file).
            unsafe { libc::_exit(code) }
        }
        Err(e) => Err(e.into()),
    }
}

/// The child's set-up: its own signals and runtime, then `work`.
fn child_main<F, Fut>(close_fds: &[RawFd], work: F) -> i32
where
    F: FnOnce(ShutdownSignal) -> Fut,
    Fut: Future<Output = i32>,
{
    signals::forget_parent_subscribers();
    // fork copied this thread's random generator: without a reseed every child would draw
    // the same numbers as its siblings (ids, temporary names, salts).
    if let Err(e) = rand::rng().reseed() {
        tracing::error!("child set-up failed: cannot reseed the random generator: {e}");
        return CHILD_FAILURE;
    }
    for &fd in close_fds {
        // SAFETY: the child's copies of these descriptors are never used by it.
        unsafe { libc::close(fd) };
    }
    let state = match ShutdownState::new() {
        Ok(state) => state,
        Err(e) => {
            tracing::error!("child set-up failed: {e}");
            return CHILD_FAILURE;
        }
    };
    // The parent forwards its shutdown as SIGTERM; the child always listens for it.
    let subscription = SignalSubscription::new();
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    let runtime = match current_thread_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("child runtime failed: {e}");
            return CHILD_FAILURE;
        }
    };
    runtime.block_on(async {
        let _watch = match subscription.as_ref().map(|s| s.async_receiver()) {
            Ok(Ok(receiver)) => {
                let state = state.clone();
                Some(AbortOnDrop(tokio::spawn(signals::watch_signals(
                    receiver,
                    move || state.escalate(),
                ))))
            }
            _ => {
                tracing::warn!("child cannot watch signals");
                None
            }
        };
        work(state.signal()).await
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
