//! RETR: download a file, from the REST offset if one was given.

use std::io;

use wharf::Connection;

use super::download::download;
use crate::protocol::command::TransferType;
use crate::session::control;
use crate::session::state::{Flow, Session, storage_reply};
use crate::session::transfer::Source;

/// RETR: checks the file, then sends it with `150 ... (N bytes)` and `226`.
pub(super) async fn retr(
    session: &mut Session,
    conn: &mut Connection,
    arg: &str,
) -> io::Result<Flow> {
    let offset = session.rest.take().unwrap_or(0);
    let Some(jail) = session.jail().cloned() else {
        return Ok(Flow::Continue);
    };
    let path = match session.resolve(arg) {
        Ok(path) => path,
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    let (body, size) = match jail.open_read(&path, offset).await {
        Ok(opened) => (opened.body, opened.size),
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    let mode = match session.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    };
    let opening = format!("Opening {mode} mode data connection for {path} ({size} bytes).");
    tracing::info!(%path, offset, size, "download");
    download(
        session,
        conn,
        Source::Stored(body),
        opening,
        "Transfer complete.",
        Some(path.as_str()),
    )
    .await
}
