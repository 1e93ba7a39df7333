//! wharf-ftpd with `backend = "s3"` on a single-node Garage (started by `wharf-testkit`, its
//! data on the work folder's disk), against two S3 clients speaking to the same Garage
//! directly, rclone and curl:
//!
//! - single STOR and RETR of one file through wharf-ftpd, with the bench's own FTP client and
//!   with curl as FTP client, against rclone's and curl's PUT and GET of the same file, in
//!   interleaved rounds (each round starts with a different side);
//! - a fresh daemon's peak resident set while N sessions upload at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::curl::{CurlFtp, CurlS3};
use super::rclone::{FIXED_COST_RUNS, FixedCost, Rclone};
use super::record::{Ratio, Samples};
use super::{ComparePlan, Context};
use crate::cpu::CpuMeter;
use crate::ftp::cells::MIB;
use crate::ftp::results::Metric;
use crate::ftp::run::{self, Live, TestFiles, flush_disk};
use crate::ftp::targets::{TargetCheck, check};
use crate::ftp::transfers::{self, Direction};
use crate::ftp::variant::{self, Files, S3Bucket, Users, WharfVariant};
use crate::memory;
use crate::targets::Bound;

/// wharf-ftpd on S3, driven by the bench's own FTP client.
pub const OWN_CLIENT: &str = "wharf-s3, bench client";
/// wharf-ftpd on S3, driven by curl as FTP client.
pub const CURL_FTP: &str = "wharf-s3, curl FTP";
/// curl's own S3 PUT and GET to Garage.
pub const DIRECT: &str = "curl S3 direct";
/// rclone's PUT (`copyto`) and GET (`cat`) to Garage.
pub const RCLONE: &str = "rclone S3 direct";
/// curl's GET of the same object as consecutive ranged GETs of the daemon's read chunk:
/// the daemon's request pattern without the daemon.
pub const DIRECT_RANGED: &str = "curl S3, 4 MiB ranged GETs";
/// The read chunk of wharf-ftpd's S3 downloads (`storage/object/upload.rs`, `READ_CHUNK`).
const DAEMON_READ_CHUNK: u64 = 4 << 20;
/// The memory target, MiB.
pub const MEMORY_TARGET_MIB: f64 = 200.0;
/// The throughput target: wharf-ftpd over the direct client.
pub const THROUGHPUT_TARGET: f64 = 0.8;
/// How often the daemon's resident set is read during the concurrent uploads.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The sides in table order.
pub const SIDES: [&str; 5] = [OWN_CLIENT, CURL_FTP, RCLONE, DIRECT, DIRECT_RANGED];

/// The direct clients the throughput target is checked against: rclone (the client the
/// target was set with) and curl (a leaner one: less CPU per byte beside Garage's).
const BASELINES: [&str; 2] = [RCLONE, DIRECT];

/// The Garage fixture's bucket, as wharf-ftpd and curl are given it.
pub fn bucket_of(garage: &wharf_testkit::garage::Garage) -> S3Bucket {
    S3Bucket {
        endpoint: garage.endpoint(),
        bucket: garage.bucket().to_string(),
        region: garage.region().to_string(),
        access_key_id: garage.access_key_id().to_string(),
        secret_access_key: garage.secret_access_key().to_string(),
    }
}

fn variant_for(bucket: &S3Bucket) -> WharfVariant {
    WharfVariant {
        files: Files::S3 {
            bucket: bucket.clone(),
            prefix: "bench/".into(),
        },
        users: Users::File,
        ..WharfVariant::defaults("async")
    }
}

/// Starts the S3 variant in `name`'s folder.
async fn start(ctx: &Context<'_>, bucket: &S3Bucket, name: &str) -> Result<Live, String> {
    let dir = ctx.plan.work_dir.join(name);
    run::clean(&dir)?;
    let prepared = variant::prepare(&variant_for(bucket), ctx.programs, ctx.credentials, &dir)
        .map_err(|e| e.to_string())?;
    run::launch(
        prepared,
        ctx.plan.server_cpus.as_deref(),
        ctx.credentials,
        ctx.plan.step_limit,
    )
    .await
}

