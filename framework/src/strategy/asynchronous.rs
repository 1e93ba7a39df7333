//! The tokio-driven modes: `Async` (a task per connection) and `Sequential` (one at a time),
//! plus `handle_request`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::builder::LimitPolicy;
use crate::error::ServerError;
use crate::handler::RequestHandler;
use crate::server::{
    AsyncListener, RequestOutcome, Server, Shared, accept_any, accept_error_is_transient,
    to_async_listener,
};
use crate::shutdown::ShutdownState;
use crate::signals::{SignalSubscription, watch_signals};
use crate::strategy::{run_bounded, run_connection};

/// How long to back off after an accept error that is about the process, not one connection.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves in async mode: a task per connection on a multi-thread runtime.
pub(crate) fn serve<H: RequestHandler>(
    mut server: Server<H>,
    worker_threads: Option<usize>,
) -> Result<(), ServerError> {
    let runtime = multi_thread_runtime(&server.shared.info.name, worker_threads)?;
    let result = runtime.block_on(accept_loop(&mut server, true));
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

/// Serves in sequential mode: each connection to its end before the next is accepted.
pub(crate) fn serve_sequential<H: RequestHandler>(
    mut server: Server<H>,
) -> Result<(), ServerError> {
    let runtime = current_thread_runtime()?;
    let result = runtime.block_on(accept_loop(&mut server, false));
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
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
    /// Starts the signal watcher (if enabled) and the service-actions ticker (if set).
    pub(crate) fn start(shared: &Shared, state: &Arc<ShutdownState>) -> Result<Self, ServerError> {
        let mut tasks = Vec::new();
        let subscription = if shared.handle_signals {
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

/// Accepts until shutdown; spawns each connection (`concurrent`) or serves it inline.
async fn accept_loop<H: RequestHandler>(
    server: &mut Server<H>,
    concurrent: bool,
) -> Result<(), ServerError> {
    let shared = server.shared.clone();
    let listeners = server
        .listeners
        .iter()
        .map(|(listener, _)| to_async_listener(listener))
        .collect::<std::io::Result<Vec<AsyncListener>>>()?;
    let loop_tasks = LoopTasks::start(&shared, &server.state)?;
    let signal = server.state.signal();
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
                _ = signal.triggered() => break,
                acquired = semaphore.clone().acquire_owned() => permit = acquired.ok(),
            }
        }
        let (index, accepted) = tokio::select! {
            biased;
            _ = signal.triggered() => break,
            accepted = accept_any(&listeners) => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if accept_error_is_transient(&e) => continue,
            Err(e) => {
                tracing::error!(server = %shared.info.name, "accept failed: {e}");
                tokio::select! {
                    _ = signal.triggered() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        if !shared.verify(&peer) {
            continue;
        }
        if let (None, Some(semaphore), LimitPolicy::Reject) = (&permit, &semaphore, policy) {
            match semaphore.clone().try_acquire_owned() {
                Ok(acquired) => permit = Some(acquired),
                Err(_) => {
                    tracing::debug!(server = %shared.info.name, %peer, "refused: max_connections reached");
                    continue;
                }
            }
        }
        let local = server.listeners[index].1.clone();
        let conn = shared.connection(stream, peer, local, shared.next_id(), signal.clone());
        let handler = server.handler.clone();
        if concurrent {
            let shared = shared.clone();
            tracker.spawn(async move {
                run_bounded(handler, conn, &shared).await;
                drop(permit);
            });
        } else {
            run_bounded(handler, conn, &shared).await;
            drop(permit);
        }
    }

    // Stop accepting: close every copy of the listening sockets and remove Unix socket files.
    drop(listeners);
    server.listeners.clear();
    tracker.close();
    tracker.wait().await;
    drop(loop_tasks);
    tracing::info!(server = %shared.info.name, "stopped");
    Ok(())
}

/// Serves at most one connection on the calling thread (Python's `handle_request`).
pub(crate) fn handle_one<H: RequestHandler>(
    server: &mut Server<H>,
    timeout: Option<Duration>,
) -> Result<RequestOutcome, ServerError> {
    let runtime = current_thread_runtime()?;
    runtime.block_on(async {
        let listeners = server
            .listeners
            .iter()
            .map(|(listener, _)| to_async_listener(listener))
            .collect::<std::io::Result<Vec<AsyncListener>>>()?;
        let accepted = match timeout {
            Some(limit) => match tokio::time::timeout(limit, accept_any(&listeners)).await {
                Ok(accepted) => accepted,
                Err(_) => return Ok(RequestOutcome::TimedOut),
            },
            None => accept_any(&listeners).await,
        };
        let (index, result) = accepted;
        let (stream, peer) = result?;
        let shared = server.shared.clone();
        if !shared.verify(&peer) {
            return Ok(RequestOutcome::Refused);
        }
        let local = server.listeners[index].1.clone();
        let conn = shared.connection(stream, peer, local, shared.next_id(), server.state.signal());
        run_connection(server.handler.clone(), conn, &shared).await;
        Ok(RequestOutcome::Handled)
    })
}
