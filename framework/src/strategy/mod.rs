//! The concurrency strategies and the connection life cycle they all share.

pub(crate) mod asynchronous;
pub(crate) mod blocking;
pub(crate) mod forking;
pub(crate) mod threading;

use std::pin::pin;

use crate::catch_unwind::CatchUnwind;
use crate::connection::Connection;
use crate::error::{ErrorReport, Failure, Phase};
use crate::handler::{HandlerError, RequestHandler};
use crate::server::Shared;
use crate::shutdown::bounded_by_shutdown;

/// Runs setup, handle and finish on one connection, reporting failures; `finish` runs iff
/// `setup` succeeded. Returns once the handler is done and the output is flushed.
pub(crate) async fn run_connection<H: RequestHandler>(
    mut handler: H,
    mut conn: Connection,
    shared: &Shared,
) {
    let setup = CatchUnwind::new(pin!(handler.setup(&mut conn))).await;
    if !report(shared, &conn, Phase::Setup, setup) {
        return;
    }
    let handled = CatchUnwind::new(pin!(handler.handle(&mut conn))).await;
    let handled_ok = report(shared, &conn, Phase::Handle, handled);
    let finished = CatchUnwind::new(pin!(handler.finish(&mut conn))).await;
    let finished_ok = report(shared, &conn, Phase::Finish, finished);
    if handled_ok && finished_ok {
        use tokio::io::AsyncWriteExt;
        // Python's StreamRequestHandler.finish flushes wfile; a peer that left makes this fail,
        // which is nothing to report.
        let _ = conn.shutdown().await;
    }
}

/// Runs a connection, cut short by a forced shutdown or a graceful one that outlasts the
/// server's shutdown timeout.
pub(crate) async fn run_bounded<H: RequestHandler>(handler: H, conn: Connection, shared: &Shared) {
    let signal = conn.shutdown_signal();
    let id = conn.id();
    let grace = shared.info.shutdown_timeout;
    if bounded_by_shutdown(run_connection(handler, conn, shared), &signal, grace)
        .await
        .is_none()
    {
        tracing::info!(server = %shared.info.name, conn = id, "connection closed by shutdown");
    }
}

/// Reports a failed phase to `handle_error`; returns whether the phase succeeded.
fn report(
    shared: &Shared,
    conn: &Connection,
    phase: Phase,
    outcome: Result<Result<(), HandlerError>, String>,
) -> bool {
    let failure_error;
    let panic_message;
    let failure = match &outcome {
        Ok(Ok(())) => return true,
        Ok(Err(error)) => {
            failure_error = error;
            Failure::Error(failure_error.as_ref())
        }
        Err(message) => {
            panic_message = message;
            Failure::Panic(panic_message)
        }
    };
    (shared.handle_error)(&ErrorReport {
        server: &shared.info.name,
        connection_id: conn.id(),
        peer: conn.peer(),
        local: conn.local_addr(),
        phase,
        failure,
    });
    false
}
