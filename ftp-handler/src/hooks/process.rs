//! Forking the hook process, and the daemon's handle on it.
//!
//! A process of its own, forked before the server binds, confines itself or forks sessions:
//! - hook programs are the administrator's, so they run outside the Landlock rules that
//!   confine sessions (which may not execute anything) and outside the daemon's address space;
//! - in forking mode every session process inherits the sending end and hands its events over
//!   before it exits, and the forking parent stays free of tokio (DESIGN.md, forking rules);
//! - the counters live in the shared mapping made before, so deliveries count into the same
//!   `/metrics` whichever process delivered.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use wharf::RunAs;

use super::client::HookClient;
use super::queue::Service;
use super::wire;
use crate::config::FtpdConfig;
use crate::metrics::FtpMetrics;

/// Time the hook process gets beyond the drain limit before the daemon kills it.
const EXIT_MARGIN: Duration = Duration::from_secs(2);

/// The running hook process; dropping it (after every session's sending end is closed) waits
/// for the queue to drain, bounded, then kills what is left.
#[derive(Debug)]
pub struct HookProcess {
    /// Its process id.
    pid: Pid,
    /// How long to wait for it to finish delivering.
    wait: Duration,
}

impl HookProcess {
    /// The hook process's id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }
}

/// Forks the hook process for `config.hooks`; call it while this process is single-threaded,
/// before the server is built. The client goes to the sessions.
pub fn start(
    config: &FtpdConfig,
    metrics: Option<FtpMetrics>,
) -> io::Result<(HookProcess, HookClient)> {
    let (sessions, hooks) = wire::channel()?;
    let drain_limit = config.server.shutdown_timeout;
    let run_as = config
        .server
        .user
        .clone()
        .map(|user| RunAs::new(user, config.server.group.clone()));
    let service = Service {
        config: config.hooks.clone(),
        metrics: metrics.clone(),
        drain_limit,
    };
    // SAFETY: called while single-threaded (documented above); the child runs only this
    // module's code and leaves with `_exit`.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { child } => {
            drop(hooks);
            let client = HookClient::new(sessions, &config.hooks, metrics);
            Ok((
                HookProcess {
                    pid: child,
                    wait: drain_limit + EXIT_MARGIN,
                },
                client,
            ))
        }
        ForkResult::Child => {
            drop(sessions);
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_child(service, hooks, run_as)
            })) {
                Ok(Ok(())) => 0,
                Ok(Err(error)) => {
                    tracing::error!(%error, "hook process failed");
                    1
                }
                Err(_) => 70,
            };
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The hook process: closes what it inherited, drops privileges, serves until the sessions
/// are gone.
fn run_child(service: Service, socket: OwnedFd, run_as: Option<RunAs>) -> io::Result<()> {
    close_inherited(socket.as_raw_fd());
    // Hook programs inherit the signal mask: none of the daemon's blocked signals stay so.
    SigSet::all().thread_unblock().map_err(io::Error::from)?;
    if let Some(run_as) = &run_as {
        run_as.switch_now().map_err(io::Error::other)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(service.run(socket))
}

/// Closes every inherited descriptor but the standard ones and `keep` (socket-activated
/// listeners, for one, must not stay open in here).
fn close_inherited(keep: i32) {
    let ranges = [(3, keep - 1), (keep + 1, i32::MAX)];
    for (first, last) in ranges {
        if first <= last {
            // SAFETY: close_range takes integers only; it closes nothing we still use.
            unsafe {
                libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32);
            }
        }
    }
}

impl Drop for HookProcess {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.wait;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(WaitStatus::StillAlive) => {
                    tracing::warn!("hook process still delivering at shutdown; killed");
                    let _ = kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    return;
                }
                _ => return,
            }
        }
    }
}
