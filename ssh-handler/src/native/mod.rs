//! The native front end: the framed protocol of [`crate::protocol`], optionally inside TLS.
//!
//! - this file: the connection's phases (TLS, hello, login, requests);
//! - `command`: one running command relayed over the frames;
//! - [`tls`]: loading the certificate and key.

mod command;
pub mod tls;

use std::time::Duration;

use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use wharf::Connection;
use wharf::frame::{FrameError, Framed};
use wharf_users::{AuthError, Authenticator, UserRecord, Verified};

use crate::exec::Executor;
use crate::metrics::{LoginResult, Protocol, SshMetrics};
use crate::protocol::{
    ClientHello, MAX_FRAME_SIZE, PROTOCOL_NAME, PROTOCOL_VERSION, Request, Response, ServerHello,
};

/// The one answer to every failed login, so a client cannot tell a wrong password from an
/// unknown user or a user without permission to run commands.
pub const LOGIN_REFUSED: &str = "login incorrect";

/// Failed logins allowed on one connection before it is closed.
const MAX_LOGIN_ATTEMPTS: u32 = 3;

/// Pause after a failed login, to slow down password guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(500);

/// The stream under the frames: the connection itself (plain or already upgraded to TLS).
type Frames<'a> = Framed<&'a mut Connection>;

/// How long a client may take in each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From connecting to being logged in (TLS handshake, hello, login).
    pub login: Duration,
    /// Between commands, while no command runs.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// 30 seconds to log in, 10 minutes idle.
    fn default() -> Self {
        Timeouts {
            login: Duration::from_secs(30),
            idle: Duration::from_secs(600),
        }
    }
}

/// Why a native session ended with an error (logged by the server's `handle_error`).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// Reading or writing frames failed, or the peer broke the framing.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The users file could not be read.
    #[error("cannot check the login: {0}")]
    Auth(#[from] AuthError),
}

/// Serves native-protocol connections; cloned into every connection.
#[derive(Clone)]
pub struct NativeFrontEnd {
    /// Checks passwords against the shared users file.
    authenticator: Authenticator,
    /// Runs commands.
    executor: Executor,
    /// Wraps each connection in TLS when set.
    tls: Option<TlsAcceptor>,
    /// Phase time limits.
    timeouts: Timeouts,
    /// Counts logins and commands (disabled unless set).
    metrics: SshMetrics,
}

