//! The [`Authenticator`]: password checks for servers over any [`UserStore`], off the async
//! threads, at a bounded rate and at the same cost for unknown users as for wrong passwords.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::hash_pool::HashPool;
use super::password::{HashMemory, hash_password, needs_rehash, verify_password_in};
use super::store::{self, UserStore, UsersLocation};
use super::users_file::UsersFile;
use super::{AuthError, HashParams, UserRecord, validate_name};

/// The outcome of a password check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The password is right: the user's record, as of this check.
    Authenticated(UserRecord),
    /// Wrong password or unknown user; deliberately the same answer for both.
    Rejected,
}

/// Checks passwords against a user store; cheap to clone (shared state behind an `Arc`).
///
/// A users file is re-read whenever it changes on disk, and a database is asked at every
/// login, so `user add` takes effect on a running server. Hashes run on threads of their own at
/// a lower CPU priority, at most `max_concurrent_hashes` at once, so a login storm cannot stall
/// the sessions already in.
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
    /// Where the users are.
    store: Arc<dyn UserStore>,
    /// Parameters for new hashes; stored hashes with other parameters are upgraded on login.
    params: HashParams,
    /// Bounds the hashes running at once, so a login storm cannot take every core or all memory.
    hash_slots: Arc<Semaphore>,
    /// The low-priority threads hashes run on, one per slot.
    hash_pool: HashPool,
    /// A hash of a random password with `params`, checked for unknown users to spend the same time.
    dummy_hash: String,
}

/// Options for an [`Authenticator`], each with a documented default.
#[derive(Clone)]
pub struct AuthenticatorBuilder {
    /// Where the users are: a users file or a database.
    location: UsersLocation,
    /// An already opened store, used instead of opening `location`.
    store: Option<Arc<dyn UserStore>>,
    /// Default: [`HashParams::PRODUCTION`].
    params: HashParams,
    /// Default: the number of CPUs available to the process.
    max_concurrent_hashes: usize,
}

impl std::fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AuthenticatorBuilder")
            .field("location", &self.location)
            .field("params", &self.params)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .finish_non_exhaustive()
    }
}

/// What the hashing thread found.
enum Checked {
    /// Wrong password, unknown user or unusable stored hash.
    Rejected,
    /// The password is right; with a hash in the current parameters if the stored one is old.
    Accepted(Option<Result<String, AuthError>>),
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

    /// Checks passwords against `store` instead of opening the location given to the builder.
    pub fn store(mut self, store: Arc<dyn UserStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Opens the store (a users file must exist and be valid; a database gets its migrations)
    /// and prepares the dummy hash.
    ///
    /// Blocking: call it before the runtime starts or from a blocking context.
    pub fn build(self) -> Result<Authenticator, AuthError> {
        let store = match self.store {
            Some(store) => store,
            None => store::open(&self.location)?,
        };
        let random_password = format!("{:032x}", rand::random::<u128>());
        let dummy_hash = hash_password(&random_password, &self.params)?;
        Ok(Authenticator {
            inner: Arc::new(Inner {
                store,
                params: self.params,
                hash_slots: Arc::new(Semaphore::new(self.max_concurrent_hashes)),
                hash_pool: HashPool::new(self.max_concurrent_hashes),
                dummy_hash,
            }),
        })
    }
}

impl Authenticator {
    /// Options for an authenticator over the users file at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> AuthenticatorBuilder {
        Self::builder_for(UsersLocation::File(path.into()))
    }

    /// Options for an authenticator over the users file or database `location` names.
    pub fn builder_for(location: UsersLocation) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            location,
            store: None,
            params: HashParams::PRODUCTION,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// An authenticator with `params` and the default concurrency bound (see [`Authenticator::builder`]).
    pub fn new(path: impl Into<PathBuf>, params: HashParams) -> Result<Self, AuthError> {
        Self::builder(path).params(params).build()
    }

    /// Where the users are: a path, or a URL without its password.
    pub fn location(&self) -> &str {
        self.inner.store.location()
    }

