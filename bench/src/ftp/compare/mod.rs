//! Comparisons of `wharf-ftpd` set-ups side by side in one run: on S3 object storage against
//! a direct S3 client, with PostgreSQL users and quotas against the users file, and with
//! synced uploads against unsynced ones (and the peers), and a fleet of nodes behind HAProxy
//! against one node reached directly. Every comparison runs in interleaved
//! rounds: each round measures every side once, in turn, so a machine whose load changes
//! during the run weighs on all sides alike; figures are medians over rounds, ratios are read
//! within one run only.
//!
//! - [`s3`]: wharf-ftpd on Garage against curl's own S3 PUT and GET; memory under uploads.
//! - [`postgres`]: login storm and concurrent uploads, PostgreSQL store against the file.
//! - [`durability`]: `durable_uploads` on and off, beside vsftpd, pure-ftpd and pyftpdlib.
//! - [`clients`]: single-session STOR and RETR with the bench's own client, curl and lftp,
//!   wharf-ftpd beside vsftpd, pure-ftpd, ProFTPD and pyftpdlib, with server CPU per GiB.
//! - [`lftp`]: lftp as an FTP client, one command at a time.
//! - [`fleet`]: 300 concurrent transfers through HAProxy and 1–3 nodes against one node.
//! - [`curl`]: curl as an S3 client and as an FTP client (programs nobody here wrote).
//! - [`record`]: the samples, the figures, ratios and targets as Markdown and JSON.

pub mod clients;
pub mod curl;
pub mod durability;
pub mod fleet;
pub mod lftp;
pub mod postgres;
pub mod rclone;
pub mod record;
pub mod s3;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wharf_testkit::garage::Garage;
use wharf_testkit::postgres::PgCluster;

use self::record::{CompareRecord, Samples};
use super::run::TestFiles;
use super::servers::{FtpServer, Programs};
use super::setup::Credentials;
use crate::affinity::CpuSplit;
use crate::machine::Machine;

/// Which comparison to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// wharf-ftpd with `backend = "s3"` on Garage against a direct S3 client.
    S3,
    /// PostgreSQL users and quotas against the users file and local quotas.
    Postgres,
    /// `durable_uploads = true` against `false`, with the peers.
    Durability,
    /// Nodes on PostgreSQL and Garage behind HAProxy against one node reached directly.
    Fleet,
    /// Single-session transfers with three clients, wharf-ftpd beside the peers.
    Clients,
}

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 5] = [
        Suite::S3,
        Suite::Postgres,
        Suite::Durability,
        Suite::Fleet,
        Suite::Clients,
    ];

    /// The name on the command line and in file names.
    pub fn id(self) -> &'static str {
        match self {
            Suite::S3 => "s3",
            Suite::Postgres => "postgres",
            Suite::Durability => "durability",
            Suite::Fleet => "fleet",
            Suite::Clients => "clients",
        }
    }

    /// The suite with this name.
    pub fn from_id(id: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|suite| suite.id() == id)
    }
}

/// What a comparison measures, and with what.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    /// The comparison.
    pub suite: Suite,
    /// Rounds; every figure is the median over them.
    pub rounds: usize,
    /// Bytes of the single-session STOR and RETR.
    pub big_size: u64,
    /// Sessions uploading at once.
    pub sessions: usize,
    /// Bytes each of them uploads.
    pub transfer_size: u64,
    /// Clients logging in at once during the login storm (PostgreSQL suite).
    pub storm: usize,
    /// Peers measured beside Wharf (durability and clients suites).
    pub peers: Vec<FtpServer>,
    /// Time limit of each protocol step.
    pub step_limit: Duration,
    /// CPUs the FTP servers are pinned to (`None`: not pinned).
    pub server_cpus: Option<Vec<usize>>,
    /// Where servers' folders and the test files go.
    pub work_dir: PathBuf,
}

/// What every suite needs besides its plan.
pub struct Context<'a> {
    /// The plan.
    pub plan: &'a ComparePlan,
    /// Where the servers' programs are.
    pub programs: &'a Programs,
    /// The test account.
    pub credentials: &'a Credentials,
}

