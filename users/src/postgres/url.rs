//! [`PgUrl`]: a `postgres://` URL, its password possibly from `PGPASSWORD`, shown without it.

use std::fmt;
use std::net::ToSocketAddrs;
use std::time::Duration;

use tokio_postgres::config::Host;

use crate::AuthError;

/// How long connecting may take before a login is told the database is unavailable.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database to keep users in.
#[derive(Clone)]
pub struct PgUrl {
    /// The client configuration, password included.
    config: tokio_postgres::Config,
    /// The URL without its password, for logs and errors.
    shown: String,
}

impl PgUrl {
    /// Whether `text` is meant as a URL rather than a file path.
    pub fn looks_like_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// Parses a URL; without a password in it, `PGPASSWORD` supplies one if set.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let mut config: tokio_postgres::Config =
            text.parse()
                .map_err(|error: tokio_postgres::Error| AuthError::BadDatabaseUrl {
                    reason: error.to_string(),
                })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("wharf");
        }
        // A dead peer is noticed within a minute instead of the system's two hours.
        config.keepalives_idle(Duration::from_secs(30));
        let shown = show(&config);
        Ok(PgUrl { config, shown })
    }

    /// The client configuration with host names resolved to addresses now: a confined session
    /// process may no longer read `/etc/hosts` when it connects.
    pub(crate) fn resolved_config(&self) -> tokio_postgres::Config {
        let mut config = self.config.clone();
        if let ([Host::Tcp(host)], []) = (config.get_hosts(), config.get_hostaddrs()) {
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let host = host.clone();
            if host.parse::<std::net::IpAddr>().is_err()
                && let Some(addr) = (host.as_str(), port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
            {
                config.hostaddr(addr.ip());
            }
        }
        config
    }
}

/// `postgres://USER@HOST:PORT/DATABASE`, never the password.
fn show(config: &tokio_postgres::Config) -> String {
    let user = config
        .get_user()
        .map(|user| format!("{user}@"))
        .unwrap_or_default();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(index).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let database = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{database}", hosts.join(","))
}

impl fmt::Display for PgUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.shown)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PgUrl({})", self.shown)
    }
}
