//! Control-channel replies: `NNN text` lines and RFC 959 section 4.2 multi-line replies.
//!
//! Every text that reaches the wire goes through [`sanitize`], so a file name that contains
//! CR or LF can never end a reply early and inject a line of its own.

use std::fmt;

/// A three-digit FTP reply code (RFC 959 section 4.2), with names for the codes this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// 110: restart marker reply.
    pub const RESTART_MARKER: Self = Self(110);
    /// 120: service ready in a few minutes.
    pub const SERVICE_READY_SOON: Self = Self(120);
    /// 125: data connection already open; transfer starting.
    pub const TRANSFER_STARTING: Self = Self(125);
    /// 150: file status okay; about to open the data connection.
    pub const OPENING_DATA_CONNECTION: Self = Self(150);
    /// 200: command okay.
    pub const OK: Self = Self(200);
    /// 202: command not implemented, superfluous at this site (ACCT, ALLO).
    pub const SUPERFLUOUS: Self = Self(202);
    /// 211: system status, or FEAT list.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 212: directory status.
    pub const DIRECTORY_STATUS: Self = Self(212);
    /// 213: file status (SIZE, MDTM, HASH, STAT of a file).
    pub const FILE_STATUS: Self = Self(213);
    /// 214: help message.
    pub const HELP: Self = Self(214);
    /// 215: system type (SYST).
    pub const SYSTEM_TYPE: Self = Self(215);
    /// 220: service ready for a new user (greeting).
    pub const SERVICE_READY: Self = Self(220);
    /// 221: service closing the control connection (QUIT).
    pub const CLOSING: Self = Self(221);
    /// 225: data connection open, no transfer in progress (ABOR with nothing to abort).
    pub const DATA_CONNECTION_OPEN: Self = Self(225);
    /// 226: closing the data connection; the transfer is complete.
    pub const TRANSFER_COMPLETE: Self = Self(226);
    /// 227: entering passive mode `(h1,h2,h3,h4,p1,p2)`.
    pub const ENTERING_PASSIVE_MODE: Self = Self(227);
    /// 229: entering extended passive mode `(|||port|)`.
    pub const ENTERING_EXTENDED_PASSIVE_MODE: Self = Self(229);
    /// 230: user logged in.
    pub const LOGGED_IN: Self = Self(230);
    /// 234: security exchange (AUTH TLS) accepted.
    pub const AUTH_ACCEPTED: Self = Self(234);
    /// 250: requested file action okay, completed.
    pub const FILE_ACTION_OK: Self = Self(250);
    /// 257: pathname created, or current directory (PWD).
    pub const PATH_CREATED: Self = Self(257);
    /// 331: user name okay, need password.
    pub const NEED_PASSWORD: Self = Self(331);
    /// 350: requested file action pending further information (REST, RNFR).
    pub const PENDING_FURTHER_INFORMATION: Self = Self(350);
    /// 421: service not available, closing the control connection.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// 425: cannot open the data connection.
    pub const CANNOT_OPEN_DATA_CONNECTION: Self = Self(425);
    /// 426: connection closed; transfer aborted.
    pub const TRANSFER_ABORTED: Self = Self(426);
    /// 450: file unavailable (busy).
    pub const FILE_BUSY: Self = Self(450);
    /// 451: action aborted, local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// 452: insufficient storage space in the system.
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 500: syntax error, command unrecognised (also: line too long).
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 501: syntax error in parameters or arguments.
    pub const BAD_ARGUMENTS: Self = Self(501);
    /// 502: command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 503: bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 504: command not implemented for that parameter.
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    /// 521: data connection cannot be opened with this PROT setting, RFC 4217.
    pub const PROT_SETTING_REFUSED: Self = Self(521);
    /// 522: network protocol not supported (EPRT/EPSV), RFC 2428.
    pub const PROTOCOL_NOT_SUPPORTED: Self = Self(522);
    /// 530: not logged in.
    pub const NOT_LOGGED_IN: Self = Self(530);
    /// 534: request denied for policy reasons (TLS required), RFC 4217.
    pub const POLICY_DENIED: Self = Self(534);
    /// 533: command protection level denied for policy reasons, RFC 2228.
    pub const PROTECTION_DENIED: Self = Self(533);
    /// 536: requested PROT level not supported by the mechanism, RFC 2228.
    pub const PROT_LEVEL_NOT_SUPPORTED: Self = Self(536);
    /// 550: file unavailable (not found, no access, outside the jail).
    pub const FILE_UNAVAILABLE: Self = Self(550);
    /// 552: exceeded storage allocation (quota).
    pub const QUOTA_EXCEEDED: Self = Self(552);
    /// 553: file name not allowed.
    pub const BAD_FILE_NAME: Self = Self(553);
    /// 554: transaction failed (bad REST offset), RFC 3659.
    pub const BAD_RESTART_OFFSET: Self = Self(554);

    /// A code from its number; `None` unless it has three digits with a first digit 1 to 5.
    pub fn new(code: u16) -> Option<Self> {
        (100..=599).contains(&code).then_some(Self(code))
    }

    /// The numeric value.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this is a positive preliminary reply (1yz): another reply follows.
    pub fn is_preliminary(self) -> bool {
        self.0 < 200
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, repeated on the first and the last line of a multi-line reply.
    code: ReplyCode,
    /// The text lines; one line makes a single-line reply. Never empty.
    lines: Vec<String>,
}