/// The services a suite measures against, started before the load generator is pinned (so
/// they run on any CPU) and stopped when dropped.
pub enum Services {
    /// Nothing beyond the FTP servers.
    None,
    /// A single-node Garage with one bucket (its data in a temporary folder).
    Garage(Garage),
    /// A private PostgreSQL cluster and the database made for the run.
    Postgres(PgCluster, postgres::Database),
    /// Both: the fleet's shared state.
    Fleet(Garage, PgCluster, postgres::Database),
}

/// The fixture's panic message, as an error.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "the fixture failed".into())
}

impl Services {
    /// Starts what `suite` needs (Garage must be on the PATH or in `~/.cargo/bin`, the
    /// PostgreSQL server binaries where `pg_config --bindir` says).
    pub fn start(suite: Suite) -> Result<Services, String> {
        match suite {
            Suite::Durability | Suite::Clients => Ok(Services::None),
            Suite::S3 => std::panic::catch_unwind(Garage::start)
                .map(Services::Garage)
                .map_err(|payload| format!("Garage did not start: {}", panic_text(payload))),
            Suite::Postgres => {
                let (cluster, database) = start_postgres()?;
                Ok(Services::Postgres(cluster, database))
            }
            Suite::Fleet => {
                let garage = std::panic::catch_unwind(Garage::start)
                    .map_err(|payload| format!("Garage did not start: {}", panic_text(payload)))?;
                let (cluster, database) = start_postgres()?;
                Ok(Services::Fleet(garage, cluster, database))
            }
        }
    }
}

/// A private PostgreSQL cluster with the run's database.
fn start_postgres() -> Result<(PgCluster, postgres::Database), String> {
    std::panic::catch_unwind(|| {
        let cluster = PgCluster::start();
        let name = "wharf_bench";
        cluster.create_database(name);
        let database = postgres::Database {
            url: cluster.url(name),
            url_without_password: cluster.url_without_password(name),
            password: cluster.password().to_string(),
        };
        (cluster, database)
    })
    .map_err(|payload| format!("PostgreSQL did not start: {}", panic_text(payload)))
}

/// Where and how the run went, for the record.
pub struct RunInfo {
    /// The machine, described before pinning.
    pub machine: Machine,
    /// CPUs of the generator and of the FTP servers.
    pub pinning: Option<CpuSplit>,
    /// When the run started.
    pub started: Instant,
}

