//! The one-shot commands: `ls URL`, `get URL [LOCAL]`, `put LOCAL URL`, `hash URL [LOCAL]`.
//! Listings go to standard output; progress, summaries and verification to standard error.

use std::io::Write;
use std::path::Path;

use super::cli::{Command, Options};
use super::connection::Connection;
use super::error::ClientError;
use super::transfer::{self, local_target, remote_target};
use super::url::FtpUrl;
use super::verify::{local_digest, remote_digest};

/// Runs one command on its own connection.
pub fn run(command: Command, options: &Options, terminal: bool) -> Result<(), ClientError> {
    let transfer = options.transfer(terminal);
    let mut err = std::io::stderr();
    match command {
        Command::Ls { url } => {
            let url = FtpUrl::parse(&url)?;
            with_connection(&url, options, |connection| {
                let lines = connection.list(Some(&url.path))?;
                let mut out = std::io::stdout().lock();
                for line in lines {
                    let _ = writeln!(out, "{line}");
                }
                Ok(())
            })
        }
        Command::Get { url, local } => {
            let url = FtpUrl::parse(&url)?;
            let remote = file_path(&url)?;
            let local = local_target(&remote, local.as_deref());
            with_connection(&url, options, |connection| {
                transfer::get(
                    connection,
                    &remote,
                    &local,
                    options.resume,
                    &transfer,
                    &mut err,
                )
                .map(|_| ())
            })
        }
        Command::Put { local, url } => {
            let url = FtpUrl::parse(&url)?;
            let remote = remote_target(&local, &url.path);
            if remote.is_empty() {
                return Err(ClientError::Usage(format!(
                    "cannot tell the remote name for {}",
                    local.display()
                )));
            }
            with_connection(&url, options, |connection| {
                transfer::put(
                    connection,
                    &local,
                    &remote,
                    options.resume,
                    &transfer,
                    &mut err,
                )
                .map(|_| ())
            })
        }
        Command::Hash { url, local } => {
            let url = FtpUrl::parse(&url)?;
            let remote = file_path(&url)?;
            with_connection(&url, options, |connection| {
                show_hash(
                    connection,
                    &remote,
                    local.as_deref(),
                    &mut std::io::stdout(),
                )
            })
        }
    }
}

/// Prints the server's digest of `remote` (`SHA-256 HEX path`); with `local`, compares.
pub fn show_hash(
    connection: &mut Connection,
    remote: &str,
    local: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let digest = remote_digest(connection, remote)?.map_err(|reason| ClientError::Protocol {
        action: format!("hash {remote}"),
        detail: reason,
    })?;
    let _ = writeln!(out, "{} {} {remote}", digest.algorithm, digest.hex);
    if let Some(local) = local {
        let local_hex = local_digest(local, digest.algorithm)?;
        if !local_hex.eq_ignore_ascii_case(&digest.hex) {
            return Err(ClientError::Mismatch {
                remote: remote.to_string(),
                local: local.to_path_buf(),
                algorithm: digest.algorithm.to_string(),
                remote_hex: digest.hex,
                local_hex,
            });
        }
        let _ = writeln!(out, "matches {}", local.display());
    }
    Ok(())
}

/// The URL's path, which must name a file.
fn file_path(url: &FtpUrl) -> Result<String, ClientError> {
    if url.path.is_empty() || url.path.ends_with('/') {
        return Err(ClientError::Usage(format!("{url} names no file")));
    }
    Ok(url.path.clone())
}

/// Connects, runs `work`, and says goodbye whatever happened.
fn with_connection(
    url: &FtpUrl,
    options: &Options,
    work: impl FnOnce(&mut Connection) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let mut connection = super::connect(url, options)?;
    let result = work(&mut connection);
    connection.quit();
    result
}
