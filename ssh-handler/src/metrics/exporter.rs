//! Starting the exporter for `--metrics-listen`: `/metrics` from the shared counters, `/readyz`
//! from the user store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wharf::RunAs;
use wharf::metrics::{Exporter, ExporterProcess};
use wharf_users::UsersLocation;
use wharf_users::postgres::Database;

use super::SshMetrics;

/// Where the users live, as the exporter process reads them.
#[derive(Clone)]
enum Store {
    /// The TOML file.
    File(PathBuf),
    /// PostgreSQL; the exporter process makes its own connections.
    Postgres(Database),
}

/// What the exporter needs besides the counters.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    /// The HTTP address to bind.
    pub listen: SocketAddr,
    /// The users, for `/readyz`.
    pub users: UsersLocation,
    /// The account the exporter process switches to (the daemon's `--user`), if any.
    pub run_as: Option<RunAs>,
}

/// Binds `settings.listen` and forks the exporter process; returns it and the bound address.
/// Call it after the server's listeners are bound and before `serve_forever`, while the
/// process is single-threaded.
pub fn start(
    settings: ExporterSettings,
    metrics: &SshMetrics,
) -> Result<(ExporterProcess, SocketAddr), std::io::Error> {
    let store = match settings.users {
        UsersLocation::File(path) => Store::File(path),
        UsersLocation::Postgres(url) => Store::Postgres(Database::new(&url)),
    };
    let exporter = Exporter::bind(settings.listen)?;
    let bound = exporter.local_addr()?;
    let metrics = metrics.clone();
    let exporter = exporter
        .run_as(settings.run_as)
        .render(Arc::new(move || {
            let text = metrics.render();
            Box::pin(async move { text })
        }))
        .readiness(Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.reachable().await })
        }));
    Ok((exporter.spawn()?, bound))
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
