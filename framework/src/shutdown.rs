//! Graceful shutdown: the handle that requests it and the signal connections await.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// Still serving.
const RUNNING: u8 = 0;
/// Stop accepting; let connections finish within the shutdown timeout.
const GRACEFUL: u8 = 1;
/// Close everything now.
const FORCED: u8 = 2;

/// The shared shutdown state of one server (or of one forked child).
#[derive(Debug)]
pub(crate) struct ShutdownState {
    /// `RUNNING`, `GRACEFUL` or `FORCED`; only ever rises.
    level: AtomicU8,
    /// Wakes async waiters in any runtime: the accept loops.
    notify: watch::Sender<u8>,
    /// What connections see: the level, held back at `RUNNING` while an accept loop still
    /// listens (so no connection is told to stop while new ones can still arrive), except
    /// that a forced shutdown reaches them at once.
    sessions: watch::Sender<u8>,
    /// Whether an accept loop holds the connections' level back (until it has closed its
    /// listeners).
    hold: AtomicBool,
    /// Read end of a pipe that becomes readable on every change, for `poll`-based loops.
    wake_read: OwnedFd,
    /// Write end of that pipe.
    wake_write: OwnedFd,
}

impl ShutdownState {
    /// A fresh state, not shutting down.
    pub(crate) fn new() -> io::Result<Arc<Self>> {
        let (wake_read, wake_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(io::Error::from)?;
        Ok(Arc::new(ShutdownState {
            level: AtomicU8::new(RUNNING),
            notify: watch::Sender::new(RUNNING),
            sessions: watch::Sender::new(RUNNING),
            hold: AtomicBool::new(false),
            wake_read,
            wake_write,
        }))
    }

    fn raise_to(&self, level: u8) {
        let previous = self.level.fetch_max(level, Ordering::SeqCst);
        if previous < level {
            self.notify.send_replace(level);
            if level >= FORCED || !self.hold.load(Ordering::SeqCst) {
                self.tell_sessions(level);
            }
            // A full pipe already wakes the poller; nothing else can go wrong worth reporting.
            let _ = nix::unistd::write(&self.wake_write, &[level]);
        }
    }

    /// Raises the connections' level to `level` (never lowers it).
    fn tell_sessions(&self, level: u8) {
        self.sessions.send_if_modified(|current| {
            let raise = level > *current;
            if raise {
                *current = level;
            }
            raise
        });
    }

    /// Called by an accept loop before it takes work: a graceful shutdown reaches the
    /// connections only once the loop calls [`ShutdownState::release_sessions`].
    pub(crate) fn hold_sessions(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    /// Called by an accept loop once its listeners are closed: the connections now follow
    /// the shutdown level (a client that reconnects is refused here and goes elsewhere,
    /// instead of reaching a listener that is about to close).
    pub(crate) fn release_sessions(&self) {
        self.hold.store(false, Ordering::SeqCst);
        self.tell_sessions(self.level.load(Ordering::SeqCst));
    }

    /// Starts a graceful shutdown (no effect if one is under way).
    pub(crate) fn graceful(&self) {
        self.raise_to(GRACEFUL);
    }

    /// Forces an immediate shutdown.
    pub(crate) fn force(&self) {
        self.raise_to(FORCED);
    }

    /// Graceful on the first call, forced on the next: what a repeated signal does.
    pub(crate) fn escalate(&self) {
        if self.level.load(Ordering::SeqCst) == RUNNING {
            self.graceful();
        } else {
            self.force();
        }
    }

    /// Whether a shutdown (graceful or forced) has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.level.load(Ordering::SeqCst) >= GRACEFUL
    }

    /// Whether a forced shutdown has begun.
    pub(crate) fn is_forced(&self) -> bool {
        self.level.load(Ordering::SeqCst) >= FORCED
    }

    /// The fd that becomes readable when the level changes (drain with `drain_wake`).
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Empties the wake pipe.
    pub(crate) fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.wake_read, &mut buf), Ok(n) if n > 0) {}
    }

    /// A signal for connections of this server.
    pub(crate) fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            receiver: self.sessions.subscribe(),
        }
    }

    /// A signal for the accept loops: fires as soon as shutdown is requested.
    pub(crate) fn loop_signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            receiver: self.notify.subscribe(),
        }
    }
}

/// A handle to a running server, to stop it from another thread or task.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    /// The state shared with the server's loops.
    state: Arc<ShutdownState>,
}

impl ServerHandle {
    pub(crate) fn new(state: Arc<ShutdownState>) -> Self {
        ServerHandle { state }
    }

    /// Asks the server to stop accepting and let its connections finish, then return from
    /// `serve_forever`. Returns at once (unlike Python's blocking `shutdown()`).
    pub fn shutdown(&self) {
        self.state.graceful();
    }

    /// Asks the server to close every connection now.
    pub fn force_shutdown(&self) {
        self.state.force();
    }

    /// Whether a shutdown has been requested.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_shutting_down()
    }
}

/// Fires when the server starts shutting down; a handler awaits it between units of work.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    /// Follows the server's shutdown level.
    receiver: watch::Receiver<u8>,
}

impl ShutdownSignal {
    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow() >= GRACEFUL
    }

    /// Completes once shutdown has begun (at once if it already has).
    pub async fn triggered(&self) {
        self.wait_for(GRACEFUL).await;
    }

    /// Completes once a forced shutdown has begun.
    pub(crate) async fn forced(&self) {
        self.wait_for(FORCED).await;
    }

    async fn wait_for(&self, level: u8) {
        let mut receiver = self.receiver.clone();
        if receiver
            .wait_for(|current| *current >= level)
            .await
            .is_err()
        {
            // The server is gone: nothing will ever change, so never complete.
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `work` to completion unless a forced shutdown, or a graceful one that outlasts
/// `grace`, cuts it short. Returns `None` if it was cut short.
///
/// `work` is pinned by the caller: a future taken by value would be held twice in this
/// function's state (the argument and the one being awaited), and a connection's future is
/// the largest part of every session's memory.
pub(crate) async fn bounded_by_shutdown<F: std::future::Future>(
    work: std::pin::Pin<&mut F>,
    signal: &ShutdownSignal,
    grace: Duration,
) -> Option<F::Output> {
    let deadline = async {
        signal.triggered().await;
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = signal.forced() => {}
        }
    };
    tokio::select! {
        output = work => Some(output),
        _ = deadline => None,
    }
}
