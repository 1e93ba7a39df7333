//! A line-based key-value store served over TCP and a Unix socket at once, in any mode.
//!
//! ```text
//! cargo run -p wharf --example kv_store -- --mode threading
//! cargo run -p wharf --example kv_store -- --mode forking --dir /tmp/kv
//! printf 'SET greeting hello world\nGET greeting\nKEYS\nQUIT\n' | nc 127.0.0.1 7171
//! ```
//! The protocol is in `protocol.rs`. Without `--dir` the pairs live in memory, which every
//! connection sees only when the mode shares memory: forking mode needs `--dir`, and then
//! each key is a file in that directory (written atomically), seen by every process.
//!
//! - `protocol`: request lines to commands; `store`: memory or files; `handler`: a session.

mod handler;
mod protocol;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use wharf::{ListenAddr, Mode, Server};

use handler::KvHandler;
use store::Store;

const USAGE: &str = "usage: kv_store [--mode async|threading|forking|sequential] [--tcp ADDR] \
                     [--unix PATH] [--dir DIR] [--max-line BYTES]";

/// The command line, with its defaults.
struct Args {
    /// The concurrency mode (default: async).
    mode: Mode,
    /// The TCP listener's address (default: 127.0.0.1:7171).
    tcp: SocketAddr,
    /// The Unix listener's path (default: `$TMPDIR/wharf-kv.sock`).
    unix: PathBuf,
    /// Keep the pairs as files here instead of in memory (default: memory).
    dir: Option<PathBuf>,
    /// The longest request line in bytes (default: 1024).
    max_line: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        mode: Mode::default(),
        tcp: SocketAddr::from(([127, 0, 0, 1], 7171)),
        unix: std::env::temp_dir().join("wharf-kv.sock"),
        dir: None,
        max_line: 1024,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--mode" => parsed.mode = value.parse().map_err(|e| bad(&e))?,
            "--tcp" => parsed.tcp = value.parse().map_err(|e| bad(&e))?,
            "--unix" => parsed.unix = PathBuf::from(value),
            "--dir" => parsed.dir = Some(PathBuf::from(value)),
            "--max-line" => match value.parse::<usize>() {
                Ok(n) if n >= 16 => parsed.max_line = n,
                _ => return Err(bad(&"expected a number of bytes, at least 16")),
            },
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kv_store: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = parse_args(std::env::args().skip(1))?;
    let store = match args.dir {
        Some(dir) => Store::files(dir)?,
        None => Store::memory(),
    };
    let server = Server::builder()
        .name("kv-store")
        .mode(args.mode)
        .listen_as("tcp", args.tcp)
        .listen_as("unix", ListenAddr::Unix(args.unix))
        .read_timeout(Some(Duration::from_secs(300)))
        .shutdown_timeout(Duration::from_secs(5))
        .build(KvHandler {
            store: store.clone(),
            max_line: args.max_line,
        })?;
    // Asked of the server, not of the mode's name: a memory store is only one store if
    // connections share memory.
    if store.is_memory() && !server.info().capabilities().shares_memory {
        return Err(format!(
            "{} mode gives each connection its own process, so an in-memory store would not \
             be shared: give --dir DIR",
            args.mode
        )
        .into());
    }
    for listener in server.listeners() {
        println!("listening on {}", listener.addr);
    }
    server.serve_forever()?; // until SIGINT or SIGTERM
    Ok(())
}
