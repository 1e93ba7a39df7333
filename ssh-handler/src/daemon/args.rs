//! The settings of `wharf-sshd serve`, as command-line flags with their defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use wharf::{ListenAddr, Mode};
use wharf_users::UsersLocation;
use wharf_users::size::parse_size;

use super::duration::parse_duration;

/// `wharf-sshd serve` flags; every default is stated in `--help` and `docs/remote-command.md`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The users shared with wharf-ftpd (only users with allow_exec may log in): a users file,
    /// or a database `postgres://USER@HOST:PORT/DB` (the password may come from `PGPASSWORD`).
    #[arg(long, value_name = "FILE|URL")]
    pub users: UsersLocation,
    /// Address of the native protocol (repeatable): 127.0.0.1:2300, `[::1]:2300` or a Unix path.
    #[arg(long, value_name = "ADDR", required = true)]
    pub listen: Vec<ListenAddr>,
    /// Address of the SSH front end (repeatable); none by default.
    #[arg(long, value_name = "ADDR")]
    pub ssh_listen: Vec<ListenAddr>,
    /// Directory for the SSH host key and the per-user command counters.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/wharf-sshd")]
    pub state_dir: PathBuf,
    /// Concurrency mode: async, threading, forking or sequential.
    #[arg(long, value_name = "MODE", default_value = "async")]
    pub mode: Mode,
    /// PEM certificate chain: the native protocol is then served inside TLS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Wall-clock limit of one command (30, 500ms, 30s, 5m, 1h); the whole process group is killed.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub time_limit: Duration,
    /// Output cap of one command, stdout and stderr together (bytes or units: 64MiB, 1G).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_output: u64,
    /// Commands one user may run at once, over all connections and both front ends.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_commands_per_user: usize,
    /// Connections served at once (threads or processes in those modes); more wait.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Time from connecting to being logged in on the native protocol.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub login_timeout: Duration,
    /// Time a logged-in native connection may stay without a command.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// How long a shutdown waits for running commands before closing their connections.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Trust PROXY protocol headers (v1 or v2, required) from this balancer network (CIDR) on
    /// every listener; repeat for several. Default: none.
    #[arg(long, value_name = "CIDR")]
    pub proxy_protocol_from: Vec<wharf::Cidr>,
    /// Switch to this user (name or uid) once the sockets are bound. Default: keep the
    /// starting user. Commands then run as this user too (switching per user needs root).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Switch to this group (name or gid) with --user. Default: the user's primary group.
    #[arg(long, value_name = "NAME", requires = "user")]
    pub group: Option<String>,
    /// Account commands run as when the daemon is root and the user has no uid of its own.
    #[arg(long, value_name = "NAME", default_value = "nobody")]
    pub command_user: String,
    /// Allow commands to run as uid 0 or gid 0 (a user's uid = 0, or a root --command-user).
    #[arg(long)]
    pub allow_root_commands: bool,
    /// Run commands without Landlock when the kernel lacks it (each command logs a warning);
    /// without this flag such commands are refused.
    #[arg(long)]
    pub unconfined_commands: bool,
    /// CPU seconds of each process of a command (RLIMIT_CPU); users may override it.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_cpu_seconds: u64,
    /// Address space of each process of a command (RLIMIT_AS: 512MiB, 2G).
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = parse_limit_size)]
    pub limit_address_space: u64,
    /// Processes of a command's uid (RLIMIT_NPROC: counted per uid, by the kernel).
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_processes: u64,
    /// Open files of each process of a command (RLIMIT_NOFILE).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_open_files: u64,
    /// Largest file a command may write (RLIMIT_FSIZE: 100MiB, 1G).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_limit_size)]
    pub limit_file_size: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics, with /healthz and /readyz (an HTTP
    /// listener of its own, no authentication: loopback or a management network). Default: off.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// A size limit: the size syntax, zero refused (it would forbid every command).
fn parse_limit_size(text: &str) -> Result<u64, String> {
    match parse_size(text) {
        Ok(0) => Err("a limit of 0 would forbid every command".to_owned()),
        Ok(size) => Ok(size),
        Err(error) => Err(error.to_string()),
    }
}
