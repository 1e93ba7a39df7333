//! Uploads with the safety rules of the design: a completed upload is atomic, an interrupted
//! overwrite leaves the old content, an interrupted new file stays as a resumable partial file,
//! and two uploads to one file never interleave (the second is told the file is busy).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cap_std::fs::MetadataExt;
use nix::fcntl::Flock;

use super::jail::LocalJail;
use super::lock::{self, TargetAccess};
use crate::storage::backend::{CommitInfo, UploadMode};
use crate::storage::error::StorageError;
use crate::storage::path::VirtualPath;

mod tail;
mod unique;

/// Bytes an upload reserves with the quota hook at a time (see [`Upload::reserve`]); a user
/// limit with less room left is reserved chunk by chunk, exactly.
const RESERVE_STEP: u64 = 4 * 1024 * 1024;

/// Where the bytes go until commit.
enum Strategy {
    /// A hidden temp file, renamed over the target on commit.
    Temporary {
        /// Host path of the temp file.
        temp_host: PathBuf,
        /// Lock on the target being replaced, keeping other uploads out until the rename.
        _target_lock: Flock<File>,
    },
    /// The target itself.
    InPlace {
        /// Whether the upload created the file (a quota rollback then removes it).
        created: bool,
        /// Length before the first byte was written (a quota rollback truncates back to it).
        start_len: u64,
        /// What REST n + STOR cut off, for a quota rollback to put back.
        tail: Option<tail::SavedTail>,
    },
}

/// An upload in progress: write the bytes, then [`commit`](Upload::commit) or
/// [`abort`](Upload::abort). Dropping it uncommitted is an abort. Holds the file's upload lock.
pub struct Upload {
    /// The jail it writes through, and its quota hook.
    jail: LocalJail,
    /// The target's virtual path.
    path: VirtualPath,
    /// The target's host path relative to the home.
    host: PathBuf,
    /// The file receiving the bytes (temp or target), locked exclusively.
    file: Flock<File>,
    /// Temp file or in place.
    strategy: Strategy,
    /// Bytes written by this upload.
    written: u64,
    /// Bytes reserved with the quota hook beyond `written`, taken in steps of
    /// [`RESERVE_STEP`] so that the hook (a locked record shared by every session of the
    /// user) is asked once per step rather than once per chunk; released when the upload ends.
    ahead: u64,
    /// Committed, aborted or rolled back: nothing more may happen.
    ended: bool,
}

impl Upload {
    /// Opens the target as `mode` asks; see [`LocalJail::begin_upload`].
    pub(crate) fn begin(
        jail: LocalJail,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        if path.is_root() && mode != UploadMode::Unique {
            return Err(StorageError::IsADirectory { path: path.clone() });
        }
        if mode == UploadMode::Unique {
            return unique::begin_unique(jail, path);
        }
        let host = jail.host_path(path)?;
        let access = TargetAccess {
            write: mode != UploadMode::Replace,
            create: !matches!(mode, UploadMode::ResumeAt(offset) if offset > 0),
        };
        let locked = match lock::lock_target(jail.root(), jail.quota_hook(), path, &host, access) {
            Err(StorageError::NotFound { .. }) if !access.create => {
                let offset = match mode {
                    UploadMode::ResumeAt(offset) => offset,
                    _ => 0,
                };
                return Err(StorageError::BadOffset {
                    path: path.clone(),
                    offset,
                    size: 0,
                });
            }
            other => other?,
        };
        let io_error = |error| StorageError::from_io(path, error);
        let (file, strategy) = match (mode, locked.created) {
            (UploadMode::Replace, false) => {
                let mode_bits = locked
                    .file
                    .metadata()
                    .map_err(io_error)?
                    .permissions()
                    .mode();
                let (temp, temp_host) = lock::create_temp(jail.root(), path, &host, mode_bits)?;
                // Keep the old permissions exactly (creation was subject to the umask); on
                // failure the temp file is removed like any abandoned upload's.
                let kept =
                    temp.set_permissions(std::fs::Permissions::from_mode(mode_bits & 0o7777));
                if let Err(error) = kept {
                    let _ = jail.root().remove_file(&temp_host);
                    return Err(io_error(error));
                }
                let strategy = Strategy::Temporary {
                    temp_host,
                    _target_lock: locked.file,
                };
                (temp, strategy)
            }
            (UploadMode::ResumeAt(offset), false) => {
                if offset > locked.size {
                    return Err(StorageError::BadOffset {
                        path: path.clone(),
                        offset,
                        size: locked.size,
                    });
                }
                let mut file = locked.file;
                let tail = if offset < locked.size {
                    Some(tail::save(
                        jail.root(),
                        path,
                        &host,
                        &mut file,
                        offset,
                        locked.size,
                    )?)
                } else {
                    None
                };
                let cut = file
                    .set_len(offset)
                    .and_then(|()| file.seek(SeekFrom::Start(offset)));
                if let Err(error) = cut {
                    if let Some(tail) = tail {
                        tail.discard(jail.root(), &crate::storage::quota::NoQuota, path);
                    }
                    return Err(io_error(error));
                }
                (
                    file,
                    Strategy::InPlace {
                        created: false,
                        start_len: offset,
                        tail,
                    },
                )
            }
            (_, created) => {
                let mut file = locked.file;
                let start_len = file.seek(SeekFrom::End(0)).map_err(io_error)?;
                let strategy = Strategy::InPlace {
                    created,
                    start_len,
                    tail: None,
                };
                (file, strategy)
            }
        };
        Ok(Upload {
            jail,
            path: path.clone(),
            host,
            file,
            strategy,
            written: 0,
            ahead: 0,
            ended: false,
        })
    }

