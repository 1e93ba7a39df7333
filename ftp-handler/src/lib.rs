//! `wharf-ftp`: an FTP daemon built on the `wharf` server framework.
//!
//! Module map:
//! - [`protocol`]: the control-channel language (commands, replies, line framing, hashes).
//! - [`storage`]: the user's files behind a `cap-std` jail (paths, uploads, quota hook).
//! - [`quota`]: per-user usage records in the state directory, enforced through the quota hook.
//! - [`listing`]: LIST (`ls -l`), NLST and MLSD/MLST lines built from storage entries.
//! - [`session`]: the FTP session, a `wharf` request handler ([`FtpHandler`]).
//! - [`daemon`]: `serve` and `demo`: a configured `wharf` server around the handler; SIGHUP
//!   reloads `serve`'s configuration for new sessions.
//! - [`config`]: the daemon's configuration (TOML file, `WHARF_FTPD__*` variables, flags).
//! - [`tls`]: FTPS on rustls: the certificate, per-session TLS caches, data-connection TLS.
//! - [`metrics`]: Prometheus counters shared by every mode, and the exporter they are served by.
//! - [`hooks`]: event hooks (a command, a webhook) through a bounded queue, and the pre-upload
//!   check, in a process of their own.
//! - [`defence`]: login failure counts and temporary bans shared by every session and process.
//! - [`client`]: the `wharf-ftp` client: one-shot commands, the shell, resumable verified transfers.
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod daemon;
pub mod defence;
pub mod hooks;
pub mod listing;
pub mod metrics;
pub mod protocol;
pub mod quota;
pub mod session;
pub mod storage;
pub mod tls;

pub use session::FtpHandler;
