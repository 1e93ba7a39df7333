//! The daemon's configuration: defaults, then an optional TOML file, then `WHARF_FTPD__*`
//! environment variables, then command-line flags, each overriding the one before.
//!
//! Every default lives in [`FtpdConfig::default`]; section defaults are read from it.
//! Environment variables name a setting by section and key, separated by double underscores:
//! `WHARF_FTPD__LIMITS__IDLE_TIMEOUT=60` sets `idle_timeout` in `[limits]`.

pub mod duration;
pub mod hooks;
pub mod listen;
pub mod metrics;
mod overrides;
pub mod port_range;
pub mod reload;
pub mod storage;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wharf::{ListenAddr, Mode};

pub use overrides::Overrides;
pub use port_range::PortRange;

/// Prefix of the environment variables read as settings.
pub const ENV_PREFIX: &str = "WHARF_FTPD";
/// Separator between prefix, section and key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// Shortest accepted `limits.max_line_length`: a verb plus a reasonable path must fit.
pub const MIN_LINE_LENGTH: usize = 256;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type or form.
    #[error("cannot load the configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is well-formed but not usable.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting, as `section.key`.
        key: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// Everything `wharf-ftpd serve` can be configured with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FtpdConfig {
    /// `[server]`: where and how the daemon runs.
    pub server: ServerConfig,
    /// `[passive]`: passive-mode data connections.
    pub passive: PassiveConfig,
    /// `[limits]`: session limits and timeouts.
    pub limits: LimitsConfig,
    /// `[tls]`: FTPS settings.
    pub tls: TlsConfig,
    /// `[log]`: logs besides the tracing output.
    pub log: LogConfig,
    /// `[proxy_protocol]`: control connections from a load balancer.
    pub proxy_protocol: ProxyProtocolConfig,
    /// `[storage]`: the local disk or an S3-compatible object store.
    pub storage: storage::StorageConfig,
    /// `[metrics]`: the Prometheus exporter and health endpoints.
    pub metrics: metrics::MetricsConfig,
    /// `[hooks]`: event hooks and the pre-upload check.
    pub hooks: hooks::HooksConfig,
}

/// `[proxy_protocol]` settings: which balancers may put the client's address in front of a
/// control connection (PROXY protocol v1 or v2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyProtocolConfig {
    /// Networks of the balancers whose headers are believed (`"CIDR"`); empty: no PROXY
    /// protocol.
    pub trusted: Vec<wharf::Cidr>,
    /// Whether a connection from a trusted balancer must start with a header.
    pub required: bool,
    /// How long a trusted balancer may take to send the header.
    #[serde(deserialize_with = "duration::deserialize")]
    pub header_timeout: Duration,
}

impl Default for ProxyProtocolConfig {
    fn default() -> Self {
        FtpdConfig::default().proxy_protocol
    }
}

impl ProxyProtocolConfig {
    /// The framework's settings, or `None` when no balancer is trusted.
    pub fn settings(&self) -> Option<wharf::ProxyProtocol> {
        (!self.trusted.is_empty()).then(|| {
            wharf::ProxyProtocol::new(self.trusted.iter().copied())
                .required(self.required)
                .header_timeout(self.header_timeout)
        })
    }
}

/// `[server]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Control-connection listen addresses.
    #[serde(deserialize_with = "listen::deserialize")]
    pub listen: Vec<ListenAddr>,
    /// Concurrency mode: `async`, `threading`, `forking` or `sequential` (or a table).
    pub mode: Mode,
    /// The users file shared with the other Wharf services.
    pub users_file: PathBuf,
    /// Server-owned state (quota usage), outside every home.
    pub state_dir: PathBuf,
    /// Text of the 220 greeting.
    pub greeting: String,
    /// How long shutdown waits for sessions before closing them.
    #[serde(deserialize_with = "duration::deserialize")]
    pub shutdown_timeout: Duration,
    /// Whether `226` waits until an upload's data and directory entry are on stable storage.
    pub durable_uploads: bool,
    /// Whether the daemon confines itself with Landlock (async, threading and sequential
    /// modes: the whole daemon; forking mode: each session process).
    pub confine: bool,
    /// The account to switch to once the sockets are bound (by name or uid); unset keeps the
    /// starting user.
    pub user: Option<String>,
    /// The group to switch to with `user` (by name or gid); unset: the user's primary group.
    pub group: Option<String>,
}

