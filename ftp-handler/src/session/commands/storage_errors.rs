//! The one place where storage errors become FTP replies (RFC 959 codes, as the reference
//! servers use them). The storage layer only says what went wrong; the protocol decides what
//! the client hears, and never a host path or a backend's own message.

use crate::storage::StorageError;

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
            StorageError::QuotaUnavailable { reason } => (
                451,
                format!("Quota cannot be checked ({reason}), try again later."),
            ),
            StorageError::Busy { path } => (450, format!("{path}: File busy, try again later.")),
            StorageError::DiskFull { .. } => (452, "Insufficient storage space.".to_owned()),
            StorageError::Unsupported { operation, .. } => (
                504,
                format!("{operation} is not supported by this server's storage."),
            ),
            StorageError::UploadEnded { .. }
            | StorageError::Backend { .. }
            | StorageError::Io { .. } => (451, "Local error in processing.".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use crate::storage::{PathError, StorageError, VirtualPath};

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
            (
                StorageError::QuotaUnavailable {
                    reason: "quota store unavailable",
                },
                451,
            ),
            (StorageError::Busy { path: p.clone() }, 450),
            (StorageError::DiskFull { path: p.clone() }, 452),
            (StorageError::UploadEnded { path: p.clone() }, 451),
            (
                StorageError::Unsupported {
                    path: p.clone(),
                    operation: "APPE",
                },
                504,
            ),
            (
                StorageError::Backend {
                    path: p.clone(),
                    message: "503 Slow Down".into(),
                },
                451,
            ),
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
}
