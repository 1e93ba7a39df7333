//! A daemon's metrics exporter read as Prometheus reads it: each path fetched with Python's
//! `urllib`, `/metrics` parsed by `prometheus_client`'s own text parser (an independent
//! reading of the exposition format), and the exporter's address from the daemon's log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Fetches each path under the base URL (argv[1]) and prints one JSON object per path: the
/// status, the body, the content type, and for `/metrics` every sample as the Prometheus
/// parser reads it.
const SCRAPE: &str = r#"
import json, sys, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families
base = sys.argv[1]
for path in sys.argv[2:]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            status, body = answer.status, answer.read().decode()
            kind = answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read().decode(), ""
    out = {"status": status, "body": body, "type": kind, "samples": [], "families": {}}
    if path == "/metrics" and status == 200:
        for family in text_string_to_metric_families(body):
            out["families"][family.name] = family.type
            for sample in family.samples:
                out["samples"].append([sample.name, sample.labels, sample.value])
    print(json.dumps(out))
"#;

/// One scrape of one path.
#[derive(Debug, Clone)]
pub struct Scraped {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
    /// The `Content-Type` header.
    pub content_type: String,
    /// `(sample name, labels as "k=v,k=v" sorted)` → value.
    pub samples: BTreeMap<(String, String), f64>,
    /// Family name → type, as the parser read them.
    pub families: BTreeMap<String, String>,
}

/// A sample's value by name and sorted `k=v,k=v` labels (absent: `None`).
pub fn value(scraped: &Scraped, name: &str, labels: &str) -> Option<f64> {
    scraped
        .samples
        .get(&(name.to_string(), labels.to_string()))
        .copied()
}

/// Scrapes `paths` from the exporter at `addr` with the Python parser.
pub fn scrape(addr: SocketAddr, paths: &[&str]) -> Vec<Scraped> {
    let output = crate::python::script(SCRAPE)
        .arg(format!("http://{addr}"))
        .args(paths)
        .output()
        .expect("python3 must be installed to run this test");
    assert!(
        output.status.success(),
        "scrape failed (is prometheus_client installed? scripts/test installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(parse_line)
        .collect()
}

/// One line of the script's output.
fn parse_line(line: &str) -> Scraped {
    let value: serde_json::Value = serde_json::from_str(line).expect("scrape JSON");
    let mut samples = BTreeMap::new();
    for sample in value["samples"].as_array().into_iter().flatten() {
        let labels = sample[1].as_object().expect("labels");
        let mut pairs: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or("")))
            .collect();
        pairs.sort();
        let name = sample[0].as_str().expect("name").to_string();
        samples.insert((name, pairs.join(",")), sample[2].as_f64().expect("value"));
    }
    let families = value["families"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, kind)| (name.clone(), kind.as_str().unwrap_or("").to_string()))
        .collect();
    Scraped {
        status: u16::try_from(value["status"].as_u64().expect("status")).expect("u16"),
        body: value["body"].as_str().unwrap_or("").to_string(),
        content_type: value["type"].as_str().unwrap_or("").to_string(),
        samples,
        families,
    }
}

/// The exporter's address, from the `metrics exporter at http://ADDR/metrics` line of the
/// daemon's log (`log` returns it so far); waits up to 10 s for it.
pub fn exporter_addr(log: impl Fn() -> String) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = log();
        if let Some(addr) = text
            .lines()
            .find_map(|line| line.split("metrics exporter at http://").nth(1))
            .and_then(|rest| rest.split('/').next())
        {
            return addr.parse().expect("exporter address");
        }
        assert!(Instant::now() < deadline, "no exporter in the log: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