/// `[passive]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassiveConfig {
    /// Ports for passive data connections, `LOW-HIGH`; unset lets the system pick any free port.
    pub ports: Option<PortRange>,
    /// Address advertised in PASV replies (behind NAT); unset advertises the control
    /// connection's local address.
    pub address: Option<IpAddr>,
}

/// `[limits]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Most sessions served at once.
    pub max_sessions: usize,
    /// Most sessions at once from one IP address.
    pub max_sessions_per_ip: usize,
    /// Time allowed from connecting to a successful login.
    #[serde(deserialize_with = "duration::deserialize")]
    pub login_timeout: Duration,
    /// Time a session may stay silent between commands.
    #[serde(deserialize_with = "duration::deserialize")]
    pub idle_timeout: Duration,
    /// Time allowed for a data connection to be made.
    #[serde(deserialize_with = "duration::deserialize")]
    pub data_accept_timeout: Duration,
    /// Longest command line in bytes (CRLF excluded); longer lines get 500.
    pub max_line_length: usize,
    /// Pause before answering a failed login.
    #[serde(deserialize_with = "duration::deserialize")]
    pub failed_login_delay: Duration,
    /// Failed logins after which the connection is closed (421).
    pub max_login_attempts: u32,
    /// Unusable lines (too long, not UTF-8, unknown verb) after which the connection is
    /// closed (421).
    pub max_bad_commands: u32,
    /// Failed logins within `ban_window` that ban the client address, and separately the user
    /// name, for `ban_duration` (421 while it lasts); 0 turns bans off.
    pub ban_after_failures: u32,
    /// How far back failed logins count towards a ban.
    #[serde(deserialize_with = "duration::deserialize")]
    pub ban_window: Duration,
    /// How long a ban lasts.
    #[serde(deserialize_with = "duration::deserialize")]
    pub ban_duration: Duration,
}

/// `[tls]` settings (FTPS, RFC 4217).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: Option<PathBuf>,
    /// Private key, PEM.
    pub key: Option<PathBuf>,
    /// Refuse login and transfers on connections without TLS (534).
    pub require_tls: bool,
    /// Listen addresses that speak TLS from the first byte (implicit FTPS).
    #[serde(deserialize_with = "listen::deserialize")]
    pub implicit_listen: Vec<ListenAddr>,
    /// Accept a TLS data connection only if it resumes the control connection's TLS session
    /// (refused with 425 otherwise), so a third party cannot take over a data port.
    pub require_session_reuse: bool,
}

/// `[log]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Write one xferlog-format line per transfer to this file.
    pub xferlog: Option<PathBuf>,
}

impl Default for FtpdConfig {
    /// Every default setting, in one place.
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: vec![ListenAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], 2121)))],
                mode: Mode::default(),
                users_file: PathBuf::from("/etc/wharf/users.toml"),
                state_dir: PathBuf::from("/var/lib/wharf-ftpd"),
                greeting: "wharf-ftpd ready".to_string(),
                shutdown_timeout: Duration::from_secs(10),
                durable_uploads: true,
                confine: true,
                user: None,
                group: None,
            },
            passive: PassiveConfig {
                ports: None,
                address: None,
            },
            limits: LimitsConfig {
                max_sessions: 256,
                max_sessions_per_ip: 64,
                login_timeout: Duration::from_secs(60),
                idle_timeout: Duration::from_secs(300),
                data_accept_timeout: Duration::from_secs(30),
                max_line_length: 4096,
                failed_login_delay: Duration::from_secs(1),
                max_login_attempts: 3,
                max_bad_commands: 16,
                ban_after_failures: 10,
                ban_window: Duration::from_secs(600),
                ban_duration: Duration::from_secs(900),
            },
            tls: TlsConfig {
                cert: None,
                key: None,
                require_tls: false,
                implicit_listen: Vec::new(),
                require_session_reuse: true,
            },
            log: LogConfig { xferlog: None },
            proxy_protocol: ProxyProtocolConfig {
                trusted: Vec::new(),
                required: true,
                header_timeout: Duration::from_secs(5),
            },
            storage: storage::defaults(),
            metrics: metrics::MetricsConfig::default(),
            hooks: hooks::HooksConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        FtpdConfig::default().server
    }
}

