//! The command loop: greeting, reading lines under the login and idle timeouts, the login gate,
//! and dispatch to the command files.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use wharf::{Connection, HandlerError, ShutdownSignal};

use super::commands::{self, Answer};
use super::control;
use super::slots::{self, SlotRefusal};
use super::state::{Flow, Session};
use crate::protocol::command::ProtectionLevel;
use crate::protocol::{Command, LineError, ParseError, Reply, ReplyCode};

/// Once the server is stopping, how long a session may still wait for its client's next
/// command after the last reply: a client in the middle of a conversation (login, then a
/// transfer, then QUIT) finishes it, an idle one is told `421` within this time.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

/// How long a session's end waits for the sweep of stale multipart uploads its login started
/// (one listing request and an abort per stale upload).
const SWEEP_GRACE: Duration = Duration::from_secs(5);

/// What waiting for the next command line produced.
enum Next {
    /// A line, or a line that could not be used.
    Line(Result<String, LineError>),
    /// The client closed the control connection.
    Closed,
    /// No command within the idle timeout.
    IdleTimeout,
    /// No login within the login timeout.
    LoginTimeout,
    /// The server is shutting down.
    Shutdown,
}

impl Session {
    /// Serves the control connection until QUIT, a timeout, shutdown or the peer leaving.
    pub(crate) async fn run(mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        let served = self.serve(conn).await;
        self.finish_sweep().await;
        match served {
            Ok(()) => Ok(()),
            Err(error) if is_disconnect(&error) => {
                tracing::debug!(%error, "client went away");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Waits up to [`SWEEP_GRACE`] for the login's sweep of stale multipart uploads: in
    /// threading and forking modes the session's runtime, and the sweep with it,
    /// ends with the session, so a login that quits at once would otherwise never sweep.
    async fn finish_sweep(&mut self) {
        let Some(sweep) = self.sweep.take() else {
            return;
        };
        if tokio::time::timeout(SWEEP_GRACE, sweep).await.is_err() {
            tracing::warn!(
                grace = ?SWEEP_GRACE,
                "the sweep of stale multipart uploads did not finish before the session ended"
            );
        }
    }

    /// The loop itself; I/O errors end the session.
    async fn serve(&mut self, conn: &mut Connection) -> io::Result<()> {
        let claimed = self.claim_slots(conn.capabilities().shares_memory).await;
        if self.implicit_tls {
            // Implicit FTPS: TLS from the first byte, so even a refusal is sent encrypted.
            let Some(tls) = self.session_tls() else {
                return Ok(());
            };
            let limit = self.shared.config.limits.login_timeout;
            if Box::pin(self.secure_control(conn, tls, limit))
                .await
                .is_err()
            {
                return Ok(());
            }
            // Data connections of an implicit session are protected unless PROT C says not.
            self.protection = ProtectionLevel::Private;
            self.pbsz_set = true;
        }
        if let Err(reply) = claimed {
            return control::send(conn, &reply).await;
        }
        if let Some(reply) = self.ban_refusal(None).await {
            return control::send(conn, &reply).await;
        }
        let greeting = self.shared.config.server.greeting.clone();
        control::say(conn, ReplyCode::SERVICE_READY, greeting).await?;
        self.answered = Instant::now();
        let shutdown = conn.shutdown_signal();
        loop {
            let line = match self.next_line(conn, &shutdown).await? {
                Next::Line(line) => line,
                Next::Closed => return Ok(()),
                Next::IdleTimeout => {
                    return control::say(
                        conn,
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        "Idle timeout; closing control connection.",
                    )
                    .await;
                }
                Next::LoginTimeout => {
                    return control::say(
                        conn,
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        "Login timeout; closing control connection.",
                    )
                    .await;
                }
                Next::Shutdown => {
                    return control::say(
                        conn,
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        "Server shutting down.",
                    )
                    .await;
                }
            };
            let flow = match line {
                Ok(text) => self.execute(conn, &text).await?,
                Err(error) => {
                    tracing::debug!(%error, "unusable command line");
                    control::say(conn, ReplyCode::SYNTAX_ERROR, format!("{error}.")).await?;
                    self.count_bad_command(conn).await?
                }
            };
            self.answered = Instant::now();
            if self.own_process && !self.narrowed && self.user.is_some() {
                self.narrow_to_home()?;
            }
            if flow == Flow::Close {
                return Ok(());
            }
        }
    }

    /// Step 2 of [`super::confine`], after the login: this thread and those it starts later may
    /// reach only the user's home, the state directory and the transfer log's directory.
    fn narrow_to_home(&mut self) -> io::Result<()> {
        self.narrowed = true;
        let Some(user) = &self.user else {
            return Ok(());
        };
        let config = &self.shared.config;
        let mut trees = vec![
            user.record.home.as_path(),
            config.server.state_dir.as_path(),
        ];
        if let Some(dir) = config.log.xferlog.as_deref().and_then(Path::parent) {
            trees.push(dir);
        }
        match super::confine::confine_to(&trees) {
            Ok(outcome) => tracing::debug!(?outcome, "session narrowed to its home"),
            Err(error) => {
                tracing::error!(%error, "cannot narrow the session to its home; closing it");
                return Err(io::Error::other(error));
            }
        }
        super::confine::probe("login");
        Ok(())
    }

    /// Takes the server-wide and per-address session slots, or says why not.
    async fn claim_slots(&mut self, shares_memory: bool) -> Result<(), Reply> {
        let config = &self.shared.config;
        let state_dir = config.server.state_dir.clone();
        let (max_sessions, max_per_ip) = (
            config.limits.max_sessions,
            config.limits.max_sessions_per_ip,
        );
        let ip = self.peer_ip;
        let claimed = if shares_memory {
            Ok(self
                .shared
                .counted_slots
                .claim(ip, max_sessions, max_per_ip))
        } else {
            tokio::task::spawn_blocking(move || {
                let dir = slots::slots_dir(&state_dir)?;
                slots::claim(&dir, ip, max_sessions, max_per_ip)
            })
            .await
            .map_err(io::Error::other)
            .and_then(|result| result)
        };
        match claimed {
            Ok(Ok(slots)) => {
                self.slots = Some(slots);
                Ok(())
            }
            Ok(Err(SlotRefusal::ServerFull)) => Err(Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many users connected; try again later.",
            )),
            Ok(Err(SlotRefusal::AddressFull)) => Err(Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many connections from your address.",
            )),
            Err(error) => {
                tracing::error!(%error, "cannot claim a session slot in the state directory");
                Err(Reply::new(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    "Service not available.",
                ))
            }
        }
    }

    /// Waits for the next line: queued ones first, then the control connection, bounded by the
    /// login timeout (before login) and the idle timeout, and cut short by shutdown.
    async fn next_line(
        &mut self,
        conn: &mut Connection,
        shutdown: &ShutdownSignal,
    ) -> io::Result<Next> {
        if let Some(line) = self.queued.pop_front() {
            return Ok(Next::Line(line));
        }
        let limits = &self.shared.config.limits;
        let (wait, on_timeout) = if self.user.is_some() {
            (limits.idle_timeout, Next::IdleTimeout)
        } else {
            let left = limits.login_timeout.saturating_sub(self.started.elapsed());
            if left < limits.idle_timeout {
                (left, Next::LoginTimeout)
            } else {
                (limits.idle_timeout, Next::IdleTimeout)
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        let read = tokio::time::timeout_at(deadline, self.control.read_line(conn));
        tokio::pin!(read);
        let read = tokio::select! {
            read = &mut read => read,
            () = shutdown.triggered() => {
                // Stopping: the listeners are closed already, so a client that reconnects goes
                // to another server. One in mid-conversation gets the rest of `DRAIN_QUIET`
                // for its next command (the same read goes on), an idle one is told now.
                let quiet = self.answered.elapsed();
                if quiet >= DRAIN_QUIET {
                    return Ok(Next::Shutdown);
                }
                match tokio::time::timeout(DRAIN_QUIET - quiet, &mut read).await {
                    Ok(read) => read,
                    Err(_) => return Ok(Next::Shutdown),
                }
            }
        };
        match read {
            Err(_) => Ok(on_timeout),
            Ok(Ok(Some(line))) => Ok(Next::Line(line)),
            Ok(Ok(None)) => Ok(Next::Closed),
            Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(Next::Closed),
            Ok(Err(error)) => Err(error),
        }
    }

    /// Parses and runs one command line, counted in the metrics by its verb and the class of
    /// its final reply.
    async fn execute(&mut self, conn: &mut Connection, text: &str) -> io::Result<Flow> {
        control::forget_reply();
        let flow = self.run_command(conn, text).await;
        if let Some(metrics) = &self.shared.metrics {
            metrics.command(&metric_verb(text), control::completion_reply());
        }
        flow
    }

    /// Parses and runs one command line.
    async fn run_command(&mut self, conn: &mut Connection, text: &str) -> io::Result<Flow> {
        let command = match Command::parse(text) {
            Ok(command) => command,
            Err(error) => {
                tracing::debug!(%error, "bad command");
                control::send(conn, &error.reply()).await?;
                if matches!(error, ParseError::Empty | ParseError::UnknownCommand { .. }) {
                    return self.count_bad_command(conn).await;
                }
                return Ok(Flow::Continue);
            }
        };
        tracing::debug!(cmd = ?command, "command");
        if self.user.is_none() && !allowed_before_login(&command) {
            control::say(
                conn,
                ReplyCode::NOT_LOGGED_IN,
                "Please login with USER and PASS.",
            )
            .await?;
            return Ok(Flow::Continue);
        }
        if let Some(flow) = self.login_gate(conn, &command).await? {
            return Ok(flow);
        }
        // Boxed: an idle session's task is as large as the largest future it might await, and
        // 10,000 idle sessions should not each carry room for a transfer or a TLS handshake.
        match Box::pin(commands::dispatch(self, conn, command)).await? {
            Answer::Reply(reply) => {
                control::send(conn, &reply).await?;
                Ok(Flow::Continue)
            }
            Answer::Sent(flow) => Ok(flow),
        }
    }
}

impl Session {
    /// Counts an unusable line; past `limits.max_bad_commands` the peer is told 421 and cut.
    async fn count_bad_command(&mut self, conn: &mut Connection) -> io::Result<Flow> {
        self.bad_commands = self.bad_commands.saturating_add(1);
        if self.bad_commands < self.shared.config.limits.max_bad_commands {
            return Ok(Flow::Continue);
        }
        tracing::warn!(
            count = self.bad_commands,
            "too many unusable command lines; closing"
        );
        control::say(
            conn,
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Too many unusable commands; closing control connection.",
        )
        .await?;
        Ok(Flow::Close)
    }

    /// Before USER and PASS: TLS first under `require_tls` (534), and no attempt while the
    /// client address or the user name is banned (421, then close). `None` lets the command run.
    async fn login_gate(
        &mut self,
        conn: &mut Connection,
        command: &Command,
    ) -> io::Result<Option<Flow>> {
        let name = match command {
            Command::User(name) => Some(name.clone()),
            Command::Pass(_) => self.pending_user.clone(),
            _ => return Ok(None),
        };
        if self.user.is_some() {
            return Ok(None);
        }
        if self.shared.config.tls.require_tls && !self.control_protected {
            control::say(
                conn,
                ReplyCode::POLICY_DENIED,
                "This server requires TLS: use AUTH TLS before logging in.",
            )
            .await?;
            return Ok(Some(Flow::Continue));
        }
        if let Some(reply) = self.ban_refusal(name.as_deref()).await {
            control::send(conn, &reply).await?;
            return Ok(Some(Flow::Close));
        }
        Ok(None)
    }
}

/// The verb of `text` for the `command` label, upper case; anything too long to be a verb is
/// left for the metrics to count as `other`.
fn metric_verb(text: &str) -> String {
    let verb = text.split(' ').next().unwrap_or("");
    if verb.len() > 8 {
        return String::new();
    }
    verb.to_ascii_uppercase()
}

/// Commands a client may send before logging in.
fn allowed_before_login(command: &Command) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Quit
            | Command::Feat
            | Command::Syst
            | Command::Noop
            | Command::Help(_)
            | Command::Opts(_)
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc
    )
}

/// Whether an I/O error just means the client went away.
fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}
