//! The hook process's loop: records from the sessions into a bounded queue, one worker
//! delivering the queue in order, pre-upload checks answered beside it.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{Semaphore, mpsc};

use super::client::CHECK_FAILED;
use super::deliver::Targets;
use super::event::{HookEvent, Verdict};
use super::wire::{self, Message, Received};
use crate::config::hooks::HooksConfig;
use crate::metrics::{DeliveryResult, FtpMetrics, HookTarget, VetoResult};

/// Pre-upload checks running at once; a question beyond is refused at once (fail closed)
/// rather than waiting.
const MAX_CHECKS: usize = 32;

/// What the hook process serves from.
pub(super) struct Service {
    /// `[hooks]`.
    pub(super) config: HooksConfig,
    /// Counters shared with the sessions (with `metrics.listen`).
    pub(super) metrics: Option<FtpMetrics>,
    /// How long the queue may take to drain once every session is gone.
    pub(super) drain_limit: Duration,
}

impl Service {
    /// Serves `socket` until every sending end is closed (or SIGTERM), then delivers what is
    /// queued for at most `drain_limit`.
    pub(super) async fn run(self, socket: OwnedFd) -> std::io::Result<()> {
        // SAFETY: an `OwnedFd` stays open, and names the same descriptor, until it is dropped
        // with the `AsyncFd`.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(|error| error.into_parts().1)?;
        let targets = Targets::new(&self.config, self.metrics.clone());
        let (queue, mut queued) = mpsc::channel::<HookEvent>(self.config.queue);
        let worker = tokio::spawn(async move {
            while let Some(event) = queued.recv().await {
                targets.deliver(&event).await;
            }
        });
        let checks = Arc::new(Semaphore::new(MAX_CHECKS));
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // Ctrl-C reaches the whole foreground group: the daemon stops its sessions, and this
        // process goes on until they are gone (its end of the channel closes).
        let _interrupts =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        loop {
            let received = tokio::select! {
                ready = socket.readable() => {
                    let mut guard = ready?;
                    match guard.try_io(|inner| wire::receive(inner.get_ref().as_fd())) {
                        Ok(received) => received,
                        Err(_would_block) => continue,
                    }
                }
                _ = terminate.recv() => {
                    tracing::info!("hook process: SIGTERM, delivering what is queued");
                    break;
                }
            };
            match received {
                Ok(Received::Record(bytes, passed)) => {
                    self.dispatch(&bytes, passed, &queue, &checks);
                }
                Ok(Received::Truncated) => {
                    tracing::warn!("hook process: a record too large was dropped")
                }
                Ok(Received::Closed) => break,
                Err(error) => {
                    tracing::error!(%error, "hook process: cannot read from the sessions");
                    break;
                }
            }
        }
        drop(queue);
        if tokio::time::timeout(self.drain_limit, worker)
            .await
            .is_err()
        {
            tracing::warn!(
                limit = ?self.drain_limit,
                "hook process: events still queued at exit were not delivered"
            );
        }
        Ok(())
    }

    /// Queues an event or starts a check.
    fn dispatch(
        &self,
        bytes: &[u8],
        passed: Option<OwnedFd>,
        queue: &mpsc::Sender<HookEvent>,
        checks: &Arc<Semaphore>,
    ) {
        let message = match serde_json::from_slice::<Message>(bytes) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "hook process: an unreadable record was dropped");
                return;
            }
        };
        match (message, passed) {
            (Message::Event(event), _) => {
                let kind = event.event.name();
                if let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send(event) {
                    tracing::warn!(
                        event = kind,
                        queue = self.config.queue,
                        "hook event dropped: the queue is full"
                    );
                    self.count_dropped();
                }
            }
            (Message::Veto(request), Some(answer)) => {
                let Some(program) = self.config.pre_upload.clone() else {
                    // Not configured here (cannot happen: sessions ask only when it is).
                    write_refusal(answer, self.metrics.as_ref());
                    return;
                };
                let Ok(permit) = Arc::clone(checks).try_acquire_owned() else {
                    tracing::warn!(
                        max = MAX_CHECKS,
                        "pre-upload check refused: too many running"
                    );
                    write_refusal(answer, self.metrics.as_ref());
                    return;
                };
                let timeout = self.config.pre_upload_timeout;
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    super::veto::answer(&program, timeout, request, answer, metrics.as_ref()).await;
                    drop(permit);
                });
            }
            (Message::Veto(_), None) => {
                tracing::warn!("hook process: a pre-upload question without its pipe");
            }
        }
    }

    /// Counts an event dropped at the queue, once per target it would have gone to.
    fn count_dropped(&self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        if self.config.command.is_some() {
            metrics.hook_delivery(HookTarget::Command, DeliveryResult::Dropped);
        }
        if self.config.webhook_url.is_some() {
            metrics.hook_delivery(HookTarget::Webhook, DeliveryResult::Dropped);
        }
    }
}

/// Answers a question that will not be checked: refused (fail closed).
fn write_refusal(answer: OwnedFd, metrics: Option<&FtpMetrics>) {
    use std::io::Write;
    if let Some(metrics) = metrics {
        metrics.upload_veto(VetoResult::Failed);
    }
    if let Ok(bytes) = serde_json::to_vec(&Verdict::refuse(CHECK_FAILED)) {
        let _ = std::fs::File::from(answer).write_all(&bytes);
    }
}
