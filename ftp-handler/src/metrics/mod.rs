//! The daemon's Prometheus metrics: what each shared counter slot means, recording from the
//! sessions, and the text the exporter serves.
//!
//! - this file: [`FtpMetrics`], the slot layout over [`wharf::metrics::SharedCounters`] and the
//!   recording calls the sessions make.
//! - [`encode`]: the `/metrics` text (Prometheus text format 0.0.4, by `prometheus-client`).
//! - [`exporter`]: starting the exporter process with the readiness check.
//!
//! The slots live in a shared anonymous mapping made before the server forks, so sessions in
//! forked processes (forking mode) add to the same counters as tasks and threads do.

mod encode;
pub(crate) mod exporter;

use std::io;
use std::sync::Arc;

use wharf::metrics::{SharedCounters, SlotHistogram};

use crate::protocol::command::SUPPORTED_VERBS;

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginResult {
    /// The password was right.
    Ok,
    /// Wrong password or unknown user.
    Failed,
    /// Refused because the address or user name is banned.
    Banned,
}

/// Which way a file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferDirection {
    /// STOR, APPE, STOU.
    Upload,
    /// RETR.
    Download,
}

/// How a file transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferResult {
    /// Completed (`226`).
    Ok,
    /// Stopped by an error (data connection, storage, quota).
    Failed,
    /// Stopped by the client: ABOR, or the control connection closed.
    Aborted,
}

/// Where a hook event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookTarget {
    /// `hooks.command`.
    Command,
    /// `hooks.webhook_url`.
    Webhook,
}

/// How the delivery of one event to one target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryResult {
    /// Delivered, perhaps after retries.
    Ok,
    /// Every attempt failed.
    Failed,
    /// Never attempted: the queue was full (or the hook process gone).
    Dropped,
}

/// What the pre-upload check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VetoResult {
    /// The program exited 0: the upload went ahead.
    Allowed,
    /// The program exited otherwise: refused with its reason.
    Refused,
    /// The program could not run or timed out: refused (fail closed).
    Failed,
}

/// Label values in slot order.
const LOGIN_RESULTS: [&str; 3] = ["ok", "failed", "banned"];
const DIRECTIONS: [&str; 2] = ["upload", "download"];
const TRANSFER_RESULTS: [&str; 3] = ["ok", "failed", "aborted"];
const REPLY_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
const HOOK_TARGETS: [&str; 2] = ["command", "webhook"];
const DELIVERY_RESULTS: [&str; 3] = ["ok", "failed", "dropped"];
const VETO_RESULTS: [&str; 3] = ["allowed", "refused", "failed"];
/// The `command` label of verbs outside [`SUPPORTED_VERBS`] (bounded cardinality).
const OTHER_COMMAND: &str = "other";
/// Upper bounds of the `wharf_ftpd_transfer_seconds` buckets.
const TRANSFER_SECONDS_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The slot layout: each constant is the first slot of its family.
const SESSIONS_ACTIVE: usize = 0;
const SESSIONS_TOTAL: usize = 1;
const LOGINS: usize = 2;
const TRANSFER_BYTES: usize = LOGINS + LOGIN_RESULTS.len();
const TRANSFERS: usize = TRANSFER_BYTES + DIRECTIONS.len();
const TRANSFER_SECONDS: usize = TRANSFERS + DIRECTIONS.len() * TRANSFER_RESULTS.len();
const COMMANDS: usize = TRANSFER_SECONDS + SlotHistogram::slots(&TRANSFER_SECONDS_BOUNDS);
/// Commands: one row of reply classes per supported verb, then one for `other`.
const COMMAND_ROWS: usize = SUPPORTED_VERBS.len() + 1;
const HOOK_DELIVERIES: usize = COMMANDS + COMMAND_ROWS * REPLY_CLASSES.len();
const HOOK_FAILED_ATTEMPTS: usize = HOOK_DELIVERIES + HOOK_TARGETS.len() * DELIVERY_RESULTS.len();
const UPLOAD_VETOES: usize = HOOK_FAILED_ATTEMPTS + HOOK_TARGETS.len();
const SLOTS: usize = UPLOAD_VETOES + VETO_RESULTS.len();

/// The FTP daemon's counters, shared by every session in every mode; cheap to clone.
#[derive(Debug, Clone)]
pub struct FtpMetrics {
    /// The slots, mapped shared so forked sessions count into them too.
    counters: Arc<SharedCounters>,
}

/// Holds one active session; dropping it ends the session in the gauge.
#[derive(Debug)]
pub(crate) struct ActiveSession {
    /// The counters to decrement.
    metrics: FtpMetrics,
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        self.metrics.counters.sub(SESSIONS_ACTIVE, 1);
    }
}

impl FtpMetrics {
    /// Fresh counters, all zero; make them before the server forks.
    pub fn new() -> io::Result<Self> {
        Ok(FtpMetrics {
            counters: Arc::new(SharedCounters::new(SLOTS)?),
        })
    }

    /// Counts a new session, active until the returned value is dropped.
    pub(crate) fn session_started(&self) -> ActiveSession {
        self.counters.add(SESSIONS_TOTAL, 1);
        self.counters.add(SESSIONS_ACTIVE, 1);
        ActiveSession {
            metrics: self.clone(),
        }
    }