    /// The store passwords are checked against.
    pub fn store(&self) -> &Arc<dyn UserStore> {
        &self.inner.store
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// Checks `password` for `user`.
    ///
    /// Errors are server-side problems only (users file missing or malformed, database
    /// unreachable, hashing task lost); a wrong password and an unknown user both give
    /// `Ok(Verified::Rejected)` after the same work: one look-up in the store, one hash.
    /// A successful login with an outdated hash rewrites it with the current parameters;
    /// failing to write it back is logged and does not fail the login.
    pub async fn verify(&self, user: &str, password: &str) -> Result<Verified, AuthError> {
        // An owned permit moves into the hashing job, so the bound holds even if this future is
        // dropped (client gone) while the hash is still running.
        let permit = Arc::clone(&self.inner.hash_slots)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::HashLimiterClosed)?;
        // A name no store can hold is an unknown user, without asking the store.
        let record = match validate_name(user) {
            Ok(()) => self.inner.store.find(user).await?,
            Err(_) => None,
        };
        let inner = Arc::clone(&self.inner);
        let stored = record.as_ref().map(|record| record.password_hash.clone());
        let password_owned = password.to_owned();
        let name = user.to_owned();
        let (answer, outcome) = tokio::sync::oneshot::channel();
        let queued = self.inner.hash_pool.run(move |memory| {
            let checked = inner.check(&name, stored.as_deref(), &password_owned, memory);
            drop(permit);
            let _ = answer.send(checked);
        });
        if !queued {
            return Err(AuthError::HashThreadLost);
        }
        let checked = outcome.await.map_err(|_| AuthError::HashThreadLost)?;
        let (Checked::Accepted(upgrade), Some(mut record)) = (checked, record) else {
            return Ok(Verified::Rejected);
        };
        match upgrade {
            None => {}
            Some(Err(error)) => {
                tracing::warn!(user, %error, "could not compute the upgraded password hash");
            }
            Some(Ok(new_hash)) => {
                match self
                    .inner
                    .store
                    .upgrade_password_hash(user, &record.password_hash, new_hash.clone())
                    .await
                {
                    Ok(true) => {
                        tracing::info!(
                            user,
                            "password hash upgraded to the current argon2id parameters"
                        );
                        record.password_hash = new_hash;
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(user, users = self.location(), %error, "could not store the upgraded password hash");
                    }
                }
            }
        }
        Ok(Verified::Authenticated(record))
    }

    /// The current record of `user` (blocking: a `stat` of the file, or a database query).
    pub fn lookup(&self, user: &str) -> Result<Option<UserRecord>, AuthError> {
        self.inner.store.find_blocking(user)
    }

    /// Every user, as one snapshot (blocking, like [`Authenticator::lookup`]).
    pub fn users(&self) -> Result<Arc<UsersFile>, AuthError> {
        self.inner.store.snapshot_blocking()
    }
}

impl Inner {
    /// The hash check, run on a hashing thread with its argon2 memory: the stored hash, or the
    /// dummy one when there is none so the time spent is the same.
    fn check(
        &self,
        user: &str,
        stored: Option<&str>,
        password: &str,
        memory: &mut HashMemory,
    ) -> Checked {
        let Some(stored) = stored else {
            // Same work as a real check, result ignored: timing must not reveal who exists.
            let _ = verify_password_in(password, &self.dummy_hash, memory);
            return Checked::Rejected;
        };
        match verify_password_in(password, stored, memory) {
            Ok(true) => {}
            Ok(false) => return Checked::Rejected,
            Err(error) => {
                tracing::error!(user, users = self.store.location(), %error, "stored password hash is unusable; login refused");
                let _ = verify_password_in(password, &self.dummy_hash, memory);
                return Checked::Rejected;
            }
        }
        if needs_rehash(stored, &self.params) {
            Checked::Accepted(Some(hash_password(password, &self.params)))
        } else {
            Checked::Accepted(None)
        }
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
