//! Threading mode: an OS thread per connection, each with its own current-thread runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::address::{ListenAddr, Peer};
use crate::error::ServerError;
use crate::handler::RequestHandler;
use crate::mode::Mode;
use crate::server::{Server, Shared};
use crate::shutdown::{ShutdownSignal, ShutdownState};
use crate::signals::SignalSubscription;
use crate::strategy::asynchronous::current_thread_runtime;
use crate::strategy::blocking::{self, Dispatcher, StdStream};
use crate::strategy::run_bounded;

/// Extra time, past the shutdown timeout, for threads to notice they were cut short.
const JOIN_MARGIN: Duration = Duration::from_secs(1);

/// Serves in threading mode.
pub(crate) fn serve<H: RequestHandler>(mut server: Server<H>) -> Result<(), ServerError> {
    let Mode::Threading {
        daemon_threads,
        block_on_close,
        ..
    } = server.shared.info.mode
    else {
        return Err(ServerError::Unsupported(
            "threading::serve needs threading mode".into(),
        ));
    };
    let mut dispatcher = ThreadDispatcher {
        handler: server.handler.clone(),
        shared: server.shared.clone(),
        signal: server.state.signal(),
        active: Arc::new(AtomicUsize::new(0)),
        wait_on_close: block_on_close && !daemon_threads,
    };
    blocking::serve(&mut server, &mut dispatcher)
}

/// Starts a thread per connection and counts the live ones.
struct ThreadDispatcher<H> {
    handler: H,
    shared: Arc<Shared>,
    signal: ShutdownSignal,
    /// Threads still serving a connection.
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

impl<H: RequestHandler> Dispatcher for ThreadDispatcher<H> {
    fn active(&mut self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn dispatch(&mut self, stream: StdStream, peer: Peer, local: ListenAddr, id: u64) {
        self.active.fetch_add(1, Ordering::SeqCst);
        let guard = ActiveGuard(self.active.clone());
        let handler = self.handler.clone();
        let shared = self.shared.clone();
        let signal = self.signal.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn-{id}", shared.info.name))
            .spawn(move || {
                let _guard = guard;
                let runtime = match current_thread_runtime() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(conn = id, "cannot start a connection runtime: {e}");
                        return;
                    }
                };
                runtime.block_on(async {
                    match stream.into_stream(H::BLOCKING_IO) {
                        Ok(stream) => {
                            let conn = shared.connection(stream, peer, local, id, signal);
                            run_bounded(handler, conn, &shared).await;
                        }
                        Err(e) => tracing::error!(conn = id, "cannot register connection: {e}"),
                    }
                });
            });
        if let Err(e) = spawned {
            tracing::error!(conn = id, "cannot start a connection thread: {e}");
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
