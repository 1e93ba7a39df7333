//! Threading mode: an OS thread per connection, each with its own current-thread runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::ServerError;
use crate::shared::Shared;
use crate::shutdown::{ShutdownSignal, ShutdownState};
use crate::signals::SignalSubscription;
use crate::strategy::asynchronous::current_thread_runtime;
use crate::strategy::blocking::{self, Dispatcher};
use crate::strategy::{Intake, Work};

/// Extra time, past the shutdown timeout, for threads to notice they were cut short.
const JOIN_MARGIN: Duration = Duration::from_secs(1);

/// Serves in threading mode; `wait_on_close`: wait for the threads when the server stops.
pub(crate) fn serve<I: Intake>(
    intake: I,
    shared: &Arc<Shared>,
    state: &Arc<ShutdownState>,
    wait_on_close: bool,
) -> Result<(), ServerError> {
    let mut dispatcher = ThreadDispatcher {
        shared: shared.clone(),
        signal: state.signal(),
        active: Arc::new(AtomicUsize::new(0)),
        wait_on_close,
    };
    blocking::serve(intake, shared, state, &mut dispatcher)
}

/// Starts a thread per unit of work and counts the live ones.
struct ThreadDispatcher {
    shared: Arc<Shared>,
    signal: ShutdownSignal,
    /// Threads still serving a unit.
    active: Arc<AtomicUsize>,
    /// Wait for the threads when the server stops.
    wait_on_close: bool,
}

/// Decrements the live-thread count when a connection thread ends, even by panic.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<W: Work> Dispatcher<W> for ThreadDispatcher {
    fn active(&mut self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn dispatch(&mut self, work: W) {
        self.active.fetch_add(1, Ordering::SeqCst);
        let guard = ActiveGuard(self.active.clone());
        let shared = self.shared.clone();
        let signal = self.signal.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn", shared.info.name))
            .spawn(move || {
                let _guard = guard;
                let runtime = match current_thread_runtime() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!("cannot start a connection runtime: {e}");
                        return;
                    }
                };
                // Boxed: `block_on` keeps the future it is given in its own frame, so an
                // unboxed one (every connection's, with the handler's inside) would sit on this
                // thread's stack more than once and keep those pages resident.
                runtime.block_on(Box::pin(work.run(shared, signal, true)));
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a connection thread: {e}");
        }
    }

    fn drain(&mut self, state: &ShutdownState, signals: Option<&SignalSubscription>) {
        if !self.wait_on_close {
            return;
        }
        let deadline = Instant::now() + self.shared.info.shutdown_timeout + JOIN_MARGIN;
        let active = self.active.clone();
        let done = || active.load(Ordering::SeqCst) == 0;
        if !blocking::wait_until(state, signals, deadline, done) {
            // Forced, or the grace period ran out: every connection future is being dropped
            // by its own thread; give them a moment to close their sockets.
            state.force();
            let deadline = Instant::now() + JOIN_MARGIN;
            while self.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.active.load(Ordering::SeqCst) > 0 {
                tracing::warn!(
                    threads = self.active.load(Ordering::SeqCst),
                    "connection threads still running at shutdown"
                );
            }
        }
    }
}