impl Reply {
    /// A single-line reply `NNN text`.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: `NNN-first`, the body lines, then `NNN last`.
    ///
    /// Body lines are written as given (FEAT passes its leading space itself), except that a
    /// body line starting with a digit gets a leading space so it cannot pass for the end line.
    pub fn multiline<I, S>(
        code: ReplyCode,
        first: impl Into<String>,
        body: I,
        last: impl Into<String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut lines = vec![first.into()];
        lines.extend(body.into_iter().map(Into::into));
        lines.push(last.into());
        Self { code, lines }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The text lines, first to last, before sanitising.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The exact bytes sent on the control connection, CRLF-terminated.
    pub fn to_wire(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Reply {
    /// Formats the reply as it goes on the wire, with CRLF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code;
        match self.lines.as_slice() {
            [] => write!(f, "{code} \r\n"),
            [only] => write!(f, "{code} {}\r\n", sanitize(only)),
            [first, body @ .., last] => {
                write!(f, "{code}-{}\r\n", sanitize(first))?;
                for line in body {
                    let line = sanitize(line);
                    if line.starts_with(|c: char| c.is_ascii_digit()) {
                        write!(f, " {line}\r\n")?;
                    } else {
                        write!(f, "{line}\r\n")?;
                    }
                }
                write!(f, "{code} {}\r\n", sanitize(last))
            }
        }
    }
}

/// Replaces every CR and LF in a reply text with a space, so no text can end its line early.
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Quotes a pathname for a 257 reply (PWD, MKD): wraps it in `"` and doubles each inner `"`
/// (RFC 959 appendix II).
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_reply_is_code_space_text_crlf() {
        let reply = Reply::new(ReplyCode::OK, "Command okay.");
        assert_eq!(reply.to_string(), "200 Command okay.\r\n");
    }

    #[test]
    fn multiline_reply_repeats_code_on_first_and_last_line() {
        let reply = Reply::multiline(
            ReplyCode::SYSTEM_STATUS,
            "Features:",
            [" UTF8", " MDTM"],
            "End",
        );
        assert_eq!(
            reply.to_string(),
            "211-Features:\r\n UTF8\r\n MDTM\r\n211 End\r\n"
        );
    }

    #[test]
    fn multiline_body_line_starting_with_digit_is_indented() {
        let reply = Reply::multiline(ReplyCode::HELP, "Help", ["214 fake end"], "Done");
        assert_eq!(
            reply.to_string(),
            "214-Help\r\n 214 fake end\r\n214 Done\r\n"
        );
    }

    #[test]
    fn crlf_inside_text_cannot_inject_a_reply_line() {
        let reply = Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            "evil\r\n230 Logged in\nname: no such file",
        );
        let wire = reply.to_string();
        assert_eq!(wire.matches("\r\n").count(), 1);
        assert_eq!(wire.matches('\n').count(), 1);
        assert!(wire.starts_with("550 evil  230 Logged in name"));
        let multi = Reply::multiline(ReplyCode::FILE_STATUS, "a\nb", ["c\rd"], "e\r\n226 x");
        let wire = multi.to_string();
        assert_eq!(wire.lines().count(), 3);
        assert!(wire.lines().all(|l| !l.starts_with("226")));
    }

    #[test]
    fn quote_path_doubles_inner_quotes() {
        assert_eq!(quote_path("/a"), "\"/a\"");
        assert_eq!(quote_path("/say \"hi\""), "\"/say \"\"hi\"\"\"");
        let reply = Reply::new(
            ReplyCode::PATH_CREATED,
            format!("{} created", quote_path("/x\ny")),
        );
        assert_eq!(reply.to_string(), "257 \"/x y\" created\r\n");
    }

    #[test]
    fn reply_code_accepts_only_three_digit_codes() {
        assert_eq!(ReplyCode::new(226), Some(ReplyCode::TRANSFER_COMPLETE));
        assert_eq!(ReplyCode::new(99), None);
        assert_eq!(ReplyCode::new(600), None);
        assert!(ReplyCode::OPENING_DATA_CONNECTION.is_preliminary());
        assert!(!ReplyCode::OK.is_preliminary());
    }
}
