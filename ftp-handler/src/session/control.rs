//! Writing replies on the control connection.

use std::io;

use tokio::io::AsyncWriteExt;
use wharf::Connection;

use crate::protocol::{Reply, ReplyCode};

tokio::task_local! {
    /// The code of the first completion reply (2xx to 5xx) this session sent since the
    /// command loop last cleared it, so each command is counted by its own final reply: a
    /// `150` comes before it, and the `226` answering an ABOR after it.
    pub(crate) static COMPLETION_REPLY: std::cell::Cell<u16>;
}

/// The first completion reply code sent since [`forget_reply`] (0: none, or only 1xx).
pub(crate) fn completion_reply() -> u16 {
    COMPLETION_REPLY.try_with(std::cell::Cell::get).unwrap_or(0)
}

/// Clears the completion reply code, before a command runs.
pub(crate) fn forget_reply() {
    let _ = COMPLETION_REPLY.try_with(|code| code.set(0));
}

/// Sends one reply and flushes it to the peer.
pub(crate) async fn send(conn: &mut Connection, reply: &Reply) -> io::Result<()> {
    let _ = COMPLETION_REPLY.try_with(|first| {
        if first.get() < 200 {
            first.set(reply.code().as_u16());
        }
    });
    tracing::debug!(code = reply.code().as_u16(), text = %reply.lines().join(" | "), "reply");
    conn.write_all(&reply.to_wire()).await?;
    conn.flush().await
}

/// Sends a single-line reply.
pub(crate) async fn say(
    conn: &mut Connection,
    code: ReplyCode,
    text: impl Into<String>,
) -> io::Result<()> {
    send(conn, &Reply::new(code, text)).await
}
