//! `wharf-echo-bench`: echo round trips of every Wharf mode, side by side with Python's
//! `socketserver` and a bare tokio loop, at 1, 10, 100 and 1000 connections.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use wharf_bench::affinity;
use wharf_bench::fd_limit;
use wharf_bench::machine::Machine;
use wharf_bench::peers::bare::{self, BareArgs};
use wharf_bench::peers::wharf::{self, WharfArgs};
use wharf_bench::peers::{Peer, Programs, SERVE_BARE, SERVE_WHARF};
use wharf_bench::plan::{self, Plan};
use wharf_bench::report::Record;

/// Echo benchmark: Wharf's modes against Python's socketserver and bare tokio.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Smoke run: 1 and 10 connections, 0.5 s per cell.
    #[arg(long)]
    quick: bool,
    /// Connection counts, comma-separated (default 1,10,100,1000; --quick: 1,10).
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    connections: Option<Vec<usize>>,
    /// Servers to measure, comma-separated, among: bare-tokio, wharf-async, wharf-threading,
    /// wharf-forking, wharf-sequential, python-threading, python-forking (default: all).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    servers: Option<Vec<String>>,
    /// Times the whole sequence of servers runs; cells report the median (default 3; --quick: 1).
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// Seconds of measurement per cell and round (default 1; --quick: 0.5).
    #[arg(long, value_name = "SECONDS")]
    window: Option<f64>,
    /// Seconds the loops run after every servable connection's first round trip, before each
    /// window opens (default 0.3; --quick: 0.1).
    #[arg(long, value_name = "SECONDS")]
    warmup: Option<f64>,
    /// Longest wait, in seconds, for every servable connection's first round trip.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    ramp_limit: f64,
    /// CPU placement, the same for every server: `shared` pins the load generator and the
    /// server to one CPU (no cross-CPU wake-ups: stable figures); `split` pins the generator to
    /// the first half of the CPUs and the server to the rest; `none` leaves it to the scheduler.
    #[arg(long, default_value = "shared", value_parser = ["shared", "split", "none"])]
    pin: String,
    /// Bytes per message.
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    message_size: usize,
    /// Where to write the JSON record.
    #[arg(long, default_value = "target/bench/echo.json", value_name = "PATH")]
    json: PathBuf,
    /// The Python interpreter that runs socketserver.
    #[arg(long, default_value = "python3", value_name = "PROGRAM")]
    python: PathBuf,
    /// The Python echo servers' script.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/python/socketserver_echo.py"), value_name = "PATH")]
    python_script: PathBuf,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The benchmark starts its bare tokio and Wharf servers by running itself with these.
    let outcome = match args.get(1).and_then(|a| a.to_str()) {
        Some(SERVE_BARE) => bare::serve(&BareArgs::parse_from(&args[1..])),
        Some(SERVE_WHARF) => wharf::serve(&WharfArgs::parse_from(&args[1..])),
        _ => benchmark(Args::parse()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(value: Option<f64>, default: f64) -> anyhow::Result<Duration> {
    let value = value.unwrap_or(default);
    Duration::try_from_secs_f64(value).with_context(|| format!("bad duration {value}"))
}

fn plan(args: &Args) -> anyhow::Result<Plan> {
    let peers = match &args.servers {
        None => Peer::ALL.to_vec(),
        Some(ids) => ids
            .iter()
            .map(|id| Peer::from_id(id.trim()).with_context(|| format!("unknown server {id:?}")))
            .collect::<anyhow::Result<_>>()?,
    };
    let default_counts = if args.quick {
        vec![1, 10]
    } else {
        vec![1, 10, 100, 1000]
    };
    let connection_counts = args.connections.clone().unwrap_or(default_counts);
    if connection_counts.contains(&0) || args.message_size == 0 {
        bail!("connection counts and the message size must be at least 1");
    }
    let (window, warmup, rounds) = if args.quick {
        (0.5, 0.1, 1)
    } else {
        (1.0, 0.3, 3)
    };
    Ok(Plan {
        peers,
        connection_counts,
        message_size: args.message_size,
        ramp_limit: seconds(Some(args.ramp_limit), 0.0)?,
        warmup: seconds(args.warmup, warmup)?,
        window: seconds(args.window, window)?,
        rounds: args.rounds.unwrap_or(rounds).max(1),
        server_cpus: None,
    })
}

fn benchmark(args: Args) -> anyhow::Result<()> {
    let mut plan = plan(&args)?;
    // Described before pinning, which would hide the other CPUs.
    let machine = Machine::describe();
    // Pinned before any thread starts, so the generator's runtime inherits it.
    let split = affinity::pin_generator(&args.pin).context("cannot pin the load generator")?;
    plan.server_cpus = split.as_ref().map(|s| s.server.clone());
    let limit = fd_limit::raise_to_hard_limit().context("cannot raise the open-file limit")?;
    let most = plan.connection_counts.iter().copied().max().unwrap_or(1) as u64;
    // The servers inherit the limit: a threading server holds a socket plus its runtime's
    // epoll and wake-up descriptors per connection, beside our client socket.
    if limit.soft < most * 5 + 64 {
        eprintln!(
            "warning: open-file limit {} is low for {most} connections; raise it with `ulimit -n {}`",
            limit.soft,
            most * 5 + 64
        );
    }
    let uses_python = plan
        .peers
        .iter()
        .any(|p| matches!(p, Peer::PythonThreading | Peer::PythonForking));
    if uses_python && !args.python_script.is_file() {
        bail!(
            "the Python servers' script is missing: {}",
            args.python_script.display()
        );
    }
    let programs = Programs {
        bench: std::env::current_exe().context("cannot find the bench binary itself")?,
        python: args.python.clone(),
        python_script: args.python_script.clone(),
    };
    println!("machine: {machine}");
    match &split {
        Some(split) => println!(
            "pinning: load generator on CPUs {:?}, servers on CPUs {:?}",
            split.generator, split.server
        ),
        None => println!("pinning: none"),
    }
    println!(
        "cells: {:?} connections, {} B messages, {:?} warm-up + {:?} window each, {} round(s)",
        plan.connection_counts, plan.message_size, plan.warmup, plan.window, plan.rounds
    );
    let started = Instant::now();
    let cells = plan::run(&plan, &programs, |line| eprintln!("  {line}"))?;
    let record = Record::new(machine, split, &plan, cells);
    println!();
    print!("{}", record.to_markdown(&plan.connection_counts));
    println!("(run took {:.0} s)", started.elapsed().as_secs_f64());
    record
        .write_json(&args.json)
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    println!("JSON record: {}", args.json.display());
    if record.has_failed_cells() {
        bail!("some cells could not be measured (see the tables above)");
    }
    Ok(())
}
