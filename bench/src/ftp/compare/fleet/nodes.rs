//! Bringing the fleet up: the test user in PostgreSQL, the direct node, the three nodes in
//! balancer mode and HAProxy in front of them; the file every download fetches.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use super::haproxy::{self, Balancer, Layout, PortRange};
use super::{BALANCER, BEHIND, DOWNLOAD, HOME, QUOTA_BYTES, START_LIMIT};
use crate::affinity;
use crate::cpu::process_tree_time;
use crate::ftp::compare::Context;
use crate::ftp::compare::postgres::Database;
use crate::ftp::run;
use crate::ftp::transfers::{self, Target};
use crate::ftp::variant::{self, Files, S3Bucket, Users, WharfVariant};
use crate::launch::RunningServer;

/// The running fleet: stopped when dropped (each process is a [`RunningServer`]).
pub(super) struct Fleet {
    /// The node clients reach directly.
    pub(super) direct: RunningServer,
    /// The nodes behind HAProxy.
    pub(super) nodes: Vec<RunningServer>,
    /// HAProxy.
    pub(super) balancer: Balancer,
    /// Where each side's clients connect, in [`SIDES`] order.
    pub(super) targets: Vec<Target>,
}

impl Fleet {
    /// The CPU time the processes behind `side` have used so far: (nodes, HAProxy).
    pub(super) fn cpu(&self, side: usize) -> Option<(Duration, Option<Duration>)> {
        if side == 0 {
            return process_tree_time(self.direct.pid()).ok().map(|t| (t, None));
        }
        let mut nodes = Duration::ZERO;
        for node in &self.nodes[..side] {
            nodes += process_tree_time(node.pid()).ok()?;
        }
        Some((nodes, process_tree_time(self.balancer.pid()).ok()))
    }

    pub(super) fn stop(self) {
        self.balancer.stop();
        self.direct.stop();
        for node in self.nodes {
            node.stop();
        }
    }
}

fn variant_for(bucket: &S3Bucket, database: &Database) -> WharfVariant {
    WharfVariant {
        files: Files::S3 {
            bucket: bucket.clone(),
            prefix: HOME.into(),
        },
        users: Users::Postgres {
            url: database.url_without_password.clone(),
            password: database.password.clone(),
        },
        quota_bytes: Some(QUOTA_BYTES),
        ..WharfVariant::defaults("async")
    }
}

/// The flags that put a node behind the balancer, or (`behind: false`) only give it its range.
fn node_flags(ports: PortRange, behind: bool) -> Vec<String> {
    let mut flags = vec!["--passive-ports".to_string(), ports.to_string()];
    if behind {
        flags.extend([
            "--proxy-protocol-from".into(),
            format!("{}/32", haproxy::SOURCE),
            "--passive-address".into(),
            BALANCER.to_string(),
        ]);
    }
    flags
}

/// Starts one node in `name`'s folder (pinned like every FTP server of the run) and waits
/// until its control port accepts connections. A node behind the balancer closes a
/// connection that brings no PROXY header, so readiness is the port, not the greeting.
async fn start_node(
    ctx: &Context<'_>,
    variant: &WharfVariant,
    name: &str,
    flags: &[String],
) -> Result<RunningServer, String> {
    let dir = ctx.plan.work_dir.join(name);
    run::clean(&dir)?;
    let mut prepared = variant::prepare(variant, ctx.programs, ctx.credentials, &dir)
        .map_err(|e| e.to_string())?;
    prepared.command.args(flags);
    if let Some(cpus) = ctx.plan.server_cpus.as_deref() {
        affinity::pin_command(&mut prepared.command, cpus).map_err(|e| e.to_string())?;
    }
    let mut server = RunningServer::spawn(prepared.command, prepared.addr, &prepared.log)
        .map_err(|e| e.to_string())?;
    wait_for_port(&mut server, prepared.addr, &prepared.log).await?;
    Ok(server)
}

