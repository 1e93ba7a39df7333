//! Single-session STOR and RETR with three clients: the bench's own, curl and lftp (programs
//! nobody here wrote), against wharf-ftpd in async, threading and forking mode and the peers, every
//! server started once and left running, in interleaved rounds. Each round runs every
//! server × client once in turn (an upload of the big file, then a download of it), the
//! servers' order and the clients' order both rotated by one each round, so no pair always
//! goes first or follows the same one.
//!
//! Beside each transfer's MiB/s, the server's CPU time over it ([`CpuMeter`]: its control
//! group, or its process tree in `/proc`), per GiB moved. Where each clock starts and stops:
//! - own client: from the `PASV` of the transfer to its `226` (after the login), and the CPU
//!   over the same span;
//! - curl: its own `time_total − time_pretransfer` (the login, `PASV` and the command are
//!   before `time_pretransfer`); the CPU is read around the whole curl process, so the
//!   median CPU of a curl that only logs in (`curl -I`, no data connection), measured three
//!   times per server before the rounds, is taken off;
//! - lftp: the wall clock around one `get`/`put` command in a session logged in beforehand
//!   ([`super::lftp`]), and the CPU over the same span.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Context;
use super::curl::CurlFtp;
use super::lftp::LftpFtp;
use super::record::{Ratio, Samples};
use crate::aggregate::median;
use crate::cpu::CpuMeter;
use crate::ftp::cells::MIB;
use crate::ftp::results::{FtpClient, Metric, best};
use crate::ftp::run::{self, BIG_FILE, Live, STOR_FILE, TestFiles, flush_disk};
use crate::ftp::servers::FtpServer;
use crate::ftp::targets::TargetCheck;
use crate::ftp::transfers::{DATA_BUFFER, upload_pattern};
use crate::targets::Bound;

/// Bytes in a GiB.
const GIB: f64 = 1024.0 * MIB;
/// Login-only curls per server whose median CPU is taken off curl's transfers.
const LOGIN_SAMPLES: usize = 3;

/// wharf-ftpd's modes measured here (after the peers).
const WHARF: [FtpServer; 3] = [
    FtpServer::WharfAsync,
    FtpServer::WharfThreading,
    FtpServer::WharfForking,
];

/// The servers in table order: the peers, then wharf-ftpd's modes.
pub fn servers(peers: &[FtpServer]) -> Vec<FtpServer> {
    peers.iter().copied().chain(WHARF).collect()
}

/// The side ids in table order.
pub fn sides(peers: &[FtpServer]) -> Vec<String> {
    servers(peers)
        .into_iter()
        .map(|s| s.id().to_string())
        .collect()
}

/// The (server, client) index pairs of one round, in the order they run: every pair once,
/// servers from `round % servers` on, and within each server the clients from
/// `round % clients` on.
pub fn round_order(round: usize, servers: usize, clients: usize) -> Vec<(usize, usize)> {
    let mut order = Vec::with_capacity(servers * clients);
    for s in 0..servers {
        for c in 0..clients {
            order.push(((round + s) % servers, (round + c) % clients));
        }
    }
    order
}

/// One measured transfer: how long it took and the server CPU it cost.
#[derive(Debug, Clone, Copy)]
struct Measured {
    elapsed: Duration,
    cpu: Duration,
}

/// A server under test, its meter and the CPU a curl login costs it.
struct Running {
    server: FtpServer,
    live: Live,
    meter: CpuMeter,
    curl_login_cpu: Duration,
}

impl Running {
    fn root(&self, ctx: &Context<'_>) -> std::path::PathBuf {
        ctx.plan.work_dir.join(self.server.id()).join("root")
    }

    fn cpu(&self) -> Result<Duration, String> {
        self.meter.read().map_err(|e| e.to_string())
    }

    fn curl(&self) -> CurlFtp {
        CurlFtp {
            addr: self.live.target.addr,
            user: self.live.target.user.clone(),
            password: self.live.target.password.clone(),
        }
    }
}