/// Runs `ctx.plan`'s suite against `services` and collects its record.
pub async fn run(
    ctx: &Context<'_>,
    services: &Services,
    info: RunInfo,
    progress: &mut impl FnMut(&str),
) -> Result<CompareRecord, String> {
    let plan = ctx.plan;
    let load_at_start = load_average();
    let (big, small) = match plan.suite {
        Suite::S3 => (plan.big_size, 0),
        Suite::Postgres => (0, 0),
        Suite::Durability => (plan.big_size, plan.transfer_size),
        Suite::Clients => (plan.big_size, 0),
        // curl uploads this one file (the "big" one of the set) in the fleet suite.
        Suite::Fleet => (plan.transfer_size, 0),
    };
    progress("writing the test files");
    let files = TestFiles::create(&plan.work_dir.join("files"), big, small)
        .map_err(|e| format!("cannot write the test files: {e}"))?;
    let mut samples = Samples::default();
    let mut notes = Vec::new();
    let (sides, (ratios, targets)) = match (plan.suite, services) {
        (Suite::S3, Services::Garage(garage)) => {
            let bucket = s3::bucket_of(garage);
            notes.push(format!(
                "Garage single node (LMDB metadata), its data in the temporary folder: {}; \
                 wharf-ftpd in async mode, `upload_buffer_mib` at its default.",
                file_system_of(&std::env::temp_dir()).unwrap_or_else(|| "unknown".into())
            ));
            let outcome =
                s3::measure(ctx, &bucket, &files, &mut samples, &mut notes, progress).await;
            (s3::SIDES.iter().map(|s| s.to_string()).collect(), outcome)
        }
        (Suite::Postgres, Services::Postgres(_, database)) => {
            notes.push(
                "PostgreSQL 15 as the test harness starts it (`fsync=off`, \
                 `synchronous_commit=off`): commits are not flushed to disk."
                    .into(),
            );
            let outcome = postgres::measure(ctx, database, &mut samples, progress).await;
            (
                postgres::SIDES.iter().map(|s| s.to_string()).collect(),
                outcome,
            )
        }
        (Suite::Fleet, Services::Fleet(garage, _, database)) => {
            let bucket = s3::bucket_of(garage);
            let outcome = fleet::measure(
                ctx,
                &bucket,
                database,
                &files,
                &mut samples,
                &mut notes,
                progress,
            )
            .await;
            (
                fleet::SIDES.iter().map(|s| s.to_string()).collect(),
                outcome,
            )
        }
        (Suite::Clients, _) => {
            notes.push(format!(
                "Clients: {}, {}.",
                tool_version("curl", "--version"),
                tool_version("lftp", "--version")
            ));
            let outcome = clients::measure(ctx, &files, &mut samples, progress).await;
            (clients::sides(&plan.peers), outcome)
        }
        (Suite::Durability, _) => {
            let outcome = durability::measure(ctx, &files, &mut samples, progress).await;
            (durability::sides(&plan.peers), outcome)
        }
        (suite, _) => return Err(format!("the {} suite's services are missing", suite.id())),
    };
    Ok(CompareRecord {
        benchmark: format!("ftp-{}", plan.suite.id()),
        machine: info.machine,
        pinning: info.pinning,
        disk: file_system_of(&plan.work_dir),
        load: (load_at_start, load_average()),
        rounds: plan.rounds,
        sides,
        cells: samples.cells(),
        ratios,
        targets,
        notes,
        elapsed_secs: info.started.elapsed().as_secs_f64(),
    })
}

/// `program VERSION`, the version being the first dotted number `program FLAG` prints
/// (`curl 7.88.1`, `lftp 4.9.2`), or `program (version unknown)`.
fn tool_version(program: &str, flag: &str) -> String {
    let output = std::process::Command::new(program).arg(flag).output().ok();
    let text = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    match text.as_deref().and_then(first_version) {
        Some(version) => format!("{program} {version}"),
        None => format!("{program} (version unknown)"),
    }
}

/// The first word made of digits and dots, with at least one dot.
fn first_version(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| word.contains('.') && word.starts_with(|c: char| c.is_ascii_digit()))
        .map(|word| word.trim_end_matches('.'))
}

/// The 1-minute load average now (other work on the machine skews every figure).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The file system holding `path`: its type and device, from the longest matching mount
/// point in `/proc/mounts` (`ext4 on /dev/vda`), so a run says whether it wrote to a disk.
pub fn file_system_of(path: &std::path::Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let point = fields.next()?;
            let kind = fields.next()?;
            path.starts_with(point).then(|| {
                (
                    point.len(),
                    format!("{kind} on {device} (mounted at {point})"),
                )
            })
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_round_trip_by_name() {
        for suite in Suite::ALL {
            assert_eq!(Suite::from_id(suite.id()), Some(suite));
        }
        assert_eq!(Suite::from_id("tmpfs"), None);
    }

    #[test]
    fn versions_are_read_from_what_the_tools_print() {
        assert_eq!(
            first_version("curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1"),
            Some("7.88.1")
        );
        assert_eq!(
            first_version("LFTP | Version 4.9.2 | Copyright (c) 1996-2020"),
            Some("4.9.2")
        );
        assert_eq!(first_version("no version here 12"), None);
    }

    #[test]
    fn the_root_is_on_some_file_system() {
        let text = file_system_of(std::path::Path::new("/")).unwrap();
        assert!(text.contains("mounted at /"), "{text}");
    }
}
