//! `[hooks]`: event hooks (a command and/or a webhook per event) and the pre-upload veto.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, duration};

/// An event a hook can be told about; the names are those of `hooks.events` and of
/// `WHARF_EVENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookEventKind {
    /// An upload committed (STOR, APPE, STOU answered `226`).
    Upload,
    /// A download completed (RETR answered `226`).
    Download,
    /// A file deleted (DELE).
    Delete,
    /// A file or directory renamed (RNFR + RNTO).
    Rename,
    /// A successful login (PASS answered `230`).
    Login,
    /// A failed login (wrong password or unknown user).
    LoginFailed,
}

impl HookEventKind {
    /// Every event, in documentation order.
    pub const ALL: [HookEventKind; 6] = [
        HookEventKind::Upload,
        HookEventKind::Download,
        HookEventKind::Delete,
        HookEventKind::Rename,
        HookEventKind::Login,
        HookEventKind::LoginFailed,
    ];

    /// The name in `hooks.events`, `WHARF_EVENT` and the JSON `event` field.
    pub fn name(self) -> &'static str {
        match self {
            HookEventKind::Upload => "upload",
            HookEventKind::Download => "download",
            HookEventKind::Delete => "delete",
            HookEventKind::Rename => "rename",
            HookEventKind::Login => "login",
            HookEventKind::LoginFailed => "login_failed",
        }
    }
}

/// `[hooks]` settings. With neither `command` nor `webhook_url` no event is delivered; with no
/// `pre_upload` every upload goes ahead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// A program run once per event, the event in `WHARF_*` environment variables (no shell,
    /// no arguments); unset: none.
    pub command: Option<PathBuf>,
    /// An `http://HOST[:PORT]/PATH` URL each event is POSTed to as JSON; unset: none.
    pub webhook_url: Option<String>,
    /// The events delivered (default: all of them).
    pub events: Vec<HookEventKind>,
    /// Events waiting for delivery at most; an event beyond is dropped, logged and counted.
    pub queue: usize,
    /// Further attempts after a failed delivery (per target: the command, the webhook).
    pub retries: u32,
    /// Wait before the first retry; each further retry waits twice as long as the one before
    /// (at most a minute).
    #[serde(deserialize_with = "duration::deserialize")]
    pub retry_backoff: Duration,
    /// Longest one delivery attempt may take (the command running, the webhook answering).
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// A program asked before each upload writes anything: exit status 0 allows it, anything
    /// else refuses it with `553` and the first line of its output; unset: no check.
    pub pre_upload: Option<PathBuf>,
    /// Longest the pre-upload program may take; past it the upload is refused.
    #[serde(deserialize_with = "duration::deserialize")]
    pub pre_upload_timeout: Duration,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            command: None,
            webhook_url: None,
            events: HookEventKind::ALL.to_vec(),
            queue: 1024,
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            pre_upload: None,
            pre_upload_timeout: Duration::from_secs(5),
        }
    }
}

/// Where a webhook goes: `http://HOST:PORT/PATH`, split for the HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Host name or address, as written (IPv6 without brackets).
    pub host: String,
    /// Port (80 unless given).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path_and_query: String,
    /// The `Host` header value (`host[:port]` as written in the URL).
    pub authority: String,
}

impl WebhookTarget {
    /// Parses an `http://` URL; other schemes (https included) are refused.
    pub fn parse(url: &str) -> Result<WebhookTarget, String> {
        let uri: http::Uri = url.parse().map_err(|error| format!("{url}: {error}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "{url}: only http:// is supported, not {other}:// (terminate TLS in a local \
                     relay if the receiver is remote)"
                ));
            }
            None => return Err(format!("{url}: needs http://")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: needs a host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{url}: user information is not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url}: needs a host"));
        }
        Ok(WebhookTarget {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            path_and_query: uri
                .path_and_query()
                .map_or("/", |path| path.as_str())
                .to_owned(),
            authority: authority.as_str().to_owned(),
        })
    }
}

impl HooksConfig {
    /// Whether any event is delivered anywhere.
    pub fn delivers_events(&self) -> bool {
        (self.command.is_some() || self.webhook_url.is_some()) && !self.events.is_empty()
    }

