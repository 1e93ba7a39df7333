//! Exclusive upload locks: an advisory `flock` on the target file's inode, taken without
//! waiting (a second upload to the same file is told the file is busy), and checked against the
//! path afterwards so that a file replaced in between is not mistaken for the one locked.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::storage::error::StorageError;
use crate::storage::names;
use crate::storage::path::VirtualPath;
use crate::storage::quota::QuotaHook;

/// How many times to retry when the path changes under us before answering "busy".
const LOCK_ATTEMPTS: usize = 8;

/// A locked upload target.
pub(crate) struct LockedTarget {
    /// The target, opened and exclusively locked.
    pub(crate) file: Flock<File>,
    /// Whether this call created the file (it did not exist before).
    pub(crate) created: bool,
    /// The file's size once locked.
    pub(crate) size: u64,
}

/// What [`lock_target`] may do.
#[derive(Clone, Copy)]
pub(crate) struct TargetAccess {
    /// Open the target for writing (in-place uploads) rather than only to hold its lock.
    pub(crate) write: bool,
    /// Create the target if it is missing.
    pub(crate) create: bool,
}

/// Opens `host` (creating it if allowed and missing) and locks it exclusively.
pub(crate) fn lock_target(
    root: &Dir,
    quota: &dyn QuotaHook,
    path: &VirtualPath,
    host: &Path,
    access: TargetAccess,
) -> Result<LockedTarget, StorageError> {
    let to_storage = |error| StorageError::from_io(path, error);
    for _ in 0..LOCK_ATTEMPTS {
        let mut existing = OpenOptions::new();
        existing
            .read(true)
            .write(access.write)
            .custom_flags(libc::O_NONBLOCK);
        match root.open_with(host, &existing) {
            Ok(file) => {
                let metadata = file.metadata().map_err(to_storage)?;
                if metadata.is_dir() {
                    return Err(StorageError::IsADirectory { path: path.clone() });
                }
                if !metadata.is_file() {
                    return Err(StorageError::PermissionDenied { path: path.clone() });
                }
                let file = lock_exclusive(file.into_std(), path)?;
                if still_at_path(root, host, &file) {
                    let size = file.metadata().map_err(to_storage)?.len();
                    return Ok(LockedTarget {
                        file,
                        created: false,
                        size,
                    });
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && access.create => {
                quota.reserve(0, 1)?;
                let mut fresh = OpenOptions::new();
                fresh.read(true).write(true).create_new(true);
                match root.open_with(host, &fresh) {
                    Ok(file) => {
                        // The file exists now: it stays counted even if someone else wins it.
                        let file = lock_exclusive(file.into_std(), path)?;
                        if still_at_path(root, host, &file) {
                            return Ok(LockedTarget {
                                file,
                                created: true,
                                size: 0,
                            });
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        quota.release(0, 1);
                        let is_link = root
                            .symlink_metadata(host)
                            .is_ok_and(|metadata| metadata.is_symlink());
                        if is_link {
                            // A dangling (or outside-pointing) symlink: never create through it.
                            return Err(StorageError::PermissionDenied { path: path.clone() });
                        }
                    }
                    Err(error) => {
                        quota.release(0, 1);
                        return Err(to_storage(error));
                    }
                }
            }
            Err(error) => return Err(to_storage(error)),
        }
    }
    Err(StorageError::Busy { path: path.clone() })
}

/// Creates a fresh, locked temp file beside `target_host` with the given permission bits.
/// Returns the file and its host path.
pub(crate) fn create_temp(
    root: &Dir,
    path: &VirtualPath,
    target_host: &Path,
    mode: u32,
) -> Result<(Flock<File>, std::path::PathBuf), StorageError> {
    let parent = target_host.parent().unwrap_or(Path::new("."));
    for _ in 0..LOCK_ATTEMPTS {
        let temp_host = parent.join(names::temp_name());
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(mode & 0o777);
        match root.open_with(&temp_host, &options) {
            Ok(file) => {
                let file = lock_exclusive(file.into_std(), path)?;
                return Ok((file, temp_host));
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(StorageError::from_io(path, error)),
        }
    }
    Err(StorageError::Busy { path: path.clone() })
}

/// Removes the temp files of dead uploads (unlocked ones) in directory `dir_host`; returns
/// whether the directory then holds nothing else, so that removing it may be retried.
pub(crate) fn remove_stale_temp_files(root: &Dir, dir_host: &Path) -> bool {
    let Ok(entries) = root.read_dir(dir_host) else {
        return false;
    };
    let mut only_stale_temps = true;
    for dir_entry in entries {
        let Ok(dir_entry) = dir_entry else {
            return false;
        };
        let name = dir_entry.file_name();
        let is_temp = name.to_str().is_some_and(names::is_reserved);
        let temp_host = dir_host.join(&name);
        let is_stale = is_temp
            && root
                .open(&temp_host)
                .ok()
                .and_then(|file| Flock::lock(file.into_std(), FlockArg::LockExclusiveNonblock).ok())
                .is_some();
        if !(is_stale && root.remove_file(&temp_host).is_ok()) {
            only_stale_temps = false;
        }
    }
    only_stale_temps
}

/// Takes the exclusive lock without waiting; a lock held elsewhere means "busy".
fn lock_exclusive(file: File, path: &VirtualPath) -> Result<Flock<File>, StorageError> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(locked),
        Err((_, Errno::EWOULDBLOCK)) => Err(StorageError::Busy { path: path.clone() }),
        Err((_, errno)) => Err(StorageError::from_io(path, std::io::Error::from(errno))),
    }
}

/// Whether `host` still names the inode `file` is open on.
pub(crate) fn still_at_path(root: &Dir, host: &Path, file: &File) -> bool {
    use cap_std::fs::MetadataExt as _;
    match (root.metadata(host), file.metadata()) {
        (Ok(at_path), Ok(open)) => at_path.dev() == open.dev() && at_path.ino() == open.ino(),
        _ => false,
    }
}