/// Runs the comparison; returns the ratios and targets.
pub async fn measure(
    ctx: &Context<'_>,
    bucket: &S3Bucket,
    files: &TestFiles,
    samples: &mut Samples,
    notes: &mut Vec<String>,
    progress: &mut impl FnMut(&str),
) -> (Vec<Ratio>, Vec<TargetCheck>) {
    let plan = ctx.plan;
    let rclone = Rclone {
        bucket: bucket.clone(),
    };
    let scratch = plan.work_dir.join("rclone-one-byte");
    let fixed = match rclone.fixed_cost(&scratch, "one-byte.bin").await {
        Ok(fixed) => {
            notes.push(format!(
                "rclone's fixed cost (median of {} one-byte runs, taken off each of its \
                 transfers): PUT {:.0} ms, GET {:.0} ms.",
                FIXED_COST_RUNS,
                fixed.put.as_secs_f64() * 1e3,
                fixed.get.as_secs_f64() * 1e3
            ));
            Some(fixed)
        }
        Err(error) => {
            notes.push(format!("rclone not measured: {error}"));
            None
        }
    };
    match start(ctx, bucket, "wharf-s3").await {
        Ok(live) => {
            for round in 0..plan.rounds {
                for turn in 0..SIDES.len() {
                    let side = SIDES[(round + turn) % SIDES.len()];
                    flush_disk().await;
                    single(ctx, &live, bucket, files, side, fixed, samples).await;
                    progress(&format!("round {}: {side} done", round + 1));
                }
            }
            if let Ok(peak) = memory::peak_rss(live.server.pid()) {
                notes.push(format!(
                    "Peak RSS of the daemon over the single-session rounds: {:.1} MiB.",
                    peak as f64 / MIB
                ));
            }
            live.server.stop();
        }
        Err(failure) => {
            for side in SIDES {
                samples.fail(side, Metric::StorSingle, failure.clone());
                samples.fail(side, Metric::RetrSingle, failure.clone());
            }
        }
    }
    let memory = upload_memory(ctx, bucket, samples, progress).await;
    let mut ratios = vec![samples.ratio(Metric::RetrSingle, OWN_CLIENT, DIRECT_RANGED)];
    let mut targets = Vec::new();
    for baseline in BASELINES {
        for metric in [Metric::StorSingle, Metric::RetrSingle] {
            for client in [OWN_CLIENT, CURL_FTP] {
                let ratio = samples.ratio(metric, client, baseline);
                targets.push(ratio.target(Bound::AtLeast(THROUGHPUT_TARGET)));
                ratios.push(ratio);
            }
        }
    }
    let metric = peak_metric(plan);
    targets.push(check(
        format!("{} < {MEMORY_TARGET_MIB:.0} MiB", metric.label()),
        memory,
        Bound::AtMost(MEMORY_TARGET_MIB),
        format!(
            "VmHWM of the daemon, started fresh for this; {} MiB/s over the uploads",
            samples
                .cells()
                .iter()
                .find(|c| c.server == OWN_CLIENT && matches!(c.metric, Metric::Uploads { .. }))
                .and_then(|c| c.value)
                .map_or("–".into(), |v| format!("{v:.0}"))
        ),
    ));
    (ratios, targets)
}

fn peak_metric(plan: &ComparePlan) -> Metric {
    Metric::UploadPeakRss {
        sessions: plan.sessions,
        bytes: plan.transfer_size,
    }
}

