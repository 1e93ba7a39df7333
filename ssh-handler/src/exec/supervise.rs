//! Supervising one command: output in bounded chunks, input, the time and output limits.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use super::confine::PrivateTmp;
use super::process::CommandTree;
use super::slots::SlotGuard;
use super::{
    CHUNK_SIZE, Completion, ExecError, ExecEvent, ExecLimits, ExitStatus, LimitReached,
    OutputStream,
};

/// How long output may keep coming after the command's supervisor exited (it ends the whole
/// tree first, so the pipes are normally closed already); then the pipes are abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for a command's supervisor to end the tree and be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything needed to watch one command until it ends.
pub(super) struct Supervisor {
    /// The command's supervisor process (it mirrors the shell's exit).
    child: Child,
    /// The supervisor by pid while it is not reaped: ended on every way out.
    tree: Option<CommandTree>,
    /// The command's private `/tmp`, removed once the tree is gone.
    tmp: Option<PrivateTmp>,
    /// The write end of its standard input.
    stdin: Option<ChildStdin>,
    /// The read end of its standard output (`None` once at end of file).
    stdout: Option<ChildStdout>,
    /// The read end of its standard error (`None` once at end of file).
    stderr: Option<ChildStderr>,
    /// The limits to enforce.
    limits: ExecLimits,
    /// Where events go; closed when the front end gave up on the command.
    events: mpsc::Sender<ExecEvent>,
}

/// What the output loop ended with.
enum LoopEnd {
    /// The shell exited and the output was drained (or the drain grace expired).
    Exited(std::process::ExitStatus),
    /// A limit was reached; the tree must be ended and the supervisor reaped.
    Limit(LimitReached),
    /// The front end is gone, or waiting failed: nothing more to report.
    Abandoned,
}

impl Supervisor {
    /// Takes the pipes of a freshly spawned child and the `/tmp` to remove after it.
    pub(super) fn new(
        mut child: Child,
        tmp: Option<PrivateTmp>,
        limits: ExecLimits,
        events: mpsc::Sender<ExecEvent>,
    ) -> Result<Self, ExecError> {
        let missing = || ExecError::Spawn(std::io::Error::other("the command's pipes are missing"));
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        Ok(Supervisor {
            tree: CommandTree::of(&child),
            tmp,
            child,
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: Some(stderr),
            limits,
            events,
        })
    }

    /// Runs the command to its end and reports it; holds `slot` until then.
    pub(super) async fn run(mut self, stdin: mpsc::Receiver<Vec<u8>>, slot: SlotGuard) {
        let feeder = self
            .stdin
            .take()
            .map(|pipe| tokio::spawn(feed_stdin(pipe, stdin)));
        let end = self.pump_output().await;
        if let Some(feeder) = feeder {
            feeder.abort();
        }
        let completion = match end {
            LoopEnd::Exited(status) => status_of(status).map(|status| Completion {
                status,
                limit: None,
            }),
            LoopEnd::Limit(limit) => self.kill_and_reap().await.map(|status| Completion {
                status,
                limit: Some(limit),
            }),
            LoopEnd::Abandoned => {
                // Processes of the command do not outlive it, and its /tmp goes after them.
                let _ = self.kill_and_reap().await;
                None
            }
        };
        drop(self.tmp.take());
        drop(slot);
        let event = match completion {
            Some(completion) => {
                tracing::info!(status = ?completion.status, limit = ?completion.limit, "command finished");
                ExecEvent::Finished(completion)
            }
            None => {
                tracing::info!("command abandoned or lost; its process tree was killed");
                ExecEvent::Failed("the server lost track of the command".to_owned())
            }
        };
        let _ = self.events.send(event).await;
    }

