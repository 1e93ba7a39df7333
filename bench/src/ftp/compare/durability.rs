//! The cost of durable uploads: wharf-ftpd with `durable_uploads = true` (the default: the
//! file's data synced, renamed into place, the directory synced, before `226`) against
//! `false`, on the work folder's disk, beside the peers (vsftpd, pure-ftpd, pyftpdlib) in the
//! same rounds: one session's STOR of the big file, then N sessions' STOR at once. Before each
//! measured upload the disk is flushed (`sync`), so no side pays for another's write-back;
//! what an unsynced upload leaves dirty in the page cache is written back after its `226`,
//! which is what the comparison is about.

use super::Context;
use super::record::{Ratio, Samples};
use crate::ftp::cells::{MIB, transfer_cell};
use crate::ftp::results::Metric;
use crate::ftp::run::{
    self, BIG_FILE, Live, SMALL_FILE, STOR_FILE, TestFiles, flush_disk, remove_uploads,
};
use crate::ftp::servers::FtpServer;
use crate::ftp::targets::TargetCheck;
use crate::ftp::transfers::{self, Direction};
use crate::ftp::variant::{self, WharfVariant};

/// `durable_uploads = true`.
pub const DURABLE: &str = "wharf, durable";
/// `durable_uploads = false`.
pub const SCRATCH: &str = "wharf, not durable";

/// A side: a wharf-ftpd set-up or a peer.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// wharf-ftpd in async mode with this `durable_uploads`.
    Wharf(bool),
    /// A peer server with its usual configuration.
    Peer(FtpServer),
}

impl Side {
    fn id(self) -> &'static str {
        match self {
            Side::Wharf(true) => DURABLE,
            Side::Wharf(false) => SCRATCH,
            Side::Peer(server) => server.id(),
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Side::Wharf(true) => "wharf-durable",
            Side::Wharf(false) => "wharf-scratch",
            Side::Peer(server) => server.id(),
        }
    }
}

/// The side ids in table order for these peers.
pub fn sides(peers: &[FtpServer]) -> Vec<String> {
    all_sides(peers)
        .into_iter()
        .map(|s| s.id().to_string())
        .collect()
}

fn all_sides(peers: &[FtpServer]) -> Vec<Side> {
    let mut sides = vec![Side::Wharf(true), Side::Wharf(false)];
    sides.extend(peers.iter().copied().map(Side::Peer));
    sides
}

async fn start(ctx: &Context<'_>, side: Side, files: &TestFiles) -> Result<Live, String> {
    let plan = ctx.plan;
    let dir = plan.work_dir.join(side.folder());
    match side {
        Side::Peer(server) => {
            run::start(
                server,
                plan.server_cpus.as_deref(),
                plan.step_limit,
                ctx.programs,
                ctx.credentials,
                files,
                &dir,
            )
            .await
        }
        Side::Wharf(durable) => {
            run::clean(&dir)?;
            let variant = WharfVariant {
                durable_uploads: durable,
                ..WharfVariant::defaults("async")
            };
            let prepared = variant::prepare(&variant, ctx.programs, ctx.credentials, &dir)
                .map_err(|e| e.to_string())?;
            files
                .link_into(&prepared.root)
                .map_err(|e| format!("linking the test files: {e}"))?;
            run::launch(
                prepared,
                plan.server_cpus.as_deref(),
                ctx.credentials,
                plan.step_limit,
            )
            .await
        }
    }
}

/// Runs the comparison; returns the ratios (no target: the issue asks for the cost).
pub async fn measure(
    ctx: &Context<'_>,
    files: &TestFiles,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let plan = ctx.plan;
    let uploads = Metric::Uploads {
        sessions: plan.sessions,
        bytes: plan.transfer_size,
    };
    let mut live = Vec::new();
    for side in all_sides(&plan.peers) {
        match start(ctx, side, files).await {
            Ok(server) => live.push((side, server)),
            Err(failure) => {
                progress(&format!("{}: {failure}", side.id()));
                samples.fail(side.id(), Metric::StorSingle, failure.clone());
                samples.fail(side.id(), uploads, failure);
            }
        }
    }
    let mib = plan.big_size as f64 / MIB;
    for round in 0..plan.rounds {
        for turn in 0..live.len() {
            let (side, server) = &live[(round + turn) % live.len()];
            flush_disk().await;
            match transfers::single_session(&server.target, plan.big_size, STOR_FILE, BIG_FILE)
                .await
            {
                Ok((stor, _)) => {
                    samples.push(side.id(), Metric::StorSingle, mib / stor.as_secs_f64())
                }
                Err(error) => samples.fail(side.id(), Metric::StorSingle, error.to_string()),
            }
        }
        for turn in 0..live.len() {
            let (side, server) = &live[(round + turn) % live.len()];
            flush_disk().await;
            let outcome = transfers::concurrent(
                &server.target,
                plan.sessions,
                Direction::Upload,
                plan.transfer_size,
                SMALL_FILE,
            )
            .await;
            samples.add_cell(&transfer_cell(side.id(), uploads, &outcome, plan.sessions));
            remove_uploads(&plan.work_dir.join(side.folder()).join("root"));
        }
        progress(&format!("round {} done", round + 1));
    }
    for (_, server) in live {
        server.server.stop();
    }
    let mut ratios = Vec::new();
    for metric in [Metric::StorSingle, uploads] {
        ratios.push(samples.ratio(metric, DURABLE, SCRATCH));
        for peer in &plan.peers {
            ratios.push(samples.ratio(metric, DURABLE, peer.id()));
        }
    }
    (ratios, Vec::new())
}