    /// The target path (for [`UploadMode::Unique`], the name chosen).
    pub fn path(&self) -> &VirtualPath {
        &self.path
    }

    /// Bytes written so far by this upload.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Whether the upload replaces an existing file atomically on commit.
    pub fn replaces_existing(&self) -> bool {
        matches!(self.strategy, Strategy::Temporary { .. })
    }

    /// Writes a chunk after the quota hook accepted it. A refusal rolls the upload back (the
    /// user's files are left as they were before it) and returns the hook's error.
    pub fn write_all(&mut self, mut chunk: &[u8]) -> Result<(), StorageError> {
        if self.ended {
            return Err(StorageError::UploadEnded {
                path: self.path.clone(),
            });
        }
        if let Err(error) = self.reserve(chunk.len() as u64) {
            self.roll_back();
            return Err(error);
        }
        while !chunk.is_empty() {
            match self.file.write(chunk) {
                Ok(0) => {
                    self.ahead += chunk.len() as u64;
                    self.release_ahead();
                    return Err(StorageError::from_io(
                        &self.path,
                        io::ErrorKind::WriteZero.into(),
                    ));
                }
                Ok(count) => {
                    self.written += count as u64;
                    chunk = &chunk[count..];
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.ahead += chunk.len() as u64;
                    self.release_ahead();
                    return Err(StorageError::from_io(&self.path, error));
                }
            }
        }
        Ok(())
    }

    /// Takes `length` bytes of the reservation for a chunk about to be written, reserving more
    /// first if needed: a whole step when the limit leaves room for it, else exactly what the
    /// chunk lacks (so an upload may still end exactly at the limit).
    fn reserve(&mut self, length: u64) -> Result<(), StorageError> {
        if let Some(lacking) = length
            .checked_sub(self.ahead)
            .filter(|&lacking| lacking > 0)
        {
            let quota = self.jail.quota_hook();
            let step = lacking.max(RESERVE_STEP);
            match quota.reserve(step, 0) {
                Ok(()) => self.ahead += step,
                Err(StorageError::QuotaExceeded { .. }) if step > lacking => {
                    quota.reserve(lacking, 0)?;
                    self.ahead += lacking;
                }
                Err(error) => return Err(error),
            }
        }
        self.ahead -= length;
        Ok(())
    }

    /// Gives back the reservation not yet written into.
    fn release_ahead(&mut self) {
        let ahead = std::mem::take(&mut self.ahead);
        if ahead > 0 {
            self.jail.quota_hook().release(ahead, 0);
        }
    }

    /// With durable uploads, flushes the file's data (and size) to stable storage.
    fn sync_file(&self) -> Result<(), StorageError> {
        if !self.jail.durable_uploads() {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|error| StorageError::from_io(&self.path, error))
    }

