//! HAProxy in front of the fleet's nodes, on loopback: its configuration (as
//! docs/cluster/haproxy.cfg, one control frontend per fleet size), the port ranges it
//! forwards, and its process.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::affinity;
use crate::launch::RunningServer;

/// HAProxy's own address towards the nodes (`source`): the one they trust for PROXY headers.
pub const SOURCE: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Connections HAProxy takes at once (a session is two: control and data).
const MAX_CONNECTIONS: usize = 4096;
/// Where passive ranges are looked for first (below the usual ephemeral range, so no
/// connection's local port is in the way).
const FIRST_PASSIVE_PORT: u16 = 10000;
/// The kernel's default ephemeral range, when `/proc` cannot say.
const DEFAULT_EPHEMERAL: PortRange = PortRange {
    low: 32768,
    high: 60999,
};
/// How long HAProxy may take to listen.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Consecutive ports, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first.
    pub low: u16,
    /// The last.
    pub high: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

impl PortRange {
    fn overlaps(self, other: PortRange) -> bool {
        self.low <= other.high && other.low <= self.high
    }
}

/// Where HAProxy listens and where it forwards.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The address clients are given.
    pub balancer: Ipv4Addr,
    /// Control frontends: the k-th (from 0) spreads over the first k + 1 nodes.
    pub frontends: Vec<u16>,
    /// Each node's control port (on [`SOURCE`]'s loopback) and its passive range.
    pub nodes: Vec<(u16, PortRange)>,
}

/// Passive ports a node needs for `sessions` sessions that may all be behind it at once, with
/// room for ports still closing.
pub fn range_size(sessions: usize) -> u16 {
    u16::try_from(sessions + sessions / 4 + 16).unwrap_or(u16::MAX / 8)
}

/// `/proc/sys/net/ipv4/ip_local_port_range`'s `LOW\tHIGH`.
pub fn parse_port_range(text: &str) -> Option<PortRange> {
    let mut fields = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (fields.next()?.ok()?, fields.next()?.ok()?);
    (low <= high).then_some(PortRange { low, high })
}

/// Ranges of `size` ports, in order, outside `ephemeral`, from [`FIRST_PASSIVE_PORT`] up.
fn candidates(size: u16, ephemeral: PortRange) -> impl Iterator<Item = PortRange> {
    let size = size.max(1);
    (FIRST_PASSIVE_PORT..=u16::MAX - (size - 1))
        .step_by(usize::from(size))
        .map(move |low| PortRange {
            low,
            high: low + (size - 1),
        })
        .filter(move |range| !range.overlaps(ephemeral))
}

/// `count` ranges of `size` ports whose every port is free right now on each of `addrs`
/// (the nodes bind them on one address, HAProxy on the balancer's).
pub fn free_ranges(
    count: usize,
    size: u16,
    ephemeral: Option<PortRange>,
    addrs: &[Ipv4Addr],
) -> Result<Vec<PortRange>, String> {
    let free = |range: &PortRange| {
        // Held until every port was tried, so one range is checked as a whole.
        let mut held = Vec::new();
        for port in range.low..=range.high {
            for &addr in addrs {
                match TcpListener::bind((addr, port)) {
                    Ok(listener) => held.push(listener),
                    Err(_) => return false,
                }
            }
        }
        true
    };
    let ranges: Vec<PortRange> = candidates(size, ephemeral.unwrap_or(DEFAULT_EPHEMERAL))
        .filter(free)
        .take(count)
        .collect();
    if ranges.len() < count {
        return Err(format!("no {count} free ranges of {size} ports"));
    }
    Ok(ranges)
}

/// The whole configuration: round robin over the nodes on each control frontend, PROXY v2
/// towards them, each node's passive range forwarded to the same port without a header.
pub fn config(layout: &Layout) -> String {
    let mut out = format!(
        "global\n    maxconn {MAX_CONNECTIONS}\n\n\
         defaults\n    mode tcp\n    maxconn {MAX_CONNECTIONS}\n    timeout connect 5s\n    \
         # A control connection is idle while its transfer runs.\n    \
         timeout client 10m\n    timeout server 10m\n"
    );
    for (index, port) in layout.frontends.iter().enumerate() {
        let name = format!("fleet{}", index + 1);
        out.push_str(&format!(
            "\nfrontend {name}\n    bind {}:{port}\n    default_backend {name}\n\n\
             backend {name}\n    balance roundrobin\n",
            layout.balancer
        ));
        for (node, (control, _)) in layout.nodes.iter().enumerate().take(index + 1) {
            out.push_str(&format!(
                "    server node{} {SOURCE}:{control} send-proxy-v2 source {SOURCE}\n",
                node + 1
            ));
        }
    }
    for (index, (_, ports)) in layout.nodes.iter().enumerate() {
        let name = format!("passive{}", index + 1);
        out.push_str(&format!(
            "\nfrontend {name}\n    bind {}:{ports}\n    default_backend {name}\n\n\
             backend {name}\n    server node{} {SOURCE} source {SOURCE}\n",
            layout.balancer,
            index + 1
        ));
    }
    out
}

