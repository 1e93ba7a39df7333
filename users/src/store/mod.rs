//! The user-store trait and where a store lives.
//!
//! - [`UserStore`]: records in, records out; the two implementations are the TOML file
//!   ([`FileStore`]) and PostgreSQL ([`crate::postgres::PgStore`]).
//! - [`UsersLocation`]: what `--users` (`server.users_file`) names, a path or a `postgres://` URL.
//!
//! Password checks are not a store's business: [`crate::Authenticator`] does them for every
//! store the same way (one look-up, then one hash, the dummy hash for an unknown name), so no
//! implementation can make an unknown user cheaper than a wrong password.

mod file;
mod location;

use std::sync::Arc;

pub use file::FileStore;
pub use location::UsersLocation;

use super::users_file::CommandSettings;
use super::{AuthError, UserRecord, UsersFile};

/// Where users are kept: look-ups for logins, and the edits of the `user` subcommands.
///
/// Every method may be called from any tokio runtime, in every concurrency mode.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Where the users live, for logs and errors: a path, or a URL without its password.
    fn location(&self) -> &str;

    /// The current record of `name`, if there is one.
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, AuthError>;

    /// Every user with their command settings, as one consistent snapshot.
    async fn snapshot(&self) -> Result<Arc<UsersFile>, AuthError>;

    /// [`UserStore::find`] for callers outside async code (or willing to block a thread).
    fn find_blocking(&self, name: &str) -> Result<Option<UserRecord>, AuthError>;

    /// [`UserStore::snapshot`] for callers outside async code (or willing to block a thread).
    fn snapshot_blocking(&self) -> Result<Arc<UsersFile>, AuthError>;

    /// Adds a new user; fails if the name is taken or the record is invalid.
    async fn add(&self, record: UserRecord, settings: CommandSettings) -> Result<(), AuthError>;

    /// Replaces the password hash of an existing user.
    async fn set_password_hash(&self, name: &str, hash: String) -> Result<(), AuthError>;

    /// Replaces `name`'s hash with `new` only if it is still `old` (an admin's `passwd` made
    /// meanwhile wins); returns whether it was written. Used to upgrade hashes on login.
    async fn upgrade_password_hash(
        &self,
        name: &str,
        old: &str,
        new: String,
    ) -> Result<bool, AuthError>;

    /// Removes a user and returns its record (the home directory is not touched).
    async fn remove(&self, name: &str) -> Result<UserRecord, AuthError>;

    /// Changes the byte quota and/or the file-count quota (`Some(None)` clears one, `None`
    /// leaves it); returns the updated record.
    async fn set_quota(
        &self,
        name: &str,
        bytes: Option<Option<u64>>,
        files: Option<Option<u64>>,
    ) -> Result<UserRecord, AuthError>;

    /// Allows or denies remote commands.
    async fn set_allow_exec(&self, name: &str, allow: bool) -> Result<(), AuthError>;

    /// The PostgreSQL database behind this store, if it is one (shared bans and session caps
    /// live there too).
    fn database(&self) -> Option<crate::postgres::Database> {
        None
    }
}

/// Opens the store `location` names: a file store (the file must exist and be valid) or a
/// PostgreSQL store (nothing is connected until first use).
///
/// Blocking: call it before the runtime starts or from a blocking context.
pub fn open(location: &UsersLocation) -> Result<Arc<dyn UserStore>, AuthError> {
    match location {
        UsersLocation::File(path) => Ok(Arc::new(FileStore::open(path)?)),
        UsersLocation::Postgres(url) => Ok(Arc::new(crate::postgres::PgStore::open(url)?)),
    }
}

/// Like [`open`], but a missing users file is an empty one (the `user` subcommands that create
/// it write it on their first change).
pub fn open_for_edit(location: &UsersLocation) -> Result<Arc<dyn UserStore>, AuthError> {
    match location {
        UsersLocation::File(path) => Ok(Arc::new(FileStore::for_edit(path))),
        UsersLocation::Postgres(url) => Ok(Arc::new(crate::postgres::PgStore::open(url)?)),
    }
}
