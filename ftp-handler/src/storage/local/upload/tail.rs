//! The tail that REST n + STOR cuts off (bytes n.. of the old file), kept in a hidden temp file
//! while the upload runs, so that a quota refusal can put the file back as it was. Its bytes
//! stay counted until the upload ends: they are still on disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use nix::fcntl::Flock;

use crate::storage::error::StorageError;
use crate::storage::local::lock;
use crate::storage::path::VirtualPath;
use crate::storage::quota::QuotaHook;

/// A saved tail.
pub(super) struct SavedTail {
    /// Host path of the hidden temp file.
    temp_host: PathBuf,
    /// The temp file, locked so that no sweep mistakes it for a dead upload's.
    _lock: Flock<File>,
    /// Bytes saved.
    len: u64,
}

/// Copies bytes `offset..size` of `target` into a fresh temp file beside it.
pub(super) fn save(
    root: &Dir,
    path: &VirtualPath,
    host: &Path,
    target: &mut File,
    offset: u64,
    size: u64,
) -> Result<SavedTail, StorageError> {
    let (mut temp, temp_host) = lock::create_temp(root, path, host, 0o600)?;
    let wanted = size - offset;
    let copied = target
        .seek(SeekFrom::Start(offset))
        .and_then(|_| io::copy(&mut target.by_ref().take(wanted), &mut *temp));
    let error = match copied {
        Ok(len) if len == wanted => {
            return Ok(SavedTail {
                temp_host,
                _lock: temp,
                len,
            });
        }
        Ok(_) => io::ErrorKind::UnexpectedEof.into(),
        Err(error) => error,
    };
    let _ = root.remove_file(&temp_host);
    Err(StorageError::from_io(path, error))
}

impl SavedTail {
    /// Appends the tail to `target` (already cut back to where it was saved from), then
    /// removes the temp file. The bytes move, so usage does not change.
    pub(super) fn restore(self, root: &Dir, target: &mut File) -> io::Result<()> {
        let mut saved = root.open(&self.temp_host)?.into_std();
        target.seek(SeekFrom::End(0))?;
        let copied = io::copy(&mut saved, target)?;
        if copied != self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        root.remove_file(&self.temp_host)
    }

    /// Removes the temp file: the upload replaced the tail for good.
    pub(super) fn discard(self, root: &Dir, quota: &dyn QuotaHook, path: &VirtualPath) {
        match root.remove_file(&self.temp_host) {
            Ok(()) => quota.release(self.len, 0),
            // Still on disk and still counted; the next sweep removes it.
            Err(error) => tracing::warn!(%path, %error, "could not remove a saved tail"),
        }
    }
}
