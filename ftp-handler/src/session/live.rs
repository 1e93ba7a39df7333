//! The settings new sessions start with. A session takes a snapshot ([`LiveSettings::current`])
//! when it starts and keeps it to its end; a reload swaps in a new [`Shared`] for the sessions
//! after it. In forking mode the parent holds the one that counts: each child is a copy of the
//! parent at its fork, so children forked after a reload start with the new settings.

use std::sync::{Arc, PoisonError, RwLock};

use super::Shared;
use crate::config::FtpdConfig;
use crate::hooks::HookClient;
use crate::metrics::FtpMetrics;
use crate::tls::TlsServer;

/// A handle on the settings new sessions start with; clones share them.
#[derive(Clone)]
pub struct LiveSettings {
    /// Replaced as a whole on reload: readers clone the `Arc` and never hold the lock longer.
    current: Arc<RwLock<Arc<Shared>>>,
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSettings").finish_non_exhaustive()
    }
}

impl LiveSettings {
    /// Settings starting as `shared`.
    pub(super) fn new(shared: Shared) -> Self {
        LiveSettings {
            current: Arc::new(RwLock::new(Arc::new(shared))),
        }
    }

    /// What a session starting now uses.
    pub(super) fn current(&self) -> Arc<Shared> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The configuration in force for new sessions.
    pub fn config(&self) -> FtpdConfig {
        self.current().config.clone()
    }

    /// New sessions use `config` and `tls` from now on; running sessions keep what they
    /// started with. Users, bans, open homes, session counts and metrics carry over.
    pub fn replace(&self, config: FtpdConfig, tls: Option<TlsServer>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let next = current.reconfigured(config, tls);
        *current = Arc::new(next);
    }

    /// Counts sessions into `metrics` (before the server is built, when nothing else holds
    /// the settings yet; later it changes nothing).
    pub(super) fn set_metrics(&mut self, metrics: FtpMetrics) {
        if let Some(lock) = Arc::get_mut(&mut self.current)
            && let Some(shared) =
                Arc::get_mut(lock.get_mut().unwrap_or_else(PoisonError::into_inner))
        {
            shared.metrics = Some(metrics);
        }
    }

    /// Hands events and pre-upload checks to the hook process through `hooks` (before the
    /// server is built, like [`LiveSettings::set_metrics`]).
    pub(super) fn set_hooks(&mut self, hooks: HookClient) {
        if let Some(lock) = Arc::get_mut(&mut self.current)
            && let Some(shared) =
                Arc::get_mut(lock.get_mut().unwrap_or_else(PoisonError::into_inner))
        {
            shared.hooks = Some(hooks);
        }
    }
}
