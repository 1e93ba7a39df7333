//! lftp, a second FTP client nobody here wrote, driven one command at a time through its
//! standard input: it connects and logs in (`open`, then `quote NOOP`, which forces the login
//! lftp otherwise puts off), the bench reads the server's CPU meter and the clock, sends one
//! `get FILE -o /dev/null` or `put FILE -o NAME` (with `set xfer:clobber yes`), and reads them
//! again when lftp echoes the marker that follows the command. So the time is the wall clock
//! around the one transfer command, without the login, and `set cmd:fail-exit yes` makes a
//! failed transfer end lftp instead of reaching the marker.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

/// The line lftp echoes once logged in.
const READY: &str = "wharf-bench-ready";
/// The line lftp echoes after the transfer command.
const DONE: &str = "wharf-bench-done";

/// lftp as an FTP client of one server and account (passive mode, binary type by default).
#[derive(Debug, Clone)]
pub struct LftpFtp {
    /// The server.
    pub addr: SocketAddr,
    /// The login name.
    pub user: String,
    /// The password.
    pub password: String,
    /// Time limit of the login and of the transfer.
    pub step_limit: Duration,
}

/// One lftp logged in and waiting for its transfer command.
pub struct LoggedIn {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    step_limit: Duration,
}

/// Quotes `text` as one lftp word (double quotes, with `\` and `"` escaped).
pub fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The commands that log in and then echo [`READY`].
pub fn login_script(addr: SocketAddr, user: &str, password: &str) -> String {
    format!(
        "set cmd:fail-exit yes\nset xfer:clobber yes\nset net:max-retries 1\n\
         open -u {} ftp://{addr}\nquote NOOP\necho {READY}\n",
        quote(&format!("{user},{password}"))
    )
}

/// The transfer command (a `get` to `/dev/null`, or a `put` of `local` as `remote`), then the
/// echo of [`DONE`].
pub fn transfer_script(upload: bool, local: &Path, remote: &str) -> String {
    let command = if upload {
        format!(
            "put {} -o {}",
            quote(&local.to_string_lossy()),
            quote(remote)
        )
    } else {
        format!("get {} -o /dev/null", quote(remote))
    };
    format!("{command}\necho {DONE}\n")
}

/// Reads lines until one equals `marker`; the lines before it, for the error message.
async fn until(
    lines: &mut Lines<BufReader<ChildStdout>>,
    marker: &str,
    limit: Duration,
) -> Result<(), String> {
    let mut seen = Vec::new();
    let wait = async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            if line.trim() == marker {
                return Ok(());
            }
            seen.push(line);
        }
        Err(format!("lftp ended before {marker}"))
    };
    match tokio::time::timeout(limit, wait).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("{error}: {}", seen.join(" | "))),
        Err(_) => Err(format!(
            "no {marker} within {limit:?}: {}",
            seen.join(" | ")
        )),
    }
}

impl LftpFtp {
    /// Starts lftp and logs in; returns once the server accepted the login.
    pub async fn login(&self) -> Result<LoggedIn, String> {
        let mut child = Command::new("lftp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run lftp: {e}"))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("lftp's pipes are missing".into());
        };
        let mut lines = BufReader::new(stdout).lines();
        let script = login_script(self.addr, &self.user, &self.password);
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("writing to lftp: {e}"))?;
        until(&mut lines, READY, self.step_limit).await?;
        Ok(LoggedIn {
            child,
            stdin,
            lines,
            step_limit: self.step_limit,
        })
    }
}

impl LoggedIn {
    /// Sends the transfer command and waits for it to end: the wall-clock time it took.
    pub async fn transfer(
        &mut self,
        upload: bool,
        local: &Path,
        remote: &str,
    ) -> Result<Duration, String> {
        let script = transfer_script(upload, local, remote);
        let started = Instant::now();
        self.stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("writing to lftp: {e}"))?;
        let outcome = until(&mut self.lines, DONE, self.step_limit).await;
        let elapsed = started.elapsed();
        match outcome {
            Ok(()) => Ok(elapsed),
            Err(error) => Err(format!("{error} {}", self.stderr().await)),
        }
    }

    /// What lftp wrote on its standard error, once it has ended.
    async fn stderr(&mut self) -> String {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        let Some(mut stderr) = self.child.stderr.take() else {
            return String::new();
        };
        let mut text = String::new();
        let read = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text);
        let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
        text.trim().to_string()
    }

    /// Ends the session (`quit`) and waits for lftp to exit.
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_lftp() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn the_login_script_forces_the_login_before_the_ready_marker() {
        let addr: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let script = login_script(addr, "bench", "pw");
        let lines: Vec<&str> = script.lines().collect();
        assert!(lines.contains(&"set cmd:fail-exit yes"), "{script}");
        assert!(lines.contains(&"set xfer:clobber yes"), "{script}");
        let open = lines
            .iter()
            .position(|l| l.starts_with("open -u "))
            .unwrap();
        let noop = lines.iter().position(|l| *l == "quote NOOP").unwrap();
        let ready = lines
            .iter()
            .position(|l| *l == format!("echo {READY}"))
            .unwrap();
        assert!(open < noop && noop < ready, "{script}");
        assert_eq!(lines[open], "open -u \"bench,pw\" ftp://127.0.0.1:2121");
    }

    #[test]
    fn transfer_scripts_get_to_dev_null_or_put_under_the_remote_name() {
        let get = transfer_script(false, Path::new("/x/big.bin"), "big.bin");
        assert_eq!(get, format!("get \"big.bin\" -o /dev/null\necho {DONE}\n"));
        let put = transfer_script(true, Path::new("/x/big.bin"), "stor.bin");
        assert_eq!(
            put,
            format!("put \"/x/big.bin\" -o \"stor.bin\"\necho {DONE}\n")
        );
    }
}
