//! Sweeping the temp files of dead uploads out of a whole home (before a quota rebuild).

use std::path::PathBuf;

use super::jail::LocalJail;
use super::lock;
use crate::storage::error::StorageError;
use crate::storage::path::VirtualPath;

impl LocalJail {
    /// Removes the temp files of dead uploads (those no live upload holds locked) in every
    /// directory of the home, without following symlinks. A crashed replacing upload leaves
    /// one behind; its bytes must not count as usage once nobody can finish it.
    pub fn remove_stale_temp_files(&self) -> Result<(), StorageError> {
        let io_error = |error| StorageError::from_io(&VirtualPath::root(), error);
        let mut pending = vec![PathBuf::from(".")];
        while let Some(dir) = pending.pop() {
            for dir_entry in self.root().read_dir(&dir).map_err(io_error)? {
                let dir_entry = dir_entry.map_err(io_error)?;
                if dir_entry.file_type().map_err(io_error)?.is_dir() {
                    pending.push(dir.join(dir_entry.file_name()));
                }
            }
            lock::remove_stale_temp_files(self.root(), &dir);
        }
        Ok(())
    }
}
