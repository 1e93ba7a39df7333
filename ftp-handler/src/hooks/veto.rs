//! The pre-upload check, in the hook process: runs `hooks.pre_upload` for one request and
//! writes the verdict to the pipe the asking session passed.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::client::CHECK_FAILED;
use super::deliver::{program_command, run_bounded};
use super::event::{Verdict, VetoRequest, sanitize_reason};
use crate::metrics::{FtpMetrics, VetoResult};

/// Output of the program read for its reason; the rest is not read.
const MAX_OUTPUT: u64 = 4096;

/// The reason given when the program refuses without saying why.
const DEFAULT_REASON: &str = "Upload refused by the server's upload policy.";

/// Runs the check and answers on `answer`; a session that stopped waiting finds nothing.
pub(super) async fn answer(
    program: &Path,
    timeout: Duration,
    request: VetoRequest,
    answer: OwnedFd,
    metrics: Option<&FtpMetrics>,
) {
    let (verdict, result) = decide(program, timeout, &request).await;
    if let Some(metrics) = metrics {
        metrics.upload_veto(result);
    }
    match result {
        VetoResult::Allowed => {
            tracing::debug!(user = %request.user, path = %request.path, "pre-upload check: allowed")
        }
        VetoResult::Refused => tracing::info!(
            user = %request.user,
            path = %request.path,
            reason = %verdict.reason,
            "pre-upload check: refused"
        ),
        VetoResult::Failed => {}
    }
    let Ok(bytes) = serde_json::to_vec(&verdict) else {
        return;
    };
    // A few hundred bytes into an empty pipe: never blocks; EPIPE if the session gave up.
    if let Err(error) = std::fs::File::from(answer).write_all(&bytes) {
        tracing::warn!(%error, "pre-upload verdict not delivered (the session stopped waiting)");
    }
}

/// Runs the program and reads its decision.
async fn decide(program: &Path, timeout: Duration, request: &VetoRequest) -> (Verdict, VetoResult) {
    let mut command = program_command(program, request.env());
    command.stdout(Stdio::piped());
    let read_output = |stdout: Option<tokio::process::ChildStdout>| async move {
        let mut output = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(MAX_OUTPUT).read_to_end(&mut output).await;
        }
        output
    };
    match run_bounded(command, timeout, read_output).await {
        Ok((status, _)) if status.success() => (Verdict::allow(), VetoResult::Allowed),
        Ok((status, output)) => {
            let reason = sanitize_reason(&output).unwrap_or_else(|| DEFAULT_REASON.to_owned());
            tracing::debug!(%status, "pre-upload program refused");
            (Verdict::refuse(reason), VetoResult::Refused)
        }
        Err(error) => {
            tracing::error!(%error, user = %request.user, path = %request.path, "pre-upload check failed; upload refused");
            (Verdict::refuse(CHECK_FAILED), VetoResult::Failed)
        }
    }
}
