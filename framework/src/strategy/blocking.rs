//! The accept loop of the threading and forking modes: std sockets and `poll`, no tokio, so a
//! forking parent stays a plain single-threaded process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::ServerError;
use crate::listener::accept_error_is_transient;
use crate::shared::{LimitPolicy, Shared};
use crate::shutdown::ShutdownState;
use crate::signals::SignalSubscription;
use crate::strategy::{Intake, Work};

/// How often a loop with live workers looks for finished ones.
const REAP_INTERVAL: Duration = Duration::from_millis(100);
/// How often a loop at its connection limit looks for a free slot.
const CAPACITY_INTERVAL: Duration = Duration::from_millis(10);

/// How a blocking-loop mode runs each unit of work.
pub(crate) trait Dispatcher<W> {
    /// Units being served now (finished ones are collected first).
    fn active(&mut self) -> usize;
    /// Serves one unit.
    fn dispatch(&mut self, work: W);
    /// After taking stopped: lets units finish or ends them, per the mode's options.
    fn drain(&mut self, state: &ShutdownState, signals: Option<&SignalSubscription>);
}

/// Takes work until shutdown, handing it to `dispatcher`, then closes the intake and drains.
pub(crate) fn serve<I: Intake>(
    mut intake: I,
    shared: &Arc<Shared>,
    state: &Arc<ShutdownState>,
    dispatcher: &mut impl Dispatcher<I::Work>,
) -> Result<(), ServerError> {
    let signals = if shared.handle_signals {
        Some(SignalSubscription::new()?)
    } else {
        None
    };
    let (limit, policy) = shared.connection_limit();
    let mut next_service = shared
        .service_actions
        .as_ref()
        .map(|(interval, _)| Instant::now() + *interval);
    state.hold_sessions();
    tracing::info!(server = %shared.info.name, mode = %shared.info.mode,
        addrs = ?shared.info.addrs, "serving");

    while !state.is_shutting_down() {
        let active = dispatcher.active();
        let at_capacity = limit.is_some_and(|limit| active >= limit);
        let accepting = !(at_capacity && policy == LimitPolicy::Wait);
        let mut timeout = match (at_capacity, active) {
            (true, _) => Some(CAPACITY_INTERVAL),
            (false, 0) => None,
            (false, _) => Some(REAP_INTERVAL),
        };
        if let Some(due) = next_service {
            let until = due.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }

        let ready = wait_readable(&intake, state, signals.as_ref(), accepting, timeout)?;
        if let Some(signals) = &signals {
            for _ in 0..signals.take() {
                tracing::info!("stop signal received");
                state.escalate();
            }
        }
        state.drain_wake();
        if let (Some(due), Some((interval, action))) = (next_service, &shared.service_actions)
            && Instant::now() >= due
        {
            action();
            next_service = Some(Instant::now() + *interval);
        }
        if state.is_shutting_down() {
            break;
        }
        for index in ready {
            let work = match intake.take(index) {
                Ok(work) => work,
                Err(e) if accept_error_is_transient(&e) => continue,
                Err(e) => {
                    tracing::error!(server = %shared.info.name, "accept failed: {e}");
                    std::thread::sleep(REAP_INTERVAL);
                    continue;
                }
            };
            if !shared.verify(work.peer()) {
                continue;
            }
            if limit.is_some_and(|limit| dispatcher.active() >= limit) {
                tracing::debug!(server = %shared.info.name, peer = %work.peer(),
                    "refused: max_connections reached");
                work.refuse(shared);
                continue;
            }
            dispatcher.dispatch(work);
        }
    }

    // Stop taking work: close the listening sockets and remove Unix socket files.
    intake.close();
    state.release_sessions();
    dispatcher.drain(state, signals.as_ref());
    tracing::info!(server = %shared.info.name, "stopped");
    Ok(())
}

/// Polls the wake pipe, the signal pipe and (if `accepting`) the intake; returns the
/// indices of the intake's descriptors with work waiting.
fn wait_readable<I: Intake>(
    intake: &I,
    state: &ShutdownState,
    signals: Option<&SignalSubscription>,
    accepting: bool,
    timeout: Option<Duration>,
) -> Result<Vec<usize>, ServerError> {
    let mut fds = vec![PollFd::new(state.wake_fd(), PollFlags::POLLIN)];
    if let Some(signals) = signals {
        fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
    }
    let first_listener = fds.len();
    if accepting {
        for fd in intake.fds() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
    }
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
    };
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
        Err(e) => return Err(ServerError::Io(e.into())),
    }
    Ok(fds[first_listener..]
        .iter()
        .enumerate()
        .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
        .map(|(index, _)| index)
        .collect())
}

/// Waits until `done` says so, the deadline passes, or a forced shutdown starts; keeps
/// escalating on signals meanwhile. Returns whether `done` was reached.
pub(crate) fn wait_until(
    state: &ShutdownState,
    signals: Option<&SignalSubscription>,
    deadline: Instant,
    mut done: impl FnMut() -> bool,
) -> bool {
    loop {
        if done() {
            return true;
        }
        if state.is_forced() || Instant::now() >= deadline {
            return false;
        }
        let mut fds = vec![PollFd::new(state.wake_fd(), PollFlags::POLLIN)];
        if let Some(signals) = signals {
            fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
        }
        let step = PollTimeout::try_from(Duration::from_millis(20)).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, step);
        if let Some(signals) = signals {
            for _ in 0..signals.take() {
                tracing::info!("second stop signal: forcing shutdown");
                state.escalate();
            }
        }
        state.drain_wake();
    }
}
