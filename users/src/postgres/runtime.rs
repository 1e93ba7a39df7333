//! The small runtime all database work runs on, one per process.
//!
//! A tokio-postgres connection is a task, and dies with the runtime it was spawned on. In
//! threading mode every connection thread has a current-thread runtime that ends with the
//! connection, and in forking mode each session is a process of its own, so the database's
//! connections live here instead: a one-worker runtime started on first use, and started
//! again in a forked child (which inherits the parent's memory but none of its threads).
//! Callers on any runtime await the task's `JoinHandle`, which needs no particular runtime.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::runtime::{Builder, Handle, Runtime};

/// The runtime of this process, with the process it was started in.
static BACKGROUND: Mutex<Option<Background>> = Mutex::new(None);

/// A runtime and the process that owns its threads.
struct Background {
    /// `std::process::id()` when it was started.
    pid: u32,
    /// The runtime; kept alive for the process's life.
    runtime: Runtime,
}

/// The handle of this process's database runtime, starting it if needed.
pub(crate) fn handle() -> std::io::Result<Handle> {
    let mut slot = BACKGROUND.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some(background) = slot.as_ref().filter(|background| background.pid == pid) {
        return Ok(background.runtime.handle().clone());
    }
    if let Some(inherited) = slot.take() {
        // Copied by fork from the parent: its threads do not exist here, and dropping it
        // would wait for them (or touch the parent's reactor), so it is left as it is.
        std::mem::forget(inherited);
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("wharf-db")
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    *slot = Some(Background { pid, runtime });
    Ok(handle)
}

/// Stops this process's database runtime, if it started one, and waits for its thread; the
/// next use starts a new one. For a daemon about to confine itself: threads started before
/// would stay outside the confinement.
pub(crate) fn stop() {
    let taken = BACKGROUND
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    match taken {
        Some(background) if background.pid == std::process::id() => drop(background.runtime),
        Some(inherited) => std::mem::forget(inherited),
        None => {}
    }
}

/// Runs `work` on the database runtime and waits for it from any runtime.
pub(crate) async fn run<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let handle = handle().map_err(|error| format!("cannot start the database runtime: {error}"))?;
    handle
        .spawn(work)
        .await
        .map_err(|error| format!("database task failed: {error}"))
}

/// Runs `work` on the database runtime and blocks this thread until it is done.
pub(crate) fn run_blocking<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let handle = handle().map_err(|error| format!("cannot start the database runtime: {error}"))?;
    let (answer, outcome) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = answer.send(work.await);
    });
    outcome
        .recv()
        .map_err(|_| "database task failed before answering".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_outlives_the_runtime_that_asked_for_it() {
        // A connection thread's runtime, as in threading mode: gone after its connection.
        let first = Builder::new_current_thread().enable_all().build().unwrap();
        let spawned_on = first.block_on(run(async {
            std::thread::current().name().map(String::from)
        }));
        drop(first);
        assert_eq!(spawned_on.unwrap().as_deref(), Some("wharf-db"));
        // The database runtime is still there for the next connection's runtime.
        let second = Builder::new_current_thread().enable_all().build().unwrap();
        assert_eq!(second.block_on(run(async { 7 })).unwrap(), 7);
        assert_eq!(run_blocking(async { 8 }).unwrap(), 8);
    }
}
