//! The [`Authenticator`]: password checks for servers, off the async threads and at a bounded rate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::hash_pool::HashPool;
use super::password::{HashMemory, hash_password, needs_rehash, verify_password_in};
use super::storage::FileStamp;
use super::users_file::UsersFile;
use super::{AuthError, HashParams, UserRecord};

/// The outcome of a password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The password is right: the user's record, as of this check.
    Authenticated(UserRecord),
    /// Wrong password or unknown user; deliberately the same answer for both.
    Rejected,
}

/// Checks passwords against a users file; cheap to clone (shared state behind an `Arc`).
///
/// The file is re-read whenever it changes on disk, so `user add` takes effect on a running
/// server. Hashes run on threads of their own at a lower CPU priority, at most
/// `max_concurrent_hashes` at once, so a login storm cannot stall the sessions already in.
///
/// ```no_run
/// use wharf_users::{Authenticator, HashParams, Verified};
///
/// # async fn login() -> Result<(), wharf_users::AuthError> {
/// let authenticator = Authenticator::builder("/etc/wharf/users.toml")
///     .params(HashParams::PRODUCTION)
///     .max_concurrent_hashes(4)
///     .build()?;
/// match authenticator.verify("alice", "secret").await? {
///     Verified::Authenticated(user) => println!("welcome, home is {}", user.home.display()),
///     Verified::Rejected => println!("530 Login incorrect."),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Authenticator {
    /// State shared by every clone.
    inner: Arc<Inner>,
}

/// The shared state of an [`Authenticator`].
struct Inner {
    /// The users file.
    path: PathBuf,
    /// Parameters for new hashes; stored hashes with other parameters are upgraded on login.
    params: HashParams,
    /// Bounds the hashes running at once, so a login storm cannot take every core or all memory.
    hash_slots: Arc<Semaphore>,
    /// The low-priority threads hashes run on, one per slot.
    hash_pool: HashPool,
    /// A hash of a random password with `params`, checked for unknown users to spend the same time.
    dummy_hash: String,
    /// The last version of the file read, with its stamp, so an unchanged file is not re-parsed.
    cache: Mutex<Cached>,
}

/// One parsed version of the users file.
struct Cached {
    /// Identity of the version parsed.
    stamp: FileStamp,
    /// Its users.
    users: Arc<UsersFile>,
}

/// Options for an [`Authenticator`], each with a documented default.
#[derive(Debug, Clone)]
pub struct AuthenticatorBuilder {
    /// The users file.
    path: PathBuf,
    /// Default: [`HashParams::PRODUCTION`].
    params: HashParams,
    /// Default: the number of CPUs available to the process.
    max_concurrent_hashes: usize,
}

impl AuthenticatorBuilder {
    /// Parameters for new and upgraded hashes (default [`HashParams::PRODUCTION`]).
    pub fn params(mut self, params: HashParams) -> Self {
        self.params = params;
        self
    }

    /// How many hashes may run at once (default: the number of CPUs; 0 is treated as 1).
    pub fn max_concurrent_hashes(mut self, limit: usize) -> Self {
        self.max_concurrent_hashes = limit.max(1);
        self
    }

    /// Reads the users file (which must exist and be valid) and prepares the dummy hash.
    ///
    /// Blocking: call it before the runtime starts or from a blocking context.
    pub fn build(self) -> Result<Authenticator, AuthError> {
        let (users, stamp) = UsersFile::load_with_stamp(&self.path)?;
        let random_password = format!("{:032x}", rand::random::<u128>());
        let dummy_hash = hash_password(&random_password, &self.params)?;
        Ok(Authenticator {
            inner: Arc::new(Inner {
                path: self.path,
                params: self.params,
                hash_slots: Arc::new(Semaphore::new(self.max_concurrent_hashes)),
                hash_pool: HashPool::new(self.max_concurrent_hashes),
                dummy_hash,
                cache: Mutex::new(Cached {
                    stamp,
                    users: Arc::new(users),
                }),
            }),
        })
    }
}

impl Authenticator {
    /// Options for an authenticator over the users file at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            path: path.into(),
            params: HashParams::PRODUCTION,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// An authenticator with `params` and the default concurrency bound (see [`Authenticator::builder`]).
    pub fn new(path: impl Into<PathBuf>, params: HashParams) -> Result<Self, AuthError> {
        Self::builder(path).params(params).build()
    }

