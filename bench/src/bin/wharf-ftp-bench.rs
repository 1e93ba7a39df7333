//! `wharf-ftp-bench`: wharf-ftpd in every concurrency mode side by side with vsftpd, pure-ftpd
//! and pyftpdlib: single-session throughput, login bursts, concurrent transfers, idle-session
//! memory and responsiveness during a login storm, with the loopback limit of the same run;
//! with `--compare SUITE`, wharf-ftpd set-ups side by side (S3, PostgreSQL, durable uploads,
//! a fleet behind HAProxy, single sessions with curl and lftp as clients).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use wharf_bench::affinity;
use wharf_bench::fd_limit;
use wharf_bench::ftp::compare::{self, ComparePlan, RunInfo, Services, Suite};
use wharf_bench::ftp::report::{FtpRecord, Scale};
use wharf_bench::ftp::run::{self, FtpPlan, TestFiles};
use wharf_bench::ftp::servers::{FtpServer, FtpdProgram, Programs};
use wharf_bench::ftp::setup::Credentials;
use wharf_bench::ftp::{SERVE_FTPD, SERVE_SINK, argon2_cost, chart, loopback, targets};
use wharf_bench::machine::Machine;
use wharf_ftp::config::Overrides;
use wharf_users::size::parse_size;

/// FTP benchmark: wharf-ftpd's modes against vsftpd, pure-ftpd and pyftpdlib.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Smoke run: 16 MiB single-session file, 10 logins, 4 concurrent 1 MiB transfers,
    /// 20 idle sessions, a storm of 10, one round.
    #[arg(long)]
    quick: bool,
    /// Servers to measure, comma-separated, among: vsftpd, pure-ftpd, pyftpdlib, wharf-async,
    /// wharf-threading, wharf-forking, wharf-sequential (default: all).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    servers: Option<Vec<String>>,
    /// Size of the single-session STOR and RETR file (default 1GiB).
    #[arg(long, value_name = "SIZE")]
    big_size: Option<String>,
    /// Single-session rounds; the median is reported (default 5).
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// Clients logging in at once, one figure each (default 100,1000).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    logins: Option<Vec<usize>>,
    /// Sessions transferring at once, one download and one upload figure each (default 100,300).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    transfers: Option<Vec<usize>>,
    /// Bytes per concurrent transfer (default 10MiB).
    #[arg(long, value_name = "SIZE")]
    transfer_size: Option<String>,
    /// Idle logged-in session counts at which server memory is read (default 1000,10000).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    idle: Option<Vec<usize>>,
    /// Servers measured only at the smallest idle count, to keep the whole run under 20 minutes:
    /// each larger ramp costs as many logins, and these servers' logins cost the most (argon2id
    /// in pure-ftpd and in Wharf's process- and thread-per-session modes). Default
    /// pure-ftpd,wharf-threading,wharf-forking; `none` measures every server at every count.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "ID,...",
        default_value = "pure-ftpd,wharf-threading,wharf-forking"
    )]
    idle_limited: Vec<String>,
    /// Clients logging in at once while a live session sends NOOPs (default 300).
    #[arg(long, value_name = "N")]
    storm: Option<usize>,
    /// Scenarios to leave out, comma-separated, among: single, logins, transfers, storm, idle.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    skip: Vec<String>,
    /// CPU placement: `split` pins the generator to the first half of the CPUs and every server
    /// to the rest; `shared` puts both on the last CPU; `none` leaves it to the scheduler.
    #[arg(long, default_value = "split", value_parser = ["shared", "split", "none"])]
    pin: String,
    /// Seconds of the loopback measurement.
    #[arg(long, value_name = "SECONDS")]
    loopback_secs: Option<f64>,
    /// Time limit of each protocol step (a reply, a connect, a data read), seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    step_limit: f64,
    /// The wharf-ftpd binary to measure (default: this binary's built-in `serve-ftpd`, the
    /// same library call as `wharf-ftpd serve`).
    #[arg(long, value_name = "PATH")]
    ftpd: Option<PathBuf>,
    /// Where `bench/peers.sh` unpacked vsftpd and pure-ftpd (`usr/sbin/...` below it).
    #[arg(long, default_value = "target/bench/peers-bin", value_name = "DIR")]
    peers_bin: PathBuf,
    /// The Python interpreter with pyftpdlib.
    #[arg(long, default_value = "python3", value_name = "PROGRAM")]
    python: PathBuf,
    /// The system user vsftpd and pure-ftpd serve (made by `bench/peers.sh`).
    #[arg(long, default_value = "wharfbench", value_name = "NAME")]
    user: String,
    /// The test user's password on every server.
    #[arg(long, default_value = "bench-password", value_name = "PASSWORD")]
    password: String,
    /// Folder for the servers' roots and the test files (default: a fresh temporary folder).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Instead of the peer comparison, wharf-ftpd set-ups side by side in interleaved rounds:
    /// `s3` (on Garage, against curl's direct S3 PUT and GET; memory under concurrent
    /// uploads), `postgres` (PostgreSQL users and quotas against the users file),
    /// `durability` (`durable_uploads` on and off, beside the peers) or `fleet` (concurrent
    /// transfers through HAProxy and one to three nodes against one node reached directly)
    /// or `clients` (single-session STOR and RETR with the bench's own client, curl and lftp,
    /// wharf-ftpd beside vsftpd, pure-ftpd, ProFTPD and pyftpdlib, with server CPU per GiB).
    #[arg(
        long,
        value_name = "SUITE",
        value_parser = ["s3", "postgres", "durability", "fleet", "clients"]
    )]
    compare: Option<String>,
    /// Where to write the JSON record (default target/bench/ftp.json, or
    /// target/bench/ftp-SUITE.json with --compare).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Where to write the Markdown tables (default target/bench/ftp.md, or
    /// target/bench/ftp-SUITE.md with --compare).
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// Where to write the SVG chart.
    #[arg(long, default_value = "target/bench/ftp.svg", value_name = "PATH")]
    chart: PathBuf,
}

