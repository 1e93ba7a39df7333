//! The users database shared by the FTP and remote-command daemons, kept out of the framework
//! (which knows no protocol and no user).
//!
//! - [`users_file`]: the TOML file of users, validated, edited under a lock, saved atomically.
//! - [`password`]: argon2id PHC hashes and their cost parameters.
//! - [`store`]: the [`UserStore`] trait, its file implementation, and [`UsersLocation`]
//!   (`--users FILE|postgres://URL`).
//! - [`postgres`]: the PostgreSQL store, its migrations, and the [`postgres::Database`] handle
//!   other shared state (bans, session leases) goes through.
//! - [`verifier`]: the [`Authenticator`] servers check logins with, over any store.
//! - [`cli`]: the `user add|passwd|del|list|quota|exec` subcommands both daemons embed.
//! - [`size`]: byte sizes with units (`10MiB`), as typed on command lines and in configuration.
//!
//! ```toml
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! home = "/srv/ftp/alice"
//! quota_bytes = 104857600   # optional, no limit when absent
//! quota_files = 1000        # optional
//! allow_exec = false        # may run remote commands
//! authorized_keys = ["ssh-ed25519 AAAA... alice@laptop"]   # optional
//! ```

#![warn(missing_docs)]

pub mod cli;
mod error;
mod hash_pool;
mod lock;
pub mod password;
pub mod postgres;
pub mod size;
mod storage;
pub mod store;
mod user;
pub mod users_file;
pub mod verifier;

pub use error::AuthError;
pub use password::{HashParams, hash_password, needs_rehash, verify_password};
pub use store::{FileStore, UserStore, UsersLocation};
pub use user::{MAX_NAME_LEN, UserRecord, is_key_prefix, validate_name};
pub use users_file::UsersFile;
pub use verifier::{Authenticator, AuthenticatorBuilder, Verified};