    /// Whether the hook process is needed at all (events or the pre-upload check).
    pub fn enabled(&self) -> bool {
        self.delivers_events() || self.pre_upload.is_some()
    }

    /// Checks the settings that are well-formed but unusable.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| Err(ConfigError::Invalid { key, reason });
        if let Some(url) = &self.webhook_url
            && let Err(reason) = WebhookTarget::parse(url)
        {
            return invalid("hooks.webhook_url", reason);
        }
        for (key, program) in [
            ("hooks.command", &self.command),
            ("hooks.pre_upload", &self.pre_upload),
        ] {
            if let Some(program) = program
                && !program.is_absolute()
            {
                return invalid(
                    key,
                    format!("{}: must be an absolute path", program.display()),
                );
            }
        }
        if self.queue == 0 {
            return invalid("hooks.queue", "must be at least 1".to_owned());
        }
        if self.timeout.is_zero() {
            return invalid("hooks.timeout", "must be longer than zero".to_owned());
        }
        if self.pre_upload_timeout.is_zero() {
            return invalid(
                "hooks.pre_upload_timeout",
                "must be longer than zero".to_owned(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_split_for_the_client() {
        let target = WebhookTarget::parse("http://127.0.0.1:8080/events?x=1").unwrap();
        assert_eq!(target.host, "127.0.0.1");
        assert_eq!(target.port, 8080);
        assert_eq!(target.path_and_query, "/events?x=1");
        assert_eq!(target.authority, "127.0.0.1:8080");
        let target = WebhookTarget::parse("http://[::1]/").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 80));
        let target = WebhookTarget::parse("http://hooks.example").unwrap();
        assert_eq!(target.path_and_query, "/");
    }

    #[test]
    fn webhook_urls_other_than_http_are_refused() {
        for url in [
            "https://example.com/",
            "example.com/x",
            "http:///x",
            "http://u:p@host/",
        ] {
            assert!(WebhookTarget::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn hooks_come_from_the_file_and_the_environment() {
        use crate::config::{FtpdConfig, Overrides};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ftpd.toml");
        std::fs::write(
            &file,
            "[hooks]\ncommand = \"/usr/local/bin/on-event\"\n\
             webhook_url = \"http://127.0.0.1:8080/events\"\n\
             events = [\"upload\", \"login_failed\"]\npre_upload = \"/usr/local/bin/veto\"\n\
             pre_upload_timeout = \"1500ms\"\n",
        )
        .unwrap();
        let env = [
            ("WHARF_FTPD__HOOKS__RETRIES", "7"),
            ("WHARF_FTPD__HOOKS__QUEUE", "16"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let config = FtpdConfig::load_from(Some(&file), Some(env), &Overrides::default()).unwrap();
        let hooks = config.hooks;
        assert_eq!(
            hooks.command,
            Some(PathBuf::from("/usr/local/bin/on-event"))
        );
        assert_eq!(
            hooks.events,
            [HookEventKind::Upload, HookEventKind::LoginFailed]
        );
        assert_eq!(hooks.pre_upload_timeout, Duration::from_millis(1500));
        assert_eq!((hooks.retries, hooks.queue), (7, 16));
        assert_eq!(hooks.timeout, HooksConfig::default().timeout);
        assert!(hooks.enabled() && hooks.delivers_events());

        std::fs::write(&file, "[hooks]\nevents = [\"upload\", \"mkdir\"]\n").unwrap();
        assert!(FtpdConfig::load_from(Some(&file), None, &Overrides::default()).is_err());
        std::fs::write(&file, "[hooks]\nwebhook_url = \"https://example.com/\"\n").unwrap();
        let error = FtpdConfig::load_from(Some(&file), None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("hooks.webhook_url"), "{error}");
    }

    #[test]
    fn relative_programs_and_zero_limits_are_refused() {
        let relative = HooksConfig {
            command: Some(PathBuf::from("notify.sh")),
            ..HooksConfig::default()
        };
        assert!(relative.validate().is_err());
        let zero = HooksConfig {
            queue: 0,
            ..HooksConfig::default()
        };
        assert!(zero.validate().is_err());
        assert!(HooksConfig::default().validate().is_ok());
        assert!(!HooksConfig::default().enabled());
    }
}
