//! The TOML users file: loading, validation, edits, and atomic locked saves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AuthError;
use super::lock::lock_exclusive;
use super::password::validate_hash;
use super::storage::{FileStamp, read_with_stamp, write_atomically};
use super::user::{UserRecord, check_quota_range, check_record, validate_name};

pub use super::user::CommandSettings;

/// First lines of every saved file, since a save rewrites the file and drops hand-written comments.
const HEADER: &str = "# Wharf users file: edit with `wharf-ftpd user ...` or `wharf-sshd user ...`.\n\
# Password hashes are argon2id PHC strings; comments in this file are not preserved.\n\n";

/// The whole file as stored: `[users.<name>]` tables.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// Users by name; a `BTreeMap` so saves list them sorted.
    #[serde(default)]
    users: BTreeMap<String, StoredUser>,
}

/// One `[users.<name>]` table; unknown keys are errors so a typo cannot silently drop a quota.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredUser {
    /// See [`UserRecord::password_hash`].
    password: String,
    /// See [`UserRecord::home`].
    home: PathBuf,
    /// See [`UserRecord::quota_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_bytes: Option<u64>,
    /// See [`UserRecord::quota_files`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_files: Option<u64>,
    /// See [`UserRecord::allow_exec`].
    #[serde(default)]
    allow_exec: bool,
    /// See [`UserRecord::authorized_keys`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    authorized_keys: Vec<String>,
    /// See [`CommandSettings::uid`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    /// See [`CommandSettings::gid`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    /// See [`CommandSettings::allow_network`].
    #[serde(default, skip_serializing_if = "is_false")]
    allow_network: bool,
    /// See [`CommandSettings::limit_cpu_seconds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_cpu_seconds: Option<u64>,
    /// See [`CommandSettings::limit_address_space`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_address_space: Option<u64>,
    /// See [`CommandSettings::limit_processes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_processes: Option<u64>,
    /// See [`CommandSettings::limit_open_files`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_open_files: Option<u64>,
    /// See [`CommandSettings::limit_file_size`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit_file_size: Option<u64>,
}

/// Serde's `skip_serializing_if` for flags that are off by default.
fn is_false(flag: &bool) -> bool {
    !*flag
}

impl StoredUser {
    /// The command settings this table holds.
    fn command_settings(&self) -> CommandSettings {
        CommandSettings {
            uid: self.uid,
            gid: self.gid,
            allow_network: self.allow_network,
            limit_cpu_seconds: self.limit_cpu_seconds,
            limit_address_space: self.limit_address_space,
            limit_processes: self.limit_processes,
            limit_open_files: self.limit_open_files,
            limit_file_size: self.limit_file_size,
        }
    }
}

/// The users database as one file: a sorted map of validated [`UserRecord`]s and where it lives.
#[derive(Debug, Clone)]
pub struct UsersFile {
    /// Where the file is read from and saved to.
    path: PathBuf,
    /// The users, sorted by name.
    users: BTreeMap<String, UserRecord>,
    /// Command settings of the users that have any; absent means [`CommandSettings::default`].
    commands: BTreeMap<String, CommandSettings>,
}

impl UsersFile {
    /// An empty database that will be saved at `path`.
    pub fn empty(path: impl Into<PathBuf>) -> Self {
        UsersFile {
            path: path.into(),
            users: BTreeMap::new(),
            commands: BTreeMap::new(),
        }
    }

