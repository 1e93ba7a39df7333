//! What the FTP benchmark measures: one [`Cell`] per server and [`Metric`], each with its unit
//! and whether more is better, so tables, ratios and targets need no per-metric code.

use serde::Serialize;

/// The FTP client a single-session transfer is measured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FtpClient {
    /// The bench's own client on tokio ([`crate::ftp::client`]).
    Own,
    /// curl, from its own `time_pretransfer` to `time_total`.
    Curl,
    /// lftp, from the wall clock around one `get` or `put` in a logged-in session.
    Lftp,
}

impl FtpClient {
    /// Every client, in table order.
    pub const ALL: [FtpClient; 3] = [FtpClient::Own, FtpClient::Curl, FtpClient::Lftp];

    /// The name in tables, on the command line and in the JSON record.
    pub fn id(self) -> &'static str {
        match self {
            FtpClient::Own => "own",
            FtpClient::Curl => "curl",
            FtpClient::Lftp => "lftp",
        }
    }

    /// The client with this name.
    pub fn from_id(id: &str) -> Option<FtpClient> {
        FtpClient::ALL.into_iter().find(|client| client.id() == id)
    }
}

/// One measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// One session, RETR of the big file: MiB/s.
    RetrSingle,
    /// One session, STOR of the big file: MiB/s.
    StorSingle,
    /// N clients connecting and logging in at once: logins per second.
    Logins(usize),
    /// Sessions downloading one file of `bytes` at once: MiB/s over all of them.
    Downloads {
        /// How many sessions.
        sessions: usize,
        /// Bytes each one moves.
        bytes: u64,
    },
    /// Sessions uploading `bytes` each at once: MiB/s over all of them.
    Uploads {
        /// How many sessions.
        sessions: usize,
        /// Bytes each one moves.
        bytes: u64,
    },
    /// Server memory (RSS summed over its processes) with N idle logged-in sessions: MiB.
    IdleRss(usize),
    /// The same as PSS, which counts shared pages once: MiB.
    IdlePss(usize),
    /// Median NOOP round trip on a live session while N clients log in at once: ms.
    StormNoopP50(usize),
    /// 99th-percentile NOOP round trip during that login storm: ms.
    StormNoopP99(usize),
    /// Logins per second during that storm.
    StormLogins(usize),
    /// The server's peak resident set (`VmHWM`) while sessions upload `bytes` each at once,
    /// from a fresh start: MiB.
    UploadPeakRss {
        /// How many sessions.
        sessions: usize,
        /// Bytes each one moves.
        bytes: u64,
    },
    /// One session of `client`, STOR (`upload`) or RETR of the big file: MiB/s.
    ClientTransfer {
        /// The client.
        client: FtpClient,
        /// STOR when true, RETR when false.
        upload: bool,
    },
    /// The server's CPU time over that transfer, per GiB moved: seconds.
    ClientCpu {
        /// The client.
        client: FtpClient,
        /// STOR when true, RETR when false.
        upload: bool,
    },
}

/// `STOR` or `RETR`.
fn command_text(upload: bool) -> &'static str {
    if upload { "STOR" } else { "RETR" }
}

/// A transfer size as labels show it: whole MiB or KiB where it is one, else bytes.
fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        0 => "0 B".into(),
        _ if bytes.is_multiple_of(KIB * KIB) => format!("{} MiB", bytes / (KIB * KIB)),
        _ if bytes.is_multiple_of(KIB) => format!("{} KiB", bytes / KIB),
        _ => format!("{bytes} B"),
    }
}

impl Metric {
    /// The row label in tables.
    pub fn label(self) -> String {
        match self {
            Metric::RetrSingle => "RETR, 1 session (MiB/s)".into(),
            Metric::StorSingle => "STOR, 1 session (MiB/s)".into(),
            Metric::Logins(n) => format!("connect+login ×{n} (logins/s)"),
            Metric::Downloads { sessions, bytes } => {
                format!("{sessions} × {} RETR at once (MiB/s)", size_text(bytes))
            }
            Metric::Uploads { sessions, bytes } => {
                format!("{sessions} × {} STOR at once (MiB/s)", size_text(bytes))
            }
            Metric::IdleRss(n) => format!("{n} idle sessions, RSS (MiB)"),
            Metric::IdlePss(n) => format!("{n} idle sessions, PSS (MiB)"),
            Metric::StormNoopP50(n) => format!("NOOP p50 during {n} logins (ms)"),
            Metric::StormNoopP99(n) => format!("NOOP p99 during {n} logins (ms)"),
            Metric::StormLogins(n) => format!("logins/s during a storm of {n}"),
            Metric::UploadPeakRss { sessions, bytes } => format!(
                "peak RSS over {sessions} × {} STOR at once (MiB)",
                size_text(bytes)
            ),
            Metric::ClientTransfer { client, upload } => {
                format!(
                    "{}, 1 session, {} (MiB/s)",
                    command_text(upload),
                    client.id()
                )
            }
            Metric::ClientCpu { client, upload } => format!(
                "{}, 1 session, {}: server CPU (s/GiB)",
                command_text(upload),
                client.id()
            ),
        }
    }

