//! One running command's output, limits and exit status, sent back on its SSH channel.

use russh::server::Handle;
use russh::{ChannelId, Sig};

use crate::exec::{self, ExecEvent, ExitStatus, OutputStream, RunningCommand};

/// SSH's extended-data type for standard error (RFC 4254, section 5.2).
const STDERR: u32 = 1;

/// Relays `running` to `channel` until it ends, then reports its status and closes the channel.
/// If the client goes away first, returning drops `running`, which kills the command.
pub(super) async fn relay(handle: Handle, channel: ChannelId, mut running: RunningCommand) {
    while let Some(event) = running.next_event().await {
        match event {
            ExecEvent::Output(OutputStream::Stdout, bytes) => {
                if handle.data(channel, bytes).await.is_err() {
                    return;
                }
            }
            ExecEvent::Output(OutputStream::Stderr, bytes) => {
                if handle.extended_data(channel, STDERR, bytes).await.is_err() {
                    return;
                }
            }
            ExecEvent::Finished(completion) => {
                if let Some(limit) = completion.limit {
                    let notice = format!("wharf-sshd: {limit}\n").into_bytes();
                    let _ = handle.extended_data(channel, STDERR, notice).await;
                }
                let _ = match completion.status {
                    ExitStatus::Code(code) => {
                        let code = u32::try_from(code).unwrap_or(255);
                        handle.exit_status_request(channel, code).await
                    }
                    ExitStatus::Signal(number) => {
                        let name = Sig::Custom(exec::signal_name(number));
                        handle
                            .exit_signal_request(channel, name, false, String::new(), String::new())
                            .await
                    }
                };
                break;
            }
            ExecEvent::Failed(message) => {
                let notice = format!("wharf-sshd: {message}\n").into_bytes();
                let _ = handle.extended_data(channel, STDERR, notice).await;
                let _ = handle.exit_status_request(channel, 255).await;
                break;
            }
        }
    }
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}
