//! Per-user disk quotas that hold in every concurrency mode.
//!
//! - [`store`]: [`QuotaStore`], the usage records in the server's state directory (never in a
//!   home), shared by threads, tasks and forked processes through `flock`.
//! - [`hook`]: [`UserQuota`], a session's attachment; the [`QuotaHook`](crate::storage::QuotaHook)
//!   its jail asks before any byte or file lands, and tells when any leaves.
//! - [`shared`]: [`SharedQuotaStore`], the same in PostgreSQL when the users are there, exact
//!   across daemons through renewed leases.
//! - [`record`]: the fixed-size binary record of one user.
//! - [`error`]: [`QuotaError`], why a store operation failed.
//!
//! Usage is committed plus in-progress bytes: the storage layer reserves each chunk before
//! writing it, so a check and its count are one step under the user's record lock and several
//! sessions of one user, in any process, can never pass the limit together. A session that dies
//! without detaching leaves its count in the record; the next session of the user to find
//! itself alone rebuilds the usage from disk, which is exact then since nothing is in flight.
//!
//! ```
//! use std::sync::Arc;
//! use wharf_ftp::quota::{QuotaLimits, QuotaStore};
//! use wharf_ftp::storage::{LocalJail, StorageError, UploadMode, VirtualPath};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let state = tempfile::tempdir()?;
//! let home = tempfile::tempdir()?;
//! let store = QuotaStore::open(state.path())?;
//! let jail = LocalJail::open(home.path())?;
//! let limits = QuotaLimits { bytes: Some(8), files: None };
//! let quota = Arc::new(store.attach("alice", limits, &jail)?);
//! let jail = jail.with_quota(quota.clone());
//! let mut upload = jail.begin_upload(&VirtualPath::parse("/a")?, UploadMode::Replace)?;
//! upload.write_all(b"12345678")?;
//! upload.commit()?;
//! let mut upload = jail.begin_upload(&VirtualPath::parse("/b")?, UploadMode::Replace)?;
//! let refused = upload.write_all(b"9");
//! assert!(matches!(refused, Err(StorageError::QuotaExceeded { usage: 8, limit: 8 })));
//! assert_eq!(quota.usage()?.bytes, 8);
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod hook;
mod record;
pub mod shared;
pub mod store;

#[cfg(test)]
mod tests;

pub use error::QuotaError;
pub use hook::UserQuota;
pub use shared::{SharedQuota, SharedQuotaStore};
pub use store::{AttachedQuota, QUOTA_DIR, QuotaLimits, QuotaStore, Quotas, UsageReport};
