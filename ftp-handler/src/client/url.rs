//! `ftp://[user[:password]@]host[:port][/path]` URLs (RFC 1738), with percent-decoding and
//! bracketed IPv6 hosts.
//!
//! The path is taken relative to the login directory, as RFC 1738 and curl do: `ftp://h/a/b`
//! names `a/b`; a leading `%2F` makes it absolute (`ftp://h/%2Fetc/x` is `/etc/x`).

use std::fmt;

/// The port FTP listens on when the URL names none.
pub const DEFAULT_PORT: u16 = 21;

/// Why a URL was refused; each message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text does not start with `ftp://`.
    #[error("expected a URL starting with ftp:// (for example ftp://user@host:2121/path)")]
    MissingScheme,
    /// Another scheme such as `http://` or `ftps://`.
    #[error("unsupported scheme {0:?}: use ftp:// (add --tls for explicit FTPS)")]
    UnsupportedScheme(String),
    /// Nothing between `//` and the port or path.
    #[error("the URL names no host")]
    MissingHost,
    /// `user@` with an empty user name.
    #[error("the URL has an empty user name before '@'")]
    EmptyUser,
    /// An IPv6 address without its closing bracket, or text after it that is not `:port`.
    #[error("bad bracketed host {0:?}: write IPv6 addresses as [::1] or [::1]:2121")]
    BadBracket(String),
    /// A colon-separated host that is not a bracketed IPv6 address.
    #[error("bad host {0:?}: IPv6 addresses must be written in brackets, as [::1]:2121")]
    UnbracketedIpv6(String),
    /// The port is not a number from 1 to 65535.
    #[error("bad port {0:?}: expected a number from 1 to 65535")]
    BadPort(String),
    /// A `%` not followed by two hexadecimal digits.
    #[error("bad percent-escape in {0:?}: '%' must be followed by two hex digits")]
    BadEscape(String),
    /// The decoded bytes are not UTF-8.
    #[error("{0:?} does not decode to UTF-8 text")]
    NotUtf8(String),
    /// A decoded CR, LF or NUL, which would end or corrupt an FTP command line.
    #[error("{0:?} decodes to a line break or NUL, which FTP commands cannot carry")]
    ControlCharacter(String),
}

/// A parsed `ftp://` URL: where to connect, as whom, and which remote path.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpUrl {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// Control port (21 when the URL names none).
    pub port: u16,
    /// Decoded user name; `None` means anonymous.
    pub user: Option<String>,
    /// Decoded password from the URL, if it carried one (discouraged: it shows in `ps`).
    pub password: Option<String>,
    /// Decoded remote path, relative to the login directory unless it starts with `/`.
    pub path: String,
}

impl FtpUrl {
    /// Parses `ftp://[user[:password]@]host[:port][/path]`.
    pub fn parse(text: &str) -> Result<FtpUrl, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::MissingScheme)?;
        if !scheme.eq_ignore_ascii_case("ftp") {
            return Err(UrlError::UnsupportedScheme(scheme.to_string()));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        // The last '@' ends the user info: a sloppy password may contain an unescaped '@'.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(decode(password)?)),
                    None => (info, None),
                };
                if user.is_empty() {
                    return Err(UrlError::EmptyUser);
                }
                (Some(decode(user)?), password)
            }
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(FtpUrl {
            host,
            port,
            user,
            password,
            path: decode(path)?,
        })
    }

    /// `host:port`, with brackets around an IPv6 host, as socket address look-ups expect.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The same server and user with another remote path.
    pub fn with_path(&self, path: &str) -> FtpUrl {
        FtpUrl {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

/// Shows the URL without its password, for messages.
impl fmt::Display for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ftp://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}/{}", self.authority(), self.path)
    }
}

/// Never prints the password.
impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("path", &self.path)
            .finish()
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(text: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| UrlError::BadBracket(text.to_string()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UrlError::BadBracket(text.to_string()))?,
            ),
        };
        (host, port)
    } else {
        match text.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(UrlError::UnbracketedIpv6(text.to_string()));
            }
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(UrlError::BadPort(port.to_string())),
            Ok(port) => port,
        },
    };
    Ok((host.to_string(), port))
}

