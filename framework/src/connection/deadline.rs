//! The read timeout of a connection: a timer armed while a read waits for data.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

/// The deadline of a read that waits for data; its timer is allocated once and re-armed.
#[derive(Default)]
pub(crate) struct ReadDeadline {
    /// The timer, allocated on the first wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether the timer belongs to the current wait.
    armed: bool,
}

impl ReadDeadline {
    /// Forgets the current wait (the read made progress).
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// After the inner read returned `Pending`: arms the timer on the first call of a wait and
    /// reports `TimedOut` once it fires.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Error> {
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if !self.armed {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = false;
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data from the peer for {timeout:?}"),
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
