//! Running the daemon: `serve` builds a `wharf` server from the configuration, `demo` sets up a
//! throw-away user and root first; [`reload`] answers SIGHUP while `serve` runs.

mod demo;
mod memory;
pub mod quota_command;
pub mod reload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wharf::{LimitPolicy, Mode, Server, ServerError};
use wharf_users::postgres::PgStore;
use wharf_users::{AuthError, Authenticator, UserStore, UsersFile, UsersLocation};

use crate::config::reload::ConfigSource;
use crate::config::{ConfigError, FtpdConfig};
use crate::hooks::HookClient;
use crate::metrics::FtpMetrics;
use crate::session::{FtpHandler, confine, listeners};
use crate::tls::TlsError;

pub use demo::{Demo, DemoError};

/// Workers allowed beyond `limits.max_sessions`, so a session over the limit still reaches the
/// handler and is told `421` instead of waiting unanswered.
const SESSION_HEADROOM: usize = 16;

/// Read buffer of a control connection: commands are short lines (a longer one is read in
/// several fills), and every idle session holds this buffer, so it is small.
const CONTROL_READ_BUFFER: usize = 512;
/// Write buffer of a control connection: replies are short; a long listing reply passes
/// straight through.
const CONTROL_WRITE_BUFFER: usize = 1024;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The SIGHUP handler (reload) could not be installed.
    #[error("cannot handle SIGHUP: {0}")]
    Signal(#[source] std::io::Error),
    /// The state directory could not be created.
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The users file or database could not be used.
    #[error("cannot use the users: {0}")]
    Users(#[from] AuthError),
    /// The TLS certificate or key could not be used.
    #[error("cannot set up FTPS: {0}")]
    Tls(#[from] TlsError),
    /// The server could not bind or run.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The metrics counters or the exporter's listener could not be set up.
    #[error("cannot start the metrics exporter: {0}")]
    Metrics(#[source] std::io::Error),
    /// The hook process could not be started.
    #[error("cannot start the hook process: {0}")]
    Hooks(#[source] std::io::Error),
    /// Landlock could not be set up for the daemon.
    #[error("cannot confine the daemon: {0}")]
    Confine(String),
}

/// The mode with its worker pool sized for `max_sessions` (threads or child processes).
pub fn sized_mode(mode: Mode, max_sessions: usize) -> Mode {
    mode.with_worker_limit(workers_for(max_sessions))
}

/// Connections served at once for `max_sessions`: the sessions plus the headroom.
fn workers_for(max_sessions: usize) -> usize {
    max_sessions.saturating_add(SESSION_HEADROOM)
}

/// What a connection beyond every worker is told before it is closed.
const REFUSAL: &str = "421 Too many users connected; try again later.\r\n";

/// Builds (binds) the FTP server described by `config`; call `serve_forever` on it.
pub fn build_server(config: FtpdConfig) -> Result<Server<FtpHandler>, DaemonError> {
    build_server_with_metrics(config, None)
}

/// [`build_server`], with sessions counting into `metrics` (made before the server forks).
pub fn build_server_with_metrics(
    config: FtpdConfig,
    metrics: Option<FtpMetrics>,
) -> Result<Server<FtpHandler>, DaemonError> {
    build_server_with(config, metrics, None)
}

/// [`build_server_with_metrics`], with sessions handing events and pre-upload checks to the
/// hook process through `hooks` (see [`crate::hooks::start`]).
pub fn build_server_with(
    config: FtpdConfig,
    metrics: Option<FtpMetrics>,
    hooks: Option<HookClient>,
) -> Result<Server<FtpHandler>, DaemonError> {
    build(config, metrics, hooks, None)
}

/// Builds the server; with `reload_from`, a SIGHUP reloads the configuration from there.
fn build(
    config: FtpdConfig,
    metrics: Option<FtpMetrics>,
    hooks: Option<HookClient>,
    reload_from: Option<ConfigSource>,
) -> Result<Server<FtpHandler>, DaemonError> {
    let state_dir = config.server.state_dir.clone();
    std::fs::create_dir_all(&state_dir).map_err(|source| DaemonError::StateDir {
        path: state_dir,
        source,
    })?;
    let location = UsersLocation::from_setting(&config.server.users_file)?;
    // A database gets its migrations here, on a thread of its own that is gone afterwards.
    let authenticator = Authenticator::builder_for(location.clone()).build()?;
    tracing::info!(users = authenticator.location(), "users");
    let home_roots = match location {
        UsersLocation::File(_) => None,
        UsersLocation::Postgres(_) => Some(home_roots(&*users_snapshot(&location)?)),
    };
    let tls = reload::load_tls(&config)?;
    let max_sessions = config.limits.max_sessions;
    let mut builder = Server::builder()
        .name("wharf-ftpd")
        .mode(sized_mode(config.server.mode, max_sessions))
        // Sessions over `max_sessions` still reach the handler (the headroom) and are told
        // why; past the headroom the framework answers the same before closing.
        .max_connections(workers_for(max_sessions), LimitPolicy::Reject)
        .refusal(REFUSAL)
        .buffer_sizes(CONTROL_READ_BUFFER, CONTROL_WRITE_BUFFER)
        .shutdown_timeout(config.server.shutdown_timeout);
    match &config.server.user {
        Some(user) => builder = builder.run_as(user.clone(), config.server.group.clone()),
        None if nix::unistd::geteuid().is_root() => tracing::warn!(
            "running as root without server.user (--user): every session runs as root"
        ),
        None => {}
    }
    let proxy = config.proxy_protocol.settings();
    let named = config
        .server
        .listen
        .iter()
        .enumerate()
        .map(|(index, addr)| (listeners::name(listeners::FTP, index), addr))
        .chain(
            config
                .tls
                .implicit_listen
                .iter()
                .enumerate()
                .map(|(index, addr)| (listeners::name(listeners::FTPS, index), addr)),
        );
    for (name, addr) in named {
        builder = builder.listen_as(name.clone(), addr.clone());
        if let Some(proxy) = &proxy {
            builder = builder.proxy_protocol(&name, proxy.clone());
        }
    }
    let mut handler = FtpHandler::with_home_roots(config, authenticator, tls, home_roots);
    if let Some(metrics) = metrics {
        handler = handler.with_metrics(metrics);
    }
    if let Some(hooks) = hooks {
        handler = handler.with_hooks(hooks);
    }
    if let Some(source) = reload_from {
        let reloader = reload::Reloader::new(source, handler.live_settings());
        builder = builder.service_actions(reload::POLL_INTERVAL, move || reloader.poll());
    }
    Ok(builder.build(handler)?)
}

/// Logs `listening on ADDR` for each bound address, marking the implicit-FTPS ones.
pub fn log_listening(server: &Server<FtpHandler>, config: &FtpdConfig) {
    for listener in server.listeners() {
        let addr = &listener.addr;
        if listeners::is_implicit_tls(&listener.name) {
            tracing::info!(mode = %config.server.mode, "listening on {addr} (implicit FTPS)");
        } else {
            tracing::info!(mode = %config.server.mode, "listening on {addr}");
        }
    }
}

/// Loads the configuration from `source`, binds the server, logs `listening on ADDR` for each
/// address, and serves until SIGINT or SIGTERM; SIGHUP reloads from `source` ([`reload`]).
pub fn serve(source: ConfigSource) -> Result<(), DaemonError> {
    // First: until the handler is in place a SIGHUP would end the process.
    reload::install_hangup_handler().map_err(DaemonError::Signal)?;
    let config = source.load()?;
    memory::return_big_blocks_to_the_system();
    if config.storage.backend == crate::config::storage::BackendKind::S3 {
        // Before Landlock: the HTTP client reads the system's CA roots.
        crate::storage::object::install_http_transport();
    }
    let metrics = match config.metrics.listen {
        Some(_) => Some(FtpMetrics::new().map_err(DaemonError::Metrics)?),
        None => None,
    };
    // Forked first, while nothing is bound or confined: hook programs run outside the
    // sessions' Landlock rules, and session processes inherit the channel to it.
    let hooks = if config.hooks.enabled() {
        let (process, client) =
            crate::hooks::start(&config, metrics.clone()).map_err(DaemonError::Hooks)?;
        tracing::info!(pid = process.pid(), "hook process started");
        Some((process, client))
    } else {
        None
    };
    let (hook_process, hook_client) = hooks.unzip();
    let server = build(
        config.clone(),
        metrics.clone(),
        hook_client,
        Some(source.clone()),
    )?;
    if config.server.confine && server.info().capabilities().shares_memory {
        confine_daemon(&config, &source)?;
    }
    // Forked now: after the binds, before the serving loop starts any thread or child.
    let exporter = match &metrics {
        Some(metrics) => crate::metrics::exporter::start(&config, metrics)
            .map_err(DaemonError::Metrics)?
            .map(|(process, addr)| {
                // Worded apart from `listening on`, which names the FTP listeners only.
                tracing::info!(
                    pid = process.pid(),
                    "metrics exporter at http://{addr}/metrics"
                );
                process
            }),
        None => None,
    };
    log_listening(&server, &config);
    let served = server.serve_forever();
    drop(exporter);
    // Every session's end of the hook channel is closed now: the queue drains, bounded.
    drop(hook_process);
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Landlock for the whole daemon in the modes whose sessions share its process (forking-mode
/// sessions confine themselves, more narrowly). A reload reads the configuration file and the
/// certificate and key again: their directories stay readable.
fn confine_daemon(config: &FtpdConfig, source: &ConfigSource) -> Result<(), DaemonError> {
    let location = UsersLocation::from_setting(&config.server.users_file)?;
    let roots = home_roots(&*users_snapshot(&location)?);
    let homes: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    // A database has no file to read: name one inside the state directory, granted anyway.
    let users_file = match location.file() {
        Some(file) => file.to_owned(),
        None => config.server.state_dir.join("users"),
    };
    // What a reload reads again. A certificate behind a symbolic link (certbot's `live/`
    // into `archive/`) is read through the link's target: that directory is granted too.
    let reloaded: Vec<&Path> = source
        .file
        .iter()
        .chain(config.tls.cert.iter())
        .chain(config.tls.key.iter())
        .map(PathBuf::as_path)
        .collect();
    let targets: Vec<PathBuf> = reloaded
        .iter()
        .filter_map(|path| std::fs::canonicalize(path).ok())
        .collect();
    let readable: Vec<&Path> = std::iter::once(users_file.as_path())
        .chain(reloaded)
        .chain(targets.iter().map(PathBuf::as_path))
        .collect();
    let outcome = confine::confine_daemon(
        &homes,
        &config.server.state_dir,
        config.log.xferlog.as_deref(),
        &readable,
    )
    .map_err(|error| DaemonError::Confine(error.to_string()))?;
    tracing::info!(
        ?outcome,
        homes = homes.len(),
        "daemon confined with Landlock"
    );
    confine::probe("daemon");
    Ok(())
}

/// The directories holding the homes (the homes root), so a user added while the daemon runs,
/// with a home beside the others, is reachable too; never `/` itself.
fn home_roots(users: &UsersFile) -> Vec<PathBuf> {
    // Key-prefix homes (object storage) are no local trees: nothing to grant.
    let mut roots: Vec<PathBuf> = users
        .iter()
        .filter(|user| user.home.is_absolute())
        .map(|user| {
            let home = user.home.as_path();
            home.parent()
                .filter(|parent| parent.parent().is_some())
                .unwrap_or(home)
                .to_owned()
        })
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// Every user, read now (blocking). For a database, its runtime is stopped again afterwards:
/// the daemon confines itself or forks next, and neither wants a thread started before.
fn users_snapshot(location: &UsersLocation) -> Result<Arc<UsersFile>, DaemonError> {
    match location {
        UsersLocation::File(path) => Ok(Arc::new(UsersFile::load(path)?)),
        UsersLocation::Postgres(url) => {
            let users = PgStore::new(url)?.snapshot_blocking();
            wharf_users::postgres::stop_runtime();
            Ok(users?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_pools_follow_max_sessions() {
        assert_eq!(sized_mode(Mode::forking(), 100).worker_limit(), Some(116));
        assert_eq!(sized_mode(Mode::threading(), 10).worker_limit(), Some(26));
        let sequential: Mode = "sequential".parse().unwrap();
        assert_eq!(sized_mode(sequential, 10), sequential);
    }
}
