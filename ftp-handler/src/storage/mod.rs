//! Storage: the user's files behind a capability jail.
//!
//! - [`path`]: [`VirtualPath`], the session's view of paths (home = `/`), pure resolution.
//! - [`jail`]: [`Jail`], every file operation confined to the home through `cap-std`.
//! - [`upload`]: [`Upload`], atomic replace, resumable partial files, exclusive per-file lock.
//! - [`quota`]: [`QuotaHook`], how a quota layer sees and refuses usage changes.
//! - [`error`]: [`StorageError`] and its single mapping to FTP replies.
//! - [`entry`]: [`Entry`], the facts every listing format is built from.

pub mod entry;
pub mod error;
pub mod jail;
mod lock;
mod names;
pub mod path;
pub mod quota;
pub mod upload;

pub use entry::{Entry, EntryKind};
pub use error::StorageError;
pub use jail::Jail;
pub use path::{PathError, VirtualPath};
pub use quota::{NoQuota, QuotaHook, Usage};
pub use upload::{CommitInfo, Upload, UploadMode};
