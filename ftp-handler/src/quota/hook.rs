//! [`UserQuota`]: one session's handle on its user's usage record, and the [`QuotaHook`] the
//! session's jail reports every change to.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use nix::fcntl::Flock;

use super::error::QuotaError;
use super::record::{Record, Stored};
use super::store::{AttachedQuota, QuotaLimits, lock_record, read, usage_of, write};
use crate::storage::{QuotaHook, StorageError, Usage, VirtualPath};

/// A session's attachment to its user's usage record (see
/// [`QuotaStore::attach`](super::QuotaStore::attach)); detaches when dropped.
#[derive(Debug)]
pub struct UserQuota {
    /// The user, for logs.
    user: String,
    /// The limits as of login.
    limits: QuotaLimits,
    /// The record file. The mutex keeps this session's own threads apart: a `flock` does not
    /// exclude holders of the same open file.
    record: Mutex<File>,
    /// The record's path, for errors.
    record_path: PathBuf,
    /// The shared lock on the user's sessions file that says this session is alive; the
    /// kernel drops it if the process dies.
    _lease: Flock<File>,
}

impl UserQuota {
    /// Wraps an attached session's files (the record already counts the session).
    pub(crate) fn new(
        user: String,
        limits: QuotaLimits,
        record: File,
        record_path: PathBuf,
        lease: Flock<File>,
    ) -> UserQuota {
        UserQuota {
            user,
            limits,
            record: Mutex::new(record),
            record_path,
            _lease: lease,
        }
    }

    /// The user this session belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The limits checked (as of login).
    pub fn limits(&self) -> QuotaLimits {
        self.limits
    }

    /// The user's usage now, across every session: committed plus in progress.
    pub fn usage(&self) -> Result<Usage, QuotaError> {
        self.change(|_| Ok::<_, QuotaError>(false))
            .map(|record| usage_of(&record))
    }

    /// Runs `decide` on the record under the lock; writes it back if `decide` says it changed.
    /// Returns the record as left. Store failures are logged here, where the user is known.
    fn change<E: From<QuotaError>>(
        &self,
        decide: impl FnOnce(&mut Record) -> Result<bool, E>,
    ) -> Result<Record, E> {
        let file = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        let logged = |error: QuotaError| {
            tracing::error!(user = %self.user, %error, "quota store failed");
            error
        };
        let locked = lock_record(&file, &self.record_path).map_err(logged)?;
        let mut record = match read(&locked, &self.record_path).map_err(logged)? {
            Stored::Valid(record) => record,
            stored => {
                // Never guess: a lost count could let the user past the limit.
                let reason = format!("usage record unusable ({stored:?})");
                let error = QuotaError::io(&self.record_path, io::Error::other(reason));
                return Err(logged(error).into());
            }
        };
        if decide(&mut record)? {
            write(&record, &locked, &self.record_path).map_err(logged)?;
        }
        Ok(record)
    }
}

impl From<QuotaError> for StorageError {
    /// A store failure refuses the operation as a local error (451), naming no host path.
    fn from(_: QuotaError) -> StorageError {
        StorageError::Io {
            path: VirtualPath::root(),
            source: io::Error::other("quota store unavailable"),
        }
    }
}

impl QuotaHook for UserQuota {
    fn reserve(&self, bytes: u64, files: u64) -> Result<(), StorageError> {
        let limits = self.limits;
        self.change(|record| {
            if let Some(limit) = limits.bytes
                && bytes > 0
                && record.bytes.saturating_add(bytes) > limit
            {
                return Err(StorageError::QuotaExceeded {
                    usage: record.bytes,
                    limit,
                });
            }
            if let Some(limit) = limits.files
                && files > 0
                && record.files.saturating_add(files) > limit
            {
                return Err(StorageError::FileQuotaExceeded {
                    files: record.files,
                    limit,
                });
            }
            record.bytes = record.bytes.saturating_add(bytes);
            record.files = record.files.saturating_add(files);
            Ok(bytes > 0 || files > 0)
        })
        .map(drop)
    }

    fn release(&self, bytes: u64, files: u64) {
        let released = self.change(|record| {
            record.bytes = record.bytes.saturating_sub(bytes);
            record.files = record.files.saturating_sub(files);
            Ok::<_, QuotaError>(bytes > 0 || files > 0)
        });
        if let Err(error) = released {
            // Counting too much is the safe side; the next idle attach recounts the home.
            tracing::error!(user = %self.user, %error, bytes, files, "cannot release quota usage");
        }
    }
}

impl AttachedQuota for UserQuota {
    fn user(&self) -> &str {
        UserQuota::user(self)
    }

    fn limits(&self) -> QuotaLimits {
        UserQuota::limits(self)
    }

    fn usage(&self) -> Result<Usage, QuotaError> {
        UserQuota::usage(self)
    }
}

impl Drop for UserQuota {
    fn drop(&mut self) {
        let detached = self.change(|record| {
            record.sessions = record.sessions.saturating_sub(1);
            Ok::<_, QuotaError>(true)
        });
        if let Err(error) = detached {
            tracing::error!(user = %self.user, %error, "cannot detach from the quota record");
        }
    }
}
