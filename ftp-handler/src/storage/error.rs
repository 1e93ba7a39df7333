//! Storage errors, with the context to act on them. Their FTP replies are chosen in one place
//! in the protocol layer (`session/commands/storage_errors.rs`), not here.

use std::io;

use super::path::{PathError, VirtualPath};

/// Why a storage operation failed. Paths are virtual: host paths never appear.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Nothing exists at the path.
    #[error("{path}: not found")]
    NotFound {
        /// The path that was looked up.
        path: VirtualPath,
    },
    /// The host refused access, or the path leads outside the home (symlink out, loop).
    #[error("{path}: permission denied")]
    PermissionDenied {
        /// The path that was refused.
        path: VirtualPath,
    },
    /// The argument cannot name a file (NUL, line break, too long, reserved name).
    #[error("invalid file name: {reason}")]
    InvalidName {
        /// What was wrong with it.
        #[from]
        reason: PathError,
    },
    /// The argument names a file reserved for the server's own use (upload temp files).
    #[error("{path}: reserved file name")]
    ReservedName {
        /// The refused path.
        path: VirtualPath,
    },
    /// Something already exists where a new entry was to be created.
    #[error("{path}: already exists")]
    AlreadyExists {
        /// The path that is taken.
        path: VirtualPath,
    },
    /// A directory was expected.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path that is not a directory.
        path: VirtualPath,
    },
    /// A file was expected but the path is a directory.
    #[error("{path}: is a directory")]
    IsADirectory {
        /// The path that is a directory.
        path: VirtualPath,
    },
    /// The directory still has entries.
    #[error("{path}: directory not empty")]
    DirectoryNotEmpty {
        /// The directory that could not be removed.
        path: VirtualPath,
    },
    /// A restart offset beyond the end of the file.
    #[error("{path}: offset {offset} is beyond the file size {size}")]
    BadOffset {
        /// The file concerned.
        path: VirtualPath,
        /// The offset asked for.
        offset: u64,
        /// The file's current size.
        size: u64,
    },
    /// Writing would take the user over the byte or file limit.
    #[error("quota exceeded: {usage} of {limit} bytes used")]
    QuotaExceeded {
        /// Bytes in use (committed plus in progress).
        usage: u64,
        /// The user's limit in bytes.
        limit: u64,
    },
    /// Creating a file would take the user over the file-count limit.
    #[error("file quota exceeded: {files} of {limit} files used")]
    FileQuotaExceeded {
        /// Files in use (committed plus in progress).
        files: u64,
        /// The user's limit in files.
        limit: u64,
    },
    /// The quota cannot be checked right now (the shared quota store is unreachable).
    #[error("quota cannot be checked: {reason}")]
    QuotaUnavailable {
        /// Why: the store unreachable, or this session's lease run out or lost.
        reason: &'static str,
    },
    /// Another upload to the same file is in progress.
    #[error("{path}: busy with another upload")]
    Busy {
        /// The file being uploaded elsewhere.
        path: VirtualPath,
    },
    /// The host file system is full.
    #[error("{path}: no space left on device")]
    DiskFull {
        /// The file being written.
        path: VirtualPath,
    },
    /// The upload was already rolled back (after a refused write) and cannot continue.
    #[error("{path}: upload already ended")]
    UploadEnded {
        /// The upload's target.
        path: VirtualPath,
    },
    /// The backend cannot do this (for example APPE where it cannot append).
    #[error("{path}: {operation} is not supported by this storage")]
    Unsupported {
        /// The path concerned.
        path: VirtualPath,
        /// What was asked.
        operation: &'static str,
    },
    /// The object store failed or could not be reached.
    #[error("{path}: object storage: {message}")]
    Backend {
        /// The path being worked on.
        path: VirtualPath,
        /// What the store said (never sent to the client).
        message: String,
    },
    /// Any other local I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The path being worked on.
        path: VirtualPath,
        /// The underlying error.
        source: io::Error,
    },
}

impl StorageError {
    /// Classifies a host I/O error met while working on `path`.
    pub fn from_io(path: &VirtualPath, error: io::Error) -> StorageError {
        let path = path.clone();
        if let Some(code) = error.raw_os_error() {
            match code {
                libc::ENOENT => return StorageError::NotFound { path },
                libc::EACCES | libc::EPERM | libc::ELOOP | libc::EXDEV | libc::EROFS => {
                    return StorageError::PermissionDenied { path };
                }
                libc::EEXIST => return StorageError::AlreadyExists { path },
                libc::ENOTDIR => return StorageError::NotADirectory { path },
                libc::EISDIR => return StorageError::IsADirectory { path },
                libc::ENOTEMPTY => return StorageError::DirectoryNotEmpty { path },
                libc::ENOSPC | libc::EDQUOT => return StorageError::DiskFull { path },
                libc::ENAMETOOLONG => {
                    return StorageError::InvalidName {
                        reason: PathError::PathTooLong {
                            len: path.as_str().len(),
                        },
                    };
                }
                libc::EINVAL => return StorageError::PermissionDenied { path },
                _ => {}
            }
        }
        match error.kind() {
            // cap-std reports an escape attempt (symlink out, `..` through a link) this way.
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied { path },
            io::ErrorKind::NotFound => StorageError::NotFound { path },
            io::ErrorKind::AlreadyExists => StorageError::AlreadyExists { path },
            _ => StorageError::Io {
                path,
                source: error,
            },
        }
    }

    /// Recovers the storage error carried by an [`io::Error`] from [`Upload`](super::Upload)'s
    /// `std::io::Write` implementation, or classifies a plain one.
    pub fn from_write_error(path: &VirtualPath, error: io::Error) -> StorageError {
        if !error
            .get_ref()
            .is_some_and(|inner| inner.is::<StorageError>())
        {
            return StorageError::from_io(path, error);
        }
        match error
            .into_inner()
            .map(|inner| inner.downcast::<StorageError>())
        {
            Some(Ok(storage)) => *storage,
            _ => StorageError::UploadEnded { path: path.clone() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> VirtualPath {
        VirtualPath::parse("/dir/file").expect("valid")
    }

    #[test]
    fn recovers_storage_errors_wrapped_in_io_errors() {
        let wrapped = io::Error::other(StorageError::QuotaExceeded { usage: 1, limit: 2 });
        assert!(matches!(
            StorageError::from_write_error(&path(), wrapped),
            StorageError::QuotaExceeded { usage: 1, limit: 2 }
        ));
        let plain = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(matches!(
            StorageError::from_write_error(&path(), plain),
            StorageError::DiskFull { .. }
        ));
    }
}
