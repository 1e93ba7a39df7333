//! The errors of the users database, each carrying the path or user name needed to act on it.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong reading, changing or verifying against the users file.
#[derive(Debug, Error)]
pub enum AuthError {
    /// A user name breaks the naming rule (1..=64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`).
    #[error("bad user name {name:?}: {reason}")]
    BadName {
        /// The rejected name.
        name: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },
    /// The named user is not in the users file.
    #[error("unknown user {name:?} in {}", path.display())]
    UnknownUser {
        /// The name that was looked for.
        name: String,
        /// The users file that was searched.
        path: PathBuf,
    },
    /// A user with this name already exists.
    #[error("user {name:?} already exists in {}", path.display())]
    DuplicateUser {
        /// The name that is taken.
        name: String,
        /// The users file that holds it.
        path: PathBuf,
    },
    /// The users file does not exist (an error when serving; writers start from an empty file).
    #[error("users file {} does not exist (create it with `user add`)", path.display())]
    MissingFile {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The users file is not valid TOML or does not have the expected shape.
    #[error("malformed users file {}: {source}", path.display())]
    MalformedToml {
        /// The users file.
        path: PathBuf,
        /// The parser's description, with line and column.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The users file parses, but one entry is invalid (bad name, bad hash, quota out of range).
    #[error("malformed users file {}: user {user:?}: {reason}", path.display())]
    InvalidEntry {
        /// The users file.
        path: PathBuf,
        /// The table key of the offending entry.
        user: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value cannot be stored in the users file (for example a quota above the TOML integer range).
    #[error("cannot write users file {}: {source}", path.display())]
    Encode {
        /// The users file.
        path: PathBuf,
        /// The encoder's description.
        #[source]
        source: toml::ser::Error,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `lock`, `rename`, ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The argon2 cost parameters are out of the algorithm's range.
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(argon2::Error),
    /// A password hash is not an argon2id PHC string this module can use.
    #[error("invalid password hash: {0}")]
    InvalidHash(String),
    /// Computing a hash failed inside the argon2 implementation.
    #[error("password hashing failed: {0}")]
    Hashing(argon2::password_hash::Error),
    /// The limiter on concurrent hashes was closed, so no hash can run any more.
    #[error("password hashing is no longer available (the hash limiter is closed)")]
    HashLimiterClosed,
    /// The blocking task that computes a hash panicked or was cancelled.
    #[error("password hashing task failed: {0}")]
    HashTask(#[from] tokio::task::JoinError),
    /// A `postgres://` URL that cannot be used.
    #[error("bad PostgreSQL URL: {reason}")]
    BadDatabaseUrl {
        /// What is wrong with it (never the password).
        reason: String,
    },
    /// The database answered with an error, or the connection to it failed.
    #[error(
        "users database {location}: cannot {action}: {}",
        postgres_reason(source)
    )]
    Database {
        /// The database, as a URL without its password.
        location: String,
        /// What was being done.
        action: &'static str,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection to the database could be had (pool timeout, no runtime, task lost).
    #[error("users database {location} unavailable: {reason}")]
    DatabaseUnavailable {
        /// The database, as a URL without its password.
        location: String,
        /// Why.
        reason: String,
    },
    /// No hashing thread could take the check, or it stopped (panicked) before answering.
    #[error("password hashing thread failed before answering")]
    HashThreadLost,
}

impl AuthError {
    /// Whether this is the database failing (unreachable, or answering with an error), as
    /// opposed to a problem with a file or a record.
    pub fn is_database(&self) -> bool {
        matches!(
            self,
            AuthError::Database { .. } | AuthError::DatabaseUnavailable { .. }
        )
    }

    /// Builds an [`AuthError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuthError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// What the PostgreSQL client's error says, in full: the server's message and SQLSTATE for an
/// error the database returned (the client's own text is only "db error"), else the client's
/// text and its cause.
fn postgres_reason(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}
