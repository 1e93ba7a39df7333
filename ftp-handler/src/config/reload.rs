//! What a reload (SIGHUP) may change: the sources to read again, and [`merge`], which keeps
//! the settings that only a restart can change at their running values.
//!
//! Restart-only settings are bound into what the daemon built at start: sockets (`listen`,
//! `implicit_listen`, PROXY protocol per listener), the concurrency mode and its worker pool
//! (`max_sessions`), the process's user and its Landlock rules (`confine`, and the state, log
//! and users paths they grant), the ban bookkeeping, the storage backend and its open homes
//! (`durable_uploads` too: homes are shared by the sessions of a user), and the exporter.

use std::path::PathBuf;

use super::{ConfigError, FtpdConfig, Overrides};

/// Where the running configuration came from, so that a reload reads the same sources again:
/// the file, the process environment and the command-line flags (which still win).
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The `--config` file; `None`: defaults, environment and flags only.
    pub file: Option<PathBuf>,
    /// The `serve` flags, applied over the file and the environment on every load.
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Reads and checks the configuration from these sources, now.
    pub fn load(&self) -> Result<FtpdConfig, ConfigError> {
        FtpdConfig::load(self.file.as_deref(), &self.overrides)
    }
}

/// Every setting that needs a restart, as `section.key` (the names the log gives).
pub const RESTART_ONLY: &[&str] = &[
    "server.listen",
    "server.mode",
    "server.users_file",
    "server.state_dir",
    "server.shutdown_timeout",
    "server.durable_uploads",
    "server.confine",
    "server.user",
    "server.group",
    "limits.max_sessions",
    "limits.ban_after_failures",
    "limits.ban_window",
    "limits.ban_duration",
    "tls.implicit_listen",
    "log.xferlog",
    "proxy_protocol",
    "storage",
    "metrics",
    "hooks",
];

/// `new` with every restart-only setting put back to its value in `old`, and the names of
/// those that differed (in [`RESTART_ONLY`] order). Everything else comes from `new`.
pub fn merge(old: &FtpdConfig, mut new: FtpdConfig) -> (FtpdConfig, Vec<&'static str>) {
    let (server, limits) = (&old.server, &old.limits);
    let restored = [
        (
            "server.listen",
            restore(&server.listen, &mut new.server.listen),
        ),
        ("server.mode", restore(&server.mode, &mut new.server.mode)),
        (
            "server.users_file",
            restore(&server.users_file, &mut new.server.users_file),
        ),
        (
            "server.state_dir",
            restore(&server.state_dir, &mut new.server.state_dir),
        ),
        (
            "server.shutdown_timeout",
            restore(&server.shutdown_timeout, &mut new.server.shutdown_timeout),
        ),
        (
            "server.durable_uploads",
            restore(&server.durable_uploads, &mut new.server.durable_uploads),
        ),
        (
            "server.confine",
            restore(&server.confine, &mut new.server.confine),
        ),
        ("server.user", restore(&server.user, &mut new.server.user)),
        (
            "server.group",
            restore(&server.group, &mut new.server.group),
        ),
        (
            "limits.max_sessions",
            restore(&limits.max_sessions, &mut new.limits.max_sessions),
        ),
        (
            "limits.ban_after_failures",
            restore(
                &limits.ban_after_failures,
                &mut new.limits.ban_after_failures,
            ),
        ),
        (
            "limits.ban_window",
            restore(&limits.ban_window, &mut new.limits.ban_window),
        ),
        (
            "limits.ban_duration",
            restore(&limits.ban_duration, &mut new.limits.ban_duration),
        ),
        (
            "tls.implicit_listen",
            restore(&old.tls.implicit_listen, &mut new.tls.implicit_listen),
        ),
        (
            "log.xferlog",
            restore(&old.log.xferlog, &mut new.log.xferlog),
        ),
        (
            "proxy_protocol",
            restore(&old.proxy_protocol, &mut new.proxy_protocol),
        ),
        ("storage", restore(&old.storage, &mut new.storage)),
        ("metrics", restore(&old.metrics, &mut new.metrics)),
        // The hook process is forked at start with these settings.
        ("hooks", restore(&old.hooks, &mut new.hooks)),
    ];
    let kept = restored
        .into_iter()
        .filter_map(|(name, differed)| differed.then_some(name))
        .collect();
    (new, kept)
}

/// Sets `new` to `old`; true if they differed.
fn restore<T: PartialEq + Clone>(old: &T, new: &mut T) -> bool {
    if old == new {
        return false;
    }
    *new = old.clone();
    true
}