impl Default for PassiveConfig {
    fn default() -> Self {
        FtpdConfig::default().passive
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        FtpdConfig::default().limits
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        FtpdConfig::default().tls
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        FtpdConfig::default().log
    }
}

impl FtpdConfig {
    /// Loads defaults, the file (if given), the process environment and `overrides`, then
    /// checks the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, None, overrides)
    }

    /// Like [`load`](Self::load), with the environment given as a map (`None`: the process
    /// environment), so tests need not touch the real one.
    pub fn load_from(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .try_parsing(true)
                .source(env),
        );
        let mut config: FtpdConfig = builder.build()?.try_deserialize()?;
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that are well-formed but unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if self.server.listen.is_empty() {
            return invalid("server.listen", "at least one address is needed");
        }
        self.storage.validate()?;
        self.hooks.validate()?;
        if let Some(addr) = self.server.listen.iter().find(|a| a.as_tcp().is_none()) {
            return Err(ConfigError::Invalid {
                key: "server.listen",
                reason: format!("{addr}: FTP needs TCP addresses (data connections are TCP)"),
            });
        }
        if !self.proxy_protocol.trusted.is_empty() && self.proxy_protocol.header_timeout.is_zero() {
            return invalid("proxy_protocol.header_timeout", "must be more than zero");
        }
        if self.server.group.is_some() && self.server.user.is_none() {
            return invalid("server.group", "needs server.user (the account to run as)");
        }
        if self.limits.max_sessions == 0 {
            return invalid("limits.max_sessions", "must be at least 1");
        }
        if self.limits.max_sessions_per_ip == 0 {
            return invalid("limits.max_sessions_per_ip", "must be at least 1");
        }
        if self.limits.max_line_length < MIN_LINE_LENGTH {
            return Err(ConfigError::Invalid {
                key: "limits.max_line_length",
                reason: format!("must be at least {MIN_LINE_LENGTH} bytes"),
            });
        }
        for (key, value) in [
            ("limits.login_timeout", self.limits.login_timeout),
            ("limits.idle_timeout", self.limits.idle_timeout),
            (
                "limits.data_accept_timeout",
                self.limits.data_accept_timeout,
            ),
        ] {
            if value.is_zero() {
                return invalid(key, "must be longer than zero");
            }
        }
        if self.passive.address.is_some_and(|ip| ip.is_unspecified()) {
            return invalid("passive.address", "must be an address clients can reach");
        }
        if self.limits.max_login_attempts == 0 {
            return invalid("limits.max_login_attempts", "must be at least 1");
        }
        if self.limits.max_bad_commands == 0 {
            return invalid("limits.max_bad_commands", "must be at least 1");
        }
        if self.limits.ban_after_failures > 0
            && (self.limits.ban_window.is_zero() || self.limits.ban_duration.is_zero())
        {
            return invalid(
                "limits.ban_window",
                "ban_window and ban_duration must be longer than zero while bans are on",
            );
        }
        self.validate_tls()
    }

    /// Checks that the `[tls]` settings fit together.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.tls;
        match (&tls.cert, &tls.key) {
            (Some(_), Some(_)) => {}
            (None, None) if tls.require_tls => {
                return Err(ConfigError::Invalid {
                    key: "tls.require_tls",
                    reason: "needs tls.cert and tls.key".to_string(),
                });
            }
            (None, None) if !tls.implicit_listen.is_empty() => {
                return Err(ConfigError::Invalid {
                    key: "tls.implicit_listen",
                    reason: "needs tls.cert and tls.key".to_string(),
                });
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "tls.cert",
                    reason: "tls.cert and tls.key go together".to_string(),
                });
            }
        }
        if let Some(addr) = tls.implicit_listen.iter().find(|a| a.as_tcp().is_none()) {
            return Err(ConfigError::Invalid {
                key: "tls.implicit_listen",
                reason: format!("{addr}: FTP needs TCP addresses"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
