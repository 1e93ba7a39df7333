//! What a hook is told: one [`HookEvent`] per event, as environment variables for the command
//! and as the JSON body of the webhook; and the [`VetoRequest`] the pre-upload check reads.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::hooks::HookEventKind;
use crate::listing::UtcDateTime;

/// One event, as the webhook receives it (JSON) and the command reads it (`WHARF_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    /// What happened.
    pub event: HookEventKind,
    /// When, in UTC, RFC 3339 to the second (`2026-12-07T13:55:02Z`).
    pub time: String,
    /// The session's connection id (the same number as in the daemon's log).
    pub session: u64,
    /// The client's address (behind a trusted balancer: the one its PROXY header named).
    pub client_addr: String,
    /// The logged-in user; for `login_failed`, the name the client tried.
    pub user: String,
    /// The user's home directory (local storage; a key prefix on S3); absent for
    /// `login_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// The file as the session sees it (home = `/`); for `rename`, the old name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For `rename`: the new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
    /// For `upload`: the file's size once committed; for `download`: the bytes sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl HookEvent {
    /// An event of `kind` happening now, without a file.
    pub fn now(kind: HookEventKind, session: u64, client_addr: String, user: String) -> Self {
        HookEvent {
            event: kind,
            time: rfc3339(SystemTime::now()),
            session,
            client_addr,
            user,
            home: None,
            path: None,
            to_path: None,
            size: None,
        }
    }

    /// The `WHARF_*` variables of the event command (only the fields the event has).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("WHARF_EVENT", self.event.name().to_owned()),
            ("WHARF_TIME", self.time.clone()),
            ("WHARF_SESSION", self.session.to_string()),
            ("WHARF_CLIENT_ADDR", self.client_addr.clone()),
            ("WHARF_USER", self.user.clone()),
        ];
        let optional = [
            ("WHARF_HOME", self.home.clone()),
            ("WHARF_PATH", self.path.clone()),
            ("WHARF_TO_PATH", self.to_path.clone()),
            ("WHARF_SIZE", self.size.map(|size| size.to_string())),
        ];
        env.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
        env
    }
}

/// How an upload asked for writes its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadKind {
    /// STOR: a new file or a replacement.
    Replace,
    /// REST n + STOR: continues the file from an offset.
    Resume,
    /// APPE: appends.
    Append,
    /// STOU: a new file under a name the server picks.
    Unique,
}

impl UploadKind {
    /// The value of `WHARF_UPLOAD_MODE`.
    pub fn name(self) -> &'static str {
        match self {
            UploadKind::Replace => "replace",
            UploadKind::Resume => "resume",
            UploadKind::Append => "append",
            UploadKind::Unique => "unique",
        }
    }
}

/// What the pre-upload program is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VetoRequest {
    /// The session's connection id.
    pub session: u64,
    /// The client's address.
    pub client_addr: String,
    /// The logged-in user.
    pub user: String,
    /// The user's home.
    pub home: String,
    /// The file to be written, as the session sees it; for STOU the name asked for (or the
    /// current directory), since the unique name is picked later.
    pub path: String,
    /// How it would be written.
    pub mode: UploadKind,
    /// For a resumed upload: where writing would start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl VetoRequest {
    /// The `WHARF_*` variables of the pre-upload program.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("WHARF_EVENT", "pre_upload".to_owned()),
            ("WHARF_TIME", rfc3339(SystemTime::now())),
            ("WHARF_SESSION", self.session.to_string()),
            ("WHARF_CLIENT_ADDR", self.client_addr.clone()),
            ("WHARF_USER", self.user.clone()),
            ("WHARF_HOME", self.home.clone()),
            ("WHARF_PATH", self.path.clone()),
            ("WHARF_UPLOAD_MODE", self.mode.name().to_owned()),
        ];
        if let Some(offset) = self.offset {
            env.push(("WHARF_OFFSET", offset.to_string()));
        }
        env
    }
}

/// The pre-upload check's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the upload may go ahead.
    pub allowed: bool,
    /// Why not (printable ASCII, one line); empty when allowed.
    pub reason: String,
}

impl Verdict {
    /// The upload may go ahead.
    pub fn allow() -> Self {
        Verdict {
            allowed: true,
            reason: String::new(),
        }
    }

    /// The upload is refused for `reason`.
    pub fn refuse(reason: impl Into<String>) -> Self {
        Verdict {
            allowed: false,
            reason: reason.into(),
        }
    }
}

/// Longest reason passed on to the client.
const MAX_REASON: usize = 200;

/// The reason a refusing program gave: the first line of its output, kept to printable ASCII
/// (control characters and everything else dropped) and at most [`MAX_REASON`] characters;
/// `None` when nothing printable is left.
pub fn sanitize_reason(output: &[u8]) -> Option<String> {
    let first = output
        .split(|byte| *byte == b'\n' || *byte == b'\r')
        .next()
        .unwrap_or_default();
    let printable: String = first
        .iter()
        .filter(|byte| (0x20..=0x7e).contains(*byte))
        .map(|byte| char::from(*byte))
        .take(MAX_REASON)
        .collect();
    let trimmed = printable.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(time: SystemTime) -> String {
    let utc = UtcDateTime::from_system_time(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_event_names_both_paths_in_env_and_json() {
        let mut event = HookEvent::now(
            HookEventKind::Rename,
            7,
            "127.0.0.1".to_owned(),
            "alice".to_owned(),
        );
        event.path = Some("/a.txt".to_owned());
        event.to_path = Some("/b.txt".to_owned());
        let env = event.env();
        assert!(env.contains(&("WHARF_EVENT", "rename".to_owned())));
        assert!(env.contains(&("WHARF_TO_PATH", "/b.txt".to_owned())));
        assert!(!env.iter().any(|(key, _)| *key == "WHARF_SIZE"));
        let json: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "rename");
        assert_eq!(json["to_path"], "/b.txt");
        assert_eq!(json["session"], 7);
        assert!(json.get("size").is_none());
        let back: HookEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(time), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn reasons_keep_the_first_printable_line_only() {
        assert_eq!(
            sanitize_reason(b"no .exe files\nsecond line\n").as_deref(),
            Some("no .exe files")
        );
        assert_eq!(
            sanitize_reason("bad\u{1b}[31m name \u{e9}\r\n".as_bytes()).as_deref(),
            Some("bad[31m name")
        );
        assert_eq!(sanitize_reason(b"\n\nlater"), None);
        assert_eq!(sanitize_reason(b""), None);
        assert_eq!(
            sanitize_reason(&[b'x'; 500]).map(|r| r.len()),
            Some(MAX_REASON)
        );
    }
}
