//! `wharf-sshd`: the remote-command daemon's command line: argument parsing, logging, one call.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wharf::auth::cli::UserCommand;
use wharf_ssh::daemon::{self, ServeArgs};

/// The Wharf remote-command daemon (native protocol and SSH).
#[derive(Debug, Parser)]
#[command(name = "wharf-sshd", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `wharf-sshd`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage the users file (shared with wharf-ftpd).
    #[command(subcommand)]
    User(UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging();
            daemon::serve(&args).map_err(anyhow::Error::from)
        }
        // A home created for an exec user belongs to the account its commands run as by default.
        Command::User(command) => wharf::auth::cli::run_for_remote_commands(
            command,
            "nobody",
            &mut std::io::stdout().lock(),
        )
        .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wharf-sshd: {}", wharf::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error; `RUST_LOG` chooses the level (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
