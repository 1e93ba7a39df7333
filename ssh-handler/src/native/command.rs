//! One command relayed over the native protocol: output out, input in, then the outcome.

use tokio::sync::mpsc;
use wharf_users::UserRecord;

use super::{Frames, SessionError, read_or_report};
use crate::exec::{self, Completion, ExecEvent, Executor, LimitReached, OutputStream};
use crate::metrics::{Protocol, SshMetrics};
use crate::protocol::{ExitStatus, Limit, Outcome, Request, Response};

/// What the session does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// Wait for the next request.
    Continue,
    /// Close the connection (the client left or broke the protocol).
    Close,
}

/// Runs `command` for `user` and relays it until it ends. A refused command is answered with
/// `CommandRefused` and the session goes on.
pub(super) async fn run(
    frames: &mut Frames<'_>,
    executor: &Executor,
    metrics: &SshMetrics,
    user: &UserRecord,
    command: &str,
) -> Result<After, SessionError> {
    let mut running = match executor.start(user, command) {
        Ok(running) => running.metered(metrics.command_started(Protocol::Native)),
        Err(error) => {
            tracing::info!(user = %user.name, cmd = command, %error, "command refused");
            metrics.command_refused(Protocol::Native, &error);
            let message = error.to_string();
            frames
                .write_frame(&Response::CommandRefused { message })
                .await?;
            return Ok(After::Continue);
        }
    };
    frames.write_frame(&Response::Started).await?;
    let mut stdin = running.take_stdin();
    // One input chunk waiting for room in the command's queue. While it waits, no more frames
    // are read, so a client sending faster than the command reads is slowed by TCP itself,
    // and output keeps flowing meanwhile (no deadlock with a command blocked on its output).
    let mut pending: Option<Vec<u8>> = None;
    loop {
        tokio::select! {
            event = running.next_event() => {
                let Some(event) = event else {
                    let outcome = lost("the command's supervisor stopped");
                    frames.write_frame(&Response::Finished(outcome)).await?;
                    return Ok(After::Continue);
                };
                match event {
                    ExecEvent::Output(OutputStream::Stdout, bytes) => {
                        frames.write_frame(&Response::Stdout(bytes)).await?;
                    }
                    ExecEvent::Output(OutputStream::Stderr, bytes) => {
                        frames.write_frame(&Response::Stderr(bytes)).await?;
                    }
                    ExecEvent::Finished(completion) => {
                        frames.write_frame(&Response::Finished(outcome(completion))).await?;
                        return Ok(After::Continue);
                    }
                    ExecEvent::Failed(message) => {
                        frames.write_frame(&Response::Finished(lost(&message))).await?;
                        return Ok(After::Continue);
                    }
                }
            }
            sent = send_pending(stdin.as_ref(), &mut pending, metrics), if pending.is_some() => {
                if !sent {
                    // The command closed its input: later input is dropped, as a pipe would.
                    stdin = None;
                    pending = None;
                }
            }
            request = frames.read_frame::<Request>(), if pending.is_none() => {
                match read_or_report(frames, request).await? {
                    Some(Request::Stdin(chunk)) => {
                        if stdin.is_some() && !chunk.is_empty() {
                            pending = Some(chunk);
                        }
                    }
                    Some(Request::StdinEof) => stdin = None,
                    Some(Request::Exec { .. } | Request::Login { .. }) => {
                        super::fail(frames, "a command is already running").await?;
                        return Ok(After::Close);
                    }
                    // The client left: dropping `running` kills the command.
                    None => return Ok(After::Close),
                }
            }
        }
    }
}

/// Moves the pending chunk into the input queue once it has room (and counts it); false if
/// there is no queue or it is closed. Cancel safe: the chunk is taken only when it is sent.
async fn send_pending(
    stdin: Option<&mpsc::Sender<Vec<u8>>>,
    pending: &mut Option<Vec<u8>>,
    metrics: &SshMetrics,
) -> bool {
    let Some(sender) = stdin else {
        return false;
    };
    match sender.reserve().await {
        Ok(permit) => {
            if let Some(chunk) = pending.take() {
                metrics.input(Protocol::Native, chunk.len());
                permit.send(chunk);
            }
            true
        }
        Err(_) => false,
    }
}

/// The wire form of a completion.
fn outcome(completion: Completion) -> Outcome {
    let status = match completion.status {
        exec::ExitStatus::Code(code) => ExitStatus::Code(code),
        exec::ExitStatus::Signal(number) => ExitStatus::Signal {
            number,
            name: exec::signal_name(number),
        },
    };
    let limit = completion.limit.map(|limit| match limit {
        LimitReached::Time(limit) => Limit::Time {
            millis: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        },
        LimitReached::Output(bytes) => Limit::Output { bytes },
    });
    Outcome { status, limit }
}

/// The outcome of a command the server lost track of.
fn lost(message: &str) -> Outcome {
    Outcome {
        status: ExitStatus::Unknown {
            message: message.to_owned(),
        },
        limit: None,
    }
}
