//! [`PgStore`]: the users in the `wharf_users` table.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_postgres::Row;

use super::{Database, PgUrl, migrate_blocking};
use crate::password::validate_hash;
use crate::store::UserStore;
use crate::user::{check_quota_range, check_record};
use crate::users_file::CommandSettings;
use crate::{AuthError, UserRecord, UsersFile};

/// The columns every query reads, in the order [`from_row`] expects.
const COLUMNS: &str = "name, password_hash, home, quota_bytes, quota_files, allow_exec, \
    authorized_keys, uid, gid, allow_network, limit_cpu_seconds, limit_address_space, \
    limit_processes, limit_open_files, limit_file_size";

/// The users in PostgreSQL, as a [`UserStore`].
#[derive(Clone)]
pub struct PgStore {
    /// The database.
    database: Database,
}

impl PgStore {
    /// A store at `url`; nothing is connected until first use.
    pub fn new(url: &PgUrl) -> Result<Self, AuthError> {
        Ok(PgStore {
            database: Database::new(url),
        })
    }

    /// A store at `url` whose schema is brought up to date now (blocking: connects once).
    pub fn open(url: &PgUrl) -> Result<Self, AuthError> {
        let applied = migrate_blocking(url)?;
        if !applied.is_empty() {
            tracing::info!(users = %url, ?applied, "users database schema migrated");
        }
        Self::new(url)
    }

    /// The database the users are in.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The error for a name that is not in the table.
    fn unknown(&self, name: &str) -> AuthError {
        AuthError::UnknownUser {
            name: name.to_owned(),
            path: PathBuf::from(self.database.location()),
        }
    }

    /// The error for a record the table cannot take.
    fn invalid(&self, name: &str, reason: String) -> AuthError {
        AuthError::InvalidEntry {
            path: PathBuf::from(self.database.location()),
            user: name.to_owned(),
            reason,
        }
    }
}

/// A `bigint` column from a `u64` that [`check_quota_range`] or [`CommandSettings`] checked.
fn to_sql(value: Option<u64>) -> Option<i64> {
    value.and_then(|value| i64::try_from(value).ok())
}

/// A `u64` from a `bigint` column (the table's checks keep them non-negative).
fn from_sql(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}

/// A record and its command settings from a row of [`COLUMNS`].
fn from_row(row: &Row) -> (UserRecord, CommandSettings) {
    let id = |value: Option<i64>| value.and_then(|value| u32::try_from(value).ok());
    let record = UserRecord {
        name: row.get(0),
        password_hash: row.get(1),
        home: PathBuf::from(row.get::<_, String>(2)),
        quota_bytes: from_sql(row.get(3)),
        quota_files: from_sql(row.get(4)),
        allow_exec: row.get(5),
        authorized_keys: row.get(6),
    };
    let settings = CommandSettings {
        uid: id(row.get(7)),
        gid: id(row.get(8)),
        allow_network: row.get(9),
        limit_cpu_seconds: from_sql(row.get(10)),
        limit_address_space: from_sql(row.get(11)),
        limit_processes: from_sql(row.get(12)),
        limit_open_files: from_sql(row.get(13)),
        limit_file_size: from_sql(row.get(14)),
    };
    (record, settings)
}

/// All users, sorted, as a snapshot in the shape of a users file.
async fn read_all(
    client: &tokio_postgres::Client,
    location: &str,
    error: impl Fn(tokio_postgres::Error) -> AuthError,
) -> Result<Arc<UsersFile>, AuthError> {
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM wharf_users ORDER BY name"),
            &[],
        )
        .await
        .map_err(error)?;
    let mut users = UsersFile::empty(location);
    for row in &rows {
        let (record, settings) = from_row(row);
        let name = record.name.clone();
        users.add(record)?;
        users.set_command_settings(&name, settings)?;
    }
    Ok(Arc::new(users))
}

/// The query behind [`UserStore::find`].
fn find_query() -> String {
    format!("SELECT {COLUMNS} FROM wharf_users WHERE name = $1")
}

#[async_trait::async_trait]
impl UserStore for PgStore {
    fn location(&self) -> &str {
        self.database.location()
    }

    async fn find(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        let name = name.to_owned();
        let error = self.database.error("look up a user");
        self.database
            .run("look up a user", move |client| async move {
                let row = client
                    .query_opt(&find_query(), &[&name])
                    .await
                    .map_err(error)?;
                Ok(row.map(|row| from_row(&row).0))
            })
            .await
    }

    async fn snapshot(&self) -> Result<Arc<UsersFile>, AuthError> {
        let error = self.database.error("list the users");
        let location = self.location().to_owned();
        self.database
            .run("list the users", move |client| async move {
                read_all(&client, &location, error).await
            })
            .await
    }

    fn find_blocking(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        let name = name.to_owned();
        let error = self.database.error("look up a user");
        self.database
            .run_blocking("look up a user", move |client| async move {
                let row = client
                    .query_opt(&find_query(), &[&name])
                    .await
                    .map_err(error)?;
                Ok(row.map(|row| from_row(&row).0))
            })
    }

    fn snapshot_blocking(&self) -> Result<Arc<UsersFile>, AuthError> {
        let error = self.database.error("list the users");
        let location = self.location().to_owned();
        self.database
            .run_blocking("list the users", move |client| async move {
                read_all(&client, &location, error).await
            })
    }

