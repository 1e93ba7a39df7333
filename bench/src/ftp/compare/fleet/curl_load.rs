//! curl as an independent client of the fleet: N curl processes started at once, each one
//! RETR or STOR of one file (passive mode: curl tries EPSV first), and their aggregate rate
//! over the time their transfers ran. A process each, so the count stays small.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use crate::ftp::cells::MIB;

/// curl's `-w` line: status, bytes up, bytes down, seconds to the start of the transfer and
/// to its end, each from curl's own start.
const WRITE_OUT: &str =
    "%{response_code} %{size_upload} %{size_download} %{time_pretransfer} %{time_total}";

/// Where and as whom the curl processes connect.
#[derive(Debug, Clone)]
pub struct CurlLoad {
    /// The control address (a node, or a HAProxy frontend).
    pub addr: SocketAddr,
    /// The login name.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Longest a curl process may run (`--max-time`).
    pub limit: Duration,
}

/// One curl process's transfer, as times from the first process's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// When its transfer started.
    pub start: Duration,
    /// When it ended.
    pub end: Duration,
    /// Bytes it moved.
    pub bytes: u64,
}

/// Bytes of every window over the time from the first start to the last end, in MiB/s.
pub fn aggregate_rate(windows: &[Window]) -> Option<f64> {
    let start = windows.iter().map(|w| w.start).min()?;
    let end = windows.iter().map(|w| w.end).max()?;
    let bytes: u64 = windows.iter().map(|w| w.bytes).sum();
    let seconds = end.checked_sub(start)?.as_secs_f64();
    (seconds > 0.0).then(|| bytes as f64 / MIB / seconds)
}

/// The `-w` line's fields: (status, bytes up, bytes down, pretransfer s, total s).
fn parse_write_out(text: &str) -> Option<(u32, u64, u64, f64, f64)> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [code, up, down, pretransfer, total] = fields.get(fields.len().checked_sub(5)?..)? else {
        return None;
    };
    Some((
        code.parse().ok()?,
        up.parse::<f64>().ok()? as u64,
        down.parse::<f64>().ok()? as u64,
        pretransfer.parse().ok()?,
        total.parse().ok()?,
    ))
}

