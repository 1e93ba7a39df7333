//! `wharf-ftpd`: the Wharf FTP daemon's command line: argument parsing, logging, one call.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wharf::ListenAddr;
use wharf::logging::{self, LogFormat};
use wharf_ftp::config::reload::ConfigSource;
use wharf_ftp::config::storage::BackendKind;
use wharf_ftp::config::{FtpdConfig, Overrides};
use wharf_ftp::daemon::quota_command::{self, QuotaCommand};
use wharf_ftp::daemon::{self, Demo};
use wharf_users::cli::{DbCommand, UserCommand};

/// The Wharf FTP daemon.
#[derive(Debug, Parser)]
#[command(name = "wharf-ftpd", version, about)]
struct Cli {
    /// Log lines as `text` (the default) or `json` (one object per line, with the session's
    /// fields), on standard error.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `wharf-ftpd`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a throw-away server: temporary root, user demo / password demo, quota 100 MiB.
    Demo {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2121")]
        listen: ListenAddr,
    },
    /// Run the server from a configuration file, `WHARF_FTPD__*` variables and flags; SIGHUP
    /// reads them again (new sessions use the result).
    Serve {
        /// The TOML configuration file (optional; every setting has a default).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Settings given on the command line, overriding file and environment.
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Manage the users, in a file or a database.
    User {
        /// The daemon's configuration file: with `[storage] backend = "s3"`, `user add --home`
        /// is a key prefix (`alice/`) and no directory is created.
        #[arg(long, global = true, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The `user` subcommand.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the users database (PostgreSQL).
    #[command(subcommand)]
    Db(DbCommand),
    /// Show or rebuild users' disk usage in the quota store.
    #[command(subcommand)]
    Quota(QuotaCommand),
}

/// `wharf-ftpd user ...`: homes are key prefixes when the configuration stores them in S3.
fn user_command(config: Option<&Path>, mut command: UserCommand) -> anyhow::Result<()> {
    if let UserCommand::Add(args) = &mut command {
        let config = FtpdConfig::load(config, &Overrides::default())?;
        args.home_is_key_prefix = config.storage.backend == BackendKind::S3;
    }
    wharf_users::cli::run(command, &mut std::io::stdout().lock()).map_err(anyhow::Error::from)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { listen } => {
            logging::init(cli.log_format, "info");
            Demo::prepare(Some(listen))
                .and_then(|demo| demo.run(&mut std::io::stdout()))
                .map_err(anyhow::Error::from)
        }
        Command::Serve { config, overrides } => {
            logging::init(cli.log_format, "info");
            daemon::serve(ConfigSource {
                file: config,
                overrides,
            })
            .map_err(anyhow::Error::from)
        }
        Command::Quota(command) => {
            quota_command::run(command, &mut std::io::stdout().lock()).map_err(anyhow::Error::from)
        }
        Command::User { config, command } => user_command(config.as_deref(), command),
        Command::Db(command) => wharf_users::cli::run_db(command, &mut std::io::stdout().lock())
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wharf-ftpd: {}", wharf::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}
