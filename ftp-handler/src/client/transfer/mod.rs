//! File transfers: [`download`] and [`upload`] with resume, a [`progress`] bar, an optional
//! rate limit ([`pump`]), then verification; [`get`] and [`put`] are what the shell and the
//! one-shot commands call.

pub mod download;
pub mod progress;
pub mod pump;
pub mod upload;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::connection::Connection;
use super::error::ClientError;
use super::verify::{Verification, verify};

/// How transfers behave, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// Check each transfer with the server's HASH.
    pub verify: bool,
    /// Draw progress bars (standard error is a terminal).
    pub progress: bool,
    /// Bytes per second not to exceed.
    pub limit_rate: Option<u64>,
}

/// What one transfer moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// Bytes sent or received this time.
    pub bytes: u64,
    /// Where the transfer started (non-zero when resumed).
    pub offset: u64,
    /// The file's full size, when known.
    pub total: Option<u64>,
    /// How long the data connection took.
    pub elapsed: Duration,
}

impl Transferred {
    /// A resume that found the file already complete.
    fn nothing(offset: u64, total: Option<u64>) -> Transferred {
        Transferred {
            bytes: 0,
            offset,
            total,
            elapsed: Duration::ZERO,
        }
    }
}

/// `12345 bytes in 0.52 s (23.2 KiB/s), resumed at 1000` or `already complete (12345 bytes)`.
impl fmt::Display for Transferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes == 0 && self.offset > 0 {
            return write!(f, "already complete ({} bytes)", self.offset);
        }
        let seconds = self.elapsed.as_secs_f64();
        write!(f, "{} bytes in {seconds:.2} s", self.bytes)?;
        if seconds > 0.0 {
            write!(f, " ({}/s)", human_bytes(self.bytes as f64 / seconds))?;
        }
        if self.offset > 0 {
            write!(f, ", resumed at {}", self.offset)?;
        }
        Ok(())
    }
}

/// `1.5 MiB`-style sizes.
fn human_bytes(mut value: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// The last component of a remote path, for labels and default local names.
pub fn label(remote: &str) -> String {
    remote
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or(remote)
        .to_string()
}

/// Where `get` writes: `local` (or the remote name in the current directory); a directory
/// gets the remote name inside it.
pub fn local_target(remote: &str, local: Option<&Path>) -> PathBuf {
    let name = label(remote);
    match local {
        Some(path) if path.is_dir() => path.join(name),
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(name),
    }
}

/// Where `put` writes: `remote`, with the local file name added when it names a directory
/// (empty or ending in `/`).
pub fn remote_target(local: &Path, remote: &str) -> String {
    let name = local
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if remote.is_empty() {
        name
    } else if remote.ends_with('/') {
        format!("{remote}{name}")
    } else {
        remote.to_string()
    }
}

/// Downloads, reports, verifies. A verification mismatch is an error.
pub fn get(
    connection: &mut Connection,
    remote: &str,
    local: &Path,
    resume: bool,
    options: &TransferOptions,
    out: &mut dyn Write,
) -> Result<Verification, ClientError> {
    let moved = download::download(connection, remote, local, resume, options)?;
    if !options.progress {
        let _ = writeln!(out, "got {remote} -> {}: {moved}", local.display());
    }
    finish(connection, remote, local, options, out)
}

/// Uploads, reports, verifies. A verification mismatch is an error.
pub fn put(
    connection: &mut Connection,
    local: &Path,
    remote: &str,
    resume: bool,
    options: &TransferOptions,
    out: &mut dyn Write,
) -> Result<Verification, ClientError> {
    let moved = upload::upload(connection, local, remote, resume, options)?;
    if !options.progress {
        let _ = writeln!(out, "put {} -> {remote}: {moved}", local.display());
    }
    finish(connection, remote, local, options, out)
}

/// Verifies (unless disabled) and shows the outcome.
fn finish(
    connection: &mut Connection,
    remote: &str,
    local: &Path,
    options: &TransferOptions,
    out: &mut dyn Write,
) -> Result<Verification, ClientError> {
    let outcome = if options.verify {
        verify(connection, remote, local)?
    } else {
        Verification::Skipped
    };
    let _ = writeln!(out, "{outcome}");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_last_path_component() {
        assert_eq!(label("a/b/c.txt"), "c.txt");
        assert_eq!(label("c.txt"), "c.txt");
        assert_eq!(label("dir/"), "dir");
    }

    #[test]
    fn default_names_follow_the_source() {
        assert_eq!(local_target("docs/a.bin", None), PathBuf::from("a.bin"));
        assert_eq!(
            local_target("docs/a.bin", Some(Path::new("/tmp"))),
            PathBuf::from("/tmp/a.bin")
        );
        assert_eq!(remote_target(Path::new("/x/a.bin"), ""), "a.bin");
        assert_eq!(remote_target(Path::new("/x/a.bin"), "up/"), "up/a.bin");
        assert_eq!(remote_target(Path::new("/x/a.bin"), "b.bin"), "b.bin");
    }

    #[test]
    fn summaries_give_size_rate_and_resume_point() {
        let moved = Transferred {
            bytes: 2048,
            offset: 100,
            total: Some(2148),
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(
            moved.to_string(),
            "2048 bytes in 1.00 s (2.0 KiB/s), resumed at 100"
        );
        assert_eq!(
            Transferred::nothing(5, Some(5)).to_string(),
            "already complete (5 bytes)"
        );
    }
}