    async fn add(&self, record: UserRecord, settings: CommandSettings) -> Result<(), AuthError> {
        crate::validate_name(&record.name)?;
        if let Err(reason) = check_record(&record).and_then(|()| settings.check()) {
            return Err(self.invalid(&record.name, reason));
        }
        let duplicate = AuthError::DuplicateUser {
            name: record.name.clone(),
            path: PathBuf::from(self.location()),
        };
        let error = self.database.error("add a user");
        let added = self
            .database
            .run("add a user", move |client| async move {
                let home = record.home.to_string_lossy().into_owned();
                let id = |value: Option<u32>| value.map(i64::from);
                client
                    .execute(
                        &format!(
                            "INSERT INTO wharf_users ({COLUMNS}) VALUES \
                             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                             ON CONFLICT (name) DO NOTHING"
                        ),
                        &[
                            &record.name,
                            &record.password_hash,
                            &home,
                            &to_sql(record.quota_bytes),
                            &to_sql(record.quota_files),
                            &record.allow_exec,
                            &record.authorized_keys,
                            &id(settings.uid),
                            &id(settings.gid),
                            &settings.allow_network,
                            &to_sql(settings.limit_cpu_seconds),
                            &to_sql(settings.limit_address_space),
                            &to_sql(settings.limit_processes),
                            &to_sql(settings.limit_open_files),
                            &to_sql(settings.limit_file_size),
                        ],
                    )
                    .await
                    .map_err(error)
            })
            .await?;
        if added == 0 {
            return Err(duplicate);
        }
        Ok(())
    }

    async fn set_password_hash(&self, name: &str, hash: String) -> Result<(), AuthError> {
        validate_hash(&hash)?;
        let owned = name.to_owned();
        let error = self.database.error("change a password");
        let changed = self
            .database
            .run("change a password", move |client| async move {
                client
                    .execute(
                        "UPDATE wharf_users SET password_hash = $2, updated_at = now() \
                         WHERE name = $1",
                        &[&owned, &hash],
                    )
                    .await
                    .map_err(error)
            })
            .await?;
        if changed == 0 {
            return Err(self.unknown(name));
        }
        Ok(())
    }

    async fn upgrade_password_hash(
        &self,
        name: &str,
        old: &str,
        new: String,
    ) -> Result<bool, AuthError> {
        validate_hash(&new)?;
        let (name, old) = (name.to_owned(), old.to_owned());
        let error = self.database.error("upgrade a password hash");
        let changed = self
            .database
            .run("upgrade a password hash", move |client| async move {
                client
                    .execute(
                        "UPDATE wharf_users SET password_hash = $3, updated_at = now() \
                         WHERE name = $1 AND password_hash = $2",
                        &[&name, &old, &new],
                    )
                    .await
                    .map_err(error)
            })
            .await?;
        Ok(changed == 1)
    }

    async fn remove(&self, name: &str) -> Result<UserRecord, AuthError> {
        let owned = name.to_owned();
        let error = self.database.error("delete a user");
        let removed = self
            .database
            .run("delete a user", move |client| async move {
                let row = client
                    .query_opt(
                        &format!("DELETE FROM wharf_users WHERE name = $1 RETURNING {COLUMNS}"),
                        &[&owned],
                    )
                    .await
                    .map_err(error)?;
                Ok(row.map(|row| from_row(&row).0))
            })
            .await?;
        removed.ok_or_else(|| self.unknown(name))
    }

    async fn set_quota(
        &self,
        name: &str,
        bytes: Option<Option<u64>>,
        files: Option<Option<u64>>,
    ) -> Result<UserRecord, AuthError> {
        for (field, value) in [("quota_bytes", bytes), ("quota_files", files)] {
            check_quota_range(field, value.flatten())
                .map_err(|reason| self.invalid(name, reason))?;
        }
        let owned = name.to_owned();
        let error = self.database.error("change a quota");
        let updated = self
            .database
            .run("change a quota", move |client| async move {
                let row = client
                    .query_opt(
                        &format!(
                            "UPDATE wharf_users SET \
                             quota_bytes = CASE WHEN $2 THEN $3 ELSE quota_bytes END, \
                             quota_files = CASE WHEN $4 THEN $5 ELSE quota_files END, \
                             updated_at = now() \
                             WHERE name = $1 RETURNING {COLUMNS}"
                        ),
                        &[
                            &owned,
                            &bytes.is_some(),
                            &to_sql(bytes.flatten()),
                            &files.is_some(),
                            &to_sql(files.flatten()),
                        ],
                    )
                    .await
                    .map_err(error)?;
                Ok(row.map(|row| from_row(&row).0))
            })
            .await?;
        updated.ok_or_else(|| self.unknown(name))
    }

    async fn set_allow_exec(&self, name: &str, allow: bool) -> Result<(), AuthError> {
        let owned = name.to_owned();
        let error = self.database.error("change a user");
        let changed = self
            .database
            .run("change a user", move |client| async move {
                client
                    .execute(
                        "UPDATE wharf_users SET allow_exec = $2, updated_at = now() \
                         WHERE name = $1",
                        &[&owned, &allow],
                    )
                    .await
                    .map_err(error)
            })
            .await?;
        if changed == 0 {
            return Err(self.unknown(name));
        }
        Ok(())
    }

    fn database(&self) -> Option<Database> {
        Some(self.database.clone())
    }
}
