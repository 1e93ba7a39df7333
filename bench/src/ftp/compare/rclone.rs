//! rclone, an S3 client nobody here wrote (Go: its own SigV4 signing, multipart uploads and
//! HTTP stack), as a direct client of the same Garage: `copyto` of a local file for the PUT
//! (rclone's default multipart upload: 5 MiB parts, four at a time), `cat` to `/dev/null` for
//! the GET (one streaming GET). Configured from the environment only (no config file), with
//! the MD5 of the upload not computed (wharf-ftpd sends none either) and no bucket check.
//!
//! rclone reports no transfer time of its own that leaves its start-up out, so a transfer's
//! time is the process's, less the median of three runs of the same command on a one-byte
//! object ([`Rclone::fixed_cost`]): start-up, the listing and HEAD requests rclone makes
//! around a transfer, the connection.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::curl::Transfer;
use crate::aggregate::median;
use crate::ftp::variant::S3Bucket;

/// The name of the remote the environment defines.
const REMOTE: &str = "WHARFBENCH";

/// Runs of the one-byte transfer whose median is the fixed cost.
pub const FIXED_COST_RUNS: usize = 3;

/// rclone against one bucket.
#[derive(Debug, Clone)]
pub struct Rclone {
    /// The bucket.
    pub bucket: S3Bucket,
}

/// What a transfer costs rclone besides its bytes: the medians of one-byte runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedCost {
    /// Of a PUT (`copyto`).
    pub put: Duration,
    /// Of a GET (`cat`).
    pub get: Duration,
}

impl Rclone {
    fn command(&self) -> Command {
        let mut command = Command::new("rclone");
        let var = |field: &str| format!("RCLONE_CONFIG_{REMOTE}_{field}");
        command
            .env(var("TYPE"), "s3")
            .env(var("PROVIDER"), "Other")
            .env(var("ENDPOINT"), &self.bucket.endpoint)
            .env(var("REGION"), &self.bucket.region)
            .env(var("ACCESS_KEY_ID"), &self.bucket.access_key_id)
            .env(var("SECRET_ACCESS_KEY"), &self.bucket.secret_access_key)
            .env(var("FORCE_PATH_STYLE"), "true")
            // No config file is read or written.
            .env("RCLONE_CONFIG", "/dev/null")
            // The AWS SDK in rclone 1.60 fails every request when this is set ("unable to
            // load custom CA bundle"), and the endpoint is plain HTTP.
            .env_remove("AWS_CA_BUNDLE")
            .args([
                "--s3-disable-checksum",
                "--s3-no-check-bucket",
                "--retries",
                "1",
                "--low-level-retries",
                "1",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    fn remote(&self, key: &str) -> String {
        format!("{REMOTE}:{}/{key}", self.bucket.bucket)
    }

    /// Uploads `file` as `key`; returns the process's time and the object's size after.
    pub async fn put(&self, file: &Path, key: &str, fixed: FixedCost) -> Result<Transfer, String> {
        let mut command = self.command();
        command
            .arg("copyto")
            .arg(file)
            .arg(self.remote(key))
            .stdout(Stdio::null());
        let elapsed = timed(command).await?;
        Ok(Transfer {
            elapsed: less(elapsed, fixed.put),
            bytes: self.size(key).await?,
        })
    }

    /// Reads `key` in one GET to `/dev/null`; `size` is what the object holds (rclone fails
    /// on a body shorter than its Content-Length).
    pub async fn get(&self, key: &str, size: u64, fixed: FixedCost) -> Result<Transfer, String> {
        let mut command = self.command();
        command
            .arg("cat")
            .arg(self.remote(key))
            .stdout(Stdio::null());
        let elapsed = timed(command).await?;
        Ok(Transfer {
            elapsed: less(elapsed, fixed.get),
            bytes: size,
        })
    }

    /// The object's size, as rclone lists it.
    async fn size(&self, key: &str) -> Result<u64, String> {
        let mut command = self.command();
        command
            .args(["lsjson", "--no-mimetype", "--no-modtime"])
            .arg(self.remote(key))
            .stdout(Stdio::piped());
        let output = output(command).await?;
        parse_size(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| format!("rclone lsjson of {key} named no size"))
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let mut command = self.command();
        command
            .arg("deletefile")
            .arg(self.remote(key))
            .stdout(Stdio::null());
        output(command).await.map(drop)
    }

    /// The medians of [`FIXED_COST_RUNS`] PUTs and GETs of a one-byte file `scratch` (left
    /// behind in the bucket as `key` only until the end of the call).
    pub async fn fixed_cost(&self, scratch: &Path, key: &str) -> Result<FixedCost, String> {
        std::fs::write(scratch, b"x").map_err(|e| format!("{}: {e}", scratch.display()))?;
        let none = FixedCost::default();
        let (mut puts, mut gets) = (Vec::new(), Vec::new());
        for _ in 0..FIXED_COST_RUNS {
            puts.push(self.put(scratch, key, none).await?.elapsed.as_secs_f64());
            gets.push(self.get(key, 1, none).await?.elapsed.as_secs_f64());
        }
        self.delete(key).await?;
        let _ = std::fs::remove_file(scratch);
        let seconds = |values: Vec<f64>| Duration::from_secs_f64(median(values).unwrap_or(0.0));
        Ok(FixedCost {
            put: seconds(puts),
            get: seconds(gets),
        })
    }
}

/// `elapsed` without the `fixed` cost of the command (never zero: rates divide by it).
fn less(elapsed: Duration, fixed: Duration) -> Duration {
    elapsed.saturating_sub(fixed).max(Duration::from_micros(1))
}

/// Runs `command` off the async threads and times it from spawn to exit.
async fn timed(command: Command) -> Result<Duration, String> {
    let started = Instant::now();
    output(command).await?;
    Ok(started.elapsed())
}

/// Runs `command` off the async threads; an exit other than success is the error, with
/// rclone's message.
async fn output(mut command: Command) -> Result<std::process::Output, String> {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|join| join.to_string())?
        .map_err(|error| format!("cannot run rclone: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "rclone failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output)
}

/// The `"Size"` of the one entry `rclone lsjson` printed.
fn parse_size(json: &str) -> Option<u64> {
    let entries: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    match entries.as_slice() {
        [entry] => entry.get("Size")?.as_u64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_read_from_a_single_listed_entry() {
        let one = r#"[{"Path":"direct.bin","Name":"direct.bin","Size":1073741824,"IsDir":false}]"#;
        assert_eq!(parse_size(one), Some(1 << 30));
        assert_eq!(parse_size("[]"), None);
        assert_eq!(parse_size(r#"[{"Size":1},{"Size":2}]"#), None);
        assert_eq!(parse_size("not json"), None);
    }
}
