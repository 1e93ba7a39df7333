//! What the jail tells about one file: the input of every listing format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::fs::{Metadata, MetadataExt};

/// The type of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file (or a symlink inside the home that leads to one).
    File,
    /// A directory (or a symlink inside the home that leads to one).
    Dir,
    /// A symlink whose target is missing or outside the home: nothing about the target is told.
    Symlink,
}

/// One file as seen through the jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (`/` for the home itself).
    pub name: String,
    /// File, directory, or unresolvable symlink.
    pub kind: EntryKind,
    /// Whether the name is a symlink (resolved inside the home unless `kind` is `Symlink`).
    pub is_symlink: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
    /// Permission bits (`0o7777` part of the Unix mode).
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// Device number, for the MLSx `unique` fact.
    pub dev: u64,
    /// Inode number, for the MLSx `unique` fact.
    pub inode: u64,
}

impl Entry {
    /// Builds an entry from host metadata; `is_symlink` says whether `name` itself is a link.
    pub(crate) fn from_metadata(name: String, metadata: &Metadata, is_symlink: bool) -> Entry {
        let kind = if metadata.is_dir() {
            EntryKind::Dir
        } else if metadata.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::File
        };
        Entry {
            name,
            kind,
            is_symlink,
            size: metadata.size(),
            modified: modified_time(metadata),
            mode: metadata.mode() & 0o7777,
            nlink: metadata.nlink(),
            dev: metadata.dev(),
            inode: metadata.ino(),
        }
    }

    /// Whether this is a directory (or a link to one inside the home).
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Whether this is a regular file (or a link to one inside the home).
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }
}

/// The modification time, also for times before 1970 that `SystemTime` conversions may refuse.
fn modified_time(metadata: &Metadata) -> SystemTime {
    let seconds = metadata.mtime();
    let nanos = u32::try_from(metadata.mtime_nsec()).unwrap_or(0);
    let time = if seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(seconds.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(seconds.unsigned_abs()))
            .and_then(|time| time.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    time.unwrap_or(UNIX_EPOCH)
}
