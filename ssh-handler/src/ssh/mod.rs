//! The SSH front end: a stock OpenSSH client runs `ssh -p PORT user@host CMD` against it.
//!
//! - this file: russh's configuration, and russh run on the connection's own transport;
//! - `session`: authentication and channel requests (exec accepted; shell, pty refused);
//! - `relay`: one running command's output and exit status sent back on its channel;
//! - [`host_key`]: the host key kept in the state directory.

pub mod host_key;
mod relay;
mod session;

use std::sync::Arc;
use std::time::Duration;

use russh::MethodKind;
use russh::keys::PrivateKey;
use wharf::Connection;
use wharf_users::{AuthError, Authenticator};

use crate::exec::Executor;
use crate::metrics::SshMetrics;

/// Why an SSH session ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The SSH protocol layer failed.
    #[error("SSH: {0}")]
    Russh(#[from] russh::Error),
    /// The users file could not be read.
    #[error("cannot check the login: {0}")]
    Auth(#[from] AuthError),
    /// Taking the connection's transport failed.
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves SSH connections; cloned into every connection.
#[derive(Clone)]
pub struct SshFrontEnd {
    /// russh's settings, with the host key.
    config: Arc<russh::server::Config>,
    /// Checks passwords and looks up authorized keys.
    authenticator: Authenticator,
    /// Runs commands.
    executor: Executor,
    /// Counts logins and commands (disabled unless set).
    metrics: SshMetrics,
}

impl std::fmt::Debug for SshFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshFrontEnd").finish_non_exhaustive()
    }
}

impl SshFrontEnd {
    /// A front end presenting `host_key`; connections with no traffic for `inactivity` close.
    pub fn new(
        host_key: PrivateKey,
        authenticator: Authenticator,
        executor: Executor,
        inactivity: Duration,
    ) -> Self {
        let config = russh::server::Config {
            server_id: russh::SshId::Standard(
                concat!("SSH-2.0-wharf-sshd_", env!("CARGO_PKG_VERSION")).into(),
            ),
            methods: russh::MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
            // Every rejection takes this long, so timing does not tell users or keys apart.
            auth_rejection_time: Duration::from_secs(1),
            // OpenSSH opens with a "none" attempt just to learn the methods: answer it at once.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![host_key],
            max_auth_attempts: 6,
            inactivity_timeout: Some(inactivity),
            ..Default::default()
        };
        SshFrontEnd {
            config: Arc::new(config),
            authenticator,
            executor,
            metrics: SshMetrics::disabled(),
        }
    }

    /// Counts this front end's logins and commands into `metrics`.
    pub fn with_metrics(mut self, metrics: SshMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves one connection until the client disconnects: russh owns the transport.
    pub async fn serve(&self, conn: &mut Connection) -> Result<(), SshError> {
        let peer = conn.peer().to_string();
        let handler = session::SshSession::new(
            self.authenticator.clone(),
            self.executor.clone(),
            self.metrics.clone(),
        );
        let transport = conn.take_transport().await?;
        let config = Arc::clone(&self.config);
        let outcome = async move {
            let running = russh::server::run_stream(config, transport, handler).await?;
            running.await
        }
        .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(SshError::Russh(error)) if is_disconnect(&error) => {
                tracing::debug!(%peer, %error, "SSH client disconnected");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether a russh error only says the peer went away.
fn is_disconnect(error: &russh::Error) -> bool {
    match error {
        russh::Error::Disconnect
        | russh::Error::HUP
        | russh::Error::ConnectionTimeout
        | russh::Error::InactivityTimeout
        | russh::Error::KeepaliveTimeout => true,
        russh::Error::IO(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}
