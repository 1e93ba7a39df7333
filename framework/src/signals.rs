//! SIGINT and SIGTERM delivered to servers through self-pipes, safely across `fork`.
//!
//! A raw `sigaction` handler writes one byte to the pipe of every subscribed server. Nothing here
//! uses tokio, so the forking parent can use it while staying single-threaded. With no
//! subscriber, a signal gets its default action (the process ends), as if never caught.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// How many servers in one process can watch signals at once.
const SLOTS: usize = 32;

/// Write ends of the subscribers' pipes; -1 marks a free slot.
static SUBSCRIBERS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

static INSTALL: Once = Once::new();

/// The signals that ask a server to stop.
const STOP_SIGNALS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

extern "C" fn on_stop_signal(signum: libc::c_int) {
    // Only async-signal-safe calls here: write, sigaction, raise; errno is preserved.
    let saved_errno = nix::errno::Errno::last_raw();
    let mut delivered = false;
    for slot in &SUBSCRIBERS {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            let byte = 1u8;
            // SAFETY: writing one byte from a valid buffer to a descriptor we own.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
            delivered = true;
        }
    }
    if !delivered {
        // SAFETY: restoring the default disposition and re-raising is async-signal-safe.
        unsafe {
            libc::signal(signum, libc::SIG_DFL);
            libc::raise(signum);
        }
    }
    nix::errno::Errno::set_raw(saved_errno);
}

fn install_handlers() -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(on_stop_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for signal in STOP_SIGNALS {
            // SAFETY: the handler only performs async-signal-safe operations.
            if let Err(e) = unsafe { sigaction(signal, &action) } {
                result = Err(io::Error::from(e));
            }
        }
    });
    result
}

/// One server's subscription to SIGINT and SIGTERM; dropping it unsubscribes.
#[derive(Debug)]
pub(crate) struct SignalSubscription {
    /// Index in `SUBSCRIBERS`.
    slot: usize,
    /// Becomes readable when a signal arrives.
    read: OwnedFd,
    /// Kept open so the slot's descriptor stays valid while subscribed.
    _write: OwnedFd,
}

impl SignalSubscription {
    /// Subscribes, installing the process-wide handlers on first use.
    pub(crate) fn new() -> io::Result<Self> {
        install_handlers()?;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(io::Error::from)?;
        let raw = write.as_raw_fd();
        for (slot, entry) in SUBSCRIBERS.iter().enumerate() {
            if entry
                .compare_exchange(-1, raw, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok(SignalSubscription {
                    slot,
                    read,
                    _write: write,
                });
            }
        }
        Err(io::Error::other(format!(
            "more than {SLOTS} servers in one process are watching signals"
        )))
    }

    /// The fd that becomes readable when a signal arrives.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Reads the pending signal bytes; returns how many signals arrived.
    pub(crate) fn take(&self) -> usize {
        let mut buf = [0u8; 64];
        let mut count = 0;
        while let Ok(n) = nix::unistd::read(&self.read, &mut buf) {
            if n == 0 {
                break;
            }
            count += n;
        }
        count
    }

    /// An async wrapper of the read end, for loops that run in a tokio runtime.
    pub(crate) fn async_receiver(&self) -> io::Result<tokio::net::unix::pipe::Receiver> {
        let fd = self.read.try_clone()?;
        tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
    }
}

impl Drop for SignalSubscription {
    fn drop(&mut self) {
        SUBSCRIBERS[self.slot].store(-1, Ordering::SeqCst);
    }
}

/// Calls `escalate` once per signal read from `receiver`, until the receiver fails.
pub(crate) async fn watch_signals(
    mut receiver: tokio::net::unix::pipe::Receiver,
    escalate: impl Fn(),
) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16];
    while let Ok(n) = receiver.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for _ in 0..n {
            escalate();
        }
    }
}

/// Blocks SIGINT and SIGTERM for the calling thread; the guard restores the previous mask.
pub(crate) struct BlockedStopSignals {
    previous: SigSet,
}

impl BlockedStopSignals {
    /// Blocks the stop signals (used around `fork`, so no handler runs between the fork and
    /// the child's own set-up).
    pub(crate) fn new() -> io::Result<Self> {
        let mut set = SigSet::empty();
        for signal in STOP_SIGNALS {
            set.add(signal);
        }
        let mut previous = SigSet::empty();
        nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&set),
            Some(&mut previous),
        )
        .map_err(io::Error::from)?;
        Ok(BlockedStopSignals { previous })
    }
}

impl Drop for BlockedStopSignals {
    fn drop(&mut self) {
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.previous),
            None,
        );
    }
}

/// In a freshly forked child: forget the parent's subscribers so a signal to the child never
/// wakes the parent. Call with the stop signals blocked.
pub(crate) fn forget_parent_subscribers() {
    for slot in &SUBSCRIBERS {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: the child's copy of the parent's pipe write end is unused from here on.
            unsafe { libc::close(fd) };
        }
    }
}