/// The sections whose values differ between `old` and `new` (for the reload's log line).
pub fn changed_sections(old: &FtpdConfig, new: &FtpdConfig) -> Vec<&'static str> {
    [
        ("server", old.server != new.server),
        ("passive", old.passive != new.passive),
        ("limits", old.limits != new.limits),
        ("tls", old.tls != new.tls),
        ("log", old.log != new.log),
        ("proxy_protocol", old.proxy_protocol != new.proxy_protocol),
        ("storage", old.storage != new.storage),
        ("metrics", old.metrics != new.metrics),
        ("hooks", old.hooks != new.hooks),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use wharf::{ListenAddr, Mode};

    use super::*;

    #[test]
    fn an_unchanged_configuration_keeps_nothing_back() {
        let old = FtpdConfig::default();
        let (merged, kept) = merge(&old, old.clone());
        assert_eq!(merged, old);
        assert!(kept.is_empty());
        assert!(changed_sections(&old, &merged).is_empty());
    }

    #[test]
    fn reloadable_settings_take_their_new_values() {
        let old = FtpdConfig::default();
        let mut new = old.clone();
        new.server.greeting = "new greeting".to_string();
        new.limits.idle_timeout = Duration::from_secs(5);
        new.limits.max_sessions_per_ip = 3;
        new.passive.ports = Some("50000-50010".parse().unwrap());
        new.tls.cert = Some(PathBuf::from("/new/cert.pem"));
        new.tls.key = Some(PathBuf::from("/new/key.pem"));
        new.tls.require_tls = true;
        let (merged, kept) = merge(&old, new.clone());
        assert_eq!(merged, new);
        assert!(kept.is_empty(), "{kept:?}");
        assert_eq!(
            changed_sections(&old, &merged),
            ["server", "passive", "limits", "tls"]
        );
    }

    #[test]
    fn restart_only_settings_keep_their_old_values_and_are_named() {
        let old = FtpdConfig::default();
        let mut new = old.clone();
        new.server.greeting = "applied".to_string();
        new.server.listen = vec![ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 2222)))];
        new.server.mode = Mode::forking();
        new.server.state_dir = PathBuf::from("/elsewhere");
        new.server.durable_uploads = !old.server.durable_uploads;
        new.limits.max_sessions = 1;
        new.limits.ban_window = Duration::from_secs(1);
        new.tls.implicit_listen = vec![ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 990)))];
        new.log.xferlog = Some(PathBuf::from("/var/log/xferlog"));
        new.proxy_protocol.required = !old.proxy_protocol.required;
        new.storage.bucket = "other".to_string();
        new.metrics.per_user_quota = true;
        let (merged, kept) = merge(&old, new);
        let mut expected = old.clone();
        expected.server.greeting = "applied".to_string();
        assert_eq!(merged, expected);
        assert_eq!(
            kept,
            [
                "server.listen",
                "server.mode",
                "server.state_dir",
                "server.durable_uploads",
                "limits.max_sessions",
                "limits.ban_window",
                "tls.implicit_listen",
                "log.xferlog",
                "proxy_protocol",
                "storage",
                "metrics",
            ]
        );
    }

    #[test]
    fn every_kept_name_is_listed_as_restart_only() {
        let old = FtpdConfig::default();
        let mut new = old.clone();
        new.server.listen = Vec::new();
        new.server.mode = Mode::threading();
        new.server.users_file = PathBuf::from("/other/users.toml");
        new.server.state_dir = PathBuf::from("/other/state");
        new.server.shutdown_timeout = Duration::from_secs(1);
        new.server.durable_uploads = false;
        new.server.confine = false;
        new.server.user = Some("ftp".to_string());
        new.server.group = Some("ftp".to_string());
        new.limits.max_sessions = 2;
        new.limits.ban_after_failures = 1;
        new.limits.ban_window = Duration::from_secs(2);
        new.limits.ban_duration = Duration::from_secs(3);
        new.tls.implicit_listen = vec![ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 990)))];
        new.log.xferlog = Some(PathBuf::from("/x"));
        new.proxy_protocol.header_timeout = Duration::from_secs(1);
        new.storage.region = "elsewhere".to_string();
        new.metrics.per_user_quota = true;
        new.hooks.queue = 7;
        let (merged, kept) = merge(&old, new);
        assert_eq!(merged, old);
        assert_eq!(kept, RESTART_ONLY);
    }
}
