//! The `user` subcommands shared by `wharf-ftpd` and `wharf-sshd`: one parser, one implementation.
//!
//! A binary embeds [`UserCommand`] and calls [`run`]:
//!
//! ```no_run
//! use clap::{Parser, Subcommand};
//! use wharf_users::cli::{self, UserCommand};
//!
//! #[derive(Parser)]
//! struct Arguments {
//!     #[command(subcommand)]
//!     command: Command,
//! }
//!
//! #[derive(Subcommand)]
//! enum Command {
//!     /// Manage the users file.
//!     #[command(subcommand)]
//!     User(UserCommand),
//! }
//!
//! let Command::User(user) = Arguments::parse().command;
//! if let Err(error) = cli::run(user, &mut std::io::stdout()) {
//!     eprintln!("error: {error}");
//!     std::process::exit(1);
//! }
//! ```

mod commands;
mod hidden_prompt;
mod password_input;

pub use hidden_prompt::prompt_password;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use thiserror::Error;

use super::size::parse_size;
use super::{AuthError, HashParams, UsersLocation};

/// Manage the users file (add, passwd, del, list, quota, exec).
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user; the users file and the home directory are created if missing.
    Add(AddArgs),
    /// Change a user's password.
    Passwd(PasswdArgs),
    /// Delete a user; the home directory is left in place.
    Del(DelArgs),
    /// List the users: name, home, quotas, whether remote commands are allowed.
    List(ListArgs),
    /// Change a user's byte quota and/or file-count quota.
    Quota(QuotaArgs),
    /// Allow or deny running remote commands.
    Exec(ExecArgs),
    /// Copy every user of a users file into another store (a database); users already there
    /// are left as they are.
    Import(ImportArgs),
}

/// Arguments of `user import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The users file to read.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Where to add them: a `postgres://` URL (or another users file).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
}

/// Manage the users database's schema.
#[derive(Debug, Clone, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations the database lacks (also done at every start).
    Migrate(MigrateArgs),
}

/// Arguments of `db migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The database: `postgres://USER@HOST:PORT/DB` (the password may come from `PGPASSWORD`).
    #[arg(long, value_name = "URL")]
    pub users: UsersLocation,
}

/// Arguments of `user add`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// User name: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -).
    pub name: String,
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
    /// Home directory; created with mode 0700 if missing (owned by --uid when given), stored as
    /// an absolute path.
    #[arg(long, value_name = "DIR")]
    pub home: PathBuf,
    /// Byte quota: bytes or K/M/G/T units, powers of 1024 (512, 10MiB, 1G). Default: unlimited.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub quota: Option<u64>,
    /// Maximum number of files. Default: unlimited.
    #[arg(long, value_name = "N")]
    pub quota_files: Option<u64>,
    /// Allow running commands through the remote-command service. Default: not allowed.
    #[arg(long)]
    pub allow_exec: bool,
    /// OpenSSH public-key file whose keys may log in as this user (repeatable).
    #[arg(long = "authorized-key", value_name = "FILE")]
    pub authorized_keys: Vec<PathBuf>,
    /// Read the password from the first line of standard input instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Numeric uid the user's remote commands run as (when the daemon runs as root); a missing
    /// home is created owned by it. Default: the daemon's command user.
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Numeric gid of those commands (and of a created home). Default: the same number as --uid.
    #[arg(long, value_name = "GID", requires = "uid")]
    pub gid: Option<u32>,
    /// Allow the user's remote commands to open and accept TCP connections. Default: denied.
    #[arg(long)]
    pub allow_network: bool,
    /// Set by a daemon whose homes live in object storage: `--home` is a key prefix
    /// (`alice/`), stored as given, and no directory is created.
    #[arg(skip)]
    pub home_is_key_prefix: bool,
}

/// Arguments of `user passwd`.
#[derive(Debug, Clone, Args)]
pub struct PasswdArgs {
    /// User name.
    pub name: String,
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
    /// Read the password from the first line of standard input instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Arguments of `user del`.
#[derive(Debug, Clone, Args)]
pub struct DelArgs {
    /// User name.
    pub name: String,
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
}

/// Arguments of `user list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
}

