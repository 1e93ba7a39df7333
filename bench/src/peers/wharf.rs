//! The Wharf echo server as the benchmark runs it: `wharf_echo::Echo` through `wharf::Server`,
//! built exactly as the `wharf-echo` binary builds it, plus the two mode caps as flags.

use std::net::SocketAddr;

use anyhow::Context;
use wharf::{Mode, Server};
use wharf_echo::Echo;

use super::bare::announce;

/// Command line of the benchmark's Wharf echo server.
#[derive(Debug, clap::Parser)]
#[command(about = "The Wharf echo server in any mode, with the mode caps as flags")]
pub struct WharfArgs {
    /// TCP address to listen on.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Concurrency mode: sequential, threading, forking or async.
    #[arg(long, default_value = "async", value_name = "MODE")]
    pub mode: Mode,
    /// Most handler threads at once in threading mode (default: the mode's, 256).
    #[arg(long, value_name = "N")]
    pub max_threads: Option<usize>,
    /// Most child processes at once in forking mode (default: the mode's, 40).
    #[arg(long, value_name = "N")]
    pub max_children: Option<usize>,
}

impl WharfArgs {
    /// The mode with the caps given on the command line applied.
    pub fn mode(&self) -> Mode {
        match self.mode {
            Mode::Threading {
                max_threads,
                daemon_threads,
                block_on_close,
            } => Mode::Threading {
                max_threads: self.max_threads.unwrap_or(max_threads),
                daemon_threads,
                block_on_close,
            },
            Mode::Forking {
                max_children,
                block_on_close,
            } => Mode::Forking {
                max_children: self.max_children.unwrap_or(max_children),
                block_on_close,
            },
            other => other,
        }
    }
}

/// Serves echo until SIGTERM or SIGINT, logging warnings to stderr as `wharf-echo` does.
pub fn serve(args: &WharfArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let server = Server::builder()
        .name("wharf-echo")
        .mode(args.mode())
        .listen(args.listen)
        .build(Echo::default())
        .context("cannot start the echo server")?;
    for addr in server.local_addrs() {
        let wharf::ListenAddr::Tcp(addr) = addr else {
            continue;
        };
        announce(*addr)?;
    }
    server.serve_forever()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_cap_flags_apply_to_their_own_mode_only() {
        let args = WharfArgs::parse_from(["x", "--mode", "threading", "--max-threads", "1024"]);
        assert!(matches!(
            args.mode(),
            Mode::Threading {
                max_threads: 1024,
                ..
            }
        ));
        let args = WharfArgs::parse_from(["x", "--mode", "forking", "--max-threads", "7"]);
        assert_eq!(args.mode(), Mode::forking());
        let args = WharfArgs::parse_from(["x", "--mode", "forking", "--max-children", "5"]);
        assert!(matches!(
            args.mode(),
            Mode::Forking {
                max_children: 5,
                ..
            }
        ));
    }
}
