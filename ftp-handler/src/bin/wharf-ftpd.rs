//! `wharf-ftpd`: the Wharf FTP daemon's command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wharf::auth::cli::UserCommand;

/// The Wharf FTP daemon.
#[derive(Debug, Parser)]
#[command(name = "wharf-ftpd", version, about)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `wharf-ftpd`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the users file.
    #[command(subcommand)]
    User(UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::User(command) => wharf::auth::cli::run(command, &mut std::io::stdout().lock())
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wharf-ftpd: {error:#}");
            ExitCode::FAILURE
        }
    }
}
