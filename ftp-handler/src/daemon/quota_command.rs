//! `wharf-ftpd quota show|rebuild`: the administrator's view of the quota store.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use wharf_users::{AuthError, UserRecord, UsersLocation};

use crate::config::{ConfigError, FtpdConfig, Overrides};
use crate::quota::{QuotaError, QuotaLimits, QuotaStore, Quotas, SharedQuotaStore, UsageReport};
use crate::storage::{Usage, open_home};

/// Show or rebuild users' disk usage as the quota store counts it.
#[derive(Debug, Clone, Subcommand)]
pub enum QuotaCommand {
    /// Print usage and limits per user. A user with no session running whose count was never
    /// made, or was left by a session that died, is recounted from disk first.
    Show(QuotaArgs),
    /// Recount usage from the files in the homes, after removing the temp files of dead
    /// uploads. Refused for a user with sessions running (their uploads are in flight).
    Rebuild(QuotaArgs),
}

/// Arguments of `quota show` and `quota rebuild`.
#[derive(Debug, Clone, Args)]
pub struct QuotaArgs {
    /// Only this user (default: every user of the store).
    pub name: Option<String>,
    /// The daemon's configuration file, read for the two settings below.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The users file, or a postgres:// URL. Setting: server.users_file
    #[arg(long, value_name = "FILE|URL")]
    pub users: Option<PathBuf>,
    /// Directory for server state such as quota usage. Setting: server.state_dir
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Why a `quota` subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum QuotaCommandError {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The user store could not be read.
    #[error("cannot use the user store: {0}")]
    Users(#[from] AuthError),
    /// The named user is not in the user store.
    #[error("no user {name} in {store}")]
    UnknownUser {
        /// The name asked for.
        name: String,
        /// The user store (a file, or a database URL without its password).
        store: String,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] QuotaError),
    /// Some users failed (the others were done and printed).
    #[error("{}", describe_failures(.0))]
    Failed(Vec<(String, QuotaError)>),
    /// No runtime could be started for the storage requests.
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

/// Runs a `quota` subcommand, printing one line per user to `out`.
pub fn run(command: QuotaCommand, out: &mut dyn Write) -> Result<(), QuotaCommandError> {
    let (args, rebuild) = match command {
        QuotaCommand::Show(args) => (args, false),
        QuotaCommand::Rebuild(args) => (args, true),
    };
    let overrides = Overrides {
        users: args.users.clone(),
        state_dir: args.state_dir.clone(),
        ..Overrides::default()
    };
    let config = FtpdConfig::load(args.config.as_deref(), &overrides)?;
    let users_file = &config.server.users_file;
    let location = UsersLocation::from_setting(users_file)?;
    let user_store = wharf_users::store::open(&location)?;
    let users = user_store.snapshot_blocking()?;
    let selected: Vec<&UserRecord> = match &args.name {
        Some(name) => vec![
            users
                .get(name)
                .ok_or_else(|| QuotaCommandError::UnknownUser {
                    name: name.clone(),
                    store: user_store.location().to_owned(),
                })?,
        ],
        None => users.iter().collect(),
    };
    config.storage.validate()?;
    // With the users in PostgreSQL, usage is kept there too, shared by every daemon.
    let store = match user_store.database() {
        Some(database) => Quotas::Shared(SharedQuotaStore::new(database)),
        None => Quotas::Local(QuotaStore::open(&config.server.state_dir)?),
    };
    // Object storage is reached through a runtime; entered, the quota store's blocking calls
    // run their requests on its worker.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(QuotaCommandError::Runtime)?;
    let _entered = runtime.enter();
    let mut failures = Vec::new();
    for record in selected {
        let line = match one_user(&store, &config, record, rebuild) {
            Ok(line) => line,
            Err(error) => {
                failures.push((record.name.clone(), error));
                continue;
            }
        };
        writeln!(out, "{line}").map_err(QuotaCommandError::Output)?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(QuotaCommandError::Failed(failures))
    }
}

/// Shows or rebuilds one user; returns the line to print.
fn one_user(
    store: &Quotas,
    config: &FtpdConfig,
    record: &UserRecord,
    rebuild: bool,
) -> Result<String, QuotaError> {
    let jail =
        open_home(&config.storage, &record.home, true).map_err(|source| QuotaError::Home {
            user: record.name.clone(),
            source,
        })?;
    let jail = jail.as_ref();
    let limits = QuotaLimits::of(record);
    if rebuild {
        let usage = store.rebuild(&record.name, jail)?;
        return Ok(format!(
            "{}\t{}\trebuilt from disk",
            record.name,
            describe_usage(usage, limits)
        ));
    }
    let UsageReport {
        usage,
        sessions,
        rebuilt,
    } = store.report(&record.name, jail)?;
    let note = if rebuilt { "\trebuilt from disk" } else { "" };
    Ok(format!(
        "{}\t{}\tsessions {sessions}{note}",
        record.name,
        describe_usage(usage, limits)
    ))
}

/// `bytes USED of LIMIT\tfiles USED of LIMIT`, exact numbers for scripts.
fn describe_usage(usage: Usage, limits: QuotaLimits) -> String {
    let limit =
        |value: Option<u64>| value.map_or_else(|| "unlimited".to_owned(), |v| v.to_string());
    format!(
        "bytes {} of {}\tfiles {} of {}",
        usage.bytes,
        limit(limits.bytes),
        usage.files,
        limit(limits.files)
    )
}

/// `alice: reason; bob: reason`.
fn describe_failures(failures: &[(String, QuotaError)]) -> String {
    failures
        .iter()
        .map(|(name, error)| format!("{name}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}
