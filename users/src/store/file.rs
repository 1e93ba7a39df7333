//! [`FileStore`]: the users in one TOML file, re-read whenever it changes on disk, edited under
//! its lock and saved atomically.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::UserStore;
use crate::storage::FileStamp;
use crate::users_file::CommandSettings;
use crate::{AuthError, UserRecord, UsersFile};

/// The TOML users file as a [`UserStore`]; today's behaviour, and the embedded default.
pub struct FileStore {
    /// The users file.
    path: PathBuf,
    /// `path` as text, for [`UserStore::location`].
    shown: String,
    /// The last version read, so an unchanged file costs one `stat`, not a parse.
    cache: Mutex<Option<Cached>>,
}

/// One parsed version of the users file.
struct Cached {
    /// Identity of the version parsed.
    stamp: FileStamp,
    /// Its users.
    users: Arc<UsersFile>,
}

impl FileStore {
    /// A store over `path`, which must exist and be valid (serving needs it).
    ///
    /// Blocking: call it before the runtime starts or from a blocking context.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuthError> {
        let store = Self::for_edit(path);
        let (users, stamp) = UsersFile::load_with_stamp(&store.path)?;
        *store.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            stamp,
            users: Arc::new(users),
        });
        Ok(store)
    }

    /// A store over `path` that need not exist yet (`user add` creates it).
    pub fn for_edit(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        FileStore {
            shown: path.display().to_string(),
            path,
            cache: Mutex::new(None),
        }
    }

    /// The users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users, re-read when the file's stamp differs from the cached one (blocking: a
    /// `stat`, and a parse after a change).
    pub fn current_users(&self) -> Result<Arc<UsersFile>, AuthError> {
        let metadata = match std::fs::metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(AuthError::MissingFile {
                    path: self.path.clone(),
                });
            }
            Err(error) => return Err(AuthError::io("stat", &self.path, error)),
        };
        let stamp = FileStamp::of(&metadata);
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = cache.as_ref().filter(|cached| cached.stamp == stamp) {
                return Ok(Arc::clone(&cached.users));
            }
        }
        // Parse outside the mutex so a slow disk does not stall checks that hit the cache.
        let (users, stamp) = UsersFile::load_with_stamp(&self.path).inspect_err(|error| {
            tracing::error!(path = %self.path.display(), %error, "users file changed but cannot be used");
        })?;
        let users = Arc::new(users);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        *cache = Some(Cached {
            stamp,
            users: Arc::clone(&users),
        });
        tracing::debug!(path = %self.path.display(), users = users.len(), "users file reloaded");
        Ok(users)
    }

    /// Runs a locked read-modify-write of the file off the async threads.
    async fn edit<T: Send + 'static>(
        &self,
        must_exist: bool,
        change: impl FnOnce(&mut UsersFile) -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            if must_exist {
                existing_file_update(&path, change)
            } else {
                UsersFile::update(&path, change)
            }
        })
        .await?
    }
}

/// A locked update of a users file that must already exist (only `add` creates one).
fn existing_file_update<T>(
    path: &Path,
    change: impl FnOnce(&mut UsersFile) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    // Checked before locking so a mistyped path leaves no lock file behind, and again under the
    // lock, since a file deleted meanwhile would otherwise be silently re-created.
    if !path.exists() {
        return Err(AuthError::MissingFile {
            path: path.to_owned(),
        });
    }
    UsersFile::update(path, |users| {
        if !users.path().exists() {
            return Err(AuthError::MissingFile {
                path: users.path().to_owned(),
            });
        }
        change(users)
    })
}

#[async_trait::async_trait]
impl UserStore for FileStore {
    fn location(&self) -> &str {
        &self.shown
    }

    async fn find(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.current_users()?.get(name).cloned())
    }

    async fn snapshot(&self) -> Result<Arc<UsersFile>, AuthError> {
        self.current_users()
    }

    fn find_blocking(&self, name: &str) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.current_users()?.get(name).cloned())
    }

    fn snapshot_blocking(&self) -> Result<Arc<UsersFile>, AuthError> {
        self.current_users()
    }

    async fn add(&self, record: UserRecord, settings: CommandSettings) -> Result<(), AuthError> {
        self.edit(false, move |users| {
            let name = record.name.clone();
            users.add(record)?;
            users.set_command_settings(&name, settings)
        })
        .await
    }

    async fn set_password_hash(&self, name: &str, hash: String) -> Result<(), AuthError> {
        let name = name.to_owned();
        self.edit(true, move |users| users.set_password_hash(&name, hash))
            .await
    }

    async fn upgrade_password_hash(
        &self,
        name: &str,
        old: &str,
        new: String,
    ) -> Result<bool, AuthError> {
        let (name, old) = (name.to_owned(), old.to_owned());
        self.edit(false, move |users| match users.get(&name) {
            Some(current) if current.password_hash == old => {
                users.set_password_hash(&name, new)?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }

    async fn remove(&self, name: &str) -> Result<UserRecord, AuthError> {
        let name = name.to_owned();
        self.edit(true, move |users| users.remove(&name)).await
    }

    async fn set_quota(
        &self,
        name: &str,
        bytes: Option<Option<u64>>,
        files: Option<Option<u64>>,
    ) -> Result<UserRecord, AuthError> {
        let name = name.to_owned();
        let path = self.path.clone();
        self.edit(true, move |users| {
            if let Some(bytes) = bytes {
                users.set_quota_bytes(&name, bytes)?;
            }
            if let Some(files) = files {
                users.set_quota_files(&name, files)?;
            }
            users
                .get(&name)
                .cloned()
                .ok_or(AuthError::UnknownUser { name, path })
        })
        .await
    }

    async fn set_allow_exec(&self, name: &str, allow: bool) -> Result<(), AuthError> {
        let name = name.to_owned();
        self.edit(true, move |users| users.set_allow_exec(&name, allow))
            .await
    }
}
