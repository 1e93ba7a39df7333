//! Why the quota store failed.

use std::io;
use std::path::PathBuf;

use crate::storage::StorageError;

/// Why a quota store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// A file of the store could not be opened, locked, read or written.
    #[error("quota store {}: {source}", path.display())]
    Io {
        /// The store file or directory concerned.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The user name cannot name a store file (it would not pass the users file's rules).
    #[error("{name:?} is not a valid user name for the quota store")]
    BadUserName {
        /// The refused name.
        name: String,
    },
    /// The user's home could not be opened or counted.
    #[error("the home of {user} cannot be used: {source}")]
    Home {
        /// The user whose home it is.
        user: String,
        /// What the storage layer reported.
        #[source]
        source: StorageError,
    },
    /// An exact rebuild needs the user idle, and sessions of the user are running.
    #[error("{user} has sessions running; rebuild when they have ended")]
    Busy {
        /// The user.
        user: String,
    },
}

impl QuotaError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> QuotaError {
        QuotaError::Io {
            path: path.into(),
            source,
        }
    }
}