    /// Counts a login attempt.
    pub(crate) fn login(&self, result: LoginResult) {
        let index = match result {
            LoginResult::Ok => 0,
            LoginResult::Failed => 1,
            LoginResult::Banned => 2,
        };
        self.counters.add(LOGINS + index, 1);
    }

    /// Counts a command by its verb (upper case; unknown ones as `other`) and the class of its
    /// final reply code; codes outside 200..=599 are not counted.
    pub(crate) fn command(&self, verb: &str, code: u16) {
        let Some(class) = (200..600)
            .contains(&code)
            .then(|| usize::from(code / 100 - 2))
        else {
            return;
        };
        let row = SUPPORTED_VERBS
            .iter()
            .position(|known| *known == verb)
            .unwrap_or(SUPPORTED_VERBS.len());
        self.counters
            .add(COMMANDS + row * REPLY_CLASSES.len() + class, 1);
    }

    /// Counts a finished file transfer of `bytes` that took `seconds`.
    pub(crate) fn transfer(
        &self,
        direction: TransferDirection,
        result: TransferResult,
        bytes: u64,
        seconds: f64,
    ) {
        let direction = match direction {
            TransferDirection::Upload => 0,
            TransferDirection::Download => 1,
        };
        let result = match result {
            TransferResult::Ok => 0,
            TransferResult::Failed => 1,
            TransferResult::Aborted => 2,
        };
        self.counters.add(TRANSFER_BYTES + direction, bytes);
        self.counters
            .add(TRANSFERS + direction * TRANSFER_RESULTS.len() + result, 1);
        self.transfer_seconds().observe(&self.counters, seconds);
    }

    /// Counts the end of one event's delivery to one target.
    pub(crate) fn hook_delivery(&self, target: HookTarget, result: DeliveryResult) {
        let result = match result {
            DeliveryResult::Ok => 0,
            DeliveryResult::Failed => 1,
            DeliveryResult::Dropped => 2,
        };
        self.counters.add(
            HOOK_DELIVERIES + target_index(target) * DELIVERY_RESULTS.len() + result,
            1,
        );
    }

    /// Counts one failed delivery attempt (retried or not).
    pub(crate) fn hook_attempt_failed(&self, target: HookTarget) {
        self.counters
            .add(HOOK_FAILED_ATTEMPTS + target_index(target), 1);
    }

    /// Counts one pre-upload decision.
    pub(crate) fn upload_veto(&self, result: VetoResult) {
        let result = match result {
            VetoResult::Allowed => 0,
            VetoResult::Refused => 1,
            VetoResult::Failed => 2,
        };
        self.counters.add(UPLOAD_VETOES + result, 1);
    }

    /// The histogram of transfer durations.
    fn transfer_seconds(&self) -> SlotHistogram {
        SlotHistogram::new(TRANSFER_SECONDS, &TRANSFER_SECONDS_BOUNDS)
    }
}

/// The slot row of a hook target.
fn target_index(target: HookTarget) -> usize {
    match target {
        HookTarget::Command => 0,
        HookTarget::Webhook => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_unknown_verbs_count_as_other_and_odd_codes_not_at_all() {
        let metrics = FtpMetrics::new().unwrap();
        metrics.command("RETR", 226);
        metrics.command("FOOBAR", 500);
        metrics.command("RETR", 150);
        let text = metrics.render(&encode::Extra::default());
        assert!(
            text.contains(r#"wharf_ftpd_commands_total{command="RETR",class="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wharf_ftpd_commands_total{command="other",class="5xx"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"class="1xx""#), "{text}");
    }

    #[test]
    fn hook_deliveries_attempts_and_vetoes_have_series_of_their_own() {
        let metrics = FtpMetrics::new().unwrap();
        metrics.hook_delivery(HookTarget::Webhook, DeliveryResult::Ok);
        metrics.hook_delivery(HookTarget::Command, DeliveryResult::Dropped);
        metrics.hook_attempt_failed(HookTarget::Webhook);
        metrics.hook_attempt_failed(HookTarget::Webhook);
        metrics.upload_veto(VetoResult::Refused);
        let text = metrics.render(&encode::Extra::default());
        for line in [
            r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="ok"} 1"#,
            r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="failed"} 0"#,
            r#"wharf_ftpd_hook_deliveries_total{target="command",result="dropped"} 1"#,
            r#"wharf_ftpd_hook_failed_attempts_total{target="webhook"} 2"#,
            r#"wharf_ftpd_hook_failed_attempts_total{target="command"} 0"#,
            r#"wharf_ftpd_upload_vetoes_total{result="refused"} 1"#,
            r#"wharf_ftpd_upload_vetoes_total{result="allowed"} 0"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn sessions_active_falls_when_a_session_ends() {
        let metrics = FtpMetrics::new().unwrap();
        let first = metrics.session_started();
        let _second = metrics.session_started();
        drop(first);
        let text = metrics.render(&encode::Extra::default());
        assert!(text.contains("wharf_ftpd_sessions_active 1\n"), "{text}");
        assert!(text.contains("wharf_ftpd_sessions_total 2\n"), "{text}");
    }
}
