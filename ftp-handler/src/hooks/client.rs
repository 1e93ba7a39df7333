//! The sessions' side: [`HookClient`] hands events to the hook process without waiting, and
//! asks it the pre-upload question, waiting at most the check's timeout.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::event::{HookEvent, Verdict, VetoRequest};
use super::wire::{self, Message};
use crate::config::hooks::{HookEventKind, HooksConfig};
use crate::metrics::{DeliveryResult, FtpMetrics, HookTarget, VetoResult};

/// Time the session allows the hook process beyond `hooks.pre_upload_timeout` (starting the
/// program, sending the answer) before it refuses the upload itself.
const VETO_MARGIN: Duration = Duration::from_secs(2);

/// Longest verdict read back.
const MAX_VERDICT: u64 = 4096;

/// What a session tells the client when the check could not be made.
pub(crate) const CHECK_FAILED: &str = "Upload refused: the upload policy check failed.";

/// Hands events to the hook process; cheap to clone, shared by every session (and inherited
/// by session processes).
#[derive(Debug, Clone)]
pub struct HookClient {
    /// The sessions' end of the channel.
    socket: Arc<OwnedFd>,
    /// `hooks.events`, when some target is configured; otherwise empty.
    events: Vec<HookEventKind>,
    /// The targets an event goes to, for counting dropped events.
    targets: Vec<HookTarget>,
    /// Whether `hooks.pre_upload` is set.
    pre_upload: bool,
    /// `hooks.pre_upload_timeout`.
    pre_upload_timeout: Duration,
    /// Counters (with `metrics.listen`).
    metrics: Option<FtpMetrics>,
}

impl HookClient {
    /// A client sending on `socket` as `config` says.
    pub(super) fn new(socket: OwnedFd, config: &HooksConfig, metrics: Option<FtpMetrics>) -> Self {
        let mut targets = Vec::new();
        if config.command.is_some() {
            targets.push(HookTarget::Command);
        }
        if config.webhook_url.is_some() {
            targets.push(HookTarget::Webhook);
        }
        let events = if targets.is_empty() {
            Vec::new()
        } else {
            config.events.clone()
        };
        HookClient {
            socket: Arc::new(socket),
            events,
            targets,
            pre_upload: config.pre_upload.is_some(),
            pre_upload_timeout: config.pre_upload_timeout,
            metrics,
        }
    }

    /// Whether events of `kind` are delivered (build them only then).
    pub(crate) fn wants(&self, kind: HookEventKind) -> bool {
        self.events.contains(&kind)
    }

    /// Whether uploads are checked first.
    pub(crate) fn checks_uploads(&self) -> bool {
        self.pre_upload
    }

    /// Queues `event` for delivery; never waits. When the hook process cannot take it now (its
    /// socket buffer full, or it is gone) the event is dropped, logged and counted.
    pub(crate) fn emit(&self, event: HookEvent) {
        if !self.wants(event.event) {
            return;
        }
        let kind = event.event.name();
        if let Err(error) = wire::send(self.socket.as_fd(), &Message::Event(event), None) {
            tracing::warn!(event = kind, %error, "hook event dropped: the hook queue is full or gone");
            if let Some(metrics) = &self.metrics {
                for target in &self.targets {
                    metrics.hook_delivery(*target, DeliveryResult::Dropped);
                }
            }
        }
    }

    /// Asks the pre-upload program about `request`. Anything but a clear "allowed" refuses:
    /// the program's refusal with its reason, and (fail closed) a check that could not be
    /// made or took too long.
    pub(crate) async fn check_upload(&self, request: VetoRequest) -> Verdict {
        match self.ask(request).await {
            Ok(verdict) => verdict,
            Err(error) => {
                tracing::error!(%error, "pre-upload check failed; upload refused");
                if let Some(metrics) = &self.metrics {
                    metrics.upload_veto(VetoResult::Failed);
                }
                Verdict::refuse(CHECK_FAILED)
            }
        }
    }

    /// Sends the question with a fresh pipe and reads the verdict from it.
    async fn ask(&self, request: VetoRequest) -> io::Result<Verdict> {
        let (read_end, write_end) = wire::pipe()?;
        wire::send(
            self.socket.as_fd(),
            &Message::Veto(request),
            Some(write_end.as_fd()),
        )?;
        // Only the hook process holds the write end now: its close (or death) ends the read.
        drop(write_end);
        let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(read_end)?;
        let mut answer = Vec::new();
        let mut limited = receiver.take(MAX_VERDICT);
        let read = limited.read_to_end(&mut answer);
        match tokio::time::timeout(self.pre_upload_timeout + VETO_MARGIN, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer from the hook process",
                ));
            }
        }
        if answer.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the hook process closed the answer pipe without a verdict",
            ));
        }
        serde_json::from_slice(&answer).map_err(io::Error::other)
    }
}
