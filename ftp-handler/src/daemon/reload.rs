//! SIGHUP: read the configuration and the TLS certificate and key again, for new sessions.
//!
//! The signal handler only sets a flag; the server's `service_actions` tick (in the accept
//! loop; in forking mode, the parent's) does the reload, so it runs in every mode without
//! tokio in the forking parent. A new configuration is loaded from the same sources as at
//! start ([`ConfigSource`]), restart-only settings keep their running values (each named in a
//! warning), and anything invalid (a parse error, a refused value, a certificate that cannot
//! be read) leaves the running configuration in force.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::config::reload::{ConfigSource, changed_sections, merge};
use crate::config::{ConfigError, FtpdConfig};
use crate::session::LiveSettings;
use crate::tls::{TlsError, TlsServer};

/// How often the serving loop looks for a pending SIGHUP: the longest a reload waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Set by the SIGHUP handler, cleared by the reload that answers it.
static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hangup(_signum: libc::c_int) {
    // Async-signal-safe: one atomic store.
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Makes SIGHUP request a reload instead of ending the process (its default). Forked session
/// processes inherit the handler; nothing reads their flag, so a hangup leaves them running.
pub fn install_hangup_handler() -> std::io::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_hangup),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler performs one atomic store, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGHUP, &action) }
        .map(drop)
        .map_err(std::io::Error::from)
}

/// Why a new configuration was refused (the running one stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read or parsed, or a value is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificate or key could not be read or used.
    #[error("cannot use the TLS certificate or key: {0}")]
    Tls(#[from] TlsError),
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Sections with a new value in force (restart-only settings aside).
    pub changed: Vec<&'static str>,
    /// Restart-only settings that differ in the file and kept their running values.
    pub need_restart: Vec<&'static str>,
    /// Whether a certificate and key were read (again) for new sessions.
    pub tls: bool,
}

/// Reloads the configuration of one server on request.
#[derive(Debug, Clone)]
pub struct Reloader {
    /// Where the configuration is read from.
    source: ConfigSource,
    /// What new sessions start with.
    live: LiveSettings,
}

impl Reloader {
    /// A reloader reading `source` into `live`.
    pub fn new(source: ConfigSource, live: LiveSettings) -> Self {
        Reloader { source, live }
    }

    /// Reloads if a SIGHUP came since the last call; logs the outcome. Runs in the serving
    /// loop: the files are small and a reload is rare, so reading them there is cheap.
    pub fn poll(&self) {
        if REQUESTED.swap(false, Ordering::SeqCst) {
            self.reload_and_log();
        }
    }

    /// Reloads now and logs the outcome (the lines operators and tests look for).
    pub fn reload_and_log(&self) {
        let file = self
            .source
            .file
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |file| file.display().to_string());
        match self.reload() {
            Ok(reloaded) => {
                for setting in &reloaded.need_restart {
                    tracing::warn!(
                        setting,
                        "reload: {setting} changed but needs a restart; it keeps its running value"
                    );
                }
                tracing::info!(
                    config = %file,
                    changed = ?reloaded.changed,
                    tls = reloaded.tls,
                    "configuration reloaded; new sessions use it"
                );
            }
            Err(error) => tracing::error!(
                config = %file,
                "configuration reload refused, the running configuration stays: {}",
                wharf::error_chain(&error)
            ),
        }
    }

    /// Loads the sources again and, if everything is usable, puts the result in force for new
    /// sessions.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let old = self.live.config();
        let (config, need_restart) = merge(&old, self.source.load()?);
        // Restart-only values back in place can clash with new ones (implicit FTPS kept,
        // certificate removed).
        config.validate()?;
        let tls = load_tls(&config)?;
        let changed = changed_sections(&old, &config);
        let reloaded = Reloaded {
            changed,
            need_restart,
            tls: tls.is_some(),
        };
        self.live.replace(config, tls);
        Ok(reloaded)
    }
}

/// The certificate and key named in `config`, read now (`None` without TLS).
pub fn load_tls(config: &FtpdConfig) -> Result<Option<TlsServer>, TlsError> {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => TlsServer::from_pem_files(cert, key).map(Some),
        _ => Ok(None),
    }
}
