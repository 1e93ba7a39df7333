//! Opening a user's storage as the configuration says, waiting for a storage future from
//! blocking code (the quota store counts usage while it holds a file lock), and the reverse:
//! running blocking storage work from async code.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use super::backend::Jail;
use super::error::StorageError;
use super::local::LocalJail;
use super::object::{self, ObjectStore};
use super::path::{PathError, VirtualPath};
use crate::config::storage::{BackendKind, StorageConfig};

/// The process's budget for S3 upload part buffers, sized by the first configuration seen.
static UPLOAD_BUFFERS: OnceLock<Arc<Semaphore>> = OnceLock::new();

/// The storage of a user whose `home` the users file gives: a local directory (which must
/// exist), or with `backend = "s3"` a key prefix in the bucket. `durable` is
/// `server.durable_uploads` (object storage acknowledges only stored objects anyway).
///
/// An S3 home gets an operator of its own (cheap: a configuration and its layers); every
/// operator sends through the one process-wide HTTP client and its connection pool, installed
/// by [`object::install_http_transport`].
pub fn open_home(config: &StorageConfig, home: &Path, durable: bool) -> Result<Jail, StorageError> {
    match config.backend {
        // A relative home is a key prefix, only meaningful in object storage: never a
        // directory found from the daemon's working directory.
        BackendKind::Local if !home.is_absolute() => Err(StorageError::PermissionDenied {
            path: VirtualPath::root(),
        }),
        BackendKind::Local => Ok(Arc::new(
            LocalJail::open(home)?.with_durable_uploads(durable),
        )),
        BackendKind::S3 => {
            let home = home.to_str().ok_or(PathError::BadName)?;
            let buffers = UPLOAD_BUFFERS.get_or_init(|| {
                let mib = usize::try_from(config.upload_buffer_mib).unwrap_or(usize::MAX);
                Arc::new(Semaphore::new(mib.min(Semaphore::MAX_PERMITS)))
            });
            let operator = object::operator(config)?;
            Ok(Arc::new(ObjectStore::open(
                operator,
                config,
                home,
                Arc::clone(buffers),
            )?))
        }
    }
}

/// Runs a storage future to its end from blocking code: on the current runtime's handle when
/// called from one of its blocking threads, else on a runtime made for the call. Never call it
/// from async code (the handle refuses to block a runtime thread).
pub fn wait<T>(future: impl Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StorageError::Io {
                path: super::path::VirtualPath::root(),
                source,
            })?
            .block_on(future),
    }
}

/// Runs a blocking storage operation off the async threads (tokio's blocking pool).
pub(crate) async fn blocking<T, F>(operation: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    tokio::task::spawn_blocking(operation)
        .await
        .unwrap_or_else(|join| Err(task_lost(join)))
}

/// A blocking task that panicked or was cancelled: a local error.
pub(crate) fn task_lost(reason: impl std::fmt::Display) -> StorageError {
    StorageError::Io {
        path: VirtualPath::root(),
        source: std::io::Error::other(format!("storage task failed: {reason}")),
    }
}
