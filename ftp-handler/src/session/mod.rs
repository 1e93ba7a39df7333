//! The FTP session: one [`FtpHandler`] clone per control connection, plugged into `wharf`.
//!
//! - [`state`]: [`Session`](state::Session), everything one control connection remembers.
//! - [`run`]: the command loop (timeouts, shutdown, dispatch, login gate).
//! - [`control`]: writing replies on the control connection.
//! - [`data`]: PASV/EPSV listeners and PORT/EPRT connections (no FTP bounce).
//! - [`transfer`]: data transfers as tasks, supervised while the control channel stays readable.
//! - [`ascii`]: TYPE A line-end conversion.
//! - [`slots`]: session limits (total and per IP) that hold across processes (and, with the
//!   users in PostgreSQL, across daemons: [`crate::defence::SessionLeases`]).
//! - [`xferlog`]: the optional wu-ftpd format transfer log.
//! - [`zero_copy`]: `sendfile` downloads on clear data connections.
//! - [`secure`]: TLS on the control connection (AUTH TLS, implicit) and on data connections.
//! - [`bans`]: the brute-force defence at login (bans checked, failures counted).
//! - [`homes`]: homes open in this process, shared by the sessions of one user.
//! - [`listeners`]: the names of the daemon's listeners (plain FTP, implicit FTPS).
//! - [`live`]: the settings new sessions start with, replaced by a reload.
//! - [`confine`]: Landlock for session processes (forking mode).
//! - [`commands`]: one file per command group.

mod ascii;
mod bans;
mod commands;
pub(crate) mod confine;
mod control;
mod data;
mod homes;
pub(crate) mod listeners;
mod live;
mod run;
mod secure;
mod slots;
mod state;
mod transfer;
mod upload_buffer;
mod xferlog;
mod zero_copy;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;
use wharf::{Connection, HandlerError, RequestHandler};
use wharf_users::Authenticator;

use crate::config::FtpdConfig;
use crate::defence::{BanPolicy, LoginGuard, SessionLeases, SharedLoginGuard};
use crate::hooks::HookClient;
use crate::metrics::FtpMetrics;
use crate::quota::SharedQuotaStore;
use crate::tls::TlsServer;

pub use live::LiveSettings;

/// What every session of one server shares (read-only). A reload makes a new one with the new
/// configuration and certificate and everything else shared with the old
/// ([`Shared::reconfigured`]); a session keeps the one it started with.
pub(crate) struct Shared {
    /// The daemon's configuration.
    pub(crate) config: FtpdConfig,
    /// Password checks against the users file.
    pub(crate) authenticator: Authenticator,
    /// The certificate for FTPS; `None` when TLS is not configured.
    pub(crate) tls: Option<TlsServer>,
    /// Failed-login counts and bans, shared with every other session through the state dir.
    pub(crate) guard: LoginGuard,
    /// With the users in PostgreSQL: counts and bans there instead, shared by every daemon.
    pub(crate) shared_guard: Option<SharedLoginGuard>,
    /// With the users in PostgreSQL: logged-in sessions per address, counted across daemons.
    pub(crate) leases: Option<SessionLeases>,
    /// With the users in PostgreSQL: quota usage there, exact across daemons.
    pub(crate) shared_quotas: Option<SharedQuotaStore>,
    /// With the users in PostgreSQL: the directories holding the homes when the daemon started,
    /// which a forked session process confines itself to before its first login.
    pub(crate) home_roots: Option<Vec<PathBuf>>,
    /// Homes open in this process, one per logged-in user.
    pub(crate) homes: Arc<homes::OpenHomes>,
    /// Session counts for sessions that share this process's memory (every mode but
    /// forking, where only files count sessions across processes).
    pub(crate) counted_slots: Arc<slots::SlotCounter>,
    /// Prometheus counters (with `metrics.listen`), in memory every session process shares.
    pub(crate) metrics: Option<FtpMetrics>,
    /// Event hooks and the pre-upload check (with `[hooks]` set), in the hook process.
    pub(crate) hooks: Option<HookClient>,
}

/// How long a session's end waits for its database row to be deleted.
const LEASE_RELEASE_WAIT: Duration = Duration::from_secs(2);

impl Shared {
    /// The same server state (users, bans, homes, counts, metrics) with another
    /// configuration and certificate, for the sessions that start after a reload.
    fn reconfigured(&self, config: FtpdConfig, tls: Option<TlsServer>) -> Shared {
        Shared {
            config,
            tls,
            authenticator: self.authenticator.clone(),
            guard: self.guard.clone(),
            shared_guard: self.shared_guard.clone(),
            leases: self.leases.clone(),
            shared_quotas: self.shared_quotas.clone(),
            home_roots: self.home_roots.clone(),
            homes: Arc::clone(&self.homes),
            counted_slots: Arc::clone(&self.counted_slots),
            metrics: self.metrics.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

/// The `wharf` request handler serving the FTP protocol; clone one per connection.
#[derive(Clone)]
pub struct FtpHandler {
    /// Configuration and authenticator for new sessions, shared by every clone (and replaced
    /// as a whole by a reload).
    live: LiveSettings,
}

impl std::fmt::Debug for FtpHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpHandler").finish_non_exhaustive()
    }
}

impl FtpHandler {
    /// A handler serving `config` with logins checked by `authenticator`, offering FTPS with
    /// `tls` if given.
    pub fn new(config: FtpdConfig, authenticator: Authenticator, tls: Option<TlsServer>) -> Self {
        Self::with_home_roots(config, authenticator, tls, None)
    }

