//! What RETR and the listings share: open the data connection, say 150, send, say 226.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wharf::Connection;

use super::events::Details;
use crate::config::hooks::HookEventKind;
use crate::metrics::TransferResult;
use crate::protocol::ReplyCode;
use crate::protocol::command::TransferType;
use crate::session::control;
use crate::session::data::{self, DataError};
use crate::session::state::{Flow, Session};
use crate::session::transfer::{self, Interruption, Source};
use crate::session::xferlog::Direction;
use crate::tls::DataDirection;

impl Session {
    /// Makes the data connection planned by PASV/EPSV/PORT/EPRT (each plan serves once).
    pub(crate) async fn open_data(&mut self) -> Result<TcpStream, DataError> {
        let plan = self.data_plan.take().ok_or(DataError::NoPlan)?;
        self.check_data_protection()?;
        let timeout = self.shared.config.limits.data_accept_timeout;
        let peers = data::DataPeers {
            client: self.peer_ip,
            balancer: self.balancer_ip,
        };
        data::connect(plan, self.local_ip, peers, timeout).await
    }
}

/// Sends the final reply for an interrupted transfer; returns how the session goes on.
pub(super) async fn interrupted(
    conn: &mut Connection,
    interruption: Interruption,
) -> io::Result<Flow> {
    match interruption {
        Interruption::Abor => {
            control::say(
                conn,
                ReplyCode::TRANSFER_ABORTED,
                "Connection closed; transfer aborted.",
            )
            .await?;
            control::say(conn, ReplyCode::TRANSFER_COMPLETE, "Abort successful.").await?;
            Ok(Flow::Continue)
        }
        Interruption::ControlLost => Ok(Flow::Close),
    }
}

/// Opens the data connection, sends `opening` as the 150 reply, sends `source`, and answers
/// 226 with `done` once the data connection is closed. A download of the file `logged` goes
/// to the xferlog and, once complete, to the `download` hook.
pub(super) async fn download(
    session: &mut Session,
    conn: &mut Connection,
    source: Source,
    opening: String,
    done: &str,
    logged: Option<&str>,
) -> io::Result<Flow> {
    let data = match session.open_data().await {
        Ok(data) => data,
        Err(error) => {
            tracing::debug!(%error, "no data connection");
            control::send(conn, &error.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    control::say(conn, ReplyCode::OPENING_DATA_CONNECTION, opening).await?;
    let data = match session.protect_data(data, DataDirection::Download).await {
        Ok(data) => data,
        Err(error) => {
            tracing::info!(%error, "data connection refused");
            control::send(conn, &error.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    let (cancel, cancelled) = oneshot::channel();
    let progress = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(transfer::send(
        data,
        source,
        session.transfer_type == TransferType::Ascii,
        session.shared.config.limits.idle_timeout,
        cancelled,
        Arc::clone(&progress),
    ));
    let started = Instant::now();
    let (result, interruption) = session.supervise(conn, task, cancel, &progress).await?;
    if let Some(path) = logged {
        let outcome = match (&result, &interruption) {
            (Ok(_), _) => TransferResult::Ok,
            (Err(_), Some(_)) => TransferResult::Aborted,
            (Err(_), None) => TransferResult::Failed,
        };
        let bytes = progress.load(Ordering::Relaxed);
        session
            .log_transfer(path, started, bytes, Direction::Outgoing, outcome)
            .await;
    }
    match (result, interruption) {
        (Ok(bytes), None) => {
            tracing::info!(bytes, "download complete");
            control::say(conn, ReplyCode::TRANSFER_COMPLETE, done).await?;
            if logged.is_some() {
                session.hook_event(
                    HookEventKind::Download,
                    Details {
                        path: logged,
                        size: Some(bytes),
                        ..Details::default()
                    },
                );
            }
            Ok(Flow::Continue)
        }
        (Ok(_), Some(Interruption::Abor)) => {
            // It finished before the ABOR was seen: 226 for the transfer, 226 for the ABOR (RFC 959).
            control::say(conn, ReplyCode::TRANSFER_COMPLETE, done).await?;
            control::say(conn, ReplyCode::TRANSFER_COMPLETE, "No transfer to abort.").await?;
            Ok(Flow::Continue)
        }
        (_, Some(interruption)) => interrupted(conn, interruption).await,
        (Err(error), None) => {
            tracing::info!(%error, "download failed");
            control::send(conn, &error.reply()).await?;
            Ok(Flow::Continue)
        }
    }
}
