//! Asking for a secret on the controlling terminal without echoing it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

/// Restores the terminal's settings when dropped, even on an early return.
struct RestoreOnDrop<'a> {
    tty: &'a File,
    original: Termios,
}

impl Drop for RestoreOnDrop<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.original);
    }
}

/// Prints `prompt` on the controlling terminal and reads one line with echo off.
///
/// Echo is switched off before the prompt appears, so even a reply typed (or sent by a
/// program) the instant the prompt shows is never displayed. Fails when there is no terminal.
pub fn prompt_password(prompt: &str) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let original = termios::tcgetattr(&tty)?;
    let mut hidden = original.clone();
    hidden.local_flags.remove(LocalFlags::ECHO);
    // Still echo the newline, so what follows starts on a line of its own.
    hidden.local_flags.insert(LocalFlags::ECHONL);
    termios::tcsetattr(&tty, SetArg::TCSANOW, &hidden)?;
    let _restore = RestoreOnDrop {
        tty: &tty,
        original,
    };
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut line = String::new();
    if BufReader::new(&tty).read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the terminal closed before a password was entered",
        ));
    }
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}
