//! Running the daemon: `serve` builds a `wharf` server from the configuration, `demo` sets up a
//! throw-away user and root first.

mod demo;
mod memory;
pub mod quota_command;

use std::path::PathBuf;

use wharf::auth::{AuthError, Authenticator};
use wharf::{Mode, Server, ServerError};

use crate::config::FtpdConfig;
use crate::session::FtpHandler;
use crate::tls::{TlsError, TlsServer};

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
    /// The state directory could not be created.
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The users file could not be read.
    #[error("cannot use the users file: {0}")]
    Users(#[from] AuthError),
    /// The TLS certificate or key could not be used.
    #[error("cannot set up FTPS: {0}")]
    Tls(#[from] TlsError),
    /// The server could not bind or run.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// The mode with its worker pool sized for `max_sessions` (threads or child processes).
pub fn sized_mode(mode: Mode, max_sessions: usize) -> Mode {
    let workers = max_sessions.saturating_add(SESSION_HEADROOM);
    match mode {
        Mode::Threading {
            daemon_threads,
            block_on_close,
            ..
        } => Mode::Threading {
            max_threads: workers,
            daemon_threads,
            block_on_close,
        },
        Mode::Forking { block_on_close, .. } => Mode::Forking {
            max_children: workers,
            block_on_close,
        },
        other => other,
    }
}

/// Builds (binds) the FTP server described by `config`; call `serve_forever` on it.
pub fn build_server(config: FtpdConfig) -> Result<Server<FtpHandler>, DaemonError> {
    let state_dir = config.server.state_dir.clone();
    std::fs::create_dir_all(&state_dir).map_err(|source| DaemonError::StateDir {
        path: state_dir,
        source,
    })?;
    let authenticator = Authenticator::builder(&config.server.users_file).build()?;
    let tls = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(TlsServer::from_pem_files(cert, key)?),
        _ => None,
    };
    let mut builder = Server::builder()
        .name("wharf-ftpd")
        .mode(sized_mode(config.server.mode, config.limits.max_sessions))
        .buffer_sizes(CONTROL_READ_BUFFER, CONTROL_WRITE_BUFFER)
        .shutdown_timeout(config.server.shutdown_timeout);
    // The handler tells implicit-FTPS connections by their listener's place in this order.
    for addr in config
        .server
        .listen
        .iter()
        .chain(&config.tls.implicit_listen)
    {
        builder = builder.listen(addr.clone());
    }
    Ok(builder.build(FtpHandler::new(config, authenticator, tls))?)
}

/// Logs `listening on ADDR` for each bound address, marking the implicit-FTPS ones.
pub fn log_listening(server: &Server<FtpHandler>, config: &FtpdConfig) {
    let explicit = config.server.listen.len();
    for (index, addr) in server.local_addrs().iter().enumerate() {
        if index < explicit {
            tracing::info!(mode = %config.server.mode, "listening on {addr}");
        } else {
            tracing::info!(mode = %config.server.mode, "listening on {addr} (implicit FTPS)");
        }
    }
}

/// Binds the server, logs `listening on ADDR` for each address, and serves until a signal.
pub fn serve(config: FtpdConfig) -> Result<(), DaemonError> {
    memory::return_big_blocks_to_the_system();
    let server = build_server(config.clone())?;
    log_listening(&server, &config);
    server.serve_forever()?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_pools_follow_max_sessions() {
        let sized = sized_mode(Mode::forking(), 100);
        assert!(matches!(sized, Mode::Forking { max_children, .. } if max_children == 116));
        let sized = sized_mode(Mode::threading(), 10);
        assert!(matches!(sized, Mode::Threading { max_threads, .. } if max_threads == 26));
        assert_eq!(sized_mode(Mode::Sequential, 10), Mode::Sequential);
    }
}