/// Waits up to [`START_LIMIT`] until `addr` accepts a connection.
async fn wait_for_port(
    server: &mut RunningServer,
    addr: SocketAddr,
    log: &Path,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + START_LIMIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if !server.is_running() || tokio::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(format!(
                "did not listen on {addr}; log: {}",
                tail.join(" | ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `count` different ports free on the balancer's address (held together while chosen).
fn free_balancer_ports(count: usize) -> Result<Vec<u16>, String> {
    let held = (0..count)
        .map(|_| std::net::TcpListener::bind((BALANCER, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("no free port on {BALANCER}: {e}"))?;
    held.iter()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("no free port on {BALANCER}: {e}"))
}

/// Brings up the direct node, the three nodes behind HAProxy and HAProxy; adds the test user
/// to PostgreSQL and stores the file the downloads fetch.
pub(super) async fn start(
    ctx: &Context<'_>,
    bucket: &S3Bucket,
    database: &Database,
) -> Result<Fleet, String> {
    let plan = ctx.plan;
    let variant = variant_for(bucket, database);
    variant::add_postgres_user(
        &database.url,
        variant.record(ctx.credentials, Path::new(HOME)),
    )
    .await
    .map_err(|e| format!("adding the test user to PostgreSQL: {e}"))?;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| haproxy::parse_port_range(&text));
    let ranges = haproxy::free_ranges(
        1 + BEHIND.len(),
        haproxy::range_size(plan.sessions),
        ephemeral,
        &[Ipv4Addr::LOCALHOST, BALANCER],
    )?;
    let direct = start_node(ctx, &variant, "node-direct", &node_flags(ranges[0], false)).await?;
    let direct_addr = direct.addr();
    let mut nodes = Vec::new();
    for (index, &ports) in ranges[1..].iter().enumerate() {
        let name = format!("node-{}", index + 1);
        nodes.push(start_node(ctx, &variant, &name, &node_flags(ports, true)).await?);
    }
    let layout = Layout {
        balancer: BALANCER,
        frontends: free_balancer_ports(BEHIND.len())?,
        nodes: nodes
            .iter()
            .zip(&ranges[1..])
            .map(|(node, &ports)| (node.addr().port(), ports))
            .collect(),
    };
    let balancer = Balancer::start(
        &layout,
        &plan.work_dir.join("haproxy"),
        plan.server_cpus.as_deref(),
    )
    .await?;
    let target = |addr: SocketAddr| Target {
        addr,
        user: ctx.credentials.user.clone(),
        password: ctx.credentials.password.clone(),
        step_limit: plan.step_limit,
    };
    let mut targets = vec![target(direct_addr)];
    targets.extend(
        layout
            .frontends
            .iter()
            .map(|&port| target(SocketAddr::new(IpAddr::V4(BALANCER), port))),
    );
    let fleet = Fleet {
        direct,
        nodes,
        balancer,
        targets,
    };
    // Every node greets through the balancer (round robin: k logins through frontend k
    // reach each of its k nodes once), and the download is stored once, for all of them.
    for (count, target) in fleet.targets.iter().enumerate().skip(1) {
        for _ in 0..count {
            let session = target
                .session()
                .await
                .map_err(|e| format!("logging in through {}: {e}", target.addr))?;
            session.quit().await;
        }
    }
    let mut session = fleet.targets[0]
        .session()
        .await
        .map_err(|e| format!("logging in to the direct node: {e}"))?;
    session
        .store(DOWNLOAD, plan.transfer_size, &transfers::upload_pattern())
        .await
        .map_err(|e| format!("storing {DOWNLOAD}: {e}"))?;
    session.quit().await;
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_behind_the_balancer_trusts_it_and_advertises_it() {
        let ports = PortRange {
            low: 20000,
            high: 20399,
        };
        assert_eq!(
            node_flags(ports, false),
            vec!["--passive-ports", "20000-20399"]
        );
        let behind = node_flags(ports, true).join(" ");
        assert_eq!(
            behind,
            "--passive-ports 20000-20399 --proxy-protocol-from 127.0.0.1/32 \
             --passive-address 127.0.0.10"
        );
    }
}