/// Percent-decodes a URL component into UTF-8 text free of CR, LF and NUL.
pub fn decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let pair = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| UrlError::BadEscape(text.to_string()))?;
            out.push(pair);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| UrlError::NotUtf8(text.to_string()))?;
    if decoded.contains(['\r', '\n', '\0']) {
        return Err(UrlError::ControlCharacter(text.to_string()));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_host_port_and_path() {
        let url = FtpUrl::parse("ftp://alice@example.org:2121/docs/a.txt").unwrap();
        assert_eq!(url.user.as_deref(), Some("alice"));
        assert_eq!(url.password, None);
        assert_eq!(url.host, "example.org");
        assert_eq!(url.port, 2121);
        assert_eq!(url.path, "docs/a.txt");
        assert_eq!(url.authority(), "example.org:2121");
    }

    #[test]
    fn defaults_to_port_21_anonymous_and_the_login_directory() {
        let url = FtpUrl::parse("FTP://host").unwrap();
        assert_eq!(
            (url.port, url.user.clone(), url.path.as_str()),
            (21, None, "")
        );
        assert_eq!(FtpUrl::parse("ftp://host:/").unwrap().port, 21);
    }

    #[test]
    fn decodes_percent_escapes_in_every_component() {
        let url = FtpUrl::parse("ftp://us%40er:p%3Ass%2F@h/dir%20one/%C3%A9t%C3%A9.txt").unwrap();
        assert_eq!(url.user.as_deref(), Some("us@er"));
        assert_eq!(url.password.as_deref(), Some("p:ss/"));
        assert_eq!(url.path, "dir one/été.txt");
        assert_eq!(FtpUrl::parse("ftp://h/%2Fetc/x").unwrap().path, "/etc/x");
    }

    #[test]
    fn takes_the_last_at_sign_as_the_end_of_the_user_info() {
        let url = FtpUrl::parse("ftp://bob:a@b@h:21/").unwrap();
        assert_eq!(url.password.as_deref(), Some("a@b"));
        assert_eq!(url.host, "h");
    }

    #[test]
    fn accepts_bracketed_ipv6_hosts() {
        let url = FtpUrl::parse("ftp://u@[::1]:2121/x").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.authority(), "[::1]:2121");
        assert_eq!(FtpUrl::parse("ftp://[fe80::1]").unwrap().port, 21);
    }

    #[test]
    fn refuses_malformed_urls_with_a_precise_reason() {
        let cases = [
            ("host/path", UrlError::MissingScheme),
            ("http://h/", UrlError::UnsupportedScheme("http".to_string())),
            ("ftp:///path", UrlError::MissingHost),
            ("ftp://:21/", UrlError::MissingHost),
            ("ftp://@h/", UrlError::EmptyUser),
            ("ftp://h:0/", UrlError::BadPort("0".to_string())),
            ("ftp://h:70000/", UrlError::BadPort("70000".to_string())),
            ("ftp://h:ab/", UrlError::BadPort("ab".to_string())),
            ("ftp://::1/", UrlError::UnbracketedIpv6("::1".to_string())),
            ("ftp://[::1/", UrlError::BadBracket("[::1".to_string())),
            ("ftp://[::1]x/", UrlError::BadBracket("[::1]x".to_string())),
            ("ftp://h/a%2", UrlError::BadEscape("a%2".to_string())),
            ("ftp://h/a%zz", UrlError::BadEscape("a%zz".to_string())),
            ("ftp://h/%ff", UrlError::NotUtf8("%ff".to_string())),
        ];
        for (text, expected) in cases {
            assert_eq!(FtpUrl::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn refuses_escapes_that_would_inject_a_command() {
        assert_eq!(
            FtpUrl::parse("ftp://h/a%0D%0ADELE%20b"),
            Err(UrlError::ControlCharacter("a%0D%0ADELE%20b".to_string()))
        );
        assert!(FtpUrl::parse("ftp://h/a%00").is_err());
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let url = FtpUrl::parse("ftp://u:secret@h:2121/p").unwrap();
        assert_eq!(url.to_string(), "ftp://u@h:2121/p");
        assert!(!format!("{url:?}").contains("secret"));
        assert_eq!(url.with_path("q").path, "q");
    }
}