impl std::fmt::Debug for NativeFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFrontEnd")
            .field("tls", &self.tls.is_some())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl NativeFrontEnd {
    /// A front end checking logins with `authenticator` and running commands with `executor`.
    pub fn new(
        authenticator: Authenticator,
        executor: Executor,
        tls: Option<TlsAcceptor>,
        timeouts: Timeouts,
    ) -> Self {
        NativeFrontEnd {
            authenticator,
            executor,
            tls,
            timeouts,
            metrics: SshMetrics::disabled(),
        }
    }

    /// Counts this front end's logins and commands into `metrics`.
    pub fn with_metrics(mut self, metrics: SshMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves one connection until the client leaves, breaks the protocol, or the server stops.
    pub async fn serve(&self, conn: &mut Connection) -> Result<(), SessionError> {
        let login_deadline = Instant::now() + self.timeouts.login;
        if let Some(acceptor) = &self.tls {
            let acceptor = acceptor.clone();
            let handshake = conn.upgrade(|stream| acceptor.accept(stream));
            match timeout_at(login_deadline, handshake).await {
                Ok(result) => result.map_err(SessionError::Tls)?,
                Err(_) => return Ok(()),
            }
        }
        let shutdown = conn.shutdown_signal();
        let mut frames = Framed::new(conn).with_max_frame_size(MAX_FRAME_SIZE);
        if !self.hello(&mut frames, login_deadline).await? {
            return Ok(());
        }
        let Some(user) = self.login(&mut frames, login_deadline).await? else {
            return Ok(());
        };
        tracing::info!(user = %user.name, "logged in (native protocol)");
        loop {
            let request = tokio::select! {
                request = tokio::time::timeout(self.timeouts.idle, frames.read_frame::<Request>()) => request,
                () = shutdown.triggered() => return Ok(()),
            };
            let Ok(request) = request else {
                return fail(&mut frames, "idle timeout: no request in time").await;
            };
            match read_or_report(&mut frames, request).await? {
                None => return Ok(()),
                Some(Request::Exec { command }) => {
                    let after =
                        command::run(&mut frames, &self.executor, &self.metrics, &user, &command)
                            .await?;
                    if after == command::After::Close {
                        return Ok(());
                    }
                }
                // Input that crossed the end of the previous command on the wire.
                Some(Request::Stdin(_) | Request::StdinEof) => {}
                Some(Request::Login { .. }) => {
                    return fail(&mut frames, "already logged in").await;
                }
            }
        }
    }

    /// Reads and answers the hello; true if the connection may go on.
    async fn hello(
        &self,
        frames: &mut Frames<'_>,
        deadline: Instant,
    ) -> Result<bool, SessionError> {
        let hello = match timeout_at(deadline, frames.read_frame::<ClientHello>()).await {
            Err(_) => return Ok(false),
            Ok(Ok(None)) => return Ok(false),
            Ok(Ok(Some(hello))) => hello,
            Ok(Err(error)) if error.is_protocol_violation() => {
                refuse_hello(frames, format!("bad hello: {error}")).await?;
                return Err(error.into());
            }
            Ok(Err(error)) => return Err(error.into()),
        };
        if hello.protocol != PROTOCOL_NAME {
            let message = format!(
                "unknown protocol {:?}: this server speaks {PROTOCOL_NAME}",
                hello.protocol
            );
            refuse_hello(frames, message).await?;
            return Ok(false);
        }
        if hello.version != PROTOCOL_VERSION {
            let message = format!(
                "unsupported protocol version {}: this server speaks version {PROTOCOL_VERSION}",
                hello.version
            );
            refuse_hello(frames, message).await?;
            return Ok(false);
        }
        tracing::debug!(client = %hello.client, "hello");
        frames
            .write_frame(&ServerHello::Accepted {
                version: PROTOCOL_VERSION,
                server: concat!("wharf-sshd ", env!("CARGO_PKG_VERSION")).to_owned(),
            })
            .await?;
        Ok(true)
    }

    /// Runs the login exchange; the user once logged in, `None` if the connection should close.
    async fn login(
        &self,
        frames: &mut Frames<'_>,
        deadline: Instant,
    ) -> Result<Option<UserRecord>, SessionError> {
        let mut failures = 0;
        loop {
            let Ok(request) = timeout_at(deadline, frames.read_frame::<Request>()).await else {
                fail(frames, "login timeout").await?;
                return Ok(None);
            };
            let (user, password) = match read_or_report(frames, request).await? {
                None => return Ok(None),
                Some(Request::Login { user, password }) => (user, password),
                Some(_) => {
                    fail(frames, "log in first").await?;
                    return Ok(None);
                }
            };
            let verified = self
                .authenticator
                .verify(&user, &password)
                .await
                .inspect_err(|_| self.metrics.login(Protocol::Native, LoginResult::Error))?;
            match verified {
                Verified::Authenticated(record) if record.allow_exec => {
                    self.metrics.login(Protocol::Native, LoginResult::Ok);
                    frames.write_frame(&Response::LoggedIn).await?;
                    return Ok(Some(record));
                }
                // A user without permission is told exactly what a wrong password gets.
                Verified::Authenticated(_) | Verified::Rejected => {
                    tracing::info!(%user, "login refused");
                    self.metrics.login(Protocol::Native, LoginResult::Failed);
                    failures += 1;
                    tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                    let message = LOGIN_REFUSED.to_owned();
                    frames
                        .write_frame(&Response::LoginRefused { message })
                        .await?;
                    if failures >= MAX_LOGIN_ATTEMPTS {
                        fail(frames, "too many failed logins").await?;
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// Passes a frame through, answering a framing violation with an `Error` frame first.
async fn read_or_report<T>(
    frames: &mut Frames<'_>,
    read: Result<Option<T>, FrameError>,
) -> Result<Option<T>, SessionError> {
    match read {
        Ok(frame) => Ok(frame),
        Err(error) if error.is_protocol_violation() => {
            let message = format!("protocol error: {error}");
            // The connection is being dropped anyway; the original error is what matters.
            let _ = frames.write_frame(&Response::Error { message }).await;
            Err(error.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// Sends an `Error` frame before the connection closes.
async fn fail(frames: &mut Frames<'_>, message: &str) -> Result<(), SessionError> {
    tracing::info!(reason = message, "closing the connection");
    let message = message.to_owned();
    frames.write_frame(&Response::Error { message }).await?;
    Ok(())
}

/// Sends a refusing `ServerHello`.
async fn refuse_hello(frames: &mut Frames<'_>, message: String) -> Result<(), SessionError> {
    tracing::info!(reason = %message, "hello refused");
    let refusal = ServerHello::Refused {
        supported: PROTOCOL_VERSION,
        message,
    };
    frames.write_frame(&refusal).await?;
    Ok(())
}
