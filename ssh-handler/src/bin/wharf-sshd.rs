//! `wharf-sshd`: the remote-command daemon's command line: argument parsing, logging, one call.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wharf_ssh::daemon::{self, ServeArgs};
use wharf_users::cli::UserCommand;

/// The Wharf remote-command daemon (native protocol and SSH).
#[derive(Debug, Parser)]
#[command(name = "wharf-sshd", version, about)]
struct Cli {
    /// Log lines as `text` (the default) or `json` (one object per line), on standard error.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: wharf::logging::LogFormat,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `wharf-sshd`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage the users, in a file or a database (shared with wharf-ftpd).
    #[command(subcommand)]
    User(UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            wharf::logging::init(cli.log_format, "info");
            daemon::serve(&args).map_err(anyhow::Error::from)
        }
        // A home created for an exec user belongs to the account its commands run as by default.
        Command::User(command) => wharf_users::cli::run_for_remote_commands(
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