    /// Whether a larger value is better (throughput, rates) or worse (memory, latency).
    pub fn higher_is_better(self) -> bool {
        match self {
            Metric::RetrSingle
            | Metric::StorSingle
            | Metric::Logins(_)
            | Metric::Downloads { .. }
            | Metric::Uploads { .. }
            | Metric::StormLogins(_)
            | Metric::ClientTransfer { .. } => true,
            Metric::IdleRss(_)
            | Metric::IdlePss(_)
            | Metric::StormNoopP50(_)
            | Metric::StormNoopP99(_)
            | Metric::UploadPeakRss { .. }
            | Metric::ClientCpu { .. } => false,
        }
    }

    /// Decimals shown in tables.
    pub fn decimals(self) -> usize {
        match self {
            Metric::StormNoopP50(_) | Metric::StormNoopP99(_) | Metric::ClientCpu { .. } => 2,
            Metric::IdleRss(_) | Metric::IdlePss(_) | Metric::UploadPeakRss { .. } => 1,
            _ => 0,
        }
    }

    /// How much better `subject` is than `baseline`: above 1.0 means better, whichever way
    /// the metric points.
    pub fn advantage(self, subject: f64, baseline: f64) -> Option<f64> {
        let (top, bottom) = if self.higher_is_better() {
            (subject, baseline)
        } else {
            (baseline, subject)
        };
        (bottom > 0.0 && top.is_finite()).then(|| top / bottom)
    }
}

/// One server's figure for one metric.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The server's id.
    pub server: String,
    /// What was measured.
    pub metric: Metric,
    /// The figure (the median over rounds where there are several).
    pub value: Option<f64>,
    /// More about it: spread over rounds, latencies, sessions actually held.
    pub detail: Option<String>,
    /// Why it could not be measured, or only in part.
    pub failure: Option<String>,
}

impl Cell {
    /// A measured figure.
    pub fn measured(server: &str, metric: Metric, value: f64, detail: Option<String>) -> Self {
        Cell {
            server: server.into(),
            metric,
            value: Some(value),
            detail,
            failure: None,
        }
    }

    /// A figure that could not be measured.
    pub fn failed(server: &str, metric: Metric, failure: impl Into<String>) -> Self {
        Cell {
            server: server.into(),
            metric,
            value: None,
            detail: None,
            failure: Some(failure.into()),
        }
    }
}

/// The best value among `cells` for `metric` on the given servers, with its server.
pub fn best<'a>(cells: &'a [Cell], metric: Metric, servers: &[&str]) -> Option<(&'a str, f64)> {
    cells
        .iter()
        .filter(|c| c.metric == metric && servers.contains(&c.server.as_str()))
        .filter_map(|c| Some((c.server.as_str(), c.value?)))
        .reduce(|a, b| {
            let b_better = if metric.higher_is_better() {
                b.1 > a.1
            } else {
                b.1 < a.1
            };
            if b_better { b } else { a }
        })
}

/// The value of `server` for `metric`, if measured.
pub fn value_of(cells: &[Cell], server: &str, metric: Metric) -> Option<f64> {
    cells
        .iter()
        .find(|c| c.metric == metric && c.server == server)
        .and_then(|c| c.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_labels_name_the_size_moved() {
        let uploads = Metric::Uploads {
            sessions: 300,
            bytes: 10 * 1024 * 1024,
        };
        assert_eq!(uploads.label(), "300 × 10 MiB STOR at once (MiB/s)");
        let downloads = Metric::Downloads {
            sessions: 4,
            bytes: 1536,
        };
        assert_eq!(downloads.label(), "4 × 1536 B RETR at once (MiB/s)");
        assert_eq!(size_text(64 * 1024), "64 KiB");
    }

    #[test]
    fn advantage_is_above_one_when_better_either_way() {
        assert_eq!(Metric::RetrSingle.advantage(200.0, 100.0), Some(2.0));
        assert_eq!(Metric::IdleRss(10).advantage(50.0, 100.0), Some(2.0));
        assert_eq!(Metric::IdleRss(10).advantage(0.0, 100.0), None);
    }

    #[test]
    fn the_best_peer_depends_on_the_direction_of_the_metric() {
        let cells = vec![
            Cell::measured("a", Metric::RetrSingle, 100.0, None),
            Cell::measured("b", Metric::RetrSingle, 300.0, None),
            Cell::failed("c", Metric::RetrSingle, "did not start"),
            Cell::measured("a", Metric::IdleRss(5), 10.0, None),
            Cell::measured("b", Metric::IdleRss(5), 30.0, None),
        ];
        assert_eq!(
            best(&cells, Metric::RetrSingle, &["a", "b", "c"]),
            Some(("b", 300.0))
        );
        assert_eq!(
            best(&cells, Metric::IdleRss(5), &["a", "b"]),
            Some(("a", 10.0))
        );
        assert_eq!(best(&cells, Metric::RetrSingle, &["c"]), None);
        assert_eq!(value_of(&cells, "a", Metric::RetrSingle), Some(100.0));
    }
}
