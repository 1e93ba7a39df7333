//! One SSH connection as russh sees it: who logged in, and what each channel is doing.

use std::collections::HashMap;
use std::time::Duration;

use russh::keys::PublicKey;
use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, Pty};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use wharf_users::{Authenticator, UserRecord, Verified};

use super::SshError;
use super::relay;
use crate::exec::Executor;
use crate::metrics::{CommandResult, LoginResult, Protocol, SshMetrics};

/// Told to clients that ask for an interactive shell.
const NO_SHELL: &str =
    "wharf-sshd: interactive shells are not supported; run a command: ssh HOST COMMAND\n";
/// Told to clients that ask for a pseudo-terminal.
const NO_PTY: &str =
    "wharf-sshd: pseudo-terminals are not supported; commands run without a terminal\n";
/// Told to clients that ask for a subsystem such as sftp.
const NO_SUBSYSTEM: &str = "wharf-sshd: subsystems (sftp) are not supported\n";

/// How long a refusal waits after its message; see [`SshSession::refuse_and_close`].
const REFUSAL_DELAY: Duration = Duration::from_millis(200);

/// The state of one session channel.
#[derive(Debug, Default)]
struct ChannelState {
    /// Input for the running command; `None` before exec and after the client's EOF.
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    /// The task relaying the running command, aborted (killing the command) if the channel
    /// or the connection goes away first.
    relay: Option<AbortHandle>,
}

/// russh's handler for one connection.
pub(super) struct SshSession {
    /// Checks passwords and looks up authorized keys.
    authenticator: Authenticator,
    /// Runs commands.
    executor: Executor,
    /// Counts logins, commands and input.
    metrics: SshMetrics,
    /// The logged-in user, once authenticated.
    user: Option<UserRecord>,
    /// Open session channels.
    channels: HashMap<ChannelId, ChannelState>,
}

impl SshSession {
    /// A handler for a new connection.
    pub(super) fn new(
        authenticator: Authenticator,
        executor: Executor,
        metrics: SshMetrics,
    ) -> Self {
        SshSession {
            authenticator,
            executor,
            metrics,
            user: None,
            channels: HashMap::new(),
        }
    }

    /// The user's record if `key` is one of their authorized keys and they may run commands.
    fn user_with_key(&self, user: &str, key: &PublicKey) -> Result<Option<UserRecord>, SshError> {
        let found = self
            .authenticator
            .lookup(user)
            .inspect_err(|_| self.metrics.login(Protocol::Ssh, LoginResult::Error))?;
        let Some(record) = found else {
            return Ok(None);
        };
        let authorized = record.allow_exec
            && record.authorized_keys.iter().any(|line| {
                PublicKey::from_openssh(line)
                    .is_ok_and(|authorized| authorized.key_data() == key.key_data())
            });
        Ok(authorized.then_some(record))
    }

    /// Sends `message` on the channel's stderr, then refuses the request.
    fn refuse(session: &mut Session, channel: ChannelId, message: &str) -> Result<(), SshError> {
        // The message goes first: OpenSSH stops reading a channel whose exec or shell failed.
        session.extended_data(channel, 1, message.as_bytes().to_vec())?;
        session.channel_failure(channel)?;
        Ok(())
    }