/// One side's STOR and RETR of the big file.
async fn single(
    ctx: &Context<'_>,
    live: &Live,
    bucket: &S3Bucket,
    files: &TestFiles,
    side: &str,
    rclone_fixed: Option<FixedCost>,
    samples: &mut Samples,
) {
    let size = ctx.plan.big_size;
    let mib = size as f64 / MIB;
    let rate = |elapsed: Duration| mib / elapsed.as_secs_f64().max(1e-9);
    let outcome: Result<(Duration, Duration), String> = match side {
        OWN_CLIENT => own_client(live, size, samples).await,
        CURL_FTP => {
            let curl = CurlFtp {
                addr: live.target.addr,
                user: live.target.user.clone(),
                password: live.target.password.clone(),
            };
            let result = async {
                let stor = curl.store(files.big(), "curl.bin").await?;
                let retr = curl.retrieve("curl.bin").await?;
                if stor.bytes != size || retr.bytes != size {
                    return Err(format!(
                        "curl moved {} and {} bytes, expected {size}",
                        stor.bytes, retr.bytes
                    ));
                }
                Ok((stor.elapsed, retr.elapsed))
            }
            .await;
            let removed = async {
                let mut session = live.target.session().await.map_err(|e| e.to_string())?;
                session
                    .delete("curl.bin")
                    .await
                    .map_err(|e| e.to_string())?;
                session.quit().await;
                Ok::<_, String>(())
            }
            .await;
            result.and_then(|times| removed.map(|()| times))
        }
        RCLONE => {
            let Some(fixed) = rclone_fixed else {
                // Its fixed cost could not be measured (noted): the side is left out.
                return;
            };
            let rclone = Rclone {
                bucket: bucket.clone(),
            };
            let result = async {
                let put = rclone.put(files.big(), "rclone.bin", fixed).await?;
                if put.bytes != size {
                    return Err(format!(
                        "rclone stored {} bytes, expected {size}",
                        put.bytes
                    ));
                }
                let get = rclone.get("rclone.bin", size, fixed).await?;
                Ok((put.elapsed, get.elapsed))
            }
            .await;
            let removed = rclone.delete("rclone.bin").await;
            result.and_then(|times| removed.map(|()| times))
        }
        DIRECT_RANGED => {
            let curl = CurlS3 {
                bucket: bucket.clone(),
            };
            let result = async {
                let put = curl.put(files.big(), "ranged.bin").await?;
                let get = curl
                    .get_ranges("ranged.bin", size, DAEMON_READ_CHUNK)
                    .await?;
                Ok((put.elapsed, get.elapsed))
            }
            .await;
            let removed = curl.delete("ranged.bin").await;
            // Only the GET is this side's figure (its PUT is the direct side's).
            return match result.and_then(|times| removed.map(|()| times)) {
                Ok((_, get)) => samples.push(side, Metric::RetrSingle, rate(get)),
                Err(error) => samples.fail(side, Metric::RetrSingle, error),
            };
        }
        _ => {
            let curl = CurlS3 {
                bucket: bucket.clone(),
            };
            let result = async {
                let put = curl.put(files.big(), "direct.bin").await?;
                let get = curl.get("direct.bin").await?;
                if put.bytes != size || get.bytes != size {
                    return Err(format!(
                        "curl moved {} and {} bytes, expected {size}",
                        put.bytes, get.bytes
                    ));
                }
                Ok((put.elapsed, get.elapsed))
            }
            .await;
            let removed = curl.delete("direct.bin").await;
            result.and_then(|times| removed.map(|()| times))
        }
    };
    match outcome {
        Ok((stor, retr)) => {
            samples.push(side, Metric::StorSingle, rate(stor));
            samples.push(side, Metric::RetrSingle, rate(retr));
        }
        Err(error) => {
            samples.fail(side, Metric::StorSingle, error.clone());
            samples.fail(side, Metric::RetrSingle, error);
        }
    }
}

/// The bench client's STOR then RETR of the big file, with the daemon's CPU time per MiB
/// of each kept as a detail.
async fn own_client(
    live: &Live,
    size: u64,
    samples: &mut Samples,
) -> Result<(Duration, Duration), String> {
    let meter = CpuMeter::for_server(live.server.pid());
    let pattern = transfers::upload_pattern();
    let mut buffer = vec![0u8; pattern.len()];
    let mut session = live.target.session().await.map_err(|e| e.to_string())?;
    let cpu0 = meter.read().ok();
    let started = Instant::now();
    session
        .store("own.bin", size, &pattern)
        .await
        .map_err(|e| e.to_string())?;
    let stor = started.elapsed();
    let cpu1 = meter.read().ok();
    let started = Instant::now();
    let received = session
        .retrieve("own.bin", &mut buffer)
        .await
        .map_err(|e| e.to_string())?;
    let retr = started.elapsed();
    let cpu2 = meter.read().ok();
    if received != size {
        return Err(format!("RETR sent {received} bytes, expected {size}"));
    }
    session.delete("own.bin").await.map_err(|e| e.to_string())?;
    session.quit().await;
    let mib = size as f64 / MIB;
    let per_mib = |a: Option<Duration>, b: Option<Duration>| {
        a.zip(b).map(|(a, b)| {
            let cpu = b.saturating_sub(a);
            format!("daemon CPU {:.2} ms/MiB", cpu.as_secs_f64() * 1e3 / mib)
        })
    };
    if let Some(text) = per_mib(cpu0, cpu1) {
        samples.note(OWN_CLIENT, Metric::StorSingle, text);
    }
    if let Some(text) = per_mib(cpu1, cpu2) {
        samples.note(OWN_CLIENT, Metric::RetrSingle, text);
    }
    Ok((stor, retr))
}

