//! OpenDAL errors as storage errors: the kinds a file system also has keep their meaning, the
//! rest is a backend failure whose text goes to the log, never to the client.

use crate::storage::error::StorageError;
use crate::storage::path::VirtualPath;

/// The storage error for an OpenDAL error met while working on `path`.
pub(super) fn backend_error(path: &VirtualPath, error: opendal::Error) -> StorageError {
    let path = path.clone();
    match error.kind() {
        opendal::ErrorKind::NotFound => StorageError::NotFound { path },
        opendal::ErrorKind::PermissionDenied => StorageError::PermissionDenied { path },
        opendal::ErrorKind::AlreadyExists => StorageError::AlreadyExists { path },
        opendal::ErrorKind::IsADirectory => StorageError::IsADirectory { path },
        opendal::ErrorKind::NotADirectory => StorageError::NotADirectory { path },
        _ => {
            tracing::warn!(%path, %error, "object storage request failed");
            StorageError::Backend {
                path,
                message: error.to_string(),
            }
        }
    }
}