    /// The users file this authenticator reads.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// Checks `password` for `user`.
    ///
    /// Errors are server-side problems only (users file missing or malformed, hashing task lost);
    /// a wrong password and an unknown user both give `Ok(Verified::Rejected)` after the same work.
    /// A successful login with an outdated hash rewrites it with the current parameters; failing
    /// to write it back is logged and does not fail the login.
    pub async fn verify(&self, user: &str, password: &str) -> Result<Verified, AuthError> {
        // An owned permit moves into the hashing job, so the bound holds even if this future is
        // dropped (client gone) while the hash is still running.
        let permit = Arc::clone(&self.inner.hash_slots)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::HashLimiterClosed)?;
        let inner = Arc::clone(&self.inner);
        let user = user.to_owned();
        let password = password.to_owned();
        let (answer, outcome) = tokio::sync::oneshot::channel();
        let queued = self.inner.hash_pool.run(move |memory| {
            let result = inner.verify_blocking(&user, &password, memory);
            drop(permit);
            let _ = answer.send(result);
        });
        if !queued {
            return Err(AuthError::HashThreadLost);
        }
        outcome.await.map_err(|_| AuthError::HashThreadLost)?
    }

    /// The current record of `user`, re-reading the file if it changed (a cheap, blocking `stat`).
    pub fn lookup(&self, user: &str) -> Result<Option<UserRecord>, AuthError> {
        Ok(self.inner.current_users()?.get(user).cloned())
    }

    /// The current users file, re-read if it changed on disk (blocking, like [`Authenticator::lookup`]).
    pub fn users(&self) -> Result<Arc<UsersFile>, AuthError> {
        self.inner.current_users()
    }
}

impl Inner {
    /// The whole check, run on a hashing thread with its argon2 memory.
    fn verify_blocking(
        &self,
        user: &str,
        password: &str,
        memory: &mut HashMemory,
    ) -> Result<Verified, AuthError> {
        let users = self.current_users()?;
        let Some(record) = users.get(user) else {
            // Same work as a real check, result ignored: timing must not reveal who exists.
            let _ = verify_password_in(password, &self.dummy_hash, memory);
            return Ok(Verified::Rejected);
        };
        match verify_password_in(password, &record.password_hash, memory) {
            Ok(true) => {}
            Ok(false) => return Ok(Verified::Rejected),
            Err(error) => {
                tracing::error!(user, path = %self.path.display(), %error, "stored password hash is unusable; login refused");
                let _ = verify_password_in(password, &self.dummy_hash, memory);
                return Ok(Verified::Rejected);
            }
        }
        let mut record = record.clone();
        if needs_rehash(&record.password_hash, &self.params) {
            match self.upgrade_hash(&record, password) {
                Ok(Some(new_hash)) => record.password_hash = new_hash,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(user, path = %self.path.display(), %error, "could not store the upgraded password hash");
                }
            }
        }
        Ok(Verified::Authenticated(record))
    }

    /// Re-hashes a just-verified password with the current parameters and stores it under the
    /// lock, unless the stored hash changed meanwhile (an admin's `passwd` wins). Returns the hash
    /// written, if any.
    fn upgrade_hash(
        &self,
        record: &UserRecord,
        password: &str,
    ) -> Result<Option<String>, AuthError> {
        let new_hash = hash_password(password, &self.params)?;
        let written = UsersFile::update(&self.path, |users| match users.get(&record.name) {
            Some(current) if current.password_hash == record.password_hash => {
                users.set_password_hash(&record.name, new_hash.clone())?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        if written {
            tracing::info!(user = %record.name, "password hash upgraded to the current argon2id parameters");
            Ok(Some(new_hash))
        } else {
            Ok(None)
        }
    }

    /// The users, re-read when the file's stamp differs from the cached one.
    fn current_users(&self) -> Result<Arc<UsersFile>, AuthError> {
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
            if cache.stamp == stamp {
                return Ok(Arc::clone(&cache.users));
            }
        }
        // Parse outside the mutex so a slow disk does not stall checks that hit the cache.
        let (users, stamp) = UsersFile::load_with_stamp(&self.path).inspect_err(|error| {
            tracing::error!(path = %self.path.display(), %error, "users file changed but cannot be used");
        })?;
        let users = Arc::new(users);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        *cache = Cached {
            stamp,
            users: Arc::clone(&users),
        };
        tracing::debug!(path = %self.path.display(), users = users.len(), "users file reloaded");
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verification_waits_for_a_free_hash_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        UsersFile::empty(&path).save().unwrap();
        let authenticator = Authenticator::builder(&path)
            .params(HashParams::INSECURE_FOR_TESTS)
            .max_concurrent_hashes(1)
            .build()
            .unwrap();
        // Take the only slot, as a long-running hash would.
        let slot = Arc::clone(&authenticator.inner.hash_slots)
            .acquire_owned()
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let authenticator = authenticator.clone();
            async move { authenticator.verify("nobody", "pw").await }
        });
        // With the slot taken the check cannot finish, however long it is given.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "a hash ran without a free slot");
        drop(slot);
        let outcome = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("the check finished once the slot was free")
            .unwrap()
            .unwrap();
        assert_eq!(outcome, Verified::Rejected);
        assert_eq!(authenticator.inner.hash_slots.available_permits(), 1);
    }
}
