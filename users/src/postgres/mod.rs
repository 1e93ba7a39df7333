//! The users in PostgreSQL, and the connection every daemon shares its state through.
//!
//! - [`url`]: [`PgUrl`], the `postgres://` URL (password from it or `PGPASSWORD`, never shown).
//! - [`runtime`]: the per-process runtime all database work runs on, whatever the mode.
//! - [`migrate`]: the embedded schema migrations.
//! - [`store`]: [`PgStore`], the [`crate::UserStore`] over the `wharf_users` table.

pub mod migrate;
mod runtime;
mod store;
mod url;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::NoTls;

pub use deadpool_postgres::Object as Client;
pub use migrate::{MIGRATIONS, migrate_blocking};
pub use store::PgStore;
pub use tokio_postgres;
pub use url::PgUrl;

use crate::AuthError;

/// Stops this process's database runtime and waits for its thread (its connections close; the
/// next use starts again). A daemon calls it before confining itself with Landlock, so that no
/// thread started earlier stays outside the confinement.
pub fn stop_runtime() {
    runtime::stop();
}

/// Connections one process keeps at most: a login needs one for a moment.
const POOL_SIZE: usize = 8;
/// How long a caller waits for a free or a new connection before giving up.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// A PostgreSQL database: a pool of connections per process, used from any runtime.
///
/// Cheap to clone. Work given to [`Database::run`] runs on the process's database runtime, so
/// its connections outlive the caller's runtime (a threading-mode connection thread) and a
/// forked child makes its own instead of sharing its parent's sockets.
#[derive(Clone)]
pub struct Database {
    /// Shared by every clone.
    inner: Arc<DatabaseInner>,
}

/// The state of a [`Database`].
struct DatabaseInner {
    /// Where it is.
    url: PgUrl,
    /// The URL as shown (no password).
    shown: String,
    /// This process's pool, with the process it was made in.
    pool: Mutex<Option<(u32, Pool)>>,
}

impl Database {
    /// A database at `url`; nothing is connected until the first [`Database::run`].
    pub fn new(url: &PgUrl) -> Self {
        Database {
            inner: Arc::new(DatabaseInner {
                shown: url.to_string(),
                url: url.clone(),
                pool: Mutex::new(None),
            }),
        }
    }

    /// The URL without its password.
    pub fn location(&self) -> &str {
        &self.inner.shown
    }

    /// The URL.
    pub fn url(&self) -> &PgUrl {
        &self.inner.url
    }

    /// This process's pool, made on first use (again in a forked child).
    fn pool(&self) -> Result<Pool, AuthError> {
        let mut slot = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if let Some((_, pool)) = slot.as_ref().filter(|(owner, _)| *owner == pid) {
            return Ok(pool.clone());
        }
        if let Some(inherited) = slot.take() {
            // The parent's connections: their sockets are the parent's too, and closing them
            // here would touch the parent's reactor. Left alone.
            std::mem::forget(inherited);
        }
        let manager = Manager::from_config(
            self.inner.url.resolved_config(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|error| self.unavailable(error.to_string()))?;
        *slot = Some((pid, pool.clone()));
        Ok(pool)
    }

    /// Runs `work` with a pooled connection on the database runtime, from any runtime.
    pub async fn run<T, F, Fut>(&self, action: &'static str, work: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
    {
        let task = self.task(action, work);
        runtime::run(task)
            .await
            .map_err(|reason| self.unavailable(reason))?
    }

    /// [`Database::run`] for code outside async (or willing to block its thread).
    pub fn run_blocking<T, F, Fut>(&self, action: &'static str, work: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
    {
        let task = self.task(action, work);
        runtime::run_blocking(task).map_err(|reason| self.unavailable(reason))?
    }

    /// Starts `work` on the database runtime without waiting for it (lease renewals, clean-ups
    /// from `Drop`); a failure is logged.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        match runtime::handle() {
            Ok(handle) => {
                handle.spawn(work);
            }
            Err(error) => {
                tracing::error!(database = self.location(), %error, "cannot start the database runtime");
            }
        }
    }

    /// Runs `work` with a pooled connection on the database runtime without waiting for it; a
    /// failure is logged with `action`.
    pub fn spawn_with_client<F, Fut>(&self, action: &'static str, work: F)
    where
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), AuthError>> + Send + 'static,
    {
        let task = self.task(action, work);
        self.spawn(async move {
            if let Err(error) = task.await {
                tracing::warn!(%error, "database work in the background failed: {action}");
            }
        });
    }

    /// The error for a failed `action`, naming the database.
    pub fn error(
        &self,
        action: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> AuthError + use<> {
        let location = self.inner.shown.clone();
        move |source| AuthError::Database {
            location: location.clone(),
            action,
            source,
        }
    }

    /// The future that gets a connection and runs `work`.
    fn task<T, F, Fut>(
        &self,
        action: &'static str,
        work: F,
    ) -> impl Future<Output = Result<T, AuthError>> + Send + 'static
    where
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
    {
        let pool = self.pool();
        let database = self.clone();
        async move {
            let pool = pool?;
            let client = pool.get().await.map_err(|error| match error {
                PoolError::Backend(source) => database.error(action)(source),
                other => database.unavailable(other.to_string()),
            })?;
            work(client).await
        }
    }

    /// The error for a database that cannot be reached at all.
    fn unavailable(&self, reason: String) -> AuthError {
        AuthError::DatabaseUnavailable {
            location: self.inner.shown.clone(),
            reason,
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Database({})", self.inner.shown)
    }
}
