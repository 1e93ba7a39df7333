//! The interactive shell: `wharf-ftp ftp://user@host:port` reads commands with line editing
//! and a history kept across sessions, and runs them on one connection, reconnecting after a
//! network failure.
//!
//! - [`words`]: splits a line into words (quotes, backslash escapes).
//! - [`commands`]: the commands, their help and their arguments.

pub mod commands;
pub mod words;

use std::io::Write;
use std::path::PathBuf;

use rustyline::DefaultEditor;
use rustyline::config::Config;
use rustyline::error::ReadlineError;

use super::cli::Options;
use super::connection::Connection;
use super::error::ClientError;
use super::transfer::TransferOptions;
use super::url::FtpUrl;

/// Environment variable naming the history file (default `~/.wharf_ftp_history`).
pub const HISTORY_ENV: &str = "WHARF_FTP_HISTORY";

/// Lines of history kept.
const HISTORY_SIZE: usize = 1000;

/// The shell's state between commands.
pub struct Shell {
    /// The server session.
    connection: Connection,
    /// Line editor (also asks yes/no questions).
    editor: DefaultEditor,
    /// How transfers behave.
    transfer: TransferOptions,
    /// The remote directory shown in the prompt.
    cwd: String,
}

/// Whether the shell goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Leave the shell.
    Quit,
}

/// Connects to `url` and reads commands until `quit` or end of input.
pub fn run(url: &FtpUrl, options: &Options, terminal: bool) -> Result<(), ClientError> {
    let connection = super::connect(url, options)?;
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)
        .and_then(|builder| builder.history_ignore_dups(true))
        .map(|builder| builder.auto_add_history(false).build())
        .map_err(|error| ClientError::Usage(format!("line editor: {error}")))?;
    let mut editor = DefaultEditor::with_config(config)
        .map_err(|error| ClientError::Usage(format!("line editor: {error}")))?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    let mut shell = Shell {
        connection,
        editor,
        transfer: options.transfer(terminal),
        cwd: String::from("/"),
    };
    shell.greet(url);
    if !url.path.is_empty() {
        shell.execute(vec!["cd".to_string(), url.path.clone()]);
    }
    shell.read_commands();
    if let Some(path) = &history
        && let Err(error) = shell.editor.save_history(path)
    {
        tracing::warn!(path = %path.display(), %error, "cannot save the shell history");
    }
    shell.connection.quit();
    Ok(())
}

impl Shell {
    /// Says where we are and whether transfers can be verified.
    fn greet(&mut self, url: &FtpUrl) {
        let login = self.connection.login();
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "Connected to {} as {}{}. Type help for commands.",
            url.authority(),
            login.user(),
            if login.tls.is_some() { " over TLS" } else { "" }
        );
        let features = self.connection.features();
        let _ = match features.preferred_hash() {
            Some(algorithm) => writeln!(out, "Transfers are verified with HASH {algorithm}."),
            None if !features.legacy_hash.is_empty() => {
                writeln!(
                    out,
                    "Transfers are verified with the server's legacy hash commands."
                )
            }
            None => writeln!(
                out,
                "The server does not advertise HASH: transfers may be reported as unverified."
            ),
        };
        if let Ok(dir) = self.connection.pwd() {
            self.cwd = dir;
        }
    }

    /// The read-eval loop.
    fn read_commands(&mut self) {
        loop {
            let prompt = format!("wharf-ftp:{}> ", self.cwd);
            match self.editor.readline(&prompt) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let _ = self.editor.add_history_entry(line.as_str());
                    match words::split(&line) {
                        Ok(words) => {
                            if self.execute(words) == Flow::Quit {
                                return;
                            }
                        }
                        Err(error) => eprintln!("error: {error}"),
                    }
                }
                // Ctrl-C at the prompt abandons the line, as in other shells.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => return,
                Err(error) => {
                    eprintln!("error: cannot read the command line: {error}");
                    return;
                }
            }
        }
    }

    /// Asks a yes/no question; an empty answer takes `default`.
    fn ask(&mut self, question: &str, default: bool) -> bool {
        match self.editor.readline(question) {
            Ok(answer) => match answer.trim().to_ascii_lowercase().as_str() {
                "" => default,
                "y" | "yes" => true,
                _ => false,
            },
            Err(_) => false,
        }
    }
}

/// `$WHARF_FTP_HISTORY`, else `~/.wharf_ftp_history`, else no history file.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(HISTORY_ENV) {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".wharf_ftp_history"))
}
