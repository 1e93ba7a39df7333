//! What `--users` names: a users file, or a PostgreSQL database by URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::AuthError;
use crate::postgres::PgUrl;

/// A users file path or a `postgres://` (`postgresql://`) URL, as given to `--users` or
/// `server.users_file`.
#[derive(Clone)]
pub enum UsersLocation {
    /// The TOML users file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PgUrl>),
}

impl UsersLocation {
    /// Reads a configured value: a URL when it starts with `postgres://` or `postgresql://`,
    /// else a path. The URL's password may instead come from `PGPASSWORD`.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        if PgUrl::looks_like_url(text) {
            Ok(UsersLocation::Postgres(Box::new(PgUrl::parse(text)?)))
        } else {
            Ok(UsersLocation::File(PathBuf::from(text)))
        }
    }

    /// The location in a configuration's path-typed setting (`server.users_file`).
    pub fn from_setting(setting: &Path) -> Result<Self, AuthError> {
        match setting.to_str() {
            Some(text) => Self::parse(text),
            None => Ok(UsersLocation::File(setting.to_owned())),
        }
    }

    /// The users file, when the users are in one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            UsersLocation::File(path) => Some(path),
            UsersLocation::Postgres(_) => None,
        }
    }
}

impl fmt::Display for UsersLocation {
    /// The path, or the URL without its password.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsersLocation::File(path) => write!(formatter, "{}", path.display()),
            UsersLocation::Postgres(url) => write!(formatter, "{url}"),
        }
    }
}

impl fmt::Debug for UsersLocation {
    /// Same as `Display`: never the password.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "UsersLocation({self})")
    }
}

impl FromStr for UsersLocation {
    type Err = AuthError;

    fn from_str(text: &str) -> Result<Self, AuthError> {
        Self::parse(text)
    }
}

impl From<PathBuf> for UsersLocation {
    fn from(path: PathBuf) -> Self {
        UsersLocation::File(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_databases_and_everything_else_a_path() {
        assert!(matches!(
            UsersLocation::parse("/etc/wharf/users.toml").unwrap(),
            UsersLocation::File(_)
        ));
        assert!(matches!(
            UsersLocation::parse("postgres.toml").unwrap(),
            UsersLocation::File(_)
        ));
        let url = UsersLocation::parse("postgres://ftp:s3cret@db.example:5433/wharf").unwrap();
        assert!(matches!(url, UsersLocation::Postgres(_)));
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://ftp@db.example:5433/wharf"),
            "{shown}"
        );
        assert!(UsersLocation::parse("postgresql://a@h/d").is_ok());
        assert!(UsersLocation::parse("postgres://a@h:notaport/d").is_err());
    }
}
