//! The hook through which a quota layer sees, and may refuse, every change in a user's usage.
//!
//! Every backend calls [`QuotaHook::reserve`] *before* it creates a file or writes a
//! chunk, so a refusal means nothing was written; it calls [`QuotaHook::release`] after bytes or
//! files leave the home (delete, overwrite, aborted temp file, truncation on resume). Usage
//! therefore always counts committed plus in-progress bytes.

use std::fmt;

use super::error::StorageError;

/// Bytes and files used in a home, as counted by [`StorageBackend::usage`](super::StorageBackend::usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Total size of the regular files.
    pub bytes: u64,
    /// Number of regular files.
    pub files: u64,
}

/// Accounts for a user's usage; implementations must be safe to share between sessions.
pub trait QuotaHook: Send + Sync + fmt::Debug {
    /// Asks to add `bytes` bytes and `files` files; an error (usually
    /// [`StorageError::QuotaExceeded`]) stops the operation before anything is written.
    fn reserve(&self, bytes: u64, files: u64) -> Result<(), StorageError>;

    /// Tells that `bytes` bytes and `files` files left the user's home.
    fn release(&self, bytes: u64, files: u64);
}

/// The hook for users without a quota: accepts everything and counts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQuota;

impl QuotaHook for NoQuota {
    fn reserve(&self, _bytes: u64, _files: u64) -> Result<(), StorageError> {
        Ok(())
    }

    fn release(&self, _bytes: u64, _files: u64) {}
}
