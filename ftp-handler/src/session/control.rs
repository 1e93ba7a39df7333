//! Writing replies on the control connection.

use std::io;

use tokio::io::AsyncWriteExt;
use wharf::Connection;

use crate::protocol::{Reply, ReplyCode};

/// Sends one reply and flushes it to the peer.
pub(crate) async fn send(conn: &mut Connection, reply: &Reply) -> io::Result<()> {
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
