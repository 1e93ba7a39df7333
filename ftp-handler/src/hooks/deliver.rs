//! Delivering one event, in the hook process: the command (environment variables) and the
//! webhook (an HTTP/1.1 POST of the JSON), each tried again after a failure with a doubling
//! wait, each attempt bounded by `hooks.timeout`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::event::HookEvent;
use crate::config::hooks::{HooksConfig, WebhookTarget};
use crate::metrics::{DeliveryResult, FtpMetrics, HookTarget};

/// Longest wait between two attempts, however many retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The `PATH` hook programs run with (their environment is otherwise only `WHARF_*`).
pub(super) const PROGRAM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How often and how patiently an event is delivered.
#[derive(Debug, Clone)]
pub(super) struct RetryPolicy {
    /// Attempts after the first.
    pub(super) retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub(super) backoff: Duration,
    /// Longest one attempt may take.
    pub(super) timeout: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first).
    pub(super) fn wait_before(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// The configured targets, ready to deliver to.
#[derive(Debug, Clone)]
pub(super) struct Targets {
    /// `hooks.command`.
    command: Option<PathBuf>,
    /// `hooks.webhook_url`, split.
    webhook: Option<WebhookTarget>,
    /// Retries, backoff, timeout.
    policy: RetryPolicy,
    /// Counters (with `metrics.listen`).
    metrics: Option<FtpMetrics>,
}

impl Targets {
    /// The targets of `config` (its webhook URL was validated with the configuration).
    pub(super) fn new(config: &HooksConfig, metrics: Option<FtpMetrics>) -> Self {
        Targets {
            command: config.command.clone(),
            webhook: config
                .webhook_url
                .as_deref()
                .and_then(|url| WebhookTarget::parse(url).ok()),
            policy: RetryPolicy {
                retries: config.retries,
                backoff: config.retry_backoff,
                timeout: config.timeout,
            },
            metrics,
        }
    }

    /// Delivers `event` to every target, the two side by side; returns when both are done.
    pub(super) async fn deliver(&self, event: &HookEvent) {
        let command = async {
            if let Some(program) = &self.command {
                self.with_retries(HookTarget::Command, event, || {
                    run_command(program, event, self.policy.timeout)
                })
                .await;
            }
        };
        let webhook = async {
            if let Some(target) = &self.webhook {
                let body = match serde_json::to_vec(event) {
                    Ok(body) => Bytes::from(body),
                    Err(error) => {
                        tracing::error!(%error, "cannot encode a hook event");
                        return;
                    }
                };
                self.with_retries(HookTarget::Webhook, event, || {
                    post(target, body.clone(), self.policy.timeout)
                })
                .await;
            }
        };
        tokio::join!(command, webhook);
    }

    /// Runs `attempt` until it succeeds or the retries are spent, waiting in between; counts
    /// each failed attempt and the outcome.
    async fn with_retries<F, Fut>(&self, target: HookTarget, event: &HookEvent, mut attempt: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let attempts = self.policy.retries.saturating_add(1);
        for number in 1..=attempts {
            match attempt().await {
                Ok(()) => {
                    tracing::debug!(
                        ?target,
                        event = event.event.name(),
                        number,
                        "hook delivered"
                    );
                    self.count(target, DeliveryResult::Ok);
                    return;
                }
                Err(error) => {
                    tracing::warn!(
                        ?target,
                        event = event.event.name(),
                        session = event.session,
                        attempt = number,
                        of = attempts,
                        %error,
                        "hook delivery failed"
                    );
                    if let Some(metrics) = &self.metrics {
                        metrics.hook_attempt_failed(target);
                    }
                    if number < attempts {
                        tokio::time::sleep(self.policy.wait_before(number - 1)).await;
                    }
                }
            }
        }
        tracing::error!(
            ?target,
            event = event.event.name(),
            session = event.session,
            attempts,
            "hook event not delivered: every attempt failed"
        );
        self.count(target, DeliveryResult::Failed);
    }

    /// Counts a delivery outcome.
    fn count(&self, target: HookTarget, result: DeliveryResult) {
        if let Some(metrics) = &self.metrics {
            metrics.hook_delivery(target, result);
        }
    }
}

/// Runs the event command once: success is exit status 0 within `timeout`. Past it, the
/// program and everything it started (its process group) are killed.
async fn run_command(program: &Path, event: &HookEvent, timeout: Duration) -> Result<(), String> {
    let mut command = program_command(program, event.env());
    command.stdout(Stdio::null());
    let status = run_bounded(command, timeout, |_| async {}).await?.0;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {status}", program.display()))
    }
}

/// A program with a clean environment: `PATH` and `env` only, in `/`, reading nothing,
/// in a process group of its own (so a timeout can end all of it), its stderr discarded.
pub(super) fn program_command(
    program: &Path,
    env: Vec<(&'static str, String)>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env_clear()
        .env("PATH", PROGRAM_PATH)
        .envs(env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Starts `command`, lets `read` consume the child's stdout (if piped), and waits for it to
/// exit, all within `timeout`; past it the process group is killed. Returns the status and
/// what `read` produced.
pub(super) async fn run_bounded<R, Fut, T>(
    mut command: tokio::process::Command,
    timeout: Duration,
    read: R,
) -> Result<(std::process::ExitStatus, T), String>
where
    R: FnOnce(Option<tokio::process::ChildStdout>) -> Fut,
    Fut: Future<Output = T>,
{
    let program = format!("{:?}", command.as_std().get_program());
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {program}: {error}"))?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let run = async {
        let produced = read(stdout).await;
        (child.wait().await, produced)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((Ok(status), produced)) => Ok((status, produced)),
        Ok((Err(error), _)) => Err(format!("waiting for {program}: {error}")),
        Err(_) => {
            if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
                // The group the program leads (process_group(0)); it may be gone already.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // kill_on_drop and the runtime reap what is left.
            Err(format!("{program} took longer than {timeout:?}; killed"))
        }
    }
}

/// POSTs `body` to the webhook once: success is a 2xx answer within `timeout`.
async fn post(target: &WebhookTarget, body: Bytes, timeout: Duration) -> Result<(), String> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|error| format!("connect {}: {error}", target.authority))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("HTTP handshake: {error}"))?;
        let driving = tokio::spawn(connection);
        let request = hyper::Request::post(target.path_and_query.as_str())
            .header(hyper::header::HOST, target.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "wharf-ftpd")
            .body(Full::new(body))
            .map_err(|error| format!("HTTP request: {error}"))?;
        let answered = sender.send_request(request).await;
        driving.abort();
        let response = answered.map_err(|error| format!("HTTP: {error}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{} answered {status}", target.authority))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer from {} within {timeout:?}",
                target.authority
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let policy = RetryPolicy {
            retries: 40,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(policy.wait_before(0), Duration::from_millis(500));
        assert_eq!(policy.wait_before(1), Duration::from_secs(1));
        assert_eq!(policy.wait_before(3), Duration::from_secs(4));
        assert_eq!(policy.wait_before(20), MAX_BACKOFF);
        assert_eq!(policy.wait_before(39), MAX_BACKOFF);
    }
}
