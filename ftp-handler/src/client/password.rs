//! Where the password comes from: `--password-stdin`, the URL, `WHARF_FTP_PASSWORD`, or a
//! prompt on the terminal that does not echo. Anonymous logins need none.

use std::io::BufRead;

use super::error::ClientError;
use super::url::FtpUrl;

/// The environment variable read for the password.
pub const PASSWORD_ENV: &str = "WHARF_FTP_PASSWORD";

/// The password sent for anonymous logins (a conventional placeholder address).
pub const ANONYMOUS_PASSWORD: &str = "anonymous@";

/// Finds the password for `url`, in order: standard input (if asked), the URL, the
/// environment, a terminal prompt.
pub fn resolve(url: &FtpUrl, from_stdin: bool) -> Result<String, ClientError> {
    if from_stdin {
        return read_line(&mut std::io::stdin().lock());
    }
    if let Some(password) = &url.password {
        return Ok(password.clone());
    }
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let Some(user) = &url.user else {
        return Ok(ANONYMOUS_PASSWORD.to_string());
    };
    wharf_users::cli::prompt_password(&format!("Password for {user}@{}: ", url.authority()))
        .map_err(|error| {
            ClientError::Password(format!(
                "{error} (no terminal to ask on: use --password-stdin or {PASSWORD_ENV})"
            ))
        })
}

/// One line without its line ending; an empty input is an error.
fn read_line(input: &mut dyn BufRead) -> Result<String, ClientError> {
    let mut line = String::new();
    let read = input
        .read_line(&mut line)
        .map_err(|error| ClientError::Password(error.to_string()))?;
    if read == 0 {
        return Err(ClientError::Password(
            "standard input was empty (--password-stdin expects one line)".to_string(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_line_without_its_ending() {
        let mut input = &b"s3cret pass\r\nnext line\n"[..];
        assert_eq!(read_line(&mut input).unwrap(), "s3cret pass");
        assert_eq!(read_line(&mut input).unwrap(), "next line");
        assert!(read_line(&mut input).is_err());
    }

    #[test]
    fn the_url_password_wins_over_a_prompt() {
        let url = FtpUrl::parse("ftp://u:from%20url@h/").unwrap();
        assert_eq!(resolve(&url, false).unwrap(), "from url");
    }
}
