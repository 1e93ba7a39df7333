//! Starting the exporter for `--metrics-listen`: `/metrics` from the shared counters, `/readyz`
//! from a look-up in the user store.

use std::net::SocketAddr;
use std::sync::Arc;

use wharf::RunAs;
use wharf::metrics::{Exporter, ExporterProcess};
use wharf_users::{UserStore, UsersLocation};

use super::SshMetrics;

/// The name `/readyz` looks up: a valid user name that no real user is expected to have; the
/// look-up only has to complete, not to find anyone.
const PROBE_USER: &str = "wharf-sshd-readiness-probe";

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

/// Why the exporter could not start.
fn setup_error(error: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(error.to_string())
}

/// Binds `settings.listen` and forks the exporter process; returns it and the bound address.
/// Call it after the server's listeners are bound and before `serve_forever`, while the
/// process is single-threaded.
///
/// `/readyz` makes the look-up a login makes (the users file checked and re-read if it
/// changed, or one query to the database), so it fails exactly when logins cannot be judged.
pub fn start(
    settings: ExporterSettings,
    metrics: &SshMetrics,
) -> Result<(ExporterProcess, SocketAddr), std::io::Error> {
    // Opening connects to nothing: a database is first reached by the exporter process.
    let store = wharf_users::store::open(&settings.users).map_err(setup_error)?;
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
            let store = Arc::clone(&store);
            Box::pin(async move { reachable(store).await })
        }));
    Ok((exporter.spawn()?, bound))
}

/// Whether a user can be looked up in `store` now.
async fn reachable(store: Arc<dyn UserStore>) -> Result<(), String> {
    // Blocking (a stat and perhaps a parse, or a wait for the database): off the exporter's
    // only thread.
    tokio::task::spawn_blocking(move || store.find_blocking(PROBE_USER).map(drop))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}