/// Arguments of `user quota`: at least one change, bytes and file count independently.
#[derive(Debug, Clone, Args)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["set", "none", "files", "files_none"])
))]
pub struct QuotaArgs {
    /// User name.
    pub name: String,
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
    /// New byte quota: bytes or K/M/G/T units, powers of 1024 (512, 10MiB, 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "none")]
    pub set: Option<u64>,
    /// Remove the byte quota (unlimited).
    #[arg(long)]
    pub none: bool,
    /// New maximum number of files.
    #[arg(long, value_name = "N", conflicts_with = "files_none")]
    pub files: Option<u64>,
    /// Remove the file-count quota (unlimited).
    #[arg(long)]
    pub files_none: bool,
}

/// Arguments of `user exec`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("permission").required(true).args(["allow", "deny"])))]
pub struct ExecArgs {
    /// User name.
    pub name: String,
    /// The users file (TOML) or database (`postgres://USER@HOST:PORT/DB`; the password may
    /// come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
    /// Allow running remote commands.
    #[arg(long)]
    pub allow: bool,
    /// Deny running remote commands.
    #[arg(long)]
    pub deny: bool,
}

/// Why a `user` subcommand failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The users database refused or failed the change.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// `--home` must be a key prefix (the daemon's homes live in object storage).
    #[error("home {} is not a key prefix such as alice/ (the homes live in object storage)", .0.display())]
    NotAKeyPrefix(PathBuf),
    /// No terminal to prompt on.
    #[error("no terminal to prompt for the password ({source}); pipe it in with --password-stdin")]
    NoTerminal {
        /// Why `/dev/tty` could not be opened.
        #[source]
        source: io::Error,
    },
    /// Reading the password failed.
    #[error("cannot read the password: {0}")]
    ReadPassword(#[source] io::Error),
    /// `--password-stdin` found end of input before any line.
    #[error("no password on standard input (--password-stdin reads one line)")]
    NoPasswordOnStdin,
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// The two terminal entries differ.
    #[error("the two passwords do not match")]
    PasswordMismatch,
    /// An authorized-key file holds a line that is not an OpenSSH public key.
    #[error("{}: line {line}: not an OpenSSH public key (expected \"TYPE BASE64 [COMMENT]\")", path.display())]
    BadAuthorizedKey {
        /// The key file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
    /// An authorized-key file holds no key at all.
    #[error("{}: no public key in the file", path.display())]
    NoAuthorizedKey {
        /// The key file.
        path: PathBuf,
    },
    /// The account that should own a new home is not in the system's user database.
    #[error("no system account {name:?} to own the home directory (give --uid)")]
    UnknownAccount {
        /// The account name.
        name: String,
    },
    /// `db migrate` was given a users file, which has no schema.
    #[error("{location} is a users file; db migrate needs a postgres:// URL")]
    NotADatabase {
        /// What was given.
        location: String,
    },
    /// No runtime could be started to talk to the store.
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Writing the report to the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

/// Runs a `user` subcommand with production hash parameters, reading passwords from the real
/// standard input or terminal and reporting to `out`.
pub fn run(command: UserCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let stdin = io::stdin();
    run_with(command, &HashParams::PRODUCTION, &mut stdin.lock(), out)
}

/// Like [`run`], for the remote-command daemon: `user add --allow-exec` without `--uid`, run as
/// root, creates a missing home owned by `command_user` (the account such commands run as), so
/// the commands can write in it.
pub fn run_for_remote_commands(
    command: UserCommand,
    command_user: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let stdin = io::stdin();
    let owner = commands::HomeOwner::CommandUser(command_user);
    dispatch(
        command,
        &HashParams::PRODUCTION,
        &mut stdin.lock(),
        out,
        owner,
    )
}

/// Runs a `user` subcommand with explicit hash parameters and input (`--password-stdin` reads
/// `input`); for binaries with configured parameters, and for tests.
pub fn run_with(
    command: UserCommand,
    params: &HashParams,
    input: &mut dyn io::BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    dispatch(command, params, input, out, commands::HomeOwner::Invoker)
}

/// Runs one subcommand; `owner` says who owns a home `user add` creates without `--uid`.
fn dispatch(
    command: UserCommand,
    params: &HashParams,
    input: &mut dyn io::BufRead,
    out: &mut dyn Write,
    owner: commands::HomeOwner<'_>,
) -> Result<(), CliError> {
    match command {
        UserCommand::Add(args) => commands::add(args, params, input, out, owner),
        UserCommand::Passwd(args) => commands::passwd(args, params, input, out),
        UserCommand::Del(args) => commands::del(args, out),
        UserCommand::List(args) => commands::list(args, out),
        UserCommand::Quota(args) => commands::quota(args, out),
        UserCommand::Exec(args) => commands::exec(args, out),
        UserCommand::Import(args) => commands::import(args, out),
    }
}

/// Runs a `db` subcommand, reporting to `out`.
pub fn run_db(command: DbCommand, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        DbCommand::Migrate(args) => {
            let UsersLocation::Postgres(url) = &args.users else {
                return Err(CliError::NotADatabase {
                    location: args.users.to_string(),
                });
            };
            let applied = super::postgres::migrate_blocking(url)?;
            let known = super::postgres::MIGRATIONS.len();
            if applied.is_empty() {
                writeln!(out, "{url}: schema up to date (version {known})")
            } else {
                writeln!(
                    out,
                    "{url}: applied migrations {applied:?}; schema at version {known}"
                )
            }
            .map_err(CliError::Output)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Binary {
        #[command(subcommand)]
        user: UserCommand,
    }

    fn parse(arguments: &[&str]) -> Result<UserCommand, clap::Error> {
        Binary::try_parse_from(std::iter::once("bin").chain(arguments.iter().copied()))
            .map(|binary| binary.user)
    }

    #[test]
    fn add_parses_every_option() {
        let command = parse(&[
            "add",
            "alice",
            "--users",
            "u.toml",
            "--home",
            "/h",
            "--quota",
            "10MiB",
            "--quota-files",
            "5",
            "--allow-exec",
            "--authorized-key",
            "k1",
            "--authorized-key",
            "k2",
            "--password-stdin",
        ])
        .unwrap();
        let UserCommand::Add(args) = command else {
            panic!("not add: {command:?}");
        };
        assert_eq!(args.quota, Some(10 << 20));
        assert_eq!(args.quota_files, Some(5));
        assert!(args.allow_exec && args.password_stdin);
        assert_eq!(args.authorized_keys.len(), 2);
        assert_eq!(
            (args.uid, args.gid, args.allow_network),
            (None, None, false)
        );
    }

    #[test]
    fn add_parses_the_command_identity_and_network() {
        let command = parse(&[
            "add",
            "bob",
            "--users",
            "u",
            "--home",
            "/h",
            "--uid",
            "2001",
            "--gid",
            "300",
            "--allow-network",
        ])
        .unwrap();
        let UserCommand::Add(args) = command else {
            panic!("not add: {command:?}");
        };
        assert_eq!(
            (args.uid, args.gid, args.allow_network),
            (Some(2001), Some(300), true)
        );
        assert!(parse(&["add", "b", "--users", "u", "--home", "/h", "--gid", "3"]).is_err());
    }

    #[test]
    fn a_bad_size_is_a_parse_error_that_quotes_it() {
        let error = parse(&["add", "a", "--users", "u", "--home", "/h", "--quota", "ten"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"ten\""), "{error}");
    }

    #[test]
    fn quota_needs_one_consistent_change() {
        assert!(parse(&["quota", "a", "--users", "u"]).is_err());
        assert!(parse(&["quota", "a", "--users", "u", "--set", "1G", "--none"]).is_err());
        assert!(parse(&["quota", "a", "--users", "u", "--files", "3", "--files-none"]).is_err());
        assert!(parse(&["quota", "a", "--users", "u", "--set", "1G", "--files-none"]).is_ok());
        assert!(parse(&["quota", "a", "--users", "u", "--none"]).is_ok());
        assert!(parse(&["exec", "a", "--users", "u"]).is_err());
        assert!(parse(&["exec", "a", "--users", "u", "--allow", "--deny"]).is_err());
    }
}
