//! A users file with a fresh home per user, laid out as `ROOT/users.toml` and `ROOT/home/<name>`.

use std::path::{Path, PathBuf};

use super::backend::Backend;
use wharf_users::{HashParams, UserRecord, UsersFile, hash_password};

/// One user to create.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// Login name; also the name of the home folder.
    pub name: &'a str,
    /// Clear-text password, hashed into the file.
    pub password: &'a str,
    /// Byte limit (`None`: unlimited).
    pub quota_bytes: Option<u64>,
    /// File-count limit (`None`: unlimited).
    pub quota_files: Option<u64>,
}

/// The users file under `root`.
pub fn users_file(root: &Path) -> PathBuf {
    root.join("users.toml")
}

/// The state directory under `root`.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join("state")
}

/// A user's home under `root`.
pub fn home(root: &Path, user: &str) -> PathBuf {
    root.join("home").join(user)
}

/// Writes `ROOT/users.toml` with `accounts` (hashed with `params`), each with an empty home.
pub fn write_users(root: &Path, accounts: &[Account<'_>], params: &HashParams) -> PathBuf {
    write_users_on(Backend::Local, root, accounts, params)
}

/// Like [`write_users`] for `backend`: on S3 each home is the key prefix `NAME/` (under the
/// site's daemon prefix) and no directory is made.
pub fn write_users_on(
    backend: Backend,
    root: &Path,
    accounts: &[Account<'_>],
    params: &HashParams,
) -> PathBuf {
    let path = users_file(root);
    let mut file = UsersFile::empty(&path);
    for account in accounts {
        let home = match backend {
            Backend::Local => {
                let home = home(root, account.name);
                std::fs::create_dir_all(&home).expect("home");
                home
            }
            Backend::S3 => PathBuf::from(format!("{}/", account.name)),
        };
        file.add(UserRecord {
            name: account.name.to_string(),
            password_hash: hash_password(account.password, params).expect("hash"),
            home,
            quota_bytes: account.quota_bytes,
            quota_files: account.quota_files,
            allow_exec: false,
            authorized_keys: Vec::new(),
        })
        .expect("add user");
    }
    file.save().expect("save users");
    path
}

/// Writes `ROOT/users.toml` with one user, `alice` / `secret`, without limits.
pub fn write_alice(root: &Path) -> PathBuf {
    let account = Account {
        name: "alice",
        password: "secret",
        quota_bytes: None,
        quota_files: None,
    };
    write_users(root, &[account], &HashParams::PRODUCTION)
}
