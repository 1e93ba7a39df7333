//! The FTP session: one [`FtpHandler`] clone per control connection, plugged into `wharf`.
//!
//! - [`state`]: [`Session`](state::Session), everything one control connection remembers.
//! - [`run`]: the command loop (timeouts, shutdown, dispatch, login gate).
//! - [`control`]: writing replies on the control connection.
//! - [`data`]: PASV/EPSV listeners and PORT/EPRT connections (no FTP bounce).
//! - [`transfer`]: data transfers as tasks, supervised while the control channel stays readable.
//! - [`ascii`]: TYPE A line-end conversion.
//! - [`slots`]: session limits (total and per IP) that hold across processes.
//! - [`xferlog`]: the optional wu-ftpd format transfer log.
//! - [`zero_copy`]: `sendfile` downloads on clear data connections.
//! - [`secure`]: TLS on the control connection (AUTH TLS, implicit) and on data connections.
//! - [`bans`]: the brute-force defence at login (bans checked, failures counted).
//! - [`homes`]: homes open in this process, shared by the sessions of one user.
//! - [`listeners`]: the names of the daemon's listeners (plain FTP, implicit FTPS).
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
mod run;
mod secure;
mod slots;
mod state;
mod transfer;
mod upload_buffer;
mod xferlog;
mod zero_copy;

use std::sync::Arc;

use tracing::Instrument;
use wharf::{Connection, HandlerError, RequestHandler};
use wharf_users::Authenticator;

use crate::config::FtpdConfig;
use crate::defence::{BanPolicy, LoginGuard};
use crate::tls::TlsServer;

/// What every session of one server shares (read-only).
pub(crate) struct Shared {
    /// The daemon's configuration.
    pub(crate) config: FtpdConfig,
    /// Password checks against the users file.
    pub(crate) authenticator: Authenticator,
    /// The certificate for FTPS; `None` when TLS is not configured.
    pub(crate) tls: Option<TlsServer>,
    /// Failed-login counts and bans, shared with every other session through the state dir.
    pub(crate) guard: LoginGuard,
    /// Homes open in this process, one per logged-in user.
    pub(crate) homes: homes::OpenHomes,
    /// Session counts for sessions that share this process's memory (every mode but
    /// forking, where only files count sessions across processes).
    pub(crate) counted_slots: slots::SlotCounter,
}

/// The `wharf` request handler serving the FTP protocol; clone one per connection.
#[derive(Clone)]
pub struct FtpHandler {
    /// Configuration and authenticator, shared by every session.
    shared: Arc<Shared>,
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
        let limits = &config.limits;
        let policy = BanPolicy {
            after_failures: limits.ban_after_failures,
            window: limits.ban_window,
            duration: limits.ban_duration,
        };
        let guard = LoginGuard::new(&config.server.state_dir, policy);
        Self {
            shared: Arc::new(Shared {
                config,
                authenticator,
                tls,
                guard,
                homes: homes::OpenHomes::default(),
                counted_slots: slots::SlotCounter::default(),
            }),
        }
    }
}

impl RequestHandler for FtpHandler {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        let span = tracing::info_span!(
            "session",
            id = conn.id(),
            peer = %conn.peer(),
            user = tracing::field::Empty
        );
        // A process of its own: confine it before a byte from the client is read.
        let own_process = !conn.capabilities().shares_memory && self.shared.config.server.confine;
        if own_process {
            span.in_scope(|| self.confine_process())?;
        }
        let mut session = state::Session::new(Arc::clone(&self.shared), conn)?;
        session.implicit_tls = listeners::is_implicit_tls(conn.listener_name());
        session.own_process = own_process;
        session.run(conn).instrument(span).await
    }
}

impl FtpHandler {
    /// Step 1 of [`confine`]: this session process may reach only the homes of the users
    /// known now, the state directory and the transfer log's directory. The users file is read
    /// into memory first; a change to it after this point fails this session's login.
    fn confine_process(&self) -> Result<(), HandlerError> {
        let config = &self.shared.config;
        let users = self.shared.authenticator.users()?;
        // Key-prefix homes (object storage) are no local trees: nothing to grant.
        let mut trees: Vec<&std::path::Path> = users
            .iter()
            .map(|user| user.home.as_path())
            .filter(|home| home.is_absolute())
            .collect();
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
