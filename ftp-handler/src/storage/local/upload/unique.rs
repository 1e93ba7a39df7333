//! STOU: a new file under a name nobody uses yet.

use super::{Strategy, Upload};
use crate::storage::error::StorageError;
use crate::storage::local::jail::LocalJail;
use crate::storage::local::lock::{self, TargetAccess};
use crate::storage::names;
use crate::storage::path::VirtualPath;

/// STOU: creates a file under a free name derived from `path` (`name`, `name.1`, ...).
pub(super) fn begin_unique(jail: LocalJail, path: &VirtualPath) -> Result<Upload, StorageError> {
    let base = match jail.metadata(path) {
        Ok(entry) if entry.is_dir() => path.join("upload")?,
        _ => path.clone(),
    };
    let (parent, candidates) = names::unique_candidates(&base);
    let access = TargetAccess {
        write: true,
        create: true,
    };
    for name in candidates {
        let candidate = parent.join(&name)?;
        let host = jail.host_path(&candidate)?;
        if jail.root().symlink_metadata(&host).is_ok() {
            continue;
        }
        match lock::lock_target(jail.root(), jail.quota_hook(), &candidate, &host, access) {
            Ok(locked) if locked.created => {
                let strategy = Strategy::InPlace {
                    created: true,
                    start_len: 0,
                    tail: None,
                };
                return Ok(Upload {
                    jail,
                    path: candidate,
                    host,
                    file: locked.file,
                    strategy,
                    written: 0,
                    ahead: 0,
                    ended: false,
                });
            }
            // Someone else created that name between our check and our open: try the next.
            Ok(_) | Err(StorageError::Busy { .. }) | Err(StorageError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Err(StorageError::AlreadyExists { path: base })
}
