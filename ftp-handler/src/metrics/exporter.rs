//! Starting the exporter for `metrics.listen`: `/metrics` from the shared counters plus what is
//! read at scrape time (bans, per-user quota usage), `/readyz` from the user store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use wharf::RunAs;
use wharf::metrics::{Exporter, ExporterProcess};
use wharf_users::postgres::Database;
use wharf_users::{AuthError, UsersFile, UsersLocation};

use super::FtpMetrics;
use super::encode::Extra;
use crate::config::FtpdConfig;
use crate::defence::{BanPolicy, LoginGuard, SharedLoginGuard};
use crate::quota::QuotaStore;

/// Where the users live, as the exporter process reads them.
#[derive(Clone)]
enum Store {
    /// The TOML file.
    File(PathBuf),
    /// PostgreSQL; the exporter process makes its own connections.
    Postgres(Database),
}

/// What a scrape needs to read besides the counters.
#[derive(Clone)]
struct Readings {
    /// The user store.
    store: Store,
    /// Bans in the state directory (users in a file).
    guard: LoginGuard,
    /// Bans in the database (users in PostgreSQL).
    shared_guard: Option<SharedLoginGuard>,
    /// The state directory (quota usage records), for `metrics.per_user_quota`.
    state_dir: PathBuf,
    /// `metrics.per_user_quota`.
    per_user_quota: bool,
}

/// Binds `metrics.listen` and forks the exporter process; `None` when no address is set. Call
/// it after the FTP listeners are bound and before `serve_forever`.
pub(crate) fn start(
    config: &FtpdConfig,
    metrics: &FtpMetrics,
) -> Result<Option<(ExporterProcess, SocketAddr)>, std::io::Error> {
    let Some(addr) = config.metrics.listen else {
        return Ok(None);
    };
    let limits = &config.limits;
    let policy = BanPolicy {
        after_failures: limits.ban_after_failures,
        window: limits.ban_window,
        duration: limits.ban_duration,
    };
    let location =
        UsersLocation::from_setting(&config.server.users_file).map_err(std::io::Error::other)?;
    let store = match location {
        UsersLocation::File(path) => Store::File(path),
        UsersLocation::Postgres(url) => Store::Postgres(Database::new(&url)),
    };
    let shared_guard = match &store {
        Store::Postgres(database) => Some(SharedLoginGuard::new(database.clone(), policy)),
        Store::File(_) => None,
    };
    let readings = Readings {
        store,
        guard: LoginGuard::new(&config.server.state_dir, policy),
        shared_guard,
        state_dir: config.server.state_dir.clone(),
        per_user_quota: config.metrics.per_user_quota,
    };
    let exporter = Exporter::bind(addr)?;
    let bound = exporter.local_addr()?;
    let run_as = config
        .server
        .user
        .clone()
        .map(|user| RunAs::new(user, config.server.group.clone()));
    let (render_metrics, render_readings) = (metrics.clone(), readings.clone());
    let exporter = exporter
        .run_as(run_as)
        .render(Arc::new(move || {
            let (metrics, readings) = (render_metrics.clone(), render_readings.clone());
            Box::pin(async move {
                let extra = readings.read().await;
                metrics.render(&extra)
            })
        }))
        .readiness(Arc::new(move || {
            let readings = readings.clone();
            Box::pin(async move { readings.store.reachable().await })
        }));
    Ok(Some((exporter.spawn()?, bound)))
}

impl Store {
    /// Whether the users can be read now: the file opened and read, or the database answering
    /// a query.
    async fn reachable(&self) -> Result<(), String> {
        match self {
            Store::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::read(&path)
                        .map(drop)
                        .map_err(|error| format!("users file {}: {error}", path.display()))
                })
                .await
                .map_err(|error| error.to_string())?
            }
            Store::Postgres(database) => {
                let error = database.error("readiness check");
                database
                    .run("readiness check", move |client| async move {
                        client.simple_query("SELECT 1").await.map_err(error)?;
                        Ok(())
                    })
                    .await
                    .map_err(|error| error.to_string())
            }
        }
    }
}

impl Readings {
    /// The bans now and, if asked for, every user's recorded quota usage; a reading that
    /// fails is left out of the scrape and logged.
    async fn read(&self) -> Extra {
        let bans = match &self.shared_guard {
            Some(guard) => guard.active_bans().await.map_err(|error| error.to_string()),
            None => {
                let guard = self.guard.clone();
                tokio::task::spawn_blocking(move || guard.active_bans(SystemTime::now()))
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|counted| counted.map_err(|error| error.to_string()))
            }
        };
        let bans_active = bans
            .inspect_err(|error| tracing::warn!(%error, "metrics: cannot count bans"))
            .ok();
        let quota_used = if self.per_user_quota {
            self.quota_used()
                .await
                .inspect_err(|error| tracing::warn!(%error, "metrics: cannot read quota usage"))
                .ok()
        } else {
            None
        };
        Extra {
            bans_active,
            quota_used,
        }
    }

    /// `(user, bytes)` for every user with a recorded usage, sorted by name.
    async fn quota_used(&self) -> Result<Vec<(String, u64)>, String> {
        match &self.store {
            Store::Postgres(database) => {
                let error = database.error("read quota usage");
                let rows = database
                    .run("read quota usage", move |client| async move {
                        client
                            .query(
                                "SELECT user_name, bytes FROM wharf_quota_usage \
                                 WHERE counted ORDER BY user_name",
                                &[],
                            )
                            .await
                            .map_err(error)
                    })
                    .await
                    .map_err(|error| error.to_string())?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        let bytes: i64 = row.get(1);
                        (row.get(0), bytes.unsigned_abs())
                    })
                    .collect())
            }
            Store::File(path) => {
                let (path, state_dir) = (path.clone(), self.state_dir.clone());
                tokio::task::spawn_blocking(move || file_quota_used(&path, &state_dir))
                    .await
                    .map_err(|error| error.to_string())?
            }
        }
    }
}

/// The recorded usage of every user of the users file.
fn file_quota_used(
    users_file: &std::path::Path,
    state_dir: &std::path::Path,
) -> Result<Vec<(String, u64)>, String> {
    let users = UsersFile::load(users_file).map_err(|error: AuthError| error.to_string())?;
    let store = QuotaStore::open(state_dir).map_err(|error| error.to_string())?;
    let mut used = Vec::new();
    for user in users.iter() {
        if let Some(usage) = store
            .recorded_usage(&user.name)
            .map_err(|error| error.to_string())?
        {
            used.push((user.name.clone(), usage.bytes));
        }
    }
    used.sort();
    Ok(used)
}
