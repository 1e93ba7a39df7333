//! `wharf-ftp`: an FTP daemon built on the `wharf` server framework.
//!
//! Module map:
//! - [`protocol`]: the control-channel language (commands, replies, line framing, hashes).
//! - [`config`]: the daemon's configuration (TOML file, `WHARF_FTPD__*` variables, flags).
#![warn(missing_docs)]

pub mod config;
pub mod protocol;