/// `serve-ftpd`: the same as `wharf-ftpd serve`.
#[derive(Debug, Parser)]
struct ServeFtpd {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Settings given on the command line.
    #[command(flatten)]
    overrides: Overrides,
}

/// `serve-sink`: the loopback measurement's receiving end.
#[derive(Debug, Parser)]
struct ServeSink {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let outcome = match args.get(1).and_then(|a| a.to_str()) {
        Some(SERVE_FTPD) => serve_ftpd(ServeFtpd::parse_from(&args[1..])),
        Some(SERVE_SINK) => {
            loopback::serve_sink(ServeSink::parse_from(&args[1..]).listen).map_err(Into::into)
        }
        _ => {
            let args = Args::parse();
            match args.compare.as_deref().and_then(Suite::from_id) {
                Some(suite) => compare(args, suite),
                None => benchmark(args),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve_ftpd(args: ServeFtpd) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    wharf_ftp::daemon::serve(wharf_ftp::config::reload::ConfigSource {
        file: args.config,
        overrides: args.overrides,
    })?;
    Ok(())
}

/// The scenarios `--skip` can name.
const SCENARIOS: [&str; 5] = ["single", "logins", "transfers", "storm", "idle"];

fn size(value: Option<&String>, default: u64) -> anyhow::Result<u64> {
    match value {
        None => Ok(default),
        Some(text) => parse_size(text).with_context(|| format!("bad size {text:?}")),
    }
}

fn plan(args: &Args, work_dir: PathBuf) -> anyhow::Result<FtpPlan> {
    let servers = match &args.servers {
        None => FtpServer::ALL.to_vec(),
        Some(ids) => ids
            .iter()
            .map(|id| {
                FtpServer::from_id(id.trim()).with_context(|| format!("unknown server {id:?}"))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let quick = args.quick;
    let pick = |given: &Option<Vec<usize>>, full: &[usize], small: &[usize]| {
        given
            .clone()
            .unwrap_or_else(|| if quick { small } else { full }.to_vec())
    };
    for name in &args.skip {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!(
                "unknown scenario {name:?} (one of {})",
                SCENARIOS.join(", ")
            );
        }
    }
    let skipped = |name: &str| args.skip.iter().any(|s| s == name);
    let mut idle_counts = pick(&args.idle, &[1000, 10_000], &[20]);
    idle_counts.sort_unstable();
    let mut plan = FtpPlan {
        servers,
        big_size: size(
            args.big_size.as_ref(),
            if quick { 16 << 20 } else { 1 << 30 },
        )?,
        rounds: args.rounds.unwrap_or(if quick { 1 } else { 5 }).max(1),
        login_counts: pick(&args.logins, &[100, 1000], &[10]),
        transfer_counts: pick(&args.transfers, &[100, 300], &[4]),
        transfer_size: size(
            args.transfer_size.as_ref(),
            if quick { 1 << 20 } else { 10 << 20 },
        )?,
        idle_counts,
        idle_limited: args
            .idle_limited
            .iter()
            .filter(|id| id.as_str() != "none")
            .map(|id| {
                FtpServer::from_id(id.trim()).with_context(|| format!("unknown server {id:?}"))
            })
            .collect::<anyhow::Result<_>>()?,
        storm: args.storm.unwrap_or(if quick { 10 } else { 300 }),
        step_limit: Duration::try_from_secs_f64(args.step_limit).context("bad --step-limit")?,
        idle_settle: Duration::from_millis(if quick { 200 } else { 1500 }),
        server_cpus: None,
        work_dir,
    };
    if skipped("single") {
        plan.rounds = 0;
    }
    if skipped("logins") {
        plan.login_counts.clear();
    }
    if skipped("transfers") {
        plan.transfer_counts.clear();
    }
    if skipped("storm") {
        plan.storm = 0;
    }
    if skipped("idle") {
        plan.idle_counts.clear();
    }
    let counts = plan
        .login_counts
        .iter()
        .chain(&plan.transfer_counts)
        .chain(&plan.idle_counts);
    if counts.copied().any(|n| n == 0) || plan.big_size == 0 {
        bail!("counts and sizes must be at least 1");
    }
    Ok(plan)
}

fn benchmark(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    // Described before pinning, which would hide the other CPUs.
    let machine = Machine::describe();
    let split = affinity::pin_generator(&args.pin).context("cannot pin the load generator")?;
    let (work_dir, _temporary) = work_folder(&args)?;
    let mut plan = plan(&args, work_dir)?;
    plan.server_cpus = split.as_ref().map(|s| s.server.clone());
    // Each side holds a socket per session (the generator and a one-process server), with room.
    let most = plan.idle_counts.iter().copied().max().unwrap_or(0) as u64;
    let limit = fd_limit::raise_to(most * 2 + 4096).context("cannot raise the open-file limit")?;
    if limit.soft < most + 1024 {
        eprintln!(
            "warning: open-file limit {} is low for {most} idle sessions (run as root, or raise \
             the hard limit)",
            limit.soft
        );
    }
    let bench = std::env::current_exe().context("cannot find the bench binary itself")?;
    let programs = programs(&args, &bench);
    println!("machine: {machine}");
    match &split {
        Some(split) => println!(
            "pinning: load generator on CPUs {:?}, servers on CPUs {:?}",
            split.generator, split.server
        ),
        None => println!("pinning: none"),
    }
    let credentials = Credentials::new(&programs).context("cannot hash the test password")?;
    let server_cpus = split.as_ref().map_or(machine.cores, |s| s.server.len());
    let argon2 = argon2_cost::measure(&credentials.argon2_hash, &credentials.password, server_cpus);
    eprintln!("  writing the test files");
    let files = TestFiles::create(
        &plan.work_dir.join("files"),
        plan.big_size,
        plan.transfer_size,
    )
    .context("cannot write the test files")?;
    eprintln!("  measuring the loopback limit");
    let loopback = measure_loopback(&bench, &plan, split.as_ref(), loopback_secs(&args));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()?;
    let mut cells = Vec::new();
    for &server in &plan.servers {
        let measured = runtime.block_on(run::measure_server(
            server,
            &plan,
            &programs,
            &credentials,
            &files,
            &mut |line| eprintln!("  {line}"),
        ));
        cells.extend(measured);
    }
    let servers: Vec<String> = plan.servers.iter().map(|s| s.id().to_string()).collect();
    let peers: Vec<&str> = plan
        .servers
        .iter()
        .filter(|s| s.is_peer())
        .map(|s| s.id())
        .collect();
    let checks = targets::judge(
        &cells,
        &peers,
        &loopback,
        argon2.as_ref(),
        plan.transfer_counts
            .iter()
            .copied()
            .max()
            .map(|sessions| (sessions, plan.transfer_size)),
        plan.login_counts.iter().copied().max(),
        (plan.storm > 0).then_some(plan.storm),
    );
    let record = FtpRecord {
        benchmark: "ftp",
        machine,
        pinning: split,
        scale: Scale {
            big_size: plan.big_size,
            rounds: plan.rounds,
            login_counts: plan.login_counts.clone(),
            transfer_counts: plan.transfer_counts.clone(),
            transfer_size: plan.transfer_size,
            idle_counts: plan.idle_counts.clone(),
            storm: plan.storm,
        },
        servers,
        loopback,
        argon2,
        cells,
        targets: checks,
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    let tables = record.to_markdown();
    println!();
    print!("{tables}");
    println!("\nDetails:\n\n{}", record.details());
    println!("(run took {:.0} s)", record.elapsed_secs);
    let (json, markdown) = outputs(&args, "ftp");
    write(&json, |path| record.write_json(path))?;
    write(&markdown, |path| {
        std::fs::write(path, format!("{tables}\n{}", record.details()))
    })?;
    write(&args.chart, |path| {
        std::fs::write(path, chart::svg(&record))
    })?;
    println!(
        "written: {}, {}, {}",
        json.display(),
        markdown.display(),
        args.chart.display()
    );
    if record.has_wharf_failures() {
        bail!(
            "some of Wharf's figures could not be measured, or only in part (see the tables above)"
        );
    }
    if record.has_failures() {
        eprintln!("note: some peers' figures are partial or missing (see the tables above)");
    }
    Ok(())
}

/// The JSON and Markdown paths: as given, else `target/bench/STEM.json` and `.md`.
fn outputs(args: &Args, stem: &str) -> (PathBuf, PathBuf) {
    let default = |extension: &str| PathBuf::from(format!("target/bench/{stem}.{extension}"));
    (
        args.json.clone().unwrap_or_else(|| default("json")),
        args.markdown.clone().unwrap_or_else(|| default("md")),
    )
}

/// The test programs, from the arguments.
fn programs(args: &Args, bench: &std::path::Path) -> Programs {
    Programs {
        ftpd: match &args.ftpd {
            Some(path) => FtpdProgram::Binary(path.clone()),
            None => FtpdProgram::BuiltIn(bench.to_path_buf()),
        },
        vsftpd: args.peers_bin.join("usr/sbin/vsftpd"),
        pure_ftpd: args.peers_bin.join("usr/sbin/pure-ftpd"),
        pure_pw: args.peers_bin.join("usr/bin/pure-pw"),
        proftpd: args.peers_bin.join("usr/sbin/proftpd"),
        python: args.python.clone(),
        peers_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers"),
        user: args.user.clone(),
        password: args.password.clone(),
    }
}

/// A work folder: the one given, or a fresh temporary one (kept alive by the guard).
fn work_folder(args: &Args) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match &args.work_dir {
        Some(dir) => Ok((dir.clone(), None)),
        None => {
            let temporary = tempfile::tempdir().context("cannot make a work folder")?;
            Ok((temporary.path().to_path_buf(), Some(temporary)))
        }
    }
}

/// The plan of a comparison: each suite's defaults, overridden by the flags given.
fn compare_plan(args: &Args, suite: Suite, work_dir: PathBuf) -> anyhow::Result<ComparePlan> {
    let quick = args.quick;
    // (rounds, big file, sessions at once, bytes each) by suite; the smoke run is small.
    let (rounds, big, sessions, each) = match (suite, quick) {
        (_, true) => (1, 16 << 20, 4, 1 << 20),
        (Suite::S3, false) => (5, 256 << 20, 50, 100 << 20),
        (Suite::Postgres, false) => (3, 0, 300, 10 << 20),
        (Suite::Durability, false) => (3, 1 << 30, 300, 10 << 20),
        (Suite::Fleet, false) => (3, 0, 300, 10 << 20),
        (Suite::Clients, false) => (3, 512 << 20, 1, 1 << 20),
    };
    let peers = match &args.servers {
        Some(ids) => ids
            .iter()
            .map(|id| {
                FtpServer::from_id(id.trim())
                    .filter(|server| server.is_peer())
                    .with_context(|| {
                        format!("{id:?} is not a peer (vsftpd, pure-ftpd, proftpd, pyftpdlib)")
                    })
            })
            .collect::<anyhow::Result<_>>()?,
        None if quick => Vec::new(),
        None if suite == Suite::Clients => vec![
            FtpServer::Vsftpd,
            FtpServer::PureFtpd,
            FtpServer::Proftpd,
            FtpServer::Pyftpdlib,
        ],
        None => vec![FtpServer::Vsftpd, FtpServer::PureFtpd, FtpServer::Pyftpdlib],
    };
    let plan = ComparePlan {
        suite,
        rounds: args.rounds.unwrap_or(rounds).max(1),
        big_size: size(args.big_size.as_ref(), big)?,
        sessions: args
            .transfers
            .as_ref()
            .and_then(|counts| counts.iter().copied().max())
            .unwrap_or(sessions),
        transfer_size: size(args.transfer_size.as_ref(), each)?,
        storm: args.storm.unwrap_or(if quick { 10 } else { 300 }),
        peers: if matches!(suite, Suite::Durability | Suite::Clients) {
            peers
        } else {
            Vec::new()
        },
        step_limit: Duration::try_from_secs_f64(args.step_limit).context("bad --step-limit")?,
        server_cpus: None,
        work_dir,
    };
    if plan.sessions == 0
        || plan.transfer_size == 0
        || (!matches!(suite, Suite::Postgres | Suite::Fleet) && plan.big_size == 0)
    {
        bail!("counts and sizes must be at least 1");
    }
    Ok(plan)
}

/// `--compare SUITE`: the suite's services, then its interleaved rounds, then the tables.
fn compare(args: Args, suite: Suite) -> anyhow::Result<()> {
    let started = Instant::now();
    let machine = Machine::describe();
    let (work_dir, _temporary) = work_folder(&args)?;
    let mut plan = compare_plan(&args, suite, work_dir)?;
    eprintln!("  starting the services of the {} comparison", suite.id());
    // Before pinning: Garage and PostgreSQL may run on any CPU.
    let services = Services::start(suite).map_err(anyhow::Error::msg)?;
    let split = affinity::pin_generator(&args.pin).context("cannot pin the load generator")?;
    plan.server_cpus = split.as_ref().map(|s| s.server.clone());
    fd_limit::raise_to(plan.sessions as u64 * 4 + 4096)
        .context("cannot raise the open-file limit")?;
    let bench = std::env::current_exe().context("cannot find the bench binary itself")?;
    let programs = programs(&args, &bench);
    println!("machine: {machine}");
    match &split {
        Some(split) => println!(
            "pinning: load generator on CPUs {:?}, FTP servers on CPUs {:?}, services unpinned",
            split.generator, split.server
        ),
        None => println!("pinning: none"),
    }
    let credentials = Credentials::new(&programs).context("cannot hash the test password")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()?;
    let context = compare::Context {
        plan: &plan,
        programs: &programs,
        credentials: &credentials,
    };
    let info = RunInfo {
        machine,
        pinning: split,
        started,
    };
    let record = runtime
        .block_on(compare::run(&context, &services, info, &mut |line| {
            eprintln!("  {line}")
        }))
        .map_err(anyhow::Error::msg)?;
    drop(runtime);
    drop(services);
    let tables = record.to_markdown();
    println!();
    print!("{tables}");
    println!("\nDetails:\n\n{}", record.details());
    println!("(run took {:.0} s)", record.elapsed_secs);
    let (json, markdown) = outputs(&args, &format!("ftp-{}", suite.id()));
    write(&json, |path| record.write_json(path))?;
    write(&markdown, |path| {
        std::fs::write(path, format!("{tables}\n{}", record.details()))
    })?;
    println!("written: {}, {}", json.display(), markdown.display());
    if record.has_failures() {
        bail!("some figures could not be measured, or only in part (see the tables above)");
    }
    Ok(())
}

fn loopback_secs(args: &Args) -> f64 {
    args.loopback_secs
        .unwrap_or(if args.quick { 0.5 } else { 3.0 })
}

/// Our sink and iperf3, pinned as servers and generator are.
fn measure_loopback(
    bench: &std::path::Path,
    plan: &FtpPlan,
    split: Option<&affinity::CpuSplit>,
    seconds: f64,
) -> loopback::LoopbackLimit {
    let duration = Duration::from_secs_f64(seconds.max(0.1));
    let pin = |command: &mut Command, cpus: Option<&Vec<usize>>| {
        if let Some(cpus) = cpus {
            let _ = affinity::pin_command(command, cpus);
        }
    };
    let mut sink = Command::new(bench);
    sink.arg(SERVE_SINK);
    pin(&mut sink, split.map(|s| &s.server));
    let iperf3 = which("iperf3").map(|program| {
        let mut server = Command::new(&program);
        server.args(["-s", "-1", "-B", "127.0.0.1"]);
        pin(&mut server, split.map(|s| &s.server));
        let mut client = Command::new(&program);
        client.args(["-c", "127.0.0.1", "-J", "-t"]);
        client.arg(format!("{}", duration.as_secs().max(1)));
        pin(&mut client, split.map(|s| &s.generator));
        (server, client)
    });
    let log = plan.work_dir.join("iperf3.log");
    let limit = loopback::measure(sink, iperf3, duration, &log);
    for note in &limit.notes {
        eprintln!("  loopback: {note}");
    }
    limit
}

/// The first `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Writes an output file, creating its folder.
fn write(
    path: &std::path::Path,
    write: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write(path).with_context(|| format!("cannot write {}", path.display()))
}