impl CurlLoad {
    fn command(&self) -> Command {
        let mut command = Command::new("curl");
        command
            .arg("-sS")
            .arg("--max-time")
            .arg(self.limit.as_secs().max(1).to_string())
            // The account goes in with --user, not in the URL, so no escaping is needed.
            .arg("--user")
            .arg(format!("{}:{}", self.user, self.password))
            .args(["-w", WRITE_OUT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn url(&self, name: &str) -> String {
        format!("ftp://{}/{name}", self.addr)
    }

    /// `count` processes at once, each downloading `name` (`size` bytes); MiB/s.
    pub async fn downloads(&self, count: usize, name: &str, size: u64) -> Result<f64, String> {
        let commands = (0..count).map(|_| {
            let mut command = self.command();
            command.arg(self.url(name)).args(["-o", "/dev/null"]);
            command
        });
        self.run(commands.collect(), size, false).await
    }

    /// `count` processes at once, each uploading `file` (`size` bytes) as `curl-<i>.bin`;
    /// MiB/s.
    pub async fn uploads(&self, count: usize, file: &Path, size: u64) -> Result<f64, String> {
        let commands = (0..count).map(|index| {
            let mut command = self.command();
            command
                .arg("-T")
                .arg(file)
                .arg(self.url(&format!("curl-{index}.bin")));
            command
        });
        self.run(commands.collect(), size, true).await
    }

    /// Starts every command, then waits for all (each bounded by `--max-time`, and all of
    /// them by a little more: a process left over is killed).
    async fn run(&self, commands: Vec<Command>, size: u64, upload: bool) -> Result<f64, String> {
        let total = commands.len();
        let first = Instant::now();
        let mut running = Vec::with_capacity(commands.len());
        for mut command in commands {
            let launched = first.elapsed();
            let child = command
                .spawn()
                .map_err(|e| format!("cannot run curl: {e}"))?;
            running.push((launched, tokio::spawn(child.wait_with_output())));
        }
        let deadline = first + self.limit + Duration::from_secs(10);
        let mut windows = Vec::with_capacity(running.len());
        let mut failure = None;
        for (launched, task) in running {
            let outcome = tokio::time::timeout_at(deadline, task).await;
            let output = match outcome {
                Ok(Ok(Ok(output))) => output,
                Ok(Ok(Err(error))) => {
                    failure.get_or_insert(format!("waiting for curl: {error}"));
                    continue;
                }
                Ok(Err(join)) => {
                    failure.get_or_insert(join.to_string());
                    continue;
                }
                Err(_) => {
                    failure.get_or_insert("curl outlived its --max-time".to_string());
                    continue;
                }
            };
            match window(&output, launched, size, upload) {
                Ok(window) => windows.push(window),
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        if let Some(failure) = failure {
            return Err(format!(
                "{} of {total} curl transfers failed: {failure}",
                total - windows.len()
            ));
        }
        aggregate_rate(&windows).ok_or_else(|| "no curl transfer took any time".into())
    }
}

/// One process's window, or why it failed.
fn window(output: &Output, launched: Duration, size: u64, upload: bool) -> Result<Window, String> {
    let text = String::from_utf8_lossy(&output.stdout);
    let Some((code, up, down, pretransfer, total)) = parse_write_out(&text) else {
        return Err(format!(
            "curl failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let bytes = if upload { up } else { down };
    if !output.status.success() || !matches!(code, 226 | 250) || bytes != size {
        return Err(format!(
            "curl got {code} after {bytes} of {size} bytes ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(Window {
        start: launched + Duration::from_secs_f64(pretransfer.max(0.0)),
        end: launched + Duration::from_secs_f64(total.max(pretransfer).max(0.0)),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_spans_the_first_start_to_the_last_end() {
        let ms = Duration::from_millis;
        let windows = [
            Window {
                start: ms(100),
                end: ms(600),
                bytes: 1 << 20,
            },
            Window {
                start: ms(300),
                end: ms(1100),
                bytes: 1 << 20,
            },
        ];
        assert_eq!(aggregate_rate(&windows), Some(2.0));
        assert_eq!(aggregate_rate(&[]), None);
        let instant = Window {
            start: ms(5),
            end: ms(5),
            bytes: 1,
        };
        assert_eq!(aggregate_rate(&[instant]), None);
    }

    #[test]
    fn the_write_out_line_is_read_after_any_other_output() {
        assert_eq!(
            parse_write_out("226 10485760 0 0.012 0.254"),
            Some((226, 10_485_760, 0, 0.012, 0.254))
        );
        assert_eq!(
            parse_write_out("noise\n226 0 10485760.0 0.5 1.5"),
            Some((226, 0, 10_485_760, 0.5, 1.5))
        );
        assert_eq!(parse_write_out("226 1 2"), None);
    }

    #[test]
    fn a_short_or_refused_transfer_is_a_failure() {
        use std::os::unix::process::ExitStatusExt;
        let output = |stdout: &str, code: i32| Output {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: b"curl: (9) oops".to_vec(),
        };
        let good = window(
            &output("226 100 0 0.5 1.5", 0),
            Duration::from_secs(1),
            100,
            true,
        );
        assert_eq!(
            good,
            Ok(Window {
                start: Duration::from_millis(1500),
                end: Duration::from_millis(2500),
                bytes: 100
            })
        );
        assert!(window(&output("226 99 0 0.5 1.5", 0), Duration::ZERO, 100, true).is_err());
        assert!(window(&output("550 0 0 0.5 1.5", 9), Duration::ZERO, 100, false).is_err());
        assert!(window(&output("", 6), Duration::ZERO, 100, false).is_err());
    }
}
