//! The `/metrics` text: the shared counters in the Prometheus text format (0.0.4), written by
//! `prometheus-client`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use wharf::metrics::SharedCounters;

use super::{
    COMMANDS, COMMANDS_RUNNING, CommandResult, INPUT_BYTES, LOGIN_RESULTS, LOGINS, OUTPUT_BYTES,
    PROTOCOLS, Protocol, SESSIONS_ACTIVE, SESSIONS_TOTAL, STREAMS, SshMetrics,
};

/// A scrape: the counters as they are now.
#[derive(Debug)]
struct Scrape {
    /// The counters.
    counters: std::sync::Arc<SharedCounters>,
}

impl SshMetrics {
    /// The `/metrics` body; empty when disabled.
    pub(crate) fn render(&self) -> String {
        let Some(counters) = &self.counters else {
            return String::new();
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape {
            counters: counters.clone(),
        }));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

/// Both protocols with their label value, in slot order.
fn protocols() -> [(Protocol, &'static str); 2] {
    [
        (Protocol::Native, PROTOCOLS[0]),
        (Protocol::Ssh, PROTOCOLS[1]),
    ]
}

impl Scrape {
    /// A gauge family with one series per protocol, from the slots at `first`.
    fn gauge_per_protocol(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        first: usize,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (protocol, label) in protocols() {
            // Signed: a gauge read between another process's increment and decrement is
            // exact, but never shown as a huge unsigned number.
            let value = self.counters.get(first + protocol.index()) as i64;
            family
                .encode_family(&[("protocol", label)])?
                .encode_gauge(&value)?;
        }
        Ok(())
    }

    /// A counter family with one series per protocol, from the slots at `first`.
    fn counter_per_protocol(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        first: usize,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (protocol, label) in protocols() {
            family
                .encode_family(&[("protocol", label)])?
                .encode_counter::<NoLabelSet, _, u64>(
                    &self.counters.get(first + protocol.index()),
                    None,
                )?;
        }
        Ok(())
    }

    /// A counter family with one row per protocol from the slots at `first`: a series per
    /// value of `columns`, under the second label `label`.
    fn counter_grid(
        &self,
        encoder: &mut DescriptorEncoder,
        family: (&str, &str),
        label: &str,
        columns: &[&str],
        first: usize,
    ) -> Result<(), std::fmt::Error> {
        let (name, help) = family;
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (protocol, protocol_label) in protocols() {
            for (column, value_label) in columns.iter().enumerate() {
                let value = self
                    .counters
                    .get(first + protocol.index() * columns.len() + column);
                family
                    .encode_family(&[("protocol", protocol_label), (label, value_label)])?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.gauge_per_protocol(
            &mut encoder,
            "wharf_sshd_sessions_active",
            "Connections being served now.",
            SESSIONS_ACTIVE,
        )?;
        self.counter_per_protocol(
            &mut encoder,
            "wharf_sshd_sessions",
            "Connections served since the daemon started.",
            SESSIONS_TOTAL,
        )?;
        self.counter_grid(
            &mut encoder,
            (
                "wharf_sshd_logins",
                "Login attempts by result (error: the user store could not be read).",
            ),
            "result",
            &LOGIN_RESULTS,
            LOGINS,
        )?;
        let results = CommandResult::ALL.map(CommandResult::label);
        self.counter_grid(
            &mut encoder,
            (
                "wharf_sshd_commands",
                "Commands by how they ended (refused: never started).",
            ),
            "result",
            &results,
            COMMANDS,
        )?;
        self.gauge_per_protocol(
            &mut encoder,
            "wharf_sshd_commands_running",
            "Commands running now.",
            COMMANDS_RUNNING,
        )?;
        let mut seconds = encoder.encode_descriptor(
            "wharf_sshd_command_seconds",
            "Duration of started commands, from the start to the end of their output.",
            None,
            MetricType::Histogram,
        )?;
        for (protocol, label) in protocols() {
            let histogram = SshMetrics::command_seconds(protocol).snapshot(&self.counters);
            seconds
                .encode_family(&[("protocol", label)])?
                .encode_histogram::<NoLabelSet>(
                    histogram.sum,
                    histogram.count,
                    &histogram.buckets,
                    None,
                )?;
        }
        self.counter_grid(
            &mut encoder,
            (
                "wharf_sshd_output_bytes",
                "Bytes of command output passed to clients, by stream.",
            ),
            "stream",
            &STREAMS,
            OUTPUT_BYTES,
        )?;
        self.counter_per_protocol(
            &mut encoder,
            "wharf_sshd_input_bytes",
            "Bytes of standard input passed from clients to commands.",
            INPUT_BYTES,
        )?;
        Ok(())
    }
}
