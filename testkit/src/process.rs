//! Child processes that cannot outlive the tests: each is spawned with `PR_SET_PDEATHSIG`, so
//! the kernel kills it when the thread that spawned it ends, at the latest when the test
//! process exits (even on a panic, or from a fixture in a `static` that is never dropped).
//! Also: commands run with input and a time bound, and what `/proc` says of a process
//! (its children, whether it is gone).

use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    let mut child = spawn_piped(command)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    match stdin.write_all(input) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err),
        _ => {}
    }
    drop(stdin);
    child.wait_with_output()
}

/// Spawns `command` with its standard input, output and error piped to the test.
fn spawn_piped(command: &mut Command) -> std::io::Result<Child> {
    use std::process::Stdio;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Like [`output_with_input`], bounded: a command still running after `limit` is killed and
/// reported as a [`std::io::ErrorKind::TimedOut`] error (a hang guard, not a speed check).
pub fn output_within(
    command: &mut Command,
    input: &[u8],
    limit: Duration,
) -> std::io::Result<std::process::Output> {
    use std::io::{Read, Write};
    let mut child = spawn_piped(command)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let data = input.to_vec();
    // On threads, so that a command filling one pipe while the test writes another never
    // deadlocks; a command may exit without reading all of its input, which is its right.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let status = wait_within(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = writer.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => Ok(std::process::Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "still running after {limit:?} (killed); stderr: {}",
                String::from_utf8_lossy(&stderr)
            ),
        )),
    }
}

/// Waits up to `limit` for `child` to exit; its status, or `None` if it still runs (it is left
/// running: the caller decides whether to kill it).
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The processes whose parent is `parent`, from `/proc` (a fork-per-session daemon's sessions).
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid).and_then(|fields| fields.get(1)?.parse().ok()) == Some(parent)
        })
        .collect()
}

/// Whether process `pid` is gone, or only a zombie (it has released everything it held and
/// waits to be reaped).
pub fn process_gone(pid: u32) -> bool {
    stat_fields(pid)
        .is_none_or(|fields| matches!(fields.first().map(String::as_str), Some("Z" | "X")))
}

/// The fields of `/proc/PID/stat` after the command name (state, parent, ...); the name is in
/// parentheses and may itself hold spaces and parentheses, so the split is at the last `)`.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::{children, output_within, process_gone};

    #[test]
    fn a_bounded_run_returns_the_output_or_kills_a_command_that_hangs() {
        let output = output_within(
            Command::new("cat").arg("-"),
            b"echoed",
            Duration::from_secs(30),
        )
        .expect("cat runs");
        assert!(output.status.success());
        assert_eq!(output.stdout, b"echoed");
        let hung = output_within(
            Command::new("sleep").arg("30"),
            b"",
            Duration::from_millis(200),
        )
        .expect_err("sleep outlives the limit");
        assert_eq!(hung.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_child_is_listed_under_its_parent_until_it_is_gone() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id();
        assert!(children(std::process::id()).contains(&pid));
        assert!(!process_gone(pid));
        child.kill().expect("kill");
        // Killed but not yet reaped: a zombie counts as gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !process_gone(pid) {
            assert!(std::time::Instant::now() < deadline, "{pid} still runs");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait().expect("reap");
        assert!(process_gone(pid));
    }
}
