//! Child processes that cannot outlive the tests: each is spawned with `PR_SET_PDEATHSIG`, so
//! the kernel kills it when the thread that spawned it ends, at the latest when the test
//! process exits (even on a panic, or from a fixture in a `static` that is never dropped).

use std::process::{Child, Command};
use std::sync::mpsc;

/// Keeps the spawning thread of a [`spawn_tied`] child alive; dropping it lets the thread end,
/// and with it the child receives SIGKILL (drop it after the child has been stopped).
#[derive(Debug)]
pub struct Tie {
    /// Its drop wakes the spawning thread.
    _stop: mpsc::Sender<()>,
}

/// Spawns `command` from a thread that lives until the returned [`Tie`] is dropped, with the
/// child set to receive SIGKILL when that thread ends.
pub fn spawn_tied(mut command: Command) -> std::io::Result<(Child, Tie)> {
    use std::os::unix::process::CommandExt;
    let (stop, stopped) = mpsc::channel::<()>();
    let (sent, spawned) = mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's memory.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let _ = sent.send(command.spawn());
        // Blocks until the tie is dropped, or forever (the process exit ends it).
        let _ = stopped.recv();
    });
    let child = spawned
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread ended without an answer"))??;
    Ok((child, Tie { _stop: stop }))
}
