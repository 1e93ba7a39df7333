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
}

impl Overrides {
    /// Writes every flag that was given over the matching setting.
    pub fn apply(&self, config: &mut FtpdConfig) {
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
    }
}
