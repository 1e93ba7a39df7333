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

/// Runs `command` to the end with `input` on its standard input and returns its output.
///
/// A command that exits before reading all of its input (a refusal reported before a password
/// is read) closes the pipe early; that is part of its behaviour, not an error of the run.
pub fn output_with_input(
    command: &mut Command,
    input: &[u8],
) -> std::io::Result<std::process::Output> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    match stdin.write_all(input) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err),
        _ => {}
    }
    drop(stdin);
    child.wait_with_output()
}
