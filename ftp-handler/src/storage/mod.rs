//! Storage: the user's files behind a capability jail.
//!
//! - [`path`]: [`VirtualPath`], the session's view of paths (home = `/`), pure resolution.
//! - [`jail`]: [`Jail`], every file operation confined to the home through `cap-std`.
//! - [`upload`]: [`Upload`], atomic replace, resumable partial files, exclusive per-file lock.
//! - [`quota`]: [`QuotaHook`], how a quota layer sees and refuses usage changes.
//! - [`error`]: [`StorageError`] and its single mapping to FTP replies.
//! - [`entry`]: [`Entry`], the facts every listing format is built from.
//!
//! All calls are synchronous; the session runs slow ones (uploads, listings, reads) on a
//! blocking thread. Every error maps to its FTP reply through [`StorageError::reply`].
//!
//! ```
//! use wharf_ftp::storage::{Jail, UploadMode, VirtualPath};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let home = tempfile::tempdir()?;
//! let jail = Jail::open(home.path())?;
//! let cwd = VirtualPath::root();
//! let target = VirtualPath::resolve(&cwd, "../../notes.txt")?; // `..` stops at the home
//! let mut upload = jail.begin_upload(&target, UploadMode::Replace)?;
//! upload.write_all(b"hello")?;
//! assert_eq!(upload.commit()?.size, 5);
//! let entries = jail.list(&cwd)?;
//! let line = wharf_ftp::listing::ls_line(&entries[0], "alice", std::time::SystemTime::now());
//! assert!(line.ends_with(" notes.txt\r\n"));
//! # Ok(())
//! # }
//! ```

pub mod entry;
pub mod error;
pub mod jail;
mod lock;
mod names;
pub mod path;
pub mod quota;
mod sweep;
pub mod upload;

pub use entry::{Entry, EntryKind};
pub use error::StorageError;
pub use jail::Jail;
pub use path::{PathError, VirtualPath};
pub use quota::{NoQuota, QuotaHook, Usage};
pub use upload::{CommitInfo, Upload, UploadMode};