    /// Refuses the request and closes the channel, with `message` on its stderr.
    ///
    /// OpenSSH treats a refused exec or shell on its session channel as fatal and exits at
    /// once, dropping channel output it has not written yet. So the message goes first and
    /// the refusal follows after [`REFUSAL_DELAY`], giving the client time to print it.
    /// Replies stay in request order: they all go through the session handle's queue.
    fn refuse_and_close(
        session: &mut Session,
        channel: ChannelId,
        message: &str,
    ) -> Result<(), SshError> {
        let handle = session.handle();
        let message = message.as_bytes().to_vec();
        tokio::spawn(async move {
            let _ = handle.extended_data(channel, 1, message).await;
            tokio::time::sleep(REFUSAL_DELAY).await;
            let _ = handle.channel_failure(channel).await;
            let _ = handle.exit_status_request(channel, 1).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
    }
}

impl Drop for SshSession {
    /// The connection is gone: stop every command it started.
    fn drop(&mut self) {
        for state in self.channels.values() {
            if let Some(relay) = &state.relay {
                relay.abort();
            }
        }
    }
}

impl Handler for SshSession {
    type Error = SshError;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, SshError> {
        let verified = self
            .authenticator
            .verify(user, password)
            .await
            .inspect_err(|_| self.metrics.login(Protocol::Ssh, LoginResult::Error))?;
        match verified {
            Verified::Authenticated(record) if record.allow_exec => {
                tracing::info!(user, "logged in (SSH password)");
                self.metrics.login(Protocol::Ssh, LoginResult::Ok);
                self.user = Some(record);
                Ok(Auth::Accept)
            }
            Verified::Authenticated(_) | Verified::Rejected => {
                tracing::info!(user, "SSH password login refused");
                self.metrics.login(Protocol::Ssh, LoginResult::Failed);
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, SshError> {
        // An accepted offer is only a question ("would this key do?"): the login is counted
        // when the signed attempt follows. A refused one ends that key's attempt.
        match self.user_with_key(user, offer.public_key)? {
            Some(_) => Ok(Auth::Accept),
            None => {
                self.metrics.login(Protocol::Ssh, LoginResult::Failed);
                Ok(Auth::reject())
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, SshError> {
        match self.user_with_key(user, key.public_key)? {
            Some(record) => {
                tracing::info!(user, "logged in (SSH public key)");
                self.metrics.login(Protocol::Ssh, LoginResult::Ok);
                self.user = Some(record);
                Ok(Auth::Accept)
            }
            None => {
                tracing::info!(user, "SSH key login refused");
                self.metrics.login(Protocol::Ssh, LoginResult::Failed);
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        // Requests and data arrive through the handler methods; the channel object is not needed.
        self.channels.insert(channel.id(), ChannelState::default());
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), SshError> {
        Self::refuse(session, channel, NO_PTY)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!("SSH shell request refused");
        Self::refuse_and_close(session, channel, NO_SHELL)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(subsystem = name, "SSH subsystem request refused");
        Self::refuse_and_close(session, channel, NO_SUBSYSTEM)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), SshError> {
        // Commands get a clean environment; the client's variables are not passed on.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), SshError> {
        let Some(user) = &self.user else {
            self.metrics
                .command_ended(Protocol::Ssh, CommandResult::Refused);
            return Self::refuse_and_close(session, channel, "wharf-sshd: not logged in\n");
        };
        let Some(state) = self.channels.get_mut(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        if state.relay.is_some() {
            self.metrics
                .command_ended(Protocol::Ssh, CommandResult::Refused);
            return Self::refuse(
                session,
                channel,
                "wharf-sshd: this channel already runs a command\n",
            );
        }
        let Ok(command) = std::str::from_utf8(data) else {
            self.metrics
                .command_ended(Protocol::Ssh, CommandResult::Refused);
            return Self::refuse_and_close(
                session,
                channel,
                "wharf-sshd: the command is not valid UTF-8\n",
            );
        };
        let mut running = match self.executor.start(user, command) {
            Ok(running) => running.metered(self.metrics.command_started(Protocol::Ssh)),
            Err(error) => {
                tracing::info!(user = %user.name, cmd = command, %error, "command refused");
                self.metrics.command_refused(Protocol::Ssh, &error);
                return Self::refuse_and_close(session, channel, &format!("wharf-sshd: {error}\n"));
            }
        };
        session.channel_success(channel)?;
        state.stdin = running.take_stdin();
        let task = tokio::spawn(relay::relay(session.handle(), channel, running));
        state.relay = Some(task.abort_handle());
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), SshError> {
        let Some(state) = self.channels.get_mut(&channel) else {
            return Ok(());
        };
        if let Some(stdin) = &state.stdin {
            // Waiting here slows the client down through SSH and TCP flow control. The time
            // limit bounds the wait: a killed command drops its input queue.
            if stdin.send(data.to_vec()).await.is_err() {
                state.stdin = None;
            } else {
                self.metrics.input(Protocol::Ssh, data.len());
            }
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        if let Some(state) = self.channels.get_mut(&channel) {
            state.stdin = None;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        if let Some(relay) = self.channels.remove(&channel).and_then(|state| state.relay) {
            relay.abort();
        }
        Ok(())
    }
}