    /// Like [`FtpHandler::new`], with the directories holding the homes known at start (for a
    /// database of users, which a forked session process cannot read before it is confined).
    pub fn with_home_roots(
        config: FtpdConfig,
        authenticator: Authenticator,
        tls: Option<TlsServer>,
        home_roots: Option<Vec<PathBuf>>,
    ) -> Self {
        let limits = &config.limits;
        let policy = BanPolicy {
            after_failures: limits.ban_after_failures,
            window: limits.ban_window,
            duration: limits.ban_duration,
        };
        let guard = LoginGuard::new(&config.server.state_dir, policy);
        let database = authenticator.store().database();
        let shared_guard = database
            .clone()
            .map(|database| SharedLoginGuard::new(database, policy));
        let shared_quotas = database.clone().map(SharedQuotaStore::new);
        let leases = database.map(SessionLeases::new);
        Self {
            live: LiveSettings::new(Shared {
                config,
                authenticator,
                tls,
                guard,
                shared_guard,
                leases,
                shared_quotas,
                home_roots,
                homes: Arc::default(),
                counted_slots: Arc::default(),
                metrics: None,
                hooks: None,
            }),
        }
    }

    /// Counts into `metrics` (made before the server forks); set before the server is built.
    pub fn with_metrics(mut self, metrics: FtpMetrics) -> Self {
        self.live.set_metrics(metrics);
        self
    }

    /// Hands events and pre-upload checks to the hook process through `hooks`; set before
    /// the server is built.
    pub fn with_hooks(mut self, hooks: HookClient) -> Self {
        self.live.set_hooks(hooks);
        self
    }

    /// The handle through which a reload replaces what new sessions start with.
    pub fn live_settings(&self) -> LiveSettings {
        self.live.clone()
    }
}

impl RequestHandler for FtpHandler {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        // This session's settings from here to its end, whatever a reload does meanwhile.
        let shared = self.live.current();
        let span = tracing::info_span!(
            "session",
            id = conn.id(),
            peer = %conn.peer(),
            user = tracing::field::Empty
        );
        // A process of its own: confine it before a byte from the client is read.
        let own_process = !conn.capabilities().shares_memory && shared.config.server.confine;
        if own_process {
            span.in_scope(|| Self::confine_process(&shared))?;
        }
        let _active = shared.metrics.as_ref().map(FtpMetrics::session_started);
        let mut session = state::Session::new(Arc::clone(&shared), conn)?;
        session.implicit_tls = listeners::is_implicit_tls(conn.listener_name());
        session.own_process = own_process;
        let served = control::COMPLETION_REPLY
            .scope(
                std::cell::Cell::new(0),
                session.run(conn).instrument(span.clone()),
            )
            .await;
        if let Some(leases) = &shared.leases {
            leases.settled(LEASE_RELEASE_WAIT).instrument(span).await;
        }
        served
    }
}

impl FtpHandler {
    /// Step 1 of [`confine`]: this session process may reach only the homes of the users
    /// known now, the state directory and the transfer log's directory. The users file is read
    /// into memory first; a change to it after this point fails this session's login.
    fn confine_process(shared: &Shared) -> Result<(), HandlerError> {
        let config = &shared.config;
        let users;
        let mut trees: Vec<&std::path::Path> = match &shared.home_roots {
            // A database is not read here: its runtime thread would start unconfined.
            Some(roots) => roots.iter().map(PathBuf::as_path).collect(),
            None => {
                users = shared.authenticator.users()?;
                // Key-prefix homes (object storage) are no local trees: nothing to grant.
                users
                    .iter()
                    .map(|user| user.home.as_path())
                    .filter(|home| home.is_absolute())
                    .collect()
            }
        };
        trees.push(&config.server.state_dir);
        if let Some(dir) = config
            .log
            .xferlog
            .as_deref()
            .and_then(std::path::Path::parent)
        {
            trees.push(dir);
        }
        match confine::confine_to(&trees) {
            Ok(outcome) => tracing::debug!(?outcome, "session process confined"),
            Err(error) => {
                tracing::error!(%error, "cannot confine the session process; closing it");
                return Err(error.into());
            }
        }
        confine::probe("start");
        Ok(())
    }
}
