//! The `/metrics` text: the shared counters, and what is read at scrape time, in the Prometheus
//! text format (0.0.4) written by `prometheus-client`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{
    COMMANDS, DELIVERY_RESULTS, DIRECTIONS, FtpMetrics, HOOK_DELIVERIES, HOOK_FAILED_ATTEMPTS,
    HOOK_TARGETS, LOGIN_RESULTS, LOGINS, OTHER_COMMAND, REPLY_CLASSES, SESSIONS_ACTIVE,
    SESSIONS_TOTAL, TRANSFER_BYTES, TRANSFER_RESULTS, TRANSFERS, UPLOAD_VETOES, VETO_RESULTS,
};
use crate::protocol::command::SUPPORTED_VERBS;

/// What a scrape reads besides the counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extra {
    /// Addresses and user names banned now; `None` when they could not be read (the family
    /// is left out).
    pub(crate) bans_active: Option<u64>,
    /// With `metrics.per_user_quota`: `(user, bytes used)` per user.
    pub(crate) quota_used: Option<Vec<(String, u64)>>,
}

/// A scrape: the counters as they are now, plus the extra readings.
#[derive(Debug)]
struct Scrape {
    /// The counters.
    metrics: FtpMetrics,
    /// The readings made for this scrape.
    extra: Extra,
}

impl FtpMetrics {
    /// The `/metrics` body.
    pub(crate) fn render(&self, extra: &Extra) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            metrics: self.clone(),
            extra: extra.clone(),
        }));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counters = &self.metrics.counters;
        // Signed: a gauge read between another process's increment and decrement is exact,
        // but never shown as a huge unsigned number.
        let active = counters.get(SESSIONS_ACTIVE) as i64;
        encoder
            .encode_descriptor(
                "wharf_ftpd_sessions_active",
                "Control connections being served now.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&active)?;
        encoder
            .encode_descriptor(
                "wharf_ftpd_sessions",
                "Control connections served since the daemon started.",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, _, u64>(&counters.get(SESSIONS_TOTAL), None)?;

        let mut logins = encoder.encode_descriptor(
            "wharf_ftpd_logins",
            "Login attempts (PASS) by result; banned: refused while banned.",
            None,
            MetricType::Counter,
        )?;
        for (index, result) in LOGIN_RESULTS.iter().enumerate() {
            logins
                .encode_family(&[("result", *result)])?
                .encode_counter::<NoLabelSet, _, u64>(&counters.get(LOGINS + index), None)?;
        }

        let mut commands = encoder.encode_descriptor(
            "wharf_ftpd_commands",
            "Commands by verb (other: verbs the server does not know) and final reply class.",
            None,
            MetricType::Counter,
        )?;
        let verbs = SUPPORTED_VERBS
            .iter()
            .chain(std::iter::once(&OTHER_COMMAND));
        for (row, verb) in verbs.enumerate() {
            for (column, class) in REPLY_CLASSES.iter().enumerate() {
                let value = counters.get(COMMANDS + row * REPLY_CLASSES.len() + column);
                // Only the pairs seen: most verbs never get most classes.
                if value > 0 {
                    commands
                        .encode_family(&[("command", *verb), ("class", *class)])?
                        .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
                }
            }
        }

        let mut bytes = encoder.encode_descriptor(
            "wharf_ftpd_transfer_bytes",
            "Bytes moved on data connections by file transfers.",
            None,
            MetricType::Counter,
        )?;
        for (index, direction) in DIRECTIONS.iter().enumerate() {
            bytes
                .encode_family(&[("direction", *direction)])?
                .encode_counter::<NoLabelSet, _, u64>(
                    &counters.get(TRANSFER_BYTES + index),
                    None,
                )?;
        }

        let mut transfers = encoder.encode_descriptor(
            "wharf_ftpd_transfers",
            "File transfers by direction and result (aborted: stopped by the client).",
            None,
            MetricType::Counter,
        )?;
        for (row, direction) in DIRECTIONS.iter().enumerate() {
            for (column, result) in TRANSFER_RESULTS.iter().enumerate() {
                let value = counters.get(TRANSFERS + row * TRANSFER_RESULTS.len() + column);
                transfers
                    .encode_family(&[("direction", *direction), ("result", *result)])?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }

        let histogram = self.metrics.transfer_seconds().snapshot(counters);
        encoder
            .encode_descriptor(
                "wharf_ftpd_transfer_seconds",
                "Duration of file transfers, from the data connection to the final reply.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                histogram.sum,
                histogram.count,
                &histogram.buckets,
                None,
            )?;

        let mut deliveries = encoder.encode_descriptor(
            "wharf_ftpd_hook_deliveries",
            "Hook events by target and how their delivery ended (dropped: the queue was full).",
            None,
            MetricType::Counter,
        )?;
        for (row, target) in HOOK_TARGETS.iter().enumerate() {
            for (column, result) in DELIVERY_RESULTS.iter().enumerate() {
                let value = counters.get(HOOK_DELIVERIES + row * DELIVERY_RESULTS.len() + column);
                deliveries
                    .encode_family(&[("target", *target), ("result", *result)])?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        let mut attempts = encoder.encode_descriptor(
            "wharf_ftpd_hook_failed_attempts",
            "Failed hook delivery attempts, retried ones included.",
            None,
            MetricType::Counter,
        )?;
        for (index, target) in HOOK_TARGETS.iter().enumerate() {
            attempts
                .encode_family(&[("target", *target)])?
                .encode_counter::<NoLabelSet, _, u64>(
                    &counters.get(HOOK_FAILED_ATTEMPTS + index),
                    None,
                )?;
        }
        let mut vetoes = encoder.encode_descriptor(
            "wharf_ftpd_upload_vetoes",
            "Pre-upload checks by decision (failed: the check could not run; refused too).",
            None,
            MetricType::Counter,
        )?;
        for (index, result) in VETO_RESULTS.iter().enumerate() {
            vetoes
                .encode_family(&[("result", *result)])?
                .encode_counter::<NoLabelSet, _, u64>(&counters.get(UPLOAD_VETOES + index), None)?;
        }

        if let Some(bans) = self.extra.bans_active {
            encoder
                .encode_descriptor(
                    "wharf_ftpd_bans_active",
                    "Client addresses and user names banned now.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&(bans as i64))?;
        }
        if let Some(users) = &self.extra.quota_used {
            let mut used = encoder.encode_descriptor(
                "wharf_ftpd_quota_used_bytes",
                "Bytes each user stores, as the quota counts them (one series per user).",
                None,
                MetricType::Gauge,
            )?;
            for (user, bytes) in users {
                used.encode_family(&[("user", user.as_str())])?
                    .encode_gauge(&(*bytes as i64))?;
            }
        }
        Ok(())
    }
}
