//! The command line of `wharf-ftp`: global options and the one-shot subcommands. The binary
//! parses it and hands it to [`super::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::error::ClientError;
use super::transfer::TransferOptions;

/// Options shared by the shell and every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct Options {
    /// Read the password from the first line of standard input.
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// Use explicit FTPS (AUTH TLS, protected data connections).
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust only the CA certificates in this PEM file (with --tls).
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "insecure")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate (with --tls): encrypted but not authenticated.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Continue an interrupted get or put instead of starting over.
    #[arg(long, short = 'c', global = true)]
    pub resume: bool,
    /// Do not check transfers with the server's HASH.
    #[arg(long, global = true)]
    pub no_verify: bool,
    /// Never draw progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Transfer at most this many bytes per second (512K, 10M, ...).
    #[arg(long, value_name = "RATE", global = true, value_parser = parse_rate)]
    pub limit_rate: Option<u64>,
    /// Seconds to wait for a connection or for any progress before giving up.
    #[arg(long, value_name = "SECONDS", global = true, default_value_t = 30)]
    pub timeout: u64,
}

impl Options {
    /// Checks combinations clap cannot express.
    pub fn validate(&self) -> Result<(), ClientError> {
        if (self.ca_cert.is_some() || self.insecure) && !self.tls {
            return Err(ClientError::Usage(
                "--ca-cert and --insecure only apply with --tls".to_string(),
            ));
        }
        if self.timeout == 0 {
            return Err(ClientError::Usage(
                "--timeout must be at least 1".to_string(),
            ));
        }
        Ok(())
    }

    /// The connect and inactivity timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// Transfer behaviour; `terminal` says whether standard error is a terminal.
    pub fn transfer(&self, terminal: bool) -> TransferOptions {
        TransferOptions {
            verify: !self.no_verify,
            progress: terminal && !self.no_progress,
            limit_rate: self.limit_rate,
        }
    }
}

/// One-shot commands; without one, `wharf-ftp URL` opens the shell.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List a remote directory: wharf-ftp ls ftp://user@host:port/dir
    Ls {
        /// The directory (or file) to list.
        url: String,
    },
    /// Download a file: wharf-ftp get ftp://user@host/path [LOCAL]
    Get {
        /// The remote file.
        url: String,
        /// Where to write (default: the remote name in the current directory).
        local: Option<PathBuf>,
    },
    /// Upload a file: wharf-ftp put LOCAL ftp://user@host/path
    Put {
        /// The local file.
        local: PathBuf,
        /// The remote file, or a directory ending in '/'.
        url: String,
    },
    /// Show the server's hash of a file, and compare it with LOCAL if given.
    Hash {
        /// The remote file.
        url: String,
        /// A local copy to compare with.
        local: Option<PathBuf>,
    },
}

/// Parses `--limit-rate` values with the same units as quotas (`512K`, `10MiB`).
fn parse_rate(text: &str) -> Result<u64, String> {
    match wharf_users::size::parse_size(text) {
        Ok(0) => Err("the rate must be more than 0".to_string()),
        Ok(rate) => Ok(rate),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_units() {
        assert_eq!(parse_rate("512K"), Ok(512 * 1024));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn tls_options_need_tls() {
        let options = Options {
            insecure: true,
            timeout: 30,
            ..Options::default()
        };
        assert!(options.validate().is_err());
        let options = Options {
            insecure: true,
            tls: true,
            timeout: 30,
            ..Options::default()
        };
        assert!(options.validate().is_ok());
    }
}
