//! Wharf's remote-command service: an authenticated user sends a command, the server runs it
//! under limits and streams back its output and exit status.
//!
//! Module map:
//! - [`exec`]: the execution core both front ends share (clean environment, process group,
//!   time and output limits, per-user cap, streaming in bounded chunks).
//! - [`protocol`]: the native wire protocol's messages, carried by `wharf::frame`.
//! - [`native`]: the server side of the native protocol, optionally inside TLS.
//! - [`ssh`]: the SSH front end on russh, for stock OpenSSH clients.
//! - [`daemon`]: `wharf-sshd serve`: one `wharf` server running both front ends.
//! - [`metrics`]: the Prometheus counters of both front ends and their exporter
//!   (`--metrics-listen`).
//! - [`client`]: the native client behind `wharf-ssh`.
//!
//! The protocol, the limits and the security model are described in `docs/remote-command.md`.
#![warn(missing_docs)]

pub mod client;
pub mod daemon;
pub mod exec;
pub mod metrics;
pub mod native;
pub mod protocol;
pub mod ssh;
