//! wharf-ftpd with its users (and so its quotas, bans and session caps) in PostgreSQL, against
//! the same daemon with a TOML users file and quotas in its state directory. Both serve local
//! files and give the test user a quota (so every upload reserves room); both run side by
//! side, and each round runs, on each in turn, the login storm (one session's NOOPs while N
//! clients log in at once) and N concurrent uploads.

use super::record::{Ratio, Samples};
use super::{ComparePlan, Context};
use crate::cpu::CpuMeter;
use crate::ftp::cells::{storm_cells, transfer_cell};
use crate::ftp::results::Metric;
use crate::ftp::run::{self, Live, flush_disk, remove_uploads};
use crate::ftp::sessions;
use crate::ftp::targets::TargetCheck;
use crate::ftp::transfers::{self, Direction};
use crate::ftp::variant::{self, Users, WharfVariant};
use crate::targets::Bound;

/// The users file and local quotas.
pub const FILE: &str = "wharf, users file";
/// PostgreSQL users and shared quotas.
pub const POSTGRES: &str = "wharf, PostgreSQL";
/// The sides in table order.
pub const SIDES: [&str; 2] = [FILE, POSTGRES];
/// The upload target: PostgreSQL quotas over local ones.
pub const UPLOAD_TARGET: f64 = 0.9;
/// The test user's quota on both sides: far above what the run stores, so none is refused.
const QUOTA_BYTES: u64 = 1 << 40;

/// The database the PostgreSQL side uses.
#[derive(Debug, Clone)]
pub struct Database {
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub url: String,
    /// The same without the password.
    pub url_without_password: String,
    /// The password.
    pub password: String,
}

fn variant_for(side: &str, database: &Database) -> WharfVariant {
    let users = if side == POSTGRES {
        Users::Postgres {
            url: database.url_without_password.clone(),
            password: database.password.clone(),
        }
    } else {
        Users::File
    };
    WharfVariant {
        users,
        quota_bytes: Some(QUOTA_BYTES),
        ..WharfVariant::defaults("async")
    }
}

fn folder(side: &str) -> &'static str {
    if side == POSTGRES {
        "wharf-postgres"
    } else {
        "wharf-file"
    }
}

async fn start(ctx: &Context<'_>, side: &str, database: &Database) -> Result<Live, String> {
    let dir = ctx.plan.work_dir.join(folder(side));
    run::clean(&dir)?;
    let variant = variant_for(side, database);
    let prepared = variant::prepare(&variant, ctx.programs, ctx.credentials, &dir)
        .map_err(|e| e.to_string())?;
    if side == POSTGRES {
        variant::add_postgres_user(
            &database.url,
            variant.record(ctx.credentials, &prepared.root),
        )
        .await
        .map_err(|e| format!("adding the test user to PostgreSQL: {e}"))?;
    }
    run::launch(
        prepared,
        ctx.plan.server_cpus.as_deref(),
        ctx.credentials,
        ctx.plan.step_limit,
    )
    .await
}

fn metrics(plan: &ComparePlan) -> [Metric; 4] {
    [
        Metric::StormLogins(plan.storm),
        Metric::StormNoopP50(plan.storm),
        Metric::StormNoopP99(plan.storm),
        uploads(plan),
    ]
}

fn uploads(plan: &ComparePlan) -> Metric {
    Metric::Uploads {
        sessions: plan.sessions,
        bytes: plan.transfer_size,
    }
}

/// Runs the comparison; returns the ratios and targets.
pub async fn measure(
    ctx: &Context<'_>,
    database: &Database,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let plan = ctx.plan;
    let mut live = Vec::new();
    for side in SIDES {
        match start(ctx, side, database).await {
            Ok(server) => live.push((side, server)),
            Err(failure) => {
                progress(&format!("{side}: {failure}"));
                for metric in metrics(plan) {
                    samples.fail(side, metric, failure.clone());
                }
            }
        }
    }
    for round in 0..plan.rounds {
        for turn in 0..live.len() {
            let (side, server) = &live[(round + turn) % live.len()];
            if plan.storm > 0 {
                let meter = CpuMeter::for_server(server.server.pid());
                let cpu_before = meter.read().ok();
                let machine_before = run::machine_cpu_times();
                let storm = sessions::login_storm(&server.target, plan.storm).await;
                for cell in storm_cells(side, plan.storm, &storm) {
                    samples.add_cell(&cell);
                }
                let logins = storm.logins.logged_in.max(1) as f64;
                if let Some((before, after)) = cpu_before.zip(meter.read().ok()) {
                    samples.note(
                        side,
                        Metric::StormLogins(plan.storm),
                        format!(
                            "daemon CPU {:.1} ms/login",
                            after.saturating_sub(before).as_secs_f64() * 1e3 / logins
                        ),
                    );
                }
                // How busy the whole machine was (the database, the hashing, the rest).
                if let Some(((busy0, total0), (busy1, total1))) =
                    machine_before.zip(run::machine_cpu_times())
                {
                    let total = total1.saturating_sub(total0).max(1) as f64;
                    samples.note(
                        side,
                        Metric::StormLogins(plan.storm),
                        format!(
                            "machine CPUs {:.0}% busy",
                            busy1.saturating_sub(busy0) as f64 * 100.0 / total
                        ),
                    );
                }
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
                "",
            )
            .await;
            samples.add_cell(&transfer_cell(side, uploads(plan), &outcome, plan.sessions));
            remove_uploads(&plan.work_dir.join(folder(side)).join("root"));
        }
        progress(&format!("round {} done", round + 1));
    }
    for (_, server) in live {
        server.server.stop();
    }
    let mut ratios = Vec::new();
    let mut targets = Vec::new();
    for metric in metrics(plan) {
        let ratio = samples.ratio(metric, POSTGRES, FILE);
        if metric == uploads(plan) {
            targets.push(ratio.target(Bound::AtLeast(UPLOAD_TARGET)));
        }
        ratios.push(ratio);
    }
    (ratios, targets)
}
