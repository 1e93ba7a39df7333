//! The daemon's Prometheus metrics: what each shared counter slot means, the recording calls
//! of both front ends, and the text the exporter serves.
//!
//! - this file: [`SshMetrics`], the slot layout over [`wharf::metrics::SharedCounters`], and
//!   the recording calls (sessions, logins, refused commands, input bytes).
//! - [`command`]: [`CommandMeter`], one started command's output, outcome and duration.
//! - `encode`: the `/metrics` text (Prometheus text format 0.0.4, by `prometheus-client`).
//! - [`exporter`]: starting the exporter process with its readiness check.
//!
//! The slots live in a shared anonymous mapping made before the server forks, so sessions in
//! forked processes (forking mode) add to the same counters as tasks and threads do. Every
//! family has a `protocol` label: `native` (the framed protocol) or `ssh` (the SSH front end).

pub mod command;
mod encode;
pub mod exporter;

use std::io;
use std::sync::Arc;

use wharf::metrics::{SharedCounters, SlotHistogram};

use crate::exec::ExecError;

pub use command::{CommandMeter, CommandResult};

/// The front end a connection or command came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// The native framed protocol (`wharf-ssh`).
    Native,
    /// The SSH front end (OpenSSH and other SSH clients).
    Ssh,
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginResult {
    /// The credentials were right and the user may run commands.
    Ok,
    /// Wrong password, unknown user, key not authorized, or no permission to run commands.
    Failed,
    /// The user store could not be read, so the attempt could not be judged.
    Error,
}

/// Label values in slot order.
const PROTOCOLS: [&str; 2] = ["native", "ssh"];
const LOGIN_RESULTS: [&str; 3] = ["ok", "failed", "error"];
const STREAMS: [&str; 2] = ["stdout", "stderr"];
/// Upper bounds of the `wharf_sshd_command_seconds` buckets: from a quick `true` to the
/// longest time limit anyone is likely to set.
const COMMAND_SECONDS_BOUNDS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];
/// Slots of one command-duration histogram.
const HISTOGRAM_SLOTS: usize = SlotHistogram::slots(&COMMAND_SECONDS_BOUNDS);

/// The slot layout: each constant is the first slot of its family, one row per protocol.
const SESSIONS_ACTIVE: usize = 0;
const SESSIONS_TOTAL: usize = SESSIONS_ACTIVE + PROTOCOLS.len();
const LOGINS: usize = SESSIONS_TOTAL + PROTOCOLS.len();
const COMMANDS: usize = LOGINS + PROTOCOLS.len() * LOGIN_RESULTS.len();
const COMMANDS_RUNNING: usize = COMMANDS + PROTOCOLS.len() * CommandResult::ALL.len();
const COMMAND_SECONDS: usize = COMMANDS_RUNNING + PROTOCOLS.len();
const OUTPUT_BYTES: usize = COMMAND_SECONDS + PROTOCOLS.len() * HISTOGRAM_SLOTS;
const INPUT_BYTES: usize = OUTPUT_BYTES + PROTOCOLS.len() * STREAMS.len();
const SLOTS: usize = INPUT_BYTES + PROTOCOLS.len();

/// The daemon's counters, shared by every session in every mode; cheap to clone. Disabled
/// (no `--metrics-listen`), every recording call does nothing.
#[derive(Debug, Clone)]
pub struct SshMetrics {
    /// The slots, mapped shared so forked sessions count into them too; `None`: disabled.
    counters: Option<Arc<SharedCounters>>,
}

/// Holds one active session; dropping it ends the session in the gauge.
#[derive(Debug)]
#[must_use = "the session counts as active only while this is held"]
pub struct ActiveSession {
    /// The counters to decrement.
    metrics: SshMetrics,
    /// The front end of the session.
    protocol: Protocol,
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        if let Some(counters) = &self.metrics.counters {
            counters.sub(SESSIONS_ACTIVE + self.protocol.index(), 1);
        }
    }
}

impl Protocol {
    /// The row of this protocol in every family.
    fn index(self) -> usize {
        match self {
            Protocol::Native => 0,
            Protocol::Ssh => 1,
        }
    }
}

impl SshMetrics {
    /// Fresh counters, all zero; make them before the server forks.
    pub fn new() -> io::Result<Self> {
        Ok(SshMetrics {
            counters: Some(Arc::new(SharedCounters::new(SLOTS)?)),
        })
    }

    /// Counters that record nothing (no exporter was asked for).
    pub fn disabled() -> Self {
        SshMetrics { counters: None }
    }