/// A fresh daemon's peak resident set while `plan.sessions` sessions upload at once; returns
/// the peak in MiB. The uploaded objects are removed afterwards.
async fn upload_memory(
    ctx: &Context<'_>,
    bucket: &S3Bucket,
    samples: &mut Samples,
    progress: &mut impl FnMut(&str),
) -> Option<f64> {
    let plan = ctx.plan;
    let metric = peak_metric(plan);
    let uploads = Metric::Uploads {
        sessions: plan.sessions,
        bytes: plan.transfer_size,
    };
    let live = match start(ctx, bucket, "wharf-s3-memory").await {
        Ok(live) => live,
        Err(failure) => {
            samples.fail(OWN_CLIENT, metric, failure.clone());
            samples.fail(OWN_CLIENT, uploads, failure);
            return None;
        }
    };
    let pid = live.server.pid();
    let at_start = memory::rss(pid).ok();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut highest = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(rss) = memory::rss(pid) {
                    highest = highest.max(rss);
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            highest
        })
    };
    flush_disk().await;
    let outcome = transfers::concurrent(
        &live.target,
        plan.sessions,
        Direction::Upload,
        plan.transfer_size,
        "",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let sampled = sampler.join().unwrap_or(0);
    let peak = memory::peak_rss(pid);
    let cell = crate::ftp::cells::transfer_cell(OWN_CLIENT, uploads, &outcome, plan.sessions);
    match cell.value {
        Some(value) => samples.push(OWN_CLIENT, uploads, value),
        None => samples.fail(
            OWN_CLIENT,
            uploads,
            cell.failure.clone().unwrap_or_default(),
        ),
    }
    if let Some(failure) = &cell.failure {
        samples.note(OWN_CLIENT, uploads, failure.clone());
    }
    let result = match (peak, outcome.completed) {
        (Ok(peak), completed) if completed == plan.sessions => {
            let mib = peak as f64 / MIB;
            samples.push(OWN_CLIENT, metric, mib);
            samples.note(
                OWN_CLIENT,
                metric,
                format!(
                    "RSS {} MiB at start, highest sample {:.1} MiB (every {} ms), {} of {} \
                     uploads done in {:.1} s",
                    at_start.map_or("–".into(), |b| format!("{:.1}", b as f64 / MIB)),
                    sampled as f64 / MIB,
                    SAMPLE_EVERY.as_millis(),
                    outcome.completed,
                    plan.sessions,
                    outcome.elapsed.as_secs_f64()
                ),
            );
            Some(mib)
        }
        (Ok(_), completed) => {
            samples.fail(
                OWN_CLIENT,
                metric,
                format!(
                    "only {completed} of {} uploads completed: {}",
                    plan.sessions,
                    outcome.first_error.clone().unwrap_or_default()
                ),
            );
            None
        }
        (Err(error), _) => {
            samples.fail(OWN_CLIENT, metric, error.to_string());
            None
        }
    };
    progress(&format!(
        "{OWN_CLIENT}: {} × {} MiB uploads: peak RSS {}",
        plan.sessions,
        plan.transfer_size >> 20,
        result.map_or("–".into(), |mib| format!("{mib:.1} MiB"))
    ));
    if let Ok(mut session) = live.target.session().await {
        for index in 0..outcome.completed.max(plan.sessions) {
            let _ = session.delete(&format!("up-{index}.bin")).await;
        }
        session.quit().await;
    }
    live.server.stop();
    result
}
