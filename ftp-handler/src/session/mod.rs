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
//! - [`commands`]: one file per command group.

mod ascii;
mod commands;
mod control;
mod data;
mod run;
mod slots;
mod state;
mod transfer;
mod xferlog;

use std::sync::Arc;

use tracing::Instrument;
use wharf::auth::Authenticator;
use wharf::{Connection, HandlerError, RequestHandler};

use crate::config::FtpdConfig;

/// What every session of one server shares (read-only).
pub(crate) struct Shared {
    /// The daemon's configuration.
    pub(crate) config: FtpdConfig,
    /// Password checks against the users file.
    pub(crate) authenticator: Authenticator,
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
    /// A handler serving `config` with logins checked by `authenticator`.
    pub fn new(config: FtpdConfig, authenticator: Authenticator) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                authenticator,
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
        let session = state::Session::new(Arc::clone(&self.shared), conn)?;
        session.run(conn).instrument(span).await
    }
}