    /// Adds `amount` to `slot`, when enabled.
    fn add(&self, slot: usize, amount: u64) {
        if let Some(counters) = &self.counters {
            counters.add(slot, amount);
        }
    }

    /// Counts a new connection on `protocol`, active until the returned value is dropped.
    pub fn session_started(&self, protocol: Protocol) -> ActiveSession {
        self.add(SESSIONS_TOTAL + protocol.index(), 1);
        self.add(SESSIONS_ACTIVE + protocol.index(), 1);
        ActiveSession {
            metrics: self.clone(),
            protocol,
        }
    }

    /// Counts one login attempt.
    pub fn login(&self, protocol: Protocol, result: LoginResult) {
        let column = match result {
            LoginResult::Ok => 0,
            LoginResult::Failed => 1,
            LoginResult::Error => 2,
        };
        self.add(LOGINS + protocol.index() * LOGIN_RESULTS.len() + column, 1);
    }

    /// Counts a command that could not start: `error` when the server failed (slot files,
    /// spawning), `refused` for everything the rules refuse.
    pub fn command_refused(&self, protocol: Protocol, error: &ExecError) {
        let result = match error {
            ExecError::Slots(_) | ExecError::Spawn(_) => CommandResult::Error,
            _ => CommandResult::Refused,
        };
        self.command_ended(protocol, result);
    }

    /// Counts a started command, running until the returned meter records its end.
    pub fn command_started(&self, protocol: Protocol) -> CommandMeter {
        self.add(COMMANDS_RUNNING + protocol.index(), 1);
        CommandMeter::new(self.clone(), protocol)
    }

    /// Counts bytes of standard input passed on to a command.
    pub fn input(&self, protocol: Protocol, bytes: usize) {
        self.add(INPUT_BYTES + protocol.index(), bytes as u64);
    }

    /// Counts one command's end by its result (front ends call it directly only for requests
    /// they refuse before the executor sees them).
    pub(crate) fn command_ended(&self, protocol: Protocol, result: CommandResult) {
        self.add(
            COMMANDS + protocol.index() * CommandResult::ALL.len() + result.index(),
            1,
        );
    }

    /// The duration histogram of `protocol`'s commands.
    fn command_seconds(protocol: Protocol) -> SlotHistogram {
        SlotHistogram::new(
            COMMAND_SECONDS + protocol.index() * HISTOGRAM_SLOTS,
            &COMMAND_SECONDS_BOUNDS,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_active_falls_when_a_session_ends_and_protocols_stay_apart() {
        let metrics = SshMetrics::new().unwrap();
        let first = metrics.session_started(Protocol::Native);
        let _second = metrics.session_started(Protocol::Native);
        let _third = metrics.session_started(Protocol::Ssh);
        drop(first);
        let text = metrics.render();
        for line in [
            "wharf_sshd_sessions_active{protocol=\"native\"} 1\n",
            "wharf_sshd_sessions_active{protocol=\"ssh\"} 1\n",
            "wharf_sshd_sessions_total{protocol=\"native\"} 2\n",
            "wharf_sshd_sessions_total{protocol=\"ssh\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn refusals_by_the_rules_and_failures_of_the_server_are_told_apart() {
        let metrics = SshMetrics::new().unwrap();
        metrics.command_refused(Protocol::Native, &ExecError::EmptyCommand);
        metrics.command_refused(
            Protocol::Ssh,
            &ExecError::Spawn(io::Error::other("no home")),
        );
        metrics.login(Protocol::Ssh, LoginResult::Error);
        let text = metrics.render();
        for line in [
            "wharf_sshd_commands_total{protocol=\"native\",result=\"refused\"} 1\n",
            "wharf_sshd_commands_total{protocol=\"ssh\",result=\"error\"} 1\n",
            "wharf_sshd_commands_total{protocol=\"ssh\",result=\"refused\"} 0\n",
            "wharf_sshd_logins_total{protocol=\"ssh\",result=\"error\"} 1\n",
            "wharf_sshd_command_seconds_count{protocol=\"native\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn disabled_metrics_record_nothing_and_render_nothing() {
        let metrics = SshMetrics::disabled();
        let session = metrics.session_started(Protocol::Native);
        metrics.login(Protocol::Native, LoginResult::Ok);
        metrics.input(Protocol::Native, 10);
        drop(metrics.command_started(Protocol::Native));
        drop(session);
        assert_eq!(metrics.render(), "");
    }
}
