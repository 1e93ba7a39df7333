//! One started command as the metrics see it: the output passed to the client, how it ended
//! and how long it ran.

use std::time::Instant;

use super::{COMMANDS_RUNNING, OUTPUT_BYTES, Protocol, STREAMS, SshMetrics};
use crate::exec::{Completion, ExitStatus, LimitReached, OutputStream};

/// How a command ended, as `wharf_sshd_commands_total{result}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandResult {
    /// It exited with code 0.
    Ok,
    /// It exited with another code.
    Failed,
    /// A signal ended it (not the server's, for a limit).
    Signal,
    /// The server killed it at the time limit.
    Timeout,
    /// The server killed it at the output limit.
    OutputLimit,
    /// It was not started: too many running, an empty or invalid command line, confinement
    /// impossible, not logged in.
    Refused,
    /// The server failed: it could not start the command, or lost track of it.
    Error,
    /// The client went away (or the server stopped) before the command ended; it was killed.
    Disconnected,
}

impl CommandResult {
    /// Every result, in slot order.
    pub(super) const ALL: [CommandResult; 8] = [
        CommandResult::Ok,
        CommandResult::Failed,
        CommandResult::Signal,
        CommandResult::Timeout,
        CommandResult::OutputLimit,
        CommandResult::Refused,
        CommandResult::Error,
        CommandResult::Disconnected,
    ];

    /// The result of a command that ran to `completion`: a limit first, then the status.
    pub fn of(completion: &Completion) -> Self {
        match (completion.limit, completion.status) {
            (Some(LimitReached::Time(_)), _) => CommandResult::Timeout,
            (Some(LimitReached::Output(_)), _) => CommandResult::OutputLimit,
            (None, ExitStatus::Code(0)) => CommandResult::Ok,
            (None, ExitStatus::Code(_)) => CommandResult::Failed,
            (None, ExitStatus::Signal(_)) => CommandResult::Signal,
        }
    }

    /// The `result` label.
    pub(super) fn label(self) -> &'static str {
        match self {
            CommandResult::Ok => "ok",
            CommandResult::Failed => "failed",
            CommandResult::Signal => "signal",
            CommandResult::Timeout => "timeout",
            CommandResult::OutputLimit => "output_limit",
            CommandResult::Refused => "refused",
            CommandResult::Error => "error",
            CommandResult::Disconnected => "disconnected",
        }
    }

    /// The column of this result in its protocol's row.
    pub(super) fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|result| *result == self)
            .unwrap_or_default()
    }
}

/// Meters one started command: output, then its end. Dropped before [`CommandMeter::finished`]
/// (the front end gave up on the command), it counts the command as
/// [`CommandResult::Disconnected`].
#[derive(Debug)]
pub struct CommandMeter {
    /// The counters.
    metrics: SshMetrics,
    /// The front end running the command.
    protocol: Protocol,
    /// When the command started, for `wharf_sshd_command_seconds`.
    started: Instant,
    /// Whether the end has been counted.
    ended: bool,
}

impl CommandMeter {
    /// A meter for a command that has just started (already counted as running).
    pub(super) fn new(metrics: SshMetrics, protocol: Protocol) -> Self {
        CommandMeter {
            metrics,
            protocol,
            started: Instant::now(),
            ended: false,
        }
    }

    /// Counts `bytes` of `stream` handed to the client.
    pub fn output(&self, stream: OutputStream, bytes: usize) {
        let column = match stream {
            OutputStream::Stdout => 0,
            OutputStream::Stderr => 1,
        };
        self.metrics.add(
            OUTPUT_BYTES + self.protocol.index() * STREAMS.len() + column,
            bytes as u64,
        );
    }

    /// Counts the command's end (once; later calls do nothing).
    pub fn finished(&mut self, result: CommandResult) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.metrics.command_ended(self.protocol, result);
        if let Some(counters) = &self.metrics.counters {
            counters.sub(COMMANDS_RUNNING + self.protocol.index(), 1);
            SshMetrics::command_seconds(self.protocol)
                .observe(counters, self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for CommandMeter {
    fn drop(&mut self) {
        self.finished(CommandResult::Disconnected);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_limit_decides_the_result_before_the_status() {
        let killed = Completion {
            status: ExitStatus::Signal(9),
            limit: Some(LimitReached::Time(Duration::from_secs(1))),
        };
        assert_eq!(CommandResult::of(&killed), CommandResult::Timeout);
        let capped = Completion {
            status: ExitStatus::Code(0),
            limit: Some(LimitReached::Output(10)),
        };
        assert_eq!(CommandResult::of(&capped), CommandResult::OutputLimit);
        let exited = |code| Completion {
            status: ExitStatus::Code(code),
            limit: None,
        };
        assert_eq!(CommandResult::of(&exited(0)), CommandResult::Ok);
        assert_eq!(CommandResult::of(&exited(3)), CommandResult::Failed);
        let signalled = Completion {
            status: ExitStatus::Signal(15),
            limit: None,
        };
        assert_eq!(CommandResult::of(&signalled), CommandResult::Signal);
    }

    #[test]
    fn a_meter_dropped_early_counts_a_disconnect_once_and_stops_running() {
        let metrics = SshMetrics::new().unwrap();
        let mut finished = metrics.command_started(Protocol::Ssh);
        finished.output(OutputStream::Stdout, 5);
        finished.output(OutputStream::Stderr, 2);
        finished.finished(CommandResult::Failed);
        drop(finished);
        drop(metrics.command_started(Protocol::Ssh));
        let text = metrics.render();
        for line in [
            "wharf_sshd_commands_total{protocol=\"ssh\",result=\"failed\"} 1\n",
            "wharf_sshd_commands_total{protocol=\"ssh\",result=\"disconnected\"} 1\n",
            "wharf_sshd_commands_running{protocol=\"ssh\"} 0\n",
            "wharf_sshd_command_seconds_count{protocol=\"ssh\"} 2\n",
            "wharf_sshd_output_bytes_total{protocol=\"ssh\",stream=\"stdout\"} 5\n",
            "wharf_sshd_output_bytes_total{protocol=\"ssh\",stream=\"stderr\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