/// Runs the comparison; returns wharf-ftpd's ratios to the best peer and the targets
/// (with curl and with lftp: at least the best peer's MiB/s, at most its CPU per GiB).
pub async fn measure(
    ctx: &Context<'_>,
    files: &TestFiles,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let plan = ctx.plan;
    let mut running = Vec::new();
    for server in servers(&plan.peers) {
        match start(ctx, server, files).await {
            Ok(server) => {
                progress(&format!(
                    "{}: listening on {}, {} meter, a curl login costs it {:.1} ms of CPU",
                    server.server.id(),
                    server.live.target.addr,
                    server.meter.method(),
                    server.curl_login_cpu.as_secs_f64() * 1e3
                ));
                running.push(server);
            }
            Err(failure) => {
                progress(&format!("{server}: {failure}"));
                for metric in metrics() {
                    samples.fail(server.id(), metric, failure.clone());
                }
            }
        }
    }
    for round in 0..plan.rounds {
        for (s, c) in round_order(round, running.len(), FtpClient::ALL.len()) {
            let server = &running[s];
            let client = FtpClient::ALL[c];
            for upload in [true, false] {
                if upload {
                    flush_disk().await;
                }
                let outcome = transfer(ctx, server, client, upload, files.big()).await;
                let id = server.server.id();
                let speed = Metric::ClientTransfer { client, upload };
                let cost = Metric::ClientCpu { client, upload };
                match outcome {
                    Ok(measured) => {
                        let seconds = measured.elapsed.as_secs_f64().max(1e-9);
                        samples.push(id, speed, plan.big_size as f64 / MIB / seconds);
                        samples.push(
                            id,
                            cost,
                            measured.cpu.as_secs_f64() / (plan.big_size as f64 / GIB),
                        );
                    }
                    Err(failure) => {
                        progress(&format!("{id} / {}: {failure}", speed.label()));
                        samples.fail(id, speed, failure.clone());
                        samples.fail(id, cost, failure);
                    }
                }
            }
            let _ = std::fs::remove_file(server.root(ctx).join(STOR_FILE));
        }
        progress(&format!("round {} done", round + 1));
    }
    for server in running {
        server.live.server.stop();
    }
    comparisons(samples, &plan.peers)
}

/// Every metric of the comparison, in table order.
fn metrics() -> Vec<Metric> {
    let mut metrics = Vec::new();
    for upload in [true, false] {
        for client in FtpClient::ALL {
            metrics.push(Metric::ClientTransfer { client, upload });
            metrics.push(Metric::ClientCpu { client, upload });
        }
    }
    metrics
}

/// wharf-ftpd's modes against the best peer on every metric (best by median); targets for
/// async mode with curl and lftp.
fn comparisons(samples: &Samples, peers: &[FtpServer]) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let cells = samples.cells();
    let peer_ids: Vec<&str> = peers.iter().map(|p| p.id()).collect();
    let mut ratios = Vec::new();
    let mut targets = Vec::new();
    for metric in metrics() {
        let Some((peer, _)) = best(&cells, metric, &peer_ids) else {
            continue;
        };
        for wharf in WHARF {
            let ratio = samples.ratio(metric, wharf.id(), peer);
            if wharf == FtpServer::WharfAsync {
                let client = match metric {
                    Metric::ClientTransfer { client, .. } | Metric::ClientCpu { client, .. } => {
                        client
                    }
                    _ => FtpClient::Own,
                };
                if client != FtpClient::Own {
                    let bound = if metric.higher_is_better() {
                        Bound::AtLeast(1.0)
                    } else {
                        Bound::AtMost(1.0)
                    };
                    targets.push(ratio.target(bound));
                }
            }
            ratios.push(ratio);
        }
    }
    (ratios, targets)
}

/// Starts `server` with its own folder under the work folder, its meter, and the CPU a curl
/// login costs it.
async fn start(ctx: &Context<'_>, server: FtpServer, files: &TestFiles) -> Result<Running, String> {
    let plan = ctx.plan;
    let dir = plan.work_dir.join(server.id());
    let live = run::start(
        server,
        plan.server_cpus.as_deref(),
        plan.step_limit,
        ctx.programs,
        ctx.credentials,
        files,
        &dir,
    )
    .await?;
    let meter = CpuMeter::for_server(live.server.pid());
    let mut running = Running {
        server,
        live,
        meter,
        curl_login_cpu: Duration::ZERO,
    };
    let curl = running.curl();
    let mut logins = Vec::new();
    for _ in 0..LOGIN_SAMPLES {
        let before = running.cpu()?;
        curl.login_only(BIG_FILE).await?;
        logins.push((running.cpu()? - before).as_secs_f64());
    }
    running.curl_login_cpu = Duration::from_secs_f64(median(logins).unwrap_or(0.0));
    Ok(running)
}

