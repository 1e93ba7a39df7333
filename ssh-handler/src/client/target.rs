//! `user@host[:port]`: where the client connects and as whom.

use std::fmt;
use std::str::FromStr;

/// The native protocol's port when the target names none.
pub const DEFAULT_PORT: u16 = 2300;

/// A parsed `user@host[:port]`; an IPv6 host is written in brackets: `alice@[::1]:2300`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The user to log in as.
    pub user: String,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Why a target does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {text:?}: {reason} (expected user@host[:port], IPv6 as user@[::1]:port)")]
pub struct TargetParseError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for Target {
    type Err = TargetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| TargetParseError {
            text: text.to_owned(),
            reason,
        };
        let (user, address) = text.rsplit_once('@').ok_or_else(|| error("no user@"))?;
        if user.is_empty() {
            return Err(error("the user is empty"));
        }
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| error("unclosed '['"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| error("junk after ']'"))?,
                    ),
                ),
            }
        } else {
            match address.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(error("an IPv6 address needs brackets"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            }
        };
        if host.is_empty() {
            return Err(error("the host is empty"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => port
                .parse()
                .map_err(|_| error("the port is not a number from 0 to 65535"))?,
        };
        Ok(Target {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: &str, host: &str, port: u16) -> Target {
        Target {
            user: user.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_names_addresses_and_ports() {
        assert_eq!(
            "alice@example.org".parse(),
            Ok(target("alice", "example.org", DEFAULT_PORT))
        );
        assert_eq!("bob@127.0.0.1:7".parse(), Ok(target("bob", "127.0.0.1", 7)));
        assert_eq!("c@[::1]:2222".parse(), Ok(target("c", "::1", 2222)));
        assert_eq!("c@[::1]".parse(), Ok(target("c", "::1", DEFAULT_PORT)));
        assert_eq!("a@b@host".parse(), Ok(target("a@b", "host", DEFAULT_PORT)));
        assert_eq!(target("c", "::1", 1).to_string(), "c@[::1]:1");
    }

    #[test]
    fn rejects_incomplete_targets() {
        for text in [
            "host",
            "@host",
            "u@",
            "u@h:port",
            "u@h:70000",
            "u@::1",
            "u@[::1",
            "u@[::1]x",
        ] {
            assert!(text.parse::<Target>().is_err(), "{text}");
        }
    }
}
