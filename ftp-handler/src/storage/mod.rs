//! Storage: the user's files behind one async trait, on the local disk or in object storage.
//!
//! - [`backend`]: [`StorageBackend`], what the session asks of any storage, and [`Jail`], the
//!   `Arc<dyn StorageBackend>` a session holds; uploads are [`UploadSink`]s.
//! - [`local`]: [`LocalJail`], the home directory behind a `cap-std` capability (the default).
//! - [`object`]: [`ObjectStore`], S3-compatible object storage through OpenDAL, the home a
//!   key prefix.
//! - [`open`]: [`open_home`], the backend for a user as the configuration says.
//! - [`path`]: [`VirtualPath`], the session's view of paths (home = `/`), pure resolution.
//! - [`quota`]: [`QuotaHook`], how a quota layer sees and refuses usage changes.
//! - [`error`]: [`StorageError`]; the FTP replies for it are chosen in the protocol layer.
//! - [`entry`]: [`Entry`], the facts every listing format is built from.
//! - [`socket_body`]: [`SocketBody`], a download's body on a plain TCP connection.
//!
//! ```
//! use wharf_ftp::storage::{LocalJail, UploadMode, VirtualPath};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let home = tempfile::tempdir()?;
//! let jail = LocalJail::open(home.path())?;
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

pub mod backend;
pub mod entry;
pub mod error;
pub mod local;
mod names;
pub mod object;
pub mod open;
pub mod path;
pub mod quota;
pub mod socket_body;

pub use backend::{
    Capabilities, Chunk, ChunkBuffer, CommitInfo, Download, DownloadBody, Jail, LocalFile,
    StorageBackend, UploadMode, UploadSink, WritePlacement,
};
pub use entry::{Entry, EntryKind};
pub use error::StorageError;
pub use local::{LocalJail, Upload};
pub use object::ObjectStore;
pub use open::{open_home, wait};
pub use path::{PathError, VirtualPath};
pub use quota::{NoQuota, QuotaHook, Usage};
pub use socket_body::SocketBody;
