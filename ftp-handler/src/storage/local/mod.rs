//! The local backend: a user's home directory behind a `cap-std` capability.
//!
//! - [`jail`]: [`LocalJail`], every file operation confined to the home (blocking calls).
//! - [`upload`]: [`Upload`], atomic replace, resumable partial files, exclusive per-file lock.
//! - `backend`: the jail as a [`StorageBackend`](crate::storage::StorageBackend), its blocking
//!   calls on tokio's blocking pool and `sendfile` for downloads.
//! - `lock`, `sweep`: upload locks and the removal of dead uploads' temp files.

mod backend;
pub mod jail;
pub(crate) mod lock;
mod sweep;
pub mod upload;

pub use jail::LocalJail;
pub use upload::Upload;
