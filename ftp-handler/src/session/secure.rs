//! TLS in a session: the control connection's handshake (after `AUTH TLS`, or at once on an
//! implicit-FTPS listener) and the data connections' protection after `PROT P`, with the
//! check that a data connection resumes this session's TLS session.

use std::io;
use std::time::Duration;

use rustls::HandshakeKind;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wharf::{Connection, Transport};

use super::data::DataError;
use super::state::Session;
use crate::protocol::command::ProtectionLevel;
use crate::tls::data::DataStream;
use crate::tls::{DataDirection, SessionTls};

impl Session {
    /// The TLS acceptors of this session, made on first use; `None` when TLS is not configured
    /// or cannot be set up (logged).
    pub(crate) fn session_tls(&mut self) -> Option<SessionTls> {
        if self.tls.is_none() {
            let server = self.shared.tls.as_ref()?;
            match SessionTls::new(server) {
                Ok(tls) => self.tls = Some(tls),
                Err(error) => {
                    tracing::error!(%error, "cannot set up TLS for the session");
                    return None;
                }
            }
        }
        self.tls.clone()
    }

    /// Runs the TLS handshake on the control connection within `limit`. On failure the
    /// connection is closed and the error says why.
    pub(crate) async fn secure_control(
        &mut self,
        conn: &mut Connection,
        tls: SessionTls,
        limit: Duration,
    ) -> io::Result<()> {
        // A line may have ended at a CR whose LF is still to come: it is the last clear byte.
        let mut skip_lf = self.control.take_pending_lf();
        if skip_lf && conn.buffered_input().first() == Some(&b'\n') {
            tokio::io::AsyncBufReadExt::consume(conn, 1);
            skip_lf = false;
        }
        let handshake = conn.upgrade(move |mut stream| async move {
            let accept = async {
                if skip_lf {
                    skip_late_lf(&mut stream).await?;
                }
                tls.accept_control(stream).await
            };
            tokio::time::timeout(limit, accept)
                .await
                .unwrap_or_else(|_| Err(timed_out("TLS handshake", limit)))
        });
        match handshake.await {
            Ok(()) => {
                self.control_protected = true;
                tracing::info!("control connection secured with TLS");
                Ok(())
            }
            Err(error) => {
                tracing::info!(%error, "TLS handshake on the control connection failed");
                Err(error)
            }
        }
    }

    /// Whether the data protection level allows a data connection at all: under
    /// `require_tls` clear data connections are refused (521, RFC 4217).
    pub(crate) fn check_data_protection(&self) -> Result<(), DataError> {
        if self.protection == ProtectionLevel::Clear && self.shared.config.tls.require_tls {
            return Err(DataError::ClearRefused);
        }
        Ok(())
    }

    /// Puts TLS on an accepted data connection after `PROT P` (this server being the TLS
    /// server in both passive and active mode), and checks that the handshake resumed this
    /// session's TLS session if the configuration asks for it.
    pub(crate) async fn protect_data(
        &mut self,
        stream: TcpStream,
        direction: DataDirection,
    ) -> Result<DataStream, DataError> {
        if self.protection != ProtectionLevel::Private {
            return Ok(DataStream::Clear(stream));
        }
        let Some(tls) = self.session_tls() else {
            return Err(DataError::Tls(io::Error::other("TLS is not available")));
        };
        let limit = self.shared.config.limits.data_accept_timeout;
        let accepted = tokio::time::timeout(limit, tls.accept_data(stream, direction))
            .await
            .unwrap_or_else(|_| Err(timed_out("data connection TLS handshake", limit)))
            .map_err(DataError::Tls)?;
        let connection = accepted.get_ref().1;
        let resumed = connection.handshake_kind() == Some(HandshakeKind::Resumed);
        let version = connection.protocol_version();
        tracing::debug!(resumed, ?version, "data connection secured with TLS");
        if !resumed && self.shared.config.tls.require_session_reuse {
            tracing::warn!("refused a data connection that did not resume the TLS session");
            return Err(DataError::NotResumed);
        }
        Ok(DataStream::Tls(Box::new(accepted)))
    }
}

/// Reads the LF of a control line whose CR was the last byte seen before `AUTH TLS` was
/// answered, if it is the next byte; a TLS record never starts with LF.
async fn skip_late_lf(transport: &mut Transport) -> io::Result<()> {
    let mut first = [0u8; 1];
    if transport.peek(&mut first).await? == 1 && first[0] == b'\n' {
        transport.read_exact(&mut first).await?;
    }
    Ok(())
}

/// The error for a step that took longer than `limit`.
fn timed_out(what: &str, limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} not done within {limit:?}"),
    )
}
