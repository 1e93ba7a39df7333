//! The FTP control-channel protocol, free of any I/O policy: command parsing, reply
//! formatting, line framing and file hashing.
//!
//! - [`command`]: a control line into a typed [`Command`] or a [`ParseError`] that knows its reply.
//! - [`reply`]: [`Reply`] and [`ReplyCode`], single- and multi-line, injection-proof.
//! - [`line`]: [`LineReader`], bounded CRLF framing that survives over-long and non-UTF-8 lines.
//! - [`hash`]: HASH / XSHA* algorithms and digests of readers.

pub mod command;
pub mod hash;
pub mod line;
pub mod reply;

pub use command::{Command, ParseError};
pub use hash::HashAlgorithm;
pub use line::{LineError, LineReader};
pub use reply::{Reply, ReplyCode};
