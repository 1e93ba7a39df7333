//! Reading a new password: one line from standard input, or twice from the terminal.

use std::fs::OpenOptions;
use std::io::BufRead;

use super::CliError;
use super::hidden_prompt::prompt_password;

/// Where the password comes from.
pub(super) enum PasswordSource<'a> {
    /// The first line of this reader (`--password-stdin`).
    Line(&'a mut dyn BufRead),
    /// A hidden prompt on the controlling terminal, asked twice.
    Terminal,
}

/// Reads a new, non-empty password for `user`.
pub(super) fn read_new_password(
    source: PasswordSource<'_>,
    user: &str,
) -> Result<String, CliError> {
    let password = match source {
        PasswordSource::Line(reader) => read_line(reader)?,
        PasswordSource::Terminal => prompt_twice(user)?,
    };
    if password.is_empty() {
        return Err(CliError::EmptyPassword);
    }
    Ok(password)
}

/// The first line of `reader` without its line ending.
fn read_line(reader: &mut dyn BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    let read = reader
        .read_line(&mut line)
        .map_err(CliError::ReadPassword)?;
    if read == 0 {
        return Err(CliError::NoPasswordOnStdin);
    }
    if let Some(stripped) = line.strip_suffix('\n') {
        line.truncate(stripped.strip_suffix('\r').unwrap_or(stripped).len());
    }
    Ok(line)
}

/// Prompts on the terminal, then asks again to catch typos.
fn prompt_twice(user: &str) -> Result<String, CliError> {
    // The prompt talks to /dev/tty; check first so the error says what to do instead.
    if let Err(source) = OpenOptions::new().read(true).write(true).open("/dev/tty") {
        return Err(CliError::NoTerminal { source });
    }
    let first =
        prompt_password(&format!("New password for {user}: ")).map_err(CliError::ReadPassword)?;
    if first.is_empty() {
        return Err(CliError::EmptyPassword);
    }
    let second = prompt_password(&format!("Retype the password for {user}: "))
        .map_err(CliError::ReadPassword)?;
    if first != second {
        return Err(CliError::PasswordMismatch);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn from_stdin(text: &str) -> Result<String, CliError> {
        read_new_password(PasswordSource::Line(&mut Cursor::new(text.as_bytes())), "u")
    }

    #[test]
    fn one_line_is_read_and_its_ending_stripped() {
        assert_eq!(from_stdin("secret\n").unwrap(), "secret");
        assert_eq!(from_stdin("secret\r\n").unwrap(), "secret");
        assert_eq!(from_stdin("secret").unwrap(), "secret");
        assert_eq!(from_stdin("first\nsecond\n").unwrap(), "first");
        assert_eq!(from_stdin(" spaced out \n").unwrap(), " spaced out ");
    }

    #[test]
    fn empty_and_missing_passwords_are_refused() {
        assert!(matches!(from_stdin("\n"), Err(CliError::EmptyPassword)));
        assert!(matches!(from_stdin("\r\n"), Err(CliError::EmptyPassword)));
        assert!(matches!(from_stdin(""), Err(CliError::NoPasswordOnStdin)));
    }

    #[test]
    fn without_a_terminal_the_prompt_fails_and_says_what_to_do() {
        if OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
        {
            // Run from a terminal: the prompt would wait for a person, so there is nothing to prove.
            return;
        }
        let error = read_new_password(PasswordSource::Terminal, "u").unwrap_err();
        assert!(matches!(error, CliError::NoTerminal { .. }), "{error}");
        assert!(error.to_string().contains("--password-stdin"), "{error}");
    }
}
