//! `wharf-ftp`: the Wharf FTP client's command line: argument parsing, logging, one call.

use std::process::ExitCode;

use clap::Parser;
use wharf_ftp::client::{self, Command, Options};

/// FTP client with progress bars, resumable transfers and HASH-verified files.
///
/// `wharf-ftp ftp://user@host:port` opens a shell; the subcommands run one action.
/// Exit codes: 0 ok, 1 usage, 2 connection/login, 3 server refusal, 4 verification
/// mismatch, 5 local file error, 6 connection lost (retry with --resume).
#[derive(Debug, Parser)]
#[command(name = "wharf-ftp", version, about)]
struct Cli {
    /// A one-shot command; without one, the shell opens on URL.
    #[command(subcommand)]
    command: Option<Command>,
    /// ftp://user@host:port[/dir] to open the shell on.
    url: Option<String>,
    /// Options for every command.
    #[command(flatten)]
    options: Options,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // clap exits with 2 on bad arguments; here 2 means "could not connect".
            return if error.use_stderr() {
                ExitCode::from(client::exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging();
    ExitCode::from(client::run(cli.command, cli.url, &cli.options))
}

/// Logs to standard error; `RUST_LOG` chooses the level (default `warn`, and nothing from
/// suppaftp, whose failures the client reports itself).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,suppaftp=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
