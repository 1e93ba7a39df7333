//! curl, a client nobody here wrote, in two roles: a direct S3 client (its own SigV4 signing,
//! one streaming PUT from a file with `-T`, one GET), and an FTP client of wharf-ftpd and the
//! peers (STOR from the same file, RETR). Times are curl's own: from the end of its set-up (connection,
//! and for FTP the login and the data connection: `time_pretransfer`) to the end of the
//! transfer (`time_total`; for an FTP upload, the server's `226`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::ftp::variant::S3Bucket;

/// What one curl transfer reported.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// From the end of set-up to the end of the transfer.
    pub elapsed: Duration,
    /// Bytes curl sent or received.
    pub bytes: u64,
}

/// curl's `-w` format: status, bytes up, bytes down, set-up and total seconds.
const WRITE_OUT: &str =
    "%{response_code} %{size_upload} %{size_download} %{time_pretransfer} %{time_total}";

/// The last five fields of curl's output in [`WRITE_OUT`]'s format: status, bytes up, bytes
/// down, `time_pretransfer` and `time_total` (seconds).
pub fn parse_write_out(text: &str) -> Option<(u32, f64, f64, f64, f64)> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [code, up, down, pretransfer, total] = fields.get(fields.len().checked_sub(5)?..)? else {
        return None;
    };
    Some((
        code.parse::<u32>().ok()?,
        up.parse::<f64>().ok()?,
        down.parse::<f64>().ok()?,
        pretransfer.parse::<f64>().ok()?,
        total.parse::<f64>().ok()?,
    ))
}

/// Runs `command` (a curl command line without `-w`) off the async threads; reads its
/// `-w` line and checks the status is one of `accepted`.
async fn run(mut command: Command, accepted: &[u32], upload: bool) -> Result<Transfer, String> {
    command.args(["-sS", "-w", WRITE_OUT]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|join| join.to_string())?
        .map_err(|error| format!("cannot run curl: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let parsed = parse_write_out(&text);
    let Some((code, up, down, pretransfer, total)) = parsed else {
        return Err(format!(
            "curl failed ({}): {} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            text.trim()
        ));
    };
    if !output.status.success() || !accepted.contains(&code) {
        return Err(format!(
            "curl got {code} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(Transfer {
        elapsed: Duration::from_secs_f64((total - pretransfer).max(1e-6)),
        bytes: if upload { up } else { down } as u64,
    })
}

/// curl signing its own requests to one bucket.
#[derive(Debug, Clone)]
pub struct CurlS3 {
    /// The bucket and key.
    pub bucket: S3Bucket,
}

impl CurlS3 {
    fn command(&self) -> Command {
        let mut command = Command::new("curl");
        command
            .arg("--aws-sigv4")
            .arg(format!("aws:amz:{}:s3", self.bucket.region))
            .arg("--user")
            .arg(format!(
                "{}:{}",
                self.bucket.access_key_id, self.bucket.secret_access_key
            ))
            // S3 wants the header; curl 7.x does not send it by itself. The body is not hashed
            // (a streaming PUT, as an S3 client sending a file does over a trusted network).
            .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]);
        command
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{}/{key}", self.bucket.endpoint, self.bucket.bucket)
    }

    /// One PUT of `file` (streamed by curl, `-T`) as `key`.
    pub async fn put(&self, file: &Path, key: &str) -> Result<Transfer, String> {
        let mut command = self.command();
        command
            .arg("-T")
            .arg(file)
            .arg(self.url(key))
            .args(["-o", "/dev/null"]);
        run(command, &[200], true).await
    }

    /// One GET of `key`, thrown away.
    pub async fn get(&self, key: &str) -> Result<Transfer, String> {
        let mut command = self.command();
        command.arg(self.url(key)).args(["-o", "/dev/null"]);
        run(command, &[200], false).await
    }

    /// GETs `key` (of `size` bytes) as consecutive ranged GETs of `chunk` bytes on one
    /// connection (one curl, its URLs joined with `--next`): the request pattern of a
    /// daemon that reads an object chunk by chunk. Timed from curl's start to its exit.
    pub async fn get_ranges(&self, key: &str, size: u64, chunk: u64) -> Result<Transfer, String> {
        let mut command = Command::new("curl");
        let mut start = 0;
        while start < size {
            if start > 0 {
                command.arg("--next");
            }
            let end = (start + chunk).min(size) - 1;
            command
                .args(self.command().get_args())
                .args(["-sS", "-w", "%{response_code} %{size_download}\n", "-r"])
                .arg(format!("{start}-{end}"))
                .arg(self.url(key))
                .args(["-o", "/dev/null"]);
            start = end + 1;
        }
        let began = std::time::Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|join| join.to_string())?
            .map_err(|error| format!("cannot run curl: {error}"))?;
        let elapsed = began.elapsed();
        let text = String::from_utf8_lossy(&output.stdout);
        let mut bytes = 0;
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("206", got)) => bytes += got.trim().parse::<u64>().unwrap_or(0),
                _ => return Err(format!("a ranged GET answered {line:?}")),
            }
        }
        if !output.status.success() || bytes != size {
            return Err(format!(
                "ranged GETs moved {bytes} of {size} bytes ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Transfer { elapsed, bytes })
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let mut command = self.command();
        command
            .args(["-X", "DELETE"])
            .arg(self.url(key))
            .args(["-o", "/dev/null"]);
        run(command, &[204, 200], false).await.map(drop)
    }
}

/// curl as an FTP client of one server and account (passive mode, binary type).
#[derive(Debug, Clone)]
pub struct CurlFtp {
    /// The server.
    pub addr: SocketAddr,
    /// The login name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl CurlFtp {
    fn command(&self) -> Command {
        let mut command = Command::new("curl");
        // The account goes in with --user, not in the URL, so no escaping is needed.
        command
            .arg("--user")
            .arg(format!("{}:{}", self.user, self.password));
        command
    }

    fn url(&self, name: &str) -> String {
        format!("ftp://{}/{name}", self.addr)
    }

    /// STOR of `file` as `name`.
    pub async fn store(&self, file: &Path, name: &str) -> Result<Transfer, String> {
        let mut command = self.command();
        command.arg("-T").arg(file).arg(self.url(name));
        run(command, &[226, 250], true).await
    }

    /// RETR of `name`, thrown away.
    pub async fn retrieve(&self, name: &str) -> Result<Transfer, String> {
        let mut command = self.command();
        command.arg(self.url(name)).args(["-o", "/dev/null"]);
        run(command, &[226, 250], false).await
    }

    /// Logs in and asks for `name`'s size and date (`-I`: no data connection), then quits:
    /// what a curl transfer costs the server besides the transfer itself.
    pub async fn login_only(&self, name: &str) -> Result<(), String> {
        let mut command = self.command();
        command
            .arg("-I")
            .arg(self.url(name))
            .args(["-o", "/dev/null"]);
        run(command, &[213, 350, 226, 250], false).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_out_line_is_read_from_the_end_of_the_output() {
        let text = "some listing\n226 536870912 0 0.004101 0.261532";
        assert_eq!(
            parse_write_out(text),
            Some((226, 536_870_912.0, 0.0, 0.004101, 0.261532))
        );
        assert_eq!(parse_write_out("226 1 2 3"), None);
        assert_eq!(parse_write_out("226 1 2 x 4"), None);
    }
}