/// Debian's haproxy, found as `wharf-testkit` finds it.
fn binary() -> Result<PathBuf, String> {
    wharf_testkit::haproxy::binary().ok_or_else(|| {
        "haproxy not found (apt-get install haproxy; bench/compare.sh fleet does)".to_string()
    })
}

/// `2.6.12` from `haproxy -v`.
pub fn version() -> Option<String> {
    let output = Command::new(binary().ok()?).arg("-v").output().ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_version(text: &str) -> Option<String> {
    let rest = text.lines().next()?.strip_prefix("HAProxy version ")?;
    let version = rest.split(['-', ' ']).next()?;
    Some(version.to_string())
}

/// A running HAProxy, stopped by [`Balancer::stop`] or when dropped.
pub struct Balancer {
    /// The process, in the foreground (`-db`).
    server: RunningServer,
}

impl Balancer {
    /// Writes `layout`'s configuration into `dir`, has HAProxy check it, starts it (pinned to
    /// `cpus`) and waits until every control frontend listens.
    pub async fn start(
        layout: &Layout,
        dir: &Path,
        cpus: Option<&[usize]>,
    ) -> Result<Balancer, String> {
        let binary = binary()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config(layout)).map_err(|e| format!("writing haproxy.cfg: {e}"))?;
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .map_err(|e| format!("running haproxy -c: {e}"))?;
        if !check.status.success() {
            return Err(format!(
                "haproxy refused {}: {}",
                path.display(),
                String::from_utf8_lossy(&check.stderr).trim()
            ));
        }
        let mut command = Command::new(&binary);
        command.arg("-db").arg("-f").arg(&path);
        if let Some(cpus) = cpus {
            affinity::pin_command(&mut command, cpus).map_err(|e| e.to_string())?;
        }
        let first = SocketAddr::from((layout.balancer, layout.frontends[0]));
        let log = dir.join("haproxy.log");
        let mut server = RunningServer::spawn(command, first, &log).map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        for &port in &layout.frontends {
            let addr = SocketAddr::from((layout.balancer, port));
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if !server.is_running() || tokio::time::Instant::now() > deadline {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    return Err(format!("haproxy did not listen on {addr}: {}", text.trim()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(Balancer { server })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Stops it.
    pub fn stop(self) {
        self.server.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let range = |low| PortRange {
            low,
            high: low + 399,
        };
        Layout {
            balancer: Ipv4Addr::new(127, 0, 0, 10),
            frontends: vec![2101, 2102, 2103],
            nodes: vec![
                (3001, range(10000)),
                (3002, range(10400)),
                (3003, range(10800)),
            ],
        }
    }

    #[test]
    fn frontend_k_spreads_over_the_first_k_nodes_with_proxy_v2() {
        let text = config(&layout());
        let backend = |name: &str| {
            let start = text.find(&format!("backend {name}\n")).unwrap();
            let rest = &text[start + 1..];
            rest[..rest.find("\nfrontend").unwrap_or(rest.len())].to_string()
        };
        for (k, name) in ["fleet1", "fleet2", "fleet3"].into_iter().enumerate() {
            let section = backend(name);
            assert!(section.contains("balance roundrobin"), "{section}");
            assert_eq!(section.matches("send-proxy-v2").count(), k + 1, "{section}");
            for node in 0..3 {
                let line = format!("node{} 127.0.0.1:{}", node + 1, 3001 + node);
                assert_eq!(section.contains(&line), node <= k, "{section}");
            }
        }
        assert!(text.contains("bind 127.0.0.10:2102\n"));
        let passive = backend("passive2");
        assert!(text.contains("bind 127.0.0.10:10400-10799\n"), "{text}");
        assert!(passive.contains("server node2 127.0.0.1 source 127.0.0.1"));
        assert!(!passive.contains("send-proxy"), "{passive}");
    }

    #[test]
    fn haproxy_accepts_the_configuration() {
        let binary = binary().expect("haproxy: scripts/test installs it");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config(&layout())).unwrap();
        let check = Command::new(binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    #[test]
    fn ranges_stay_out_of_the_ephemeral_ports_and_fit_the_sessions() {
        assert_eq!(
            parse_port_range("32768\t60999\n"),
            Some(PortRange {
                low: 32768,
                high: 60999
            })
        );
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("many"), None);
        assert!(range_size(300) >= 300);
        let ephemeral = PortRange {
            low: 20000,
            high: 60999,
        };
        let all: Vec<PortRange> = candidates(400, ephemeral).collect();
        assert!(
            all.iter()
                .all(|r| !r.overlaps(ephemeral) && r.high - r.low == 399)
        );
        assert_eq!(all[0].low, 10000);
        assert!(all.iter().any(|r| r.low > 60999));
        let ranges = free_ranges(2, 8, None, &[Ipv4Addr::LOCALHOST]).unwrap();
        assert_eq!(ranges.len(), 2);
        assert!(!ranges[0].overlaps(ranges[1]));
    }

    #[test]
    fn the_version_is_read_from_the_first_line() {
        assert_eq!(
            parse_version("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n"),
            Some("2.6.12".into())
        );
        assert_eq!(parse_version("nginx"), None);
    }
}