    /// Streams output until the shell exits and the pipes close, a limit is reached, or the
    /// front end goes away.
    async fn pump_output(&mut self) -> LoopEnd {
        let deadline = Instant::now() + self.limits.time_limit;
        let mut drain_deadline: Option<Instant> = None;
        let mut exited: Option<std::process::ExitStatus> = None;
        let mut sent: u64 = 0;
        let mut stdout_buf = vec![0u8; CHUNK_SIZE];
        let mut stderr_buf = vec![0u8; CHUNK_SIZE];
        loop {
            if let Some(status) = exited
                && self.stdout.is_none()
                && self.stderr.is_none()
            {
                return LoopEnd::Exited(status);
            }
            let wake = drain_deadline.map_or(deadline, |drain| drain.min(deadline));
            let (stream, read) = tokio::select! {
                waited = self.child.wait(), if exited.is_none() => {
                    match waited {
                        Ok(status) => {
                            // The supervisor ended the tree before exiting; its pid is free now.
                            exited = Some(status);
                            self.tree = None;
                            drain_deadline = Some(Instant::now() + DRAIN_GRACE);
                        }
                        Err(error) => {
                            tracing::error!(%error, "cannot wait for a command");
                            return LoopEnd::Abandoned;
                        }
                    }
                    continue;
                }
                read = read_some(self.stdout.as_mut(), &mut stdout_buf) => (OutputStream::Stdout, read),
                read = read_some(self.stderr.as_mut(), &mut stderr_buf) => (OutputStream::Stderr, read),
                () = sleep_until(wake) => {
                    return match exited {
                        Some(status) if wake < deadline => LoopEnd::Exited(status),
                        _ => LoopEnd::Limit(LimitReached::Time(self.limits.time_limit)),
                    };
                }
                () = self.events.closed() => return LoopEnd::Abandoned,
            };
            let count = match read {
                Ok(0) | Err(_) => {
                    match stream {
                        OutputStream::Stdout => self.stdout = None,
                        OutputStream::Stderr => self.stderr = None,
                    }
                    continue;
                }
                Ok(count) => count,
            };
            let buf = match stream {
                OutputStream::Stdout => &stdout_buf,
                OutputStream::Stderr => &stderr_buf,
            };
            let allowed = self.limits.max_output_bytes.saturating_sub(sent);
            let over = count as u64 > allowed;
            let keep = if over { allowed as usize } else { count };
            if keep > 0 {
                let event = ExecEvent::Output(stream, buf[..keep].to_vec());
                match deliver(&self.events, event, deadline).await {
                    Delivery::Sent => sent += keep as u64,
                    Delivery::Gone => return LoopEnd::Abandoned,
                    Delivery::TimedOut => {
                        return LoopEnd::Limit(LimitReached::Time(self.limits.time_limit));
                    }
                }
            }
            if over {
                return LoopEnd::Limit(LimitReached::Output(self.limits.max_output_bytes));
            }
        }
    }

    /// Ends the whole tree and reaps the supervisor; the shell's status, if it could be had.
    async fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        // The pipes stay open until the supervisor is reaped: closed earlier, they would kill the
        // command with SIGPIPE before the supervisor's SIGKILL, and it would report that.
        let Some(tree) = self.tree else {
            self.stdout = None;
            self.stderr = None;
            // Already reaped (a limit hit while draining): tokio returns the status again.
            return self.child.wait().await.ok().and_then(status_of);
        };
        tree.end();
        let reaped = match timeout(REAP_TIMEOUT, self.child.wait()).await {
            Ok(reaped) => reaped,
            Err(_) => {
                tracing::error!(
                    "a command's supervisor did not end it in {REAP_TIMEOUT:?}; killing its process group"
                );
                tree.force();
                match timeout(REAP_TIMEOUT, self.child.wait()).await {
                    Ok(reaped) => reaped,
                    Err(_) => {
                        tracing::error!("a killed command did not exit in {REAP_TIMEOUT:?}");
                        return None;
                    }
                }
            }
        };
        self.tree = None;
        self.stdout = None;
        self.stderr = None;
        match reaped {
            Ok(status) => status_of(status),
            Err(error) => {
                tracing::error!(%error, "cannot reap a killed command");
                None
            }
        }
    }
}

impl Drop for Supervisor {
    /// A supervision cut short (its task dropped) still ends the command's tree.
    fn drop(&mut self) {
        if let Some(tree) = self.tree.take()
            && self.child.id().is_some()
        {
            tree.end();
        }
    }
}

/// The outcome of handing one event to the front end.
enum Delivery {
    /// Queued.
    Sent,
    /// The front end dropped the command.
    Gone,
    /// The time limit expired while the front end was not taking output.
    TimedOut,
}

/// Queues `event`, waiting for room no later than `deadline`.
async fn deliver(
    events: &mpsc::Sender<ExecEvent>,
    event: ExecEvent,
    deadline: Instant,
) -> Delivery {
    tokio::select! {
        sent = events.send(event) => match sent {
            Ok(()) => Delivery::Sent,
            Err(_) => Delivery::Gone,
        },
        () = sleep_until(deadline) => Delivery::TimedOut,
    }
}

/// Reads what is available from an open pipe; never completes for a closed one.
async fn read_some<R: AsyncRead + Unpin>(
    pipe: Option<&mut R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Copies input chunks to the command until the sender closes (end of file) or the command
/// stops reading; dropping the pipe closes the command's standard input.
async fn feed_stdin(mut pipe: ChildStdin, mut chunks: mpsc::Receiver<Vec<u8>>) {
    while let Some(chunk) = chunks.recv().await {
        if pipe.write_all(&chunk).await.is_err() {
            break;
        }
    }
}

/// The exit code or the terminating signal of a finished process.
fn status_of(status: std::process::ExitStatus) -> Option<ExitStatus> {
    match (status.code(), status.signal()) {
        (Some(code), _) => Some(ExitStatus::Code(code)),
        (None, Some(signal)) => Some(ExitStatus::Signal(signal)),
        (None, None) => None,
    }
}