/// One transfer of the big file by `client` (STOR as [`STOR_FILE`] or RETR of [`BIG_FILE`]).
async fn transfer(
    ctx: &Context<'_>,
    server: &Running,
    client: FtpClient,
    upload: bool,
    big: &Path,
) -> Result<Measured, String> {
    let size = ctx.plan.big_size;
    let measured = match client {
        FtpClient::Own => {
            let mut session = server
                .live
                .target
                .session()
                .await
                .map_err(|e| e.to_string())?;
            let before = server.cpu()?;
            let started = Instant::now();
            if upload {
                session
                    .store(STOR_FILE, size, &upload_pattern())
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                let mut buffer = vec![0u8; DATA_BUFFER];
                let received = session
                    .retrieve(BIG_FILE, &mut buffer)
                    .await
                    .map_err(|e| e.to_string())?;
                check_size(received, size)?;
            }
            let elapsed = started.elapsed();
            let cpu = server.cpu()? - before;
            session.quit().await;
            Measured { elapsed, cpu }
        }
        FtpClient::Curl => {
            let curl = server.curl();
            let before = server.cpu()?;
            let done = if upload {
                curl.store(big, STOR_FILE).await?
            } else {
                curl.retrieve(BIG_FILE).await?
            };
            let cpu = (server.cpu()? - before).saturating_sub(server.curl_login_cpu);
            check_size(done.bytes, size)?;
            Measured {
                elapsed: done.elapsed,
                cpu,
            }
        }
        FtpClient::Lftp => {
            let lftp = LftpFtp {
                addr: server.live.target.addr,
                user: server.live.target.user.clone(),
                password: server.live.target.password.clone(),
                step_limit: ctx.plan.step_limit,
            };
            let mut session = lftp.login().await?;
            let before = server.cpu()?;
            let elapsed = session.transfer(upload, big, STOR_FILE).await?;
            let cpu = server.cpu()? - before;
            session.quit().await;
            Measured { elapsed, cpu }
        }
    };
    if upload {
        let stored = std::fs::metadata(server.root(ctx).join(STOR_FILE))
            .map_err(|e| format!("the uploaded file: {e}"))?
            .len();
        check_size(stored, size)?;
    }
    Ok(measured)
}

fn check_size(moved: u64, size: u64) -> Result<(), String> {
    if moved == size {
        Ok(())
    } else {
        Err(format!("moved {moved} bytes, expected {size}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_runs_every_pair_once_and_rotates_the_start() {
        let mut firsts = Vec::new();
        for round in 0..4 {
            let order = round_order(round, 3, 2);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            let all: Vec<(usize, usize)> =
                (0..3).flat_map(|s| (0..2).map(move |c| (s, c))).collect();
            assert_eq!(sorted, all, "round {round}");
            firsts.push(order[0]);
        }
        assert_eq!(firsts, [(0, 0), (1, 1), (2, 0), (0, 1)]);
        // Within a round, one server's clients run back to back.
        assert_eq!(&round_order(1, 3, 2)[..2], &[(1, 1), (1, 0)]);
        assert!(round_order(0, 0, 3).is_empty());
    }

    #[test]
    fn peers_come_first_then_wharfs_modes() {
        assert_eq!(
            sides(&[FtpServer::Vsftpd, FtpServer::Proftpd]),
            [
                "vsftpd",
                "proftpd",
                "wharf-async",
                "wharf-threading",
                "wharf-forking"
            ]
        );
    }

    #[test]
    fn targets_apply_to_async_mode_with_curl_and_lftp_only() {
        let mut samples = Samples::default();
        for metric in metrics() {
            let (ours, theirs) = if metric.higher_is_better() {
                (900.0, 1000.0)
            } else {
                (0.5, 0.4)
            };
            samples.push("wharf-async", metric, ours);
            samples.push("wharf-threading", metric, ours);
            samples.push("wharf-forking", metric, ours);
            samples.push("vsftpd", metric, theirs);
            samples.push("pyftpdlib", metric, theirs / 2.0);
        }
        let (ratios, targets) = comparisons(&samples, &[FtpServer::Vsftpd, FtpServer::Pyftpdlib]);
        // 12 metrics, three modes each; targets: 2 clients × 2 directions × (speed, CPU).
        assert_eq!(ratios.len(), 36);
        assert_eq!(targets.len(), 8);
        let speed = ratios
            .iter()
            .find(|r| {
                r.metric
                    == Metric::ClientTransfer {
                        client: FtpClient::Curl,
                        upload: true,
                    }
            })
            .unwrap();
        assert_eq!(speed.baseline, "vsftpd");
        assert_eq!(speed.value, Some(0.9));
        let cpu = ratios
            .iter()
            .find(|r| {
                r.metric
                    == Metric::ClientCpu {
                        client: FtpClient::Lftp,
                        upload: false,
                    }
            })
            .unwrap();
        // Less CPU is better: pyftpdlib's 0.2 s/GiB is the best peer's.
        assert_eq!(cpu.baseline, "pyftpdlib");
        assert_eq!(cpu.value, Some(2.5));
        assert!(targets.iter().all(|t| !t.target.contains("own")));
    }
}
