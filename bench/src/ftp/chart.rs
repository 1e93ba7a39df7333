//! The chart of a run as a self-contained SVG: one horizontal bar panel per headline figure
//! (single-session RETR and STOR against the loopback limit, the largest concurrent transfers,
//! logins per second, memory with the most idle sessions), a bar per server.

use std::fmt::Write as _;

use super::report::FtpRecord;
use super::results::{Metric, value_of};

/// Width of the picture.
const WIDTH: f64 = 820.0;
/// Left margin, where server names go.
const LABEL_WIDTH: f64 = 140.0;
/// Right margin, where values go.
const VALUE_WIDTH: f64 = 90.0;
/// Height of one bar row.
const ROW: f64 = 18.0;
/// Space above a panel's bars (its title).
const TITLE: f64 = 28.0;
/// Space below a panel.
const GAP: f64 = 14.0;
/// Bar colours: Wharf's servers stand out from the peers.
const WHARF_COLOUR: &str = "#1f6feb";
const PEER_COLOUR: &str = "#8b949e";

/// One panel: a metric's value per server, and an optional reference line.
struct Panel {
    /// The heading.
    title: String,
    /// `(server, value)`, in run order.
    bars: Vec<(String, Option<f64>)>,
    /// Decimals of the printed values.
    decimals: usize,
    /// A vertical line at this value, with its label (the loopback limit).
    reference: Option<(f64, String)>,
}

/// The panels of a record: only metrics with at least one measured value.
fn panels(record: &FtpRecord) -> Vec<Panel> {
    let largest = |counts: &[usize]| counts.iter().copied().max();
    let mut metrics = vec![Metric::RetrSingle, Metric::StorSingle];
    if let Some(sessions) = largest(&record.scale.transfer_counts) {
        let bytes = record.scale.transfer_size;
        metrics.extend([
            Metric::Downloads { sessions, bytes },
            Metric::Uploads { sessions, bytes },
        ]);
    }
    if let Some(n) = largest(&record.scale.login_counts) {
        metrics.push(Metric::Logins(n));
    }
    if let Some(n) = largest(&record.scale.idle_counts) {
        metrics.extend([Metric::IdleRss(n), Metric::IdlePss(n)]);
    }
    metrics
        .into_iter()
        .map(|metric| {
            let bars: Vec<(String, Option<f64>)> = record
                .servers
                .iter()
                .map(|server| (server.clone(), value_of(&record.cells, server, metric)))
                .collect();
            let reference = (metric == Metric::RetrSingle)
                .then(|| record.loopback.limit_mib_s())
                .flatten()
                .map(|limit| (limit, format!("loopback {limit:.0}")));
            let direction = if metric.higher_is_better() {
                "higher is better"
            } else {
                "lower is better"
            };
            Panel {
                title: format!("{} — {direction}", metric.label()),
                bars,
                decimals: metric.decimals(),
                reference,
            }
        })
        .filter(|panel| panel.bars.iter().any(|(_, value)| value.is_some()))
        .collect()
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document.
pub fn svg(record: &FtpRecord) -> String {
    let panels = panels(record);
    let height: f64 = 40.0
        + panels
            .iter()
            .map(|p| TITLE + ROW * p.bars.len() as f64 + GAP)
            .sum::<f64>();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" \
         font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(&format!(
            "FTP servers side by side — {} cores, {}",
            record.machine.cores, record.machine.model
        ))
    );
    let plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let mut y = 40.0;
    for panel in &panels {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            y + 18.0,
            escape(&panel.title)
        );
        y += TITLE;
        let top = panel
            .bars
            .iter()
            .filter_map(|(_, v)| *v)
            .chain(panel.reference.as_ref().map(|(v, _)| *v))
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let rows_top = y;
        for (server, value) in &panel.bars {
            let colour = if server.starts_with("wharf-") {
                WHARF_COLOUR
            } else {
                PEER_COLOUR
            };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LABEL_WIDTH - 6.0,
                y + 13.0,
                escape(server)
            );
            match value {
                Some(value) => {
                    let width = (value / top * plot).max(1.0);
                    let _ = writeln!(
                        out,
                        "<rect x=\"{LABEL_WIDTH}\" y=\"{:.1}\" width=\"{width:.1}\" \
                         height=\"{:.1}\" fill=\"{colour}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{:.prec$}</text>",
                        y + 2.0,
                        ROW - 4.0,
                        LABEL_WIDTH + width + 4.0,
                        y + 13.0,
                        value,
                        prec = panel.decimals
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#888\">not measured</text>",
                        LABEL_WIDTH + 4.0,
                        y + 13.0
                    );
                }
            }
            y += ROW;
        }
        if let Some((value, label)) = &panel.reference {
            let x = LABEL_WIDTH + value / top * plot;
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\" stroke=\"#d73a49\" \
                 stroke-dasharray=\"4 3\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d73a49\" \
                 text-anchor=\"end\">{}</text>",
                rows_top - 4.0,
                x - 3.0,
                rows_top - 6.0,
                escape(label)
            );
        }
        y += GAP;
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::loopback::LoopbackLimit;
    use crate::ftp::report::Scale;
    use crate::ftp::results::Cell;
    use crate::machine::Machine;

    #[test]
    fn the_svg_has_a_bar_per_measured_server_and_the_loopback_line() {
        let record = FtpRecord {
            benchmark: "ftp",
            machine: Machine::describe(),
            pinning: None,
            scale: Scale {
                big_size: 1,
                rounds: 1,
                login_counts: vec![],
                transfer_counts: vec![],
                transfer_size: 0,
                idle_counts: vec![10],
                storm: 1,
            },
            servers: vec!["vsftpd".into(), "wharf-async".into()],
            loopback: LoopbackLimit {
                blast_mib_s: Some(3000.0),
                iperf3_mib_s: None,
                notes: Vec::new(),
            },
            argon2: None,
            cells: vec![
                Cell::measured("vsftpd", Metric::RetrSingle, 1000.0, None),
                Cell::measured("wharf-async", Metric::RetrSingle, 2000.0, None),
                Cell::measured("wharf-async", Metric::IdleRss(10), 12.5, None),
            ],
            targets: Vec::new(),
            elapsed_secs: 1.0,
        };
        let svg = svg(&record);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(WHARF_COLOUR).count(), 2, "{svg}");
        assert_eq!(svg.matches(PEER_COLOUR).count(), 1, "{svg}");
        assert!(svg.contains("loopback 3000"));
        assert!(svg.contains("not measured"));
        // No STOR figures at all: no STOR panel.
        assert!(!svg.contains("STOR"));
    }
}
