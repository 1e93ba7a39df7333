//! `wharf-echo`: an echo server over TCP, Unix and UDP in any concurrency mode.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use wharf::{DatagramServer, ListenAddr, Mode, Server};
use wharf_echo::{Echo, EchoDatagram};

/// Echo server: every byte sent comes back.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TCP address to listen on (IPv4 or [IPv6]); repeatable.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Unix socket path to listen on; repeatable.
    #[arg(long, value_name = "PATH")]
    unix: Vec<PathBuf>,
    /// UDP address to answer datagrams on.
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,
    /// Concurrency mode: sequential, threading, forking or async.
    #[arg(long, default_value = "async", value_name = "MODE")]
    mode: Mode,
    /// Answer in upper case.
    #[arg(long)]
    upper: bool,
    /// Seconds a shutdown waits for connections before closing them.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    shutdown_timeout: u64,
    /// Most connections served at once (further ones wait in the backlog).
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    wharf::logging::init(wharf::logging::LogFormat::Text, "warn");
    if args.listen.is_empty() && args.unix.is_empty() && args.udp.is_none() {
        bail!("nothing to listen on: give --listen ADDR, --unix PATH or --udp ADDR");
    }
    let shutdown_timeout = Duration::from_secs(args.shutdown_timeout);
    let limit = args.max_connections;
    let udp = match args.udp {
        Some(addr) => {
            let builder = DatagramServer::builder()
                .name("wharf-echo")
                .mode(args.mode)
                .shutdown_timeout(shutdown_timeout)
                .bind(addr);
            let builder = match limit {
                Some(max) => builder.max_connections(max, wharf::LimitPolicy::Wait),
                None => builder,
            };
            let server = builder
                .build(EchoDatagram {
                    upper_case: args.upper,
                })
                .with_context(|| format!("cannot serve UDP on {addr}"))?;
            announce(&format!("udp:{}", server.local_addr()))?;
            Some(server)
        }
        None => None,
    };
    let stream = if args.listen.is_empty() && args.unix.is_empty() {
        None
    } else {
        let mut builder = Server::builder()
            .name("wharf-echo")
            .mode(args.mode)
            .shutdown_timeout(shutdown_timeout);
        if let Some(max) = limit {
            builder = builder.max_connections(max, wharf::LimitPolicy::Wait);
        }
        for addr in &args.listen {
            builder = builder.listen(*addr);
        }
        for path in &args.unix {
            builder = builder.listen(ListenAddr::Unix(path.clone()));
        }
        let server = builder
            .build(Echo::new(args.upper))
            .context("cannot start the echo server")?;
        for addr in server.local_addrs() {
            announce(&addr.to_string())?;
        }
        Some(server)
    };

    match (stream, udp) {
        (Some(stream), Some(udp)) => {
            let datagrams = std::thread::spawn(move || udp.serve_forever());
            stream.serve_forever()?;
            datagrams
                .join()
                .map_err(|_| anyhow::anyhow!("the UDP server panicked"))??;
        }
        (Some(stream), None) => stream.serve_forever()?,
        (None, Some(udp)) => udp.serve_forever()?,
        (None, None) => unreachable!("checked above that something is given"),
    }
    Ok(())
}

/// Tells the user (and tests waiting for it) where the server listens.
fn announce(addr: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    Ok(())
}