    /// With durable uploads, flushes the directory holding the target, so its entry (a new
    /// name, a rename over the old file) survives a crash.
    fn sync_directory(&self) -> Result<(), StorageError> {
        if !self.jail.durable_uploads() {
            return Ok(());
        }
        let parent = self
            .host
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        // A directory opened read-only can be synced like a file.
        self.jail
            .root()
            .open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|error| StorageError::from_io(&self.path, error))
    }

    /// Finishes the upload: a replacing upload is renamed over the target in one step.
    pub fn commit(mut self) -> Result<CommitInfo, StorageError> {
        if self.ended {
            return Err(StorageError::UploadEnded {
                path: self.path.clone(),
            });
        }
        self.ended = true;
        self.release_ahead();
        // The new bytes replace a REST n + STOR's saved tail for good.
        self.discard_tail();
        let quota = self.jail.quota_hook();
        match &self.strategy {
            Strategy::Temporary { temp_host, .. } => {
                let root = self.jail.root();
                let replaced = root
                    .symlink_metadata(&self.host)
                    .ok()
                    .filter(|metadata| metadata.is_file())
                    .map(|metadata| metadata.size());
                // The old file vanished meanwhile (deleted): the new one is one more file.
                let reserved_file = replaced.is_none();
                let result = if reserved_file {
                    quota.reserve(0, 1)
                } else {
                    Ok(())
                };
                // Durable: the bytes on disk before the name points at them, the name on disk
                // before 226 (a power cut never brings back an acknowledged upload empty).
                let result = result
                    .and_then(|()| self.sync_file())
                    .and_then(|()| {
                        root.rename(temp_host, root, &self.host)
                            .map_err(|error| StorageError::from_io(&self.path, error))
                    })
                    .and_then(|()| self.sync_directory());
                if let Err(error) = result {
                    // Best effort: a leftover temp file is hidden and cleaned up with its directory.
                    let _ = root.remove_file(temp_host);
                    quota.release(self.written, 0);
                    return Err(error);
                }
                if let Some(old_size) = replaced {
                    quota.release(old_size, 0);
                }
                Ok(CommitInfo {
                    path: self.path.clone(),
                    size: self.written,
                    replaced_size: replaced,
                })
            }
            Strategy::InPlace { .. } => {
                if !lock::still_at_path(self.jail.root(), &self.host, &self.file) {
                    return Err(StorageError::NotFound {
                        path: self.path.clone(),
                    });
                }
                // A resumed or appended file (or one made in place): its bytes and its entry.
                self.sync_file()?;
                self.sync_directory()?;
                let size = self
                    .file
                    .metadata()
                    .map_err(|error| StorageError::from_io(&self.path, error))?
                    .len();
                Ok(CommitInfo {
                    path: self.path.clone(),
                    size,
                    replaced_size: None,
                })
            }
        }
    }

    /// Stops the upload: a replacing upload discards its temp file (the old content stays);
    /// an in-place upload keeps the bytes received, resumable with `ResumeAt` or `Append`.
    pub fn abort(mut self) {
        self.interrupt();
    }

    /// The abort behaviour, also run on drop.
    fn interrupt(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.release_ahead();
        if let Strategy::Temporary { temp_host, .. } = &self.strategy {
            if let Err(error) = self.jail.root().remove_file(temp_host) {
                tracing::warn!(path = %self.path, %error, "could not remove upload temp file");
            }
            self.jail.quota_hook().release(self.written, 0);
        }
        self.discard_tail();
    }

    /// Drops the tail a REST n + STOR saved: the new bytes replace it for good.
    fn discard_tail(&mut self) {
        if let Strategy::InPlace { tail, .. } = &mut self.strategy
            && let Some(tail) = tail.take()
        {
            tail.discard(self.jail.root(), self.jail.quota_hook(), &self.path);
        }
    }

    /// Undoes the whole upload after a quota refusal.
    fn roll_back(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.release_ahead();
        let quota = self.jail.quota_hook();
        let root = self.jail.root();
        let outcome = match self.strategy {
            Strategy::Temporary { ref temp_host, .. } => root.remove_file(temp_host),
            Strategy::InPlace { created: true, .. } => {
                if lock::still_at_path(root, &self.host, &self.file) {
                    quota.release(0, 1);
                    root.remove_file(&self.host)
                } else {
                    Ok(())
                }
            }
            Strategy::InPlace {
                created: false,
                start_len,
                ref mut tail,
            } => {
                let cut = self.file.set_len(start_len);
                match tail.take() {
                    Some(tail) => cut.and_then(|()| tail.restore(root, &mut self.file)),
                    None => cut,
                }
            }
        };
        quota.release(self.written, 0);
        if let Err(error) = outcome {
            tracing::warn!(path = %self.path, %error, "could not roll back refused upload");
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.interrupt();
    }
}

impl Write for Upload {
    /// Writes what the quota hook accepts; a [`StorageError`] travels inside the `io::Error`
    /// (recover it with [`StorageError::from_write_error`]).
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        Upload::write_all(self, buffer).map_err(io::Error::other)?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Upload")
            .field("path", &self.path)
            .field("written", &self.written)
            .field("replaces_existing", &self.replaces_existing())
            .field("ended", &self.ended)
            .finish()
    }
}
