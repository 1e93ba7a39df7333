//! One user of the database and the rule for user names.

use std::fmt;
use std::path::PathBuf;

use super::AuthError;

/// Longest accepted user name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// One user: credentials and the per-service settings the FTP and remote-command services read.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The login name (validated by [`validate_name`]).
    pub name: String,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// The directory the user is confined to (FTP root, working directory of remote commands):
    /// an absolute path, or with object storage a relative key prefix ending in `/` (`alice/`).
    pub home: PathBuf,
    /// Upper bound on the bytes stored under `home`; `None` means no limit.
    pub quota_bytes: Option<u64>,
    /// Upper bound on the number of files under `home`; `None` means no limit.
    pub quota_files: Option<u64>,
    /// Whether the user may run commands through the remote-command service.
    pub allow_exec: bool,
    /// OpenSSH public-key lines accepted for this user by the SSH front end.
    pub authorized_keys: Vec<String>,
}

impl fmt::Debug for UserRecord {
    /// Shows every field except the password hash, which logs have no use for.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UserRecord")
            .field("name", &self.name)
            .field("password_hash", &"<argon2id hash>")
            .field("home", &self.home)
            .field("quota_bytes", &self.quota_bytes)
            .field("quota_files", &self.quota_files)
            .field("allow_exec", &self.allow_exec)
            .field("authorized_keys", &self.authorized_keys.len())
            .finish()
    }
}

/// How one user's remote commands run: identity, network and resource limits (all optional).
///
/// Kept beside [`UserRecord`] rather than in it so code that builds records field by field keeps
/// compiling; [`super::UsersFile::command_settings`] gives a user's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandSettings {
    /// The uid commands run as when the daemon runs as root; `None`: the daemon's `command_user`.
    pub uid: Option<u32>,
    /// The gid commands run as; `None`: the same number as `uid` (or `command_user`'s group).
    pub gid: Option<u32>,
    /// Whether commands may open TCP connections and bind TCP ports (denied by default).
    pub allow_network: bool,
    /// CPU seconds of each process (RLIMIT_CPU); `None`: the daemon's default.
    pub limit_cpu_seconds: Option<u64>,
    /// Bytes of address space of each process (RLIMIT_AS); `None`: the daemon's default.
    pub limit_address_space: Option<u64>,
    /// Processes of the command's uid (RLIMIT_NPROC); `None`: the daemon's default.
    pub limit_processes: Option<u64>,
    /// Open files of each process (RLIMIT_NOFILE); `None`: the daemon's default.
    pub limit_open_files: Option<u64>,
    /// Largest file a process may write, in bytes (RLIMIT_FSIZE); `None`: the daemon's default.
    pub limit_file_size: Option<u64>,
}

impl CommandSettings {
    /// Whether nothing differs from the defaults (such users get no extra keys in the file).
    pub fn is_default(&self) -> bool {
        *self == CommandSettings::default()
    }

    /// The rules the settings must follow to be stored; `Err` holds the reason.
    pub(crate) fn check(&self) -> Result<(), String> {
        let limits = [
            ("limit_cpu_seconds", self.limit_cpu_seconds),
            ("limit_address_space", self.limit_address_space),
            ("limit_processes", self.limit_processes),
            ("limit_open_files", self.limit_open_files),
            ("limit_file_size", self.limit_file_size),
        ];
        for (field, value) in limits {
            check_quota_range(field, value)?;
            if value == Some(0) {
                return Err(format!("{field} 0 would forbid every command"));
            }
        }
        // u32::MAX is (uid_t)-1, which setuid(2) reads as "no change".
        if self.uid == Some(u32::MAX) || self.gid == Some(u32::MAX) {
            return Err(format!("uid and gid must be below {}", u32::MAX));
        }
        Ok(())
    }
}

/// Checks a user name: 1..=64 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
///
/// The rule keeps names safe as file names (quota state, logs) and as command-line arguments.
pub fn validate_name(name: &str) -> Result<(), AuthError> {
    let reject = |reason: &'static str| {
        Err(AuthError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return reject("it is empty");
    }
    if name.chars().count() > MAX_NAME_LEN {
        return reject("it is longer than 64 characters");
    }
    if name.starts_with(['.', '-']) {
        return reject("it starts with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return reject("only letters A-Z a-z, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Whether `home` is an object-storage key prefix: relative, ending in `/`, with no empty, `.`
/// or `..` component (a local backend refuses such a home; only object storage opens it).
pub fn is_key_prefix(home: &std::path::Path) -> bool {
    let Some(text) = home.to_str() else {
        return false;
    };
    let Some(inner) = text.strip_suffix('/') else {
        return false;
    };
    !inner.is_empty()
        && inner
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

/// The rules a stored record must follow besides its name's; `Err` holds the reason.
pub(crate) fn check_record(record: &UserRecord) -> Result<(), String> {
    validate_name(&record.name).map_err(|error| error.to_string())?;
    super::password::validate_hash(&record.password_hash).map_err(|error| error.to_string())?;
    if !record.home.is_absolute() && !is_key_prefix(&record.home) {
        return Err(format!(
            "home {} is neither an absolute path nor a key prefix such as alice/",
            record.home.display()
        ));
    }
    check_quota_range("quota_bytes", record.quota_bytes)?;
    check_quota_range("quota_files", record.quota_files)?;
    if record
        .authorized_keys
        .iter()
        .any(|key| key.contains(['\n', '\r']))
    {
        return Err("an authorized key spans several lines".to_owned());
    }
    Ok(())
}

/// TOML integers are signed 64-bit, so a larger quota could not be saved; `Err` holds the reason.
pub(crate) fn check_quota_range(field: &str, quota: Option<u64>) -> Result<(), String> {
    match quota {
        Some(value) if i64::try_from(value).is_err() => {
            Err(format!("{field} {value} is larger than {}", i64::MAX))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_prefix_is_relative_ends_in_a_slash_and_has_no_dot_components() {
        use std::path::Path;
        for good in ["alice/", "homes/alice/", "a.b/"] {
            assert!(super::is_key_prefix(Path::new(good)), "{good}");
        }
        for bad in [
            "alice",
            "/alice/",
            "../alice/",
            "a/../b/",
            "./a/",
            "a//b/",
            "/",
            "",
        ] {
            assert!(!super::is_key_prefix(Path::new(bad)), "{bad}");
        }
    }

    use super::*;

    fn reason(name: &str) -> &'static str {
        match validate_name(name) {
            Err(AuthError::BadName { reason, .. }) => reason,
            other => panic!("{name:?} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in ["alice", "Bob", "a", "user_1", "first.last", "x-y", "9lives"] {
            assert!(validate_name(name).is_ok(), "{name}");
        }
        assert!(validate_name(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn bad_names_are_rejected_with_the_broken_rule() {
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason(&"a".repeat(65)), "it is longer than 64 characters");
        assert_eq!(reason(".hidden"), "it starts with '.' or '-'");
        assert_eq!(reason("-rf"), "it starts with '.' or '-'");
        for name in ["a b", "a/b", "..", "é", "a\0b", "a:b", "a\n"] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
        assert!(reason("a/b").contains("only letters"));
    }

    #[test]
    fn debug_output_hides_the_hash() {
        let record = UserRecord {
            name: "alice".into(),
            password_hash: "$argon2id$secret".into(),
            home: "/srv/alice".into(),
            quota_bytes: None,
            quota_files: Some(3),
            allow_exec: false,
            authorized_keys: vec![],
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
}
