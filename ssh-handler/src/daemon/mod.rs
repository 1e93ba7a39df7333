//! `wharf-sshd serve`: one `wharf` server, both front ends, the handler that picks between them.
//!
//! - [`args`]: the flags of `serve` and their defaults;
//! - [`duration`]: the duration syntax of those flags;
//! - [`confinement`]: how commands are confined, from those flags and the kernel.

pub mod args;
pub mod confinement;
pub mod duration;

use std::path::PathBuf;
use std::time::Duration;

use wharf::{Connection, HandlerError, RequestHandler, Server, ServerError};
use wharf_users::{AuthError, Authenticator};

use crate::exec::{ConfineError, ExecLimits, Executor};
use crate::metrics::exporter::ExporterSettings;
use crate::metrics::{Protocol, SshMetrics};
use crate::native::tls::{self, TlsSetupError};
use crate::native::{NativeFrontEnd, Timeouts};
use crate::ssh::SshFrontEnd;
use crate::ssh::host_key::{self, HostKeyError};

pub use args::ServeArgs;

/// Time added to the command time limit before a silent SSH connection is dropped.
const SSH_INACTIVITY_MARGIN: Duration = Duration::from_secs(60);

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory could not be prepared.
    #[error("cannot use the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The users file or database could not be used.
    #[error("cannot use the users: {0}")]
    Users(#[from] AuthError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The SSH host key could not be loaded or created.
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    /// Commands could not be set up to run confined.
    #[error("cannot confine commands: {0}")]
    Confinement(#[from] ConfineError),
    /// The server could not bind or run.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The metrics counters or the exporter's listener could not be set up.
    #[error("cannot start the metrics exporter: {0}")]
    Metrics(#[source] std::io::Error),
}

/// Listeners of the native framed protocol.
const NATIVE: &str = "native";
/// Listeners of the SSH front end.
const SSH: &str = "ssh";

/// The connection handler: the SSH front end on the `--ssh-listen` addresses, the native
/// protocol on the others.
#[derive(Clone, Debug)]
pub struct RemoteCommandHandler {
    /// Serves the native protocol.
    native: NativeFrontEnd,
    /// Serves SSH, when SSH addresses were given.
    ssh: Option<SshFrontEnd>,
    /// Counts connections by front end.
    metrics: SshMetrics,
}

/// The name of the `index`th (from 0) listener of a protocol: `native`, `native-2`, ...,
/// `ssh`, `ssh-2`, ...
fn listener_name(protocol: &str, index: usize) -> String {
    if index == 0 {
        protocol.to_string()
    } else {
        format!("{protocol}-{}", index + 1)
    }
}

/// The protocol a listener named by [`listener_name`] speaks.
fn listener_protocol(name: &str) -> &str {
    name.split_once('-').map_or(name, |(protocol, _)| protocol)
}

impl RequestHandler for RemoteCommandHandler {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        match &self.ssh {
            Some(ssh) if listener_protocol(conn.listener_name()) == SSH => {
                let _session = self.metrics.session_started(Protocol::Ssh);
                ssh.serve(conn).await?;
            }
            _ => {
                let _session = self.metrics.session_started(Protocol::Native);
                self.native.serve(conn).await?;
            }
        }
        Ok(())
    }
}

/// Builds (binds) the server `args` describe, with metrics off; call `serve_forever` on it.
pub fn build_server(args: &ServeArgs) -> Result<Server<RemoteCommandHandler>, DaemonError> {
    build_server_with_metrics(args, SshMetrics::disabled())
}

/// [`build_server`], with both front ends counting into `metrics` (made before the server
/// forks).
pub fn build_server_with_metrics(
    args: &ServeArgs,
    metrics: SshMetrics,
) -> Result<Server<RemoteCommandHandler>, DaemonError> {
    let state_error = |source| DaemonError::StateDir {
        path: args.state_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&args.state_dir).map_err(state_error)?;
    // A database gets its migrations here, on a thread of its own that is gone afterwards.
    let authenticator = Authenticator::builder_for(args.users.clone()).build()?;
    tracing::info!(users = authenticator.location(), "users");
    let limits = ExecLimits {
        time_limit: args.time_limit,
        max_output_bytes: args.max_output,
        max_commands_per_user: args.max_commands_per_user,
    };
    let confinement = confinement::from_args(args, &authenticator)?;
    let executor = Executor::new(&args.state_dir, limits, confinement).map_err(state_error)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let timeouts = Timeouts {
        login: args.login_timeout,
        idle: args.idle_timeout,
    };
    let native = NativeFrontEnd::new(authenticator.clone(), executor.clone(), tls, timeouts)
        .with_metrics(metrics.clone());
    let ssh = if args.ssh_listen.is_empty() {
        None
    } else {
        let key = host_key::load_or_create(&args.state_dir)?;
        tracing::info!(fingerprint = %host_key::fingerprint(&key), "SSH host key");
        let inactivity = args.time_limit + SSH_INACTIVITY_MARGIN;
        Some(
            SshFrontEnd::new(key, authenticator, executor, inactivity)
                .with_metrics(metrics.clone()),
        )
    };
    let handler = RemoteCommandHandler {
        native,
        ssh,
        metrics,
    };
    let mut builder = Server::builder()
        .name("wharf-sshd")
        .mode(args.mode.with_worker_limit(args.max_connections))
        .max_connections(args.max_connections, wharf::LimitPolicy::Wait)
        .shutdown_timeout(args.shutdown_timeout);
    match &args.user {
        Some(user) => builder = builder.run_as(user.clone(), args.group.clone()),
        None if nix::unistd::geteuid().is_root() => tracing::warn!(
            "running as root without --user: the daemon and its sessions keep root's privileges"
        ),
        None => {}
    }
    let proxy = (!args.proxy_protocol_from.is_empty())
        .then(|| wharf::ProxyProtocol::new(args.proxy_protocol_from.iter().copied()));
    let named = (args.listen.iter().enumerate())
        .map(|(index, addr)| (listener_name(NATIVE, index), addr))
        .chain(
            (args.ssh_listen.iter().enumerate())
                .map(|(index, addr)| (listener_name(SSH, index), addr)),
        );
    for (name, addr) in named {
        if let (Some(proxy), true) = (&proxy, addr.as_tcp().is_some()) {
            builder = builder.proxy_protocol(&name, proxy.clone());
        }
        builder = builder.listen_as(name, addr.clone());
    }
    Ok(builder.build(handler)?)
}

/// Binds, starts the metrics exporter if asked, logs `listening on ADDR` for each address, and
/// serves until a signal.
pub fn serve(args: &ServeArgs) -> Result<(), DaemonError> {
    let metrics = match args.metrics_listen {
        Some(_) => SshMetrics::new().map_err(DaemonError::Metrics)?,
        None => SshMetrics::disabled(),
    };
    let server = build_server_with_metrics(args, metrics.clone())?;
    // Forked now: after the binds, before the serving loop starts any thread or child.
    let exporter = match args.metrics_listen {
        Some(listen) => {
            let settings = ExporterSettings {
                listen,
                users: args.users.clone(),
                run_as: args
                    .user
                    .clone()
                    .map(|user| wharf::RunAs::new(user, args.group.clone())),
            };
            let (process, addr) = crate::metrics::exporter::start(settings, &metrics)
                .map_err(DaemonError::Metrics)?;
            // Worded apart from `listening on`, which names the command listeners only.
            tracing::info!(
                pid = process.pid(),
                "metrics exporter at http://{addr}/metrics"
            );
            Some(process)
        }
        None => None,
    };
    for listener in server.listeners() {
        let protocol = listener_protocol(&listener.name);
        tracing::info!(mode = %args.mode, protocol, "listening on {}", listener.addr);
    }
    let served = server.serve_forever();
    drop(exporter);
    served?;
    tracing::info!("stopped");
    Ok(())
}
