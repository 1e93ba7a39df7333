//! The `wharf-ftp` client: one-shot commands and an interactive shell over the same code,
//! with progress bars, resumable transfers and end-to-end HASH verification. It speaks FTP
//! through the `suppaftp` crate and works with any standard server.
//!
//! Module map:
//! - [`cli`]: command-line options and one-shot subcommands.
//! - [`url`]: `ftp://user@host:port/path` parsing.
//! - [`password`]: `--password-stdin`, `WHARF_FTP_PASSWORD`, or a silent prompt.
//! - [`tls`]: the rustls configuration for `--tls`, `--ca-cert`, `--insecure`.
//! - [`connection`]: one logged-in control connection (reconnects after a failure).
//! - [`data`]: data connections, TLS handshake and session tickets.
//! - [`features`]: what FEAT says the server offers.
//! - [`transfer`]: get and put with resume, progress bar and rate limit.
//! - [`verify`]: HASH (or XSHA256, ...) compared with the local file.
//! - [`oneshot`]: `ls`, `get`, `put`, `hash` from the command line.
//! - [`shell`]: the interactive shell.
//! - [`error`]: [`ClientError`] and the exit codes.

pub mod cli;
pub mod connection;
pub mod data;
pub mod error;
pub mod features;
pub mod oneshot;
pub mod password;
pub mod shell;
pub mod tls;
pub mod transfer;
pub mod url;
pub mod verify;

use std::io::IsTerminal;

pub use cli::{Command, Options};
pub use connection::{Connection, Login};
pub use error::{ClientError, exit};
pub use url::FtpUrl;

/// Runs a one-shot `command`, or the shell on `url`; prints any error and returns the exit
/// code (see [`exit`]).
pub fn run(command: Option<Command>, url: Option<String>, options: &Options) -> u8 {
    match dispatch(command, url, options) {
        Ok(()) => exit::OK,
        Err(error) => {
            eprintln!("wharf-ftp: {error}");
            error.exit_code()
        }
    }
}

/// Chooses between a one-shot command and the shell.
fn dispatch(
    command: Option<Command>,
    url: Option<String>,
    options: &Options,
) -> Result<(), ClientError> {
    options.validate()?;
    let terminal = std::io::stderr().is_terminal();
    match (command, url) {
        (Some(command), _) => oneshot::run(command, options, terminal),
        (None, Some(url)) => shell::run(&FtpUrl::parse(&url)?, options, terminal),
        (None, None) => Err(ClientError::Usage(
            "give a URL to open the shell (wharf-ftp ftp://user@host:port) or a command: ls, get, put, hash (see --help)"
                .to_string(),
        )),
    }
}

/// Resolves the password and TLS settings, then connects and logs in.
pub fn connect(url: &FtpUrl, options: &Options) -> Result<Connection, ClientError> {
    let password = password::resolve(url, options.password_stdin)?;
    let tls = if options.tls {
        let trust = match (&options.ca_cert, options.insecure) {
            (_, true) => tls::Trust::Anyone,
            (Some(path), false) => tls::Trust::CaFile(path),
            (None, false) => tls::Trust::System,
        };
        Some(tls::client_config(trust)?)
    } else {
        None
    };
    Connection::open(Login {
        url: url.with_path(""),
        password,
        tls,
        timeout: options.timeout(),
    })
}