    /// Reads and validates the file; a missing file is [`AuthError::MissingFile`] (serving needs it).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        Self::load_with_stamp(path.as_ref()).map(|(users, _)| users)
    }

    /// Like [`UsersFile::load`], but a missing file is an empty database (writers create it).
    pub fn load_or_empty(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        match Self::load(path.as_ref()) {
            Err(AuthError::MissingFile { path }) => Ok(Self::empty(path)),
            other => other,
        }
    }

    /// Runs one read-modify-write cycle under the exclusive lock: load (missing = empty), apply
    /// `change`, save atomically. Nothing is written when `change` fails.
    pub fn update<T>(
        path: impl AsRef<Path>,
        change: impl FnOnce(&mut UsersFile) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let path = path.as_ref();
        let _lock = lock_exclusive(path)?;
        let mut users = Self::load_or_empty(path)?;
        let outcome = change(&mut users)?;
        users.save()?;
        Ok(outcome)
    }

    /// Reads the file and the stamp of exactly the version read.
    pub(crate) fn load_with_stamp(path: &Path) -> Result<(Self, FileStamp), AuthError> {
        let (text, stamp) = read_with_stamp(path)?;
        Ok((Self::from_toml(path, &text)?, stamp))
    }

    /// Parses and validates the TOML text of a users file that lives at `path`.
    pub fn from_toml(path: impl Into<PathBuf>, text: &str) -> Result<Self, AuthError> {
        let path = path.into();
        let document: Document = match toml::from_str(text) {
            Ok(document) => document,
            Err(source) => {
                return Err(AuthError::MalformedToml {
                    path,
                    source: Box::new(source),
                });
            }
        };
        let mut users = BTreeMap::new();
        let mut commands = BTreeMap::new();
        for (name, stored) in document.users {
            let settings = stored.command_settings();
            let record = UserRecord {
                name: name.clone(),
                password_hash: stored.password,
                home: stored.home,
                quota_bytes: stored.quota_bytes,
                quota_files: stored.quota_files,
                allow_exec: stored.allow_exec,
                authorized_keys: stored.authorized_keys,
            };
            if let Err(reason) = check_record(&record).and_then(|()| settings.check()) {
                return Err(AuthError::InvalidEntry {
                    path,
                    user: name,
                    reason,
                });
            }
            if !settings.is_default() {
                commands.insert(name.clone(), settings);
            }
            users.insert(name, record);
        }
        Ok(UsersFile {
            path,
            users,
            commands,
        })
    }

    /// The TOML text [`UsersFile::save`] writes.
    pub fn to_toml(&self) -> Result<String, AuthError> {
        let document = Document {
            users: self
                .users
                .iter()
                .map(|(name, record)| {
                    let settings = self.command_settings(name);
                    let stored = StoredUser {
                        password: record.password_hash.clone(),
                        home: record.home.clone(),
                        quota_bytes: record.quota_bytes,
                        quota_files: record.quota_files,
                        allow_exec: record.allow_exec,
                        authorized_keys: record.authorized_keys.clone(),
                        uid: settings.uid,
                        gid: settings.gid,
                        allow_network: settings.allow_network,
                        limit_cpu_seconds: settings.limit_cpu_seconds,
                        limit_address_space: settings.limit_address_space,
                        limit_processes: settings.limit_processes,
                        limit_open_files: settings.limit_open_files,
                        limit_file_size: settings.limit_file_size,
                    };
                    (name.clone(), stored)
                })
                .collect(),
        };
        let body = toml::to_string(&document).map_err(|source| AuthError::Encode {
            path: self.path.clone(),
            source,
        })?;
        Ok(format!("{HEADER}{body}"))
    }

    /// Writes the file atomically: a 0600 temporary file in the same directory, fsync, rename.
    ///
    /// Call it under the lock ([`UsersFile::update`] does) when other writers may exist.
    pub fn save(&self) -> Result<(), AuthError> {
        write_atomically(&self.path, self.to_toml()?.as_bytes())
    }

    /// Where this database is read from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The user called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    /// All users, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &UserRecord> {
        self.users.values()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds a new user; fails on a bad record or when the name is taken.
    pub fn add(&mut self, record: UserRecord) -> Result<(), AuthError> {
        validate_name(&record.name)?;
        if self.users.contains_key(&record.name) {
            return Err(AuthError::DuplicateUser {
                name: record.name,
                path: self.path.clone(),
            });
        }
        if let Err(reason) = check_record(&record) {
            return Err(AuthError::InvalidEntry {
                path: self.path.clone(),
                user: record.name,
                reason,
            });
        }
        self.users.insert(record.name.clone(), record);
        Ok(())
    }

    /// Removes a user and returns its record (the home directory is not touched).
    pub fn remove(&mut self, name: &str) -> Result<UserRecord, AuthError> {
        let removed = self
            .users
            .remove(name)
            .ok_or_else(|| self.unknown_user(name))?;
        self.commands.remove(name);
        Ok(removed)
    }

    /// How `name`'s remote commands run; the defaults for a user without settings (or unknown).
    pub fn command_settings(&self, name: &str) -> CommandSettings {
        self.commands.get(name).cloned().unwrap_or_default()
    }

    /// Replaces `name`'s command settings (uid, gid, network, resource limits).
    pub fn set_command_settings(
        &mut self,
        name: &str,
        settings: CommandSettings,
    ) -> Result<(), AuthError> {
        if !self.users.contains_key(name) {
            return Err(self.unknown_user(name));
        }
        settings.check().map_err(|reason| AuthError::InvalidEntry {
            path: self.path.clone(),
            user: name.to_owned(),
            reason,
        })?;
        if settings.is_default() {
            self.commands.remove(name);
        } else {
            self.commands.insert(name.to_owned(), settings);
        }
        Ok(())
    }

    /// Replaces a user's password hash with `hash` (an argon2id PHC string).
    pub fn set_password_hash(&mut self, name: &str, hash: String) -> Result<(), AuthError> {
        validate_hash(&hash)?;
        self.get_mut(name)?.password_hash = hash;
        Ok(())
    }

    /// Sets or clears (`None`) a user's byte quota (at most `i64::MAX`, the TOML integer range).
    pub fn set_quota_bytes(&mut self, name: &str, quota: Option<u64>) -> Result<(), AuthError> {
        self.check_quota(name, "quota_bytes", quota)?;
        self.get_mut(name)?.quota_bytes = quota;
        Ok(())
    }

    /// Sets or clears (`None`) a user's file-count quota (at most `i64::MAX`).
    pub fn set_quota_files(&mut self, name: &str, quota: Option<u64>) -> Result<(), AuthError> {
        self.check_quota(name, "quota_files", quota)?;
        self.get_mut(name)?.quota_files = quota;
        Ok(())
    }

    /// Refuses a quota the TOML file could not store.
    fn check_quota(&self, name: &str, field: &str, quota: Option<u64>) -> Result<(), AuthError> {
        check_quota_range(field, quota).map_err(|reason| AuthError::InvalidEntry {
            path: self.path.clone(),
            user: name.to_owned(),
            reason,
        })
    }

    /// Sets whether a user may run remote commands.
    pub fn set_allow_exec(&mut self, name: &str, allow: bool) -> Result<(), AuthError> {
        self.get_mut(name)?.allow_exec = allow;
        Ok(())
    }

    /// The mutable record of `name`, or [`AuthError::UnknownUser`].
    fn get_mut(&mut self, name: &str) -> Result<&mut UserRecord, AuthError> {
        let unknown = self.unknown_user(name);
        self.users.get_mut(name).ok_or(unknown)
    }

    /// The error for a name that is not in this file.
    fn unknown_user(&self, name: &str) -> AuthError {
        AuthError::UnknownUser {
            name: name.to_owned(),
            path: self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashParams;
    use crate::password::hash_password;

    fn record(name: &str) -> UserRecord {
        UserRecord {
            name: name.to_owned(),
            password_hash: hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap(),
            home: PathBuf::from(format!("/srv/ftp/{name}")),
            quota_bytes: Some(104_857_600),
            quota_files: None,
            allow_exec: true,
            authorized_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== alice@laptop".into()],
        }
    }

    #[test]
    fn toml_round_trip_keeps_every_field() {
        let mut users = UsersFile::empty("/x/users.toml");
        users.add(record("bob")).unwrap();
        let mut alice = record("alice");
        alice.quota_bytes = None;
        alice.quota_files = Some(1000);
        alice.allow_exec = false;
        alice.authorized_keys.clear();
        users.add(alice).unwrap();
        let text = users.to_toml().unwrap();
        assert!(text.contains("[users.alice]"), "{text}");
        assert!(
            !text.contains("quota_bytes = 104857600\nquota_files"),
            "{text}"
        );
        let parsed = UsersFile::from_toml("/x/users.toml", &text).unwrap();
        let before: Vec<_> = users.iter().cloned().collect();
        let after: Vec<_> = parsed.iter().cloned().collect();
        assert_eq!(before, after);
        assert_eq!(
            after.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
    }

    #[test]
    fn optional_fields_default_when_absent() {
        let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
        let text = format!("[users.carol]\npassword = \"{hash}\"\nhome = \"/h/carol\"\n");
        let users = UsersFile::from_toml("/x/users.toml", &text).unwrap();
        let carol = users.get("carol").unwrap();
        assert_eq!(carol.quota_bytes, None);
        assert_eq!(carol.quota_files, None);
        assert!(!carol.allow_exec);
        assert!(carol.authorized_keys.is_empty());
        assert!(
            UsersFile::from_toml("/x/users.toml", "")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn command_settings_round_trip_and_default_to_nothing() {
        let mut users = UsersFile::empty("/x/users.toml");
        users.add(record("alice")).unwrap();
        users.add(record("bob")).unwrap();
        let settings = CommandSettings {
            uid: Some(2001),
            allow_network: true,
            limit_processes: Some(40),
            limit_address_space: Some(1 << 30),
            ..CommandSettings::default()
        };
        users
            .set_command_settings("alice", settings.clone())
            .unwrap();
        let text = users.to_toml().unwrap();
        assert!(text.contains("uid = 2001"), "{text}");
        assert!(text.contains("allow_network = true"), "{text}");
        assert_eq!(text.matches("limit_").count(), 2, "{text}");
        let again = UsersFile::from_toml("/x/users.toml", &text).unwrap();
        assert_eq!(again.command_settings("alice"), settings);
        assert!(again.command_settings("bob").is_default());
        let zero = CommandSettings {
            limit_open_files: Some(0),
            ..CommandSettings::default()
        };
        assert!(matches!(
            users.set_command_settings("alice", zero),
            Err(AuthError::InvalidEntry { .. })
        ));
        assert!(matches!(
            users.set_command_settings("carol", CommandSettings::default()),
            Err(AuthError::UnknownUser { .. })
        ));
        users.remove("alice").unwrap();
        assert!(users.command_settings("alice").is_default());
    }

    #[test]
    fn invalid_entries_name_the_file_and_the_user() {
        let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
        let cases = [
            format!("[users.\"a b\"]\npassword = \"{hash}\"\nhome = \"/h\"\n"),
            "[users.dave]\npassword = \"plain\"\nhome = \"/h\"\n".to_owned(),
            format!("[users.dave]\npassword = \"{hash}\"\nhome = \"relative\"\n"),
        ];
        for text in cases {
            let error = UsersFile::from_toml("/x/users.toml", &text).unwrap_err();
            assert!(matches!(error, AuthError::InvalidEntry { .. }), "{error}");
            assert!(error.to_string().contains("/x/users.toml"), "{error}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_malformed() {
        let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
        let typo = format!("[users.eve]\npassword = \"{hash}\"\nhome = \"/h\"\nquota_byte = 5\n");
        for text in [typo.as_str(), "[users.eve\n", "users = 3\n"] {
            let error = UsersFile::from_toml("/x/users.toml", text).unwrap_err();
            assert!(matches!(error, AuthError::MalformedToml { .. }), "{error}");
            assert!(error.to_string().contains("/x/users.toml"), "{error}");
        }
    }

    #[test]
    fn edits_report_unknown_and_duplicate_users() {
        let mut users = UsersFile::empty("/x/users.toml");
        users.add(record("alice")).unwrap();
        assert!(matches!(
            users.add(record("alice")),
            Err(AuthError::DuplicateUser { .. })
        ));
        assert!(matches!(
            users.add(record("-bad")),
            Err(AuthError::BadName { .. })
        ));
        assert!(matches!(
            users.remove("nobody"),
            Err(AuthError::UnknownUser { .. })
        ));
        assert!(matches!(
            users.set_quota_bytes("nobody", None),
            Err(AuthError::UnknownUser { .. })
        ));
        assert!(matches!(
            users.set_password_hash("alice", "plain".into()),
            Err(AuthError::InvalidHash(_))
        ));
        let mut huge = record("huge");
        huge.quota_bytes = Some(u64::MAX);
        assert!(matches!(
            users.add(huge),
            Err(AuthError::InvalidEntry { .. })
        ));
        assert!(matches!(
            users.set_quota_files("alice", Some(u64::MAX)),
            Err(AuthError::InvalidEntry { .. })
        ));
        users.set_quota_bytes("alice", None).unwrap();
        users.set_quota_files("alice", Some(7)).unwrap();
        users.set_allow_exec("alice", false).unwrap();
        let alice = users.get("alice").unwrap();
        assert_eq!(
            (alice.quota_bytes, alice.quota_files, alice.allow_exec),
            (None, Some(7), false)
        );
        assert_eq!(users.remove("alice").unwrap().name, "alice");
        assert!(users.is_empty());
    }
}
