//! Command-line flags that override the configuration file and the environment.

use std::net::IpAddr;
use std::path::PathBuf;

use wharf::{ListenAddr, Mode};

use super::{FtpdConfig, PortRange};

/// The `serve` flags that override configuration settings; each is named like its setting.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Address to listen on (`IP:PORT` or `[IPv6]:PORT`); repeat for several. Setting: server.listen
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<ListenAddr>,
    /// The users file (TOML, argon2id hashes). Setting: server.users_file
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Directory for server state such as quota usage. Setting: server.state_dir
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Concurrency mode: async, threading, forking or sequential. Setting: server.mode
    #[arg(long, value_name = "MODE")]
    pub mode: Option<Mode>,
    /// Passive data ports, `LOW-HIGH`. Setting: passive.ports
    #[arg(long, value_name = "LOW-HIGH")]
    pub passive_ports: Option<PortRange>,
    /// Address advertised in PASV replies (for NAT). Setting: passive.address
    #[arg(long, value_name = "IP")]
    pub passive_address: Option<IpAddr>,
    /// TLS certificate chain, PEM (offers FTPS with --tls-key). Setting: tls.cert
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM. Setting: tls.key
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Refuse login (534) and data connections (521) without TLS. Setting: tls.require_tls
    #[arg(long)]
    pub require_tls: bool,
    /// Trust PROXY protocol headers from this balancer network (CIDR); repeat for several.
    /// Setting: proxy_protocol.trusted
    #[arg(long, value_name = "CIDR")]
    pub proxy_protocol_from: Vec<wharf::Cidr>,
    /// Switch to this user (name or uid) once the sockets are bound. Setting: server.user
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Switch to this group (name or gid) with --user. Setting: server.group
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Address for implicit FTPS (TLS from the first byte); repeat for several.
    /// Setting: tls.implicit_listen
    #[arg(long, value_name = "ADDR")]
    pub tls_implicit_listen: Vec<ListenAddr>,
    /// Address for the Prometheus exporter (`/metrics`, `/healthz`, `/readyz`).
    /// Setting: metrics.listen
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Overrides {
    /// Writes every flag that was given over the matching setting.
    pub fn apply(&self, config: &mut FtpdConfig) {
        if let Some(addr) = self.metrics_listen {
            config.metrics.listen = Some(addr);
        }
        if !self.listen.is_empty() {
            config.server.listen = self.listen.clone();
        }
        if let Some(users) = &self.users {
            config.server.users_file = users.clone();
        }
        if let Some(state_dir) = &self.state_dir {
            config.server.state_dir = state_dir.clone();
        }
        if let Some(mode) = self.mode {
            config.server.mode = mode;
        }
        if let Some(ports) = self.passive_ports {
            config.passive.ports = Some(ports);
        }
        if let Some(address) = self.passive_address {
            config.passive.address = Some(address);
        }
        if let Some(cert) = &self.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            config.tls.key = Some(key.clone());
        }
        if self.require_tls {
            config.tls.require_tls = true;
        }
        if !self.proxy_protocol_from.is_empty() {
            config.proxy_protocol.trusted = self.proxy_protocol_from.clone();
        }
        if let Some(user) = &self.user {
            config.server.user = Some(user.clone());
        }
        if let Some(group) = &self.group {
            config.server.group = Some(group.clone());
        }
        if !self.tls_implicit_listen.is_empty() {
            config.tls.implicit_listen = self.tls_implicit_listen.clone();
        }
    }
}
