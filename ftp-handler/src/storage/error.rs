//! Storage errors and the single place that maps them to FTP replies.

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
    /// The FTP reply code and message for this error; messages name only virtual paths.
    pub fn reply(&self) -> (u16, String) {
        match self {
            StorageError::NotFound { path } => (550, format!("{path}: No such file or directory.")),
            StorageError::PermissionDenied { path } => (550, format!("{path}: Permission denied.")),
            StorageError::InvalidName { reason } => {
                (553, format!("File name not allowed: {reason}."))
            }
            StorageError::ReservedName { path } => (553, format!("{path}: File name not allowed.")),
            StorageError::AlreadyExists { path } => (550, format!("{path}: File exists.")),
            StorageError::NotADirectory { path } => (550, format!("{path}: Not a directory.")),
            StorageError::IsADirectory { path } => (550, format!("{path}: Is a directory.")),
            StorageError::DirectoryNotEmpty { path } => {
                (550, format!("{path}: Directory not empty."))
            }
            StorageError::BadOffset { offset, size, .. } => (
                554,
                format!("Restart offset {offset} is beyond the file size {size}."),
            ),
            StorageError::QuotaExceeded { usage, limit } => (
                552,
                format!("Quota exceeded: {usage} of {limit} bytes used."),
            ),
            StorageError::FileQuotaExceeded { files, limit } => (
                552,
                format!("File quota exceeded: {files} of {limit} files used."),
            ),
            StorageError::Busy { path } => (450, format!("{path}: File busy, try again later.")),
            StorageError::DiskFull { .. } => (452, "Insufficient storage space.".to_owned()),
            StorageError::UploadEnded { .. } | StorageError::Io { .. } => {
                (451, "Local error in processing.".to_owned())
            }
        }
    }

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
    fn maps_each_error_to_its_ftp_code() {
        let p = path();
        let table: Vec<(StorageError, u16)> = vec![
            (StorageError::NotFound { path: p.clone() }, 550),
            (StorageError::PermissionDenied { path: p.clone() }, 550),
            (PathError::Nul.into(), 553),
            (StorageError::ReservedName { path: p.clone() }, 553),
            (StorageError::AlreadyExists { path: p.clone() }, 550),
            (StorageError::NotADirectory { path: p.clone() }, 550),
            (StorageError::IsADirectory { path: p.clone() }, 550),
            (StorageError::DirectoryNotEmpty { path: p.clone() }, 550),
            (
                StorageError::BadOffset {
                    path: p.clone(),
                    offset: 9,
                    size: 3,
                },
                554,
            ),
            (
                StorageError::QuotaExceeded {
                    usage: 10,
                    limit: 20,
                },
                552,
            ),
            (
                StorageError::FileQuotaExceeded {
                    files: 10,
                    limit: 10,
                },
                552,
            ),
            (StorageError::Busy { path: p.clone() }, 450),
            (StorageError::DiskFull { path: p.clone() }, 452),
            (StorageError::UploadEnded { path: p.clone() }, 451),
            (
                StorageError::Io {
                    path: p.clone(),
                    source: io::Error::other("boom"),
                },
                451,
            ),
        ];
        for (error, code) in table {
            let (got, message) = error.reply();
            assert_eq!(got, code, "{error:?}");
            assert!(!message.contains(['\r', '\n']), "{message:?}");
        }
    }

    #[test]
    fn quota_message_states_usage_and_limit() {
        let (code, message) = StorageError::QuotaExceeded {
            usage: 1234,
            limit: 5678,
        }
        .reply();
        assert_eq!(code, 552);
        assert!(
            message.contains("1234") && message.contains("5678"),
            "{message}"
        );
    }

    #[test]
    fn file_quota_message_states_usage_and_limit() {
        let (code, message) = StorageError::FileQuotaExceeded {
            files: 321,
            limit: 321,
        }
        .reply();
        assert_eq!(code, 552);
        assert!(message.contains("321 of 321 files"), "{message}");
    }

    #[test]
    fn classifies_host_errors_by_errno() {
        let p = path();
        let code = |errno| {
            StorageError::from_io(&p, io::Error::from_raw_os_error(errno))
                .reply()
                .0
        };
        assert_eq!(code(libc::ENOENT), 550);
        assert_eq!(code(libc::EACCES), 550);
        assert_eq!(code(libc::ELOOP), 550);
        assert_eq!(code(libc::ENOSPC), 452);
        assert_eq!(code(libc::ENAMETOOLONG), 553);
        assert_eq!(code(libc::EIO), 451);
        let escape = io::Error::new(io::ErrorKind::PermissionDenied, "a path led outside");
        assert!(matches!(
            StorageError::from_io(&p, escape),
            StorageError::PermissionDenied { .. }
        ));
    }

    #[test]
    fn never_reveals_io_details_or_host_paths() {
        let error = StorageError::Io {
            path: path(),
            source: io::Error::other("/srv/ftp/home/alice/secret failed"),
        };
        assert!(!error.reply().1.contains("/srv"));
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
