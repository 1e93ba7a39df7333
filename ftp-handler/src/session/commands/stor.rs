//! STOR, APPE and STOU: uploads, committed only after the data connection closed cleanly.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::oneshot;
use wharf::Connection;

use super::download::interrupted;
use super::events::Details;
use crate::config::hooks::HookEventKind;
use crate::metrics::TransferResult;
use crate::protocol::ReplyCode;
use crate::protocol::command::TransferType;
use crate::session::control;
use crate::session::state::{Flow, Session, storage_reply};
use crate::session::transfer::{self, Progress, write_placement};
use crate::session::xferlog::Direction;
use crate::storage::UploadMode;
use crate::tls::DataDirection;

/// Which upload command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// STOR, or REST n + STOR.
    Stor,
    /// APPE.
    Appe,
    /// STOU.
    Stou,
}

/// Runs an upload: opens the target, the data connection, receives, commits, answers 226.
pub(super) async fn store(
    session: &mut Session,
    conn: &mut Connection,
    arg: Option<&str>,
    kind: Kind,
) -> io::Result<Flow> {
    let rest = session.rest.take();
    let mode = match (kind, rest) {
        (Kind::Stor, Some(offset)) if offset > 0 => UploadMode::ResumeAt(offset),
        (Kind::Stor, _) => UploadMode::Replace,
        (Kind::Appe, _) => UploadMode::Append,
        (Kind::Stou, _) => UploadMode::Unique,
    };
    let Some(jail) = session.jail().cloned() else {
        return Ok(Flow::Continue);
    };
    if matches!(mode, UploadMode::Append | UploadMode::ResumeAt(_)) && !jail.capabilities().append {
        let operation = match mode {
            UploadMode::Append => "APPE",
            _ => "REST before STOR",
        };
        let refusal = crate::storage::StorageError::Unsupported {
            path: session.cwd.clone(),
            operation,
        };
        control::send(conn, &storage_reply(&refusal)).await?;
        return Ok(Flow::Continue);
    }
    let path = match arg.map(|arg| session.resolve(arg)).transpose() {
        Ok(path) => path.unwrap_or_else(|| session.cwd.clone()),
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    // Before anything is written (not even a partial file): the pre-upload check may refuse.
    if let Err(refusal) = session.check_upload(&path, mode).await {
        control::send(conn, &refusal).await?;
        return Ok(Flow::Continue);
    }
    let placement = write_placement(conn.capabilities());
    let upload = match jail.begin_upload(&path, mode, placement).await {
        Ok(upload) => upload,
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    let target = upload.path().clone();
    let data = match session.open_data().await {
        Ok(data) => data,
        Err(error) => {
            upload.abort().await;
            control::send(conn, &error.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    let opening = match kind {
        Kind::Stou => format!("FILE: {}", target.file_name().unwrap_or("upload")),
        Kind::Stor | Kind::Appe => "Ok to send data.".to_string(),
    };
    control::say(conn, ReplyCode::OPENING_DATA_CONNECTION, opening).await?;
    let data = match session.protect_data(data, DataDirection::Upload).await {
        Ok(data) => data,
        Err(error) => {
            tracing::info!(%error, "data connection refused");
            upload.abort().await;
            control::send(conn, &error.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    tracing::info!(path = %target, ?mode, "upload");
    let (cancel, cancelled) = oneshot::channel();
    let progress = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(transfer::receive(
        data,
        upload,
        session.transfer_type == TransferType::Ascii,
        session.shared.config.limits.idle_timeout,
        cancelled,
        Arc::clone(&progress),
    ));
    let started = Instant::now();
    let (result, interruption) = session.supervise(conn, task, cancel, &progress).await?;
    let received = |progress: &Progress| progress.load(Ordering::Relaxed);
    let logged = target.as_str().to_string();
    let upload = match (result, interruption) {
        (Ok(upload), None) => upload,
        (Ok(upload), Some(interruption)) => {
            upload.abort().await;
            let bytes = received(&progress);
            session
                .log_transfer(
                    &logged,
                    started,
                    bytes,
                    Direction::Incoming,
                    TransferResult::Aborted,
                )
                .await;
            return interrupted(conn, interruption).await;
        }
        (Err(_), Some(interruption)) => {
            let bytes = received(&progress);
            session
                .log_transfer(
                    &logged,
                    started,
                    bytes,
                    Direction::Incoming,
                    TransferResult::Aborted,
                )
                .await;
            return interrupted(conn, interruption).await;
        }
        (Err(error), None) => {
            tracing::info!(%error, "upload failed");
            let bytes = received(&progress);
            session
                .log_transfer(
                    &logged,
                    started,
                    bytes,
                    Direction::Incoming,
                    TransferResult::Failed,
                )
                .await;
            control::send(conn, &error.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    if let Some(interruption) = session.upload_interruption(conn).await {
        upload.abort().await;
        let bytes = received(&progress);
        session
            .log_transfer(
                &logged,
                started,
                bytes,
                Direction::Incoming,
                TransferResult::Aborted,
            )
            .await;
        return interrupted(conn, interruption).await;
    }
    let committed = upload.commit().await;
    let bytes = received(&progress);
    let outcome = if committed.is_ok() {
        TransferResult::Ok
    } else {
        TransferResult::Failed
    };
    session
        .log_transfer(&logged, started, bytes, Direction::Incoming, outcome)
        .await;
    match committed {
        Ok(info) => {
            tracing::info!(path = %info.path, size = info.size, "upload committed");
            let done = match kind {
                Kind::Stou => format!(
                    "Transfer complete (unique file name: {}).",
                    info.path.file_name().unwrap_or("upload")
                ),
                Kind::Stor | Kind::Appe => "Transfer complete.".to_string(),
            };
            control::say(conn, ReplyCode::TRANSFER_COMPLETE, done).await?;
            session.hook_event(
                HookEventKind::Upload,
                Details {
                    path: Some(info.path.as_str()),
                    size: Some(info.size),
                    ..Details::default()
                },
            );
        }
        Err(error) => control::send(conn, &storage_reply(&error)).await?,
    }
    Ok(Flow::Continue)
}
