//! The jail: every file operation of one user, confined to the home by a `cap-std` directory
//! capability. The home is opened once with ambient authority; every later access resolves
//! through that handle, so `..`, absolute symlinks and links pointing out are refused by cap-std
//! (`openat2(RESOLVE_BENEATH)` or its own checked walk), never by string comparison.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use super::upload::Upload;
use crate::storage::backend::UploadMode;
use crate::storage::entry::{Entry, EntryKind};
use crate::storage::error::StorageError;
use crate::storage::names;
use crate::storage::path::VirtualPath;
use crate::storage::quota::{NoQuota, QuotaHook, Usage};

/// One user's view of the file system: the home as `/`, nothing outside it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalJail {
    /// The capability on the home; the only way this type reaches files.
    root: Arc<Dir>,
    /// Told of every change in usage; may refuse writes.
    quota: Arc<dyn QuotaHook>,
    /// Whether a committed upload is on stable storage (file and directory entry synced)
    /// before `commit` returns.
    durable: bool,
}

impl LocalJail {
    /// Opens the home directory (which must exist); the only use of ambient authority.
    pub fn open(home: &Path) -> Result<LocalJail, StorageError> {
        let root = Dir::open_ambient_dir(home, ambient_authority())
            .map_err(|error| StorageError::from_io(&VirtualPath::root(), error))?;
        Ok(LocalJail {
            root: Arc::new(root),
            quota: Arc::new(NoQuota),
            durable: true,
        })
    }

    /// The same jail, reporting usage changes to `hook` (the default is [`NoQuota`]).
    pub fn with_quota(mut self, hook: Arc<dyn QuotaHook>) -> LocalJail {
        self.quota = hook;
        self
    }

    /// The same jail, syncing committed uploads to stable storage or not (the default is to
    /// sync: a scratch server may trade that guarantee for speed).
    pub fn with_durable_uploads(mut self, durable: bool) -> LocalJail {
        self.durable = durable;
        self
    }

    /// Whether committed uploads are synced to stable storage.
    pub fn durable_uploads(&self) -> bool {
        self.durable
    }

    /// The quota hook in use.
    pub fn quota(&self) -> &Arc<dyn QuotaHook> {
        &self.quota
    }

    /// Facts about one path; symlinks are followed only while they stay inside the home.
    pub fn metadata(&self, path: &VirtualPath) -> Result<Entry, StorageError> {
        if path.is_root() {
            let metadata = self
                .root
                .dir_metadata()
                .map_err(|error| StorageError::from_io(path, error))?;
            return Ok(Entry::from_metadata("/".to_owned(), &metadata, false));
        }
        let name = path.file_name().unwrap_or("/").to_owned();
        self.entry_at(path, &self.host_path(path)?, name)
    }

    /// The entries of a directory sorted by name (hidden files included, upload temp files and
    /// unaddressable names left out), or the single entry of a file, as `ls` does.
    pub fn list(&self, path: &VirtualPath) -> Result<Vec<Entry>, StorageError> {
        let entry = self.metadata(path)?;
        if entry.kind != EntryKind::Dir {
            return Ok(vec![entry]);
        }
        let host = self.host_path(path)?;
        let entries = self
            .root
            .read_dir(&host)
            .map_err(|error| StorageError::from_io(path, error))?;
        let mut listing = Vec::new();
        for dir_entry in entries {
            let dir_entry = dir_entry.map_err(|error| StorageError::from_io(path, error))?;
            // Names the session could never address (not UTF-8, line breaks) are not shown.
            let Ok(name) = dir_entry.file_name().into_string() else {
                continue;
            };
            if names::is_reserved(&name) || name.contains(['\r', '\n']) {
                continue;
            }
            let Ok(child) = path.join(&name) else {
                continue;
            };
            match self.entry_at(&child, &host.join(&name), name) {
                Ok(entry) => listing.push(entry),
                // Removed while we were listing: it is simply gone.
                Err(StorageError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        listing.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(listing)
    }

    /// Opens a regular file for reading at `offset`; returns the file and its size. An offset
    /// past the end is [`StorageError::BadOffset`].
    pub fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(std::fs::File, u64), StorageError> {
        if path.is_root() {
            return Err(StorageError::IsADirectory { path: path.clone() });
        }
        let host = self.host_path(path)?;
        let mut options = OpenOptions::new();
        // Non-blocking so that a FIFO in the home cannot hang the open; regular files ignore it.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self
            .root
            .open_with(&host, &options)
            .map_err(|error| StorageError::from_io(path, error))?;
        let metadata = file
            .metadata()
            .map_err(|error| StorageError::from_io(path, error))?;
        if metadata.is_dir() {
            return Err(StorageError::IsADirectory { path: path.clone() });
        }
        if !metadata.is_file() {
            return Err(StorageError::PermissionDenied { path: path.clone() });
        }
        let size = metadata.len();
        if offset > size {
            return Err(StorageError::BadOffset {
                path: path.clone(),
                offset,
                size,
            });
        }
        let mut file = file.into_std();
        file.seek(SeekFrom::Start(offset))
            .map_err(|error| StorageError::from_io(path, error))?;
        Ok((file, size))
    }

    /// Creates one directory; its parent must exist.
    pub fn create_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::AlreadyExists { path: path.clone() });
        }
        self.root
            .create_dir(self.host_path(path)?)
            .map_err(|error| StorageError::from_io(path, error))
    }

    /// Removes an empty directory (temp files of dead uploads do not count as content).
    pub fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::PermissionDenied { path: path.clone() });
        }
        let host = self.host_path(path)?;
        match self.root.remove_dir(&host) {
            Ok(()) => Ok(()),
            Err(error) => match StorageError::from_io(path, error) {
                StorageError::DirectoryNotEmpty { .. }
                    if super::lock::remove_stale_temp_files(&self.root, &host) =>
                {
                    self.root
                        .remove_dir(&host)
                        .map_err(|error| StorageError::from_io(path, error))
                }
                other => Err(other),
            },
        }
    }

    /// Removes a file or a symlink (never what the symlink points to).
    pub fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::IsADirectory { path: path.clone() });
        }
        let host = self.host_path(path)?;
        let metadata = self
            .root
            .symlink_metadata(&host)
            .map_err(|error| StorageError::from_io(path, error))?;
        if metadata.is_dir() {
            return Err(StorageError::IsADirectory { path: path.clone() });
        }
        self.root
            .remove_file(&host)
            .map_err(|error| StorageError::from_io(path, error))?;
        if metadata.is_file() {
            self.quota.release(metadata.len(), 1);
        }
        Ok(())
    }

    /// Renames a file or directory; replaces an existing file, never a directory or `/`.
    pub fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::PermissionDenied { path: from.clone() });
        }
        if to != from && to.starts_with(from) {
            return Err(StorageError::PermissionDenied { path: to.clone() });
        }
        let from_host = self.host_path(from)?;
        let to_host = self.host_path(to)?;
        self.root
            .symlink_metadata(&from_host)
            .map_err(|error| StorageError::from_io(from, error))?;
        let replaced = match self.root.symlink_metadata(&to_host) {
            Ok(metadata) if metadata.is_dir() => {
                return Err(StorageError::AlreadyExists { path: to.clone() });
            }
            Ok(metadata) if to != from => Some(metadata),
            Ok(_) => None,
            Err(error) => match StorageError::from_io(to, error) {
                StorageError::NotFound { .. } => None,
                other => return Err(other),
            },
        };
        self.root
            .rename(&from_host, &self.root, &to_host)
            .map_err(|error| StorageError::from_io(to, error))?;
        if let Some(metadata) = replaced.filter(|metadata| metadata.is_file()) {
            self.quota.release(metadata.len(), 1);
        }
        Ok(())
    }

    /// Starts an upload to `path`; see [`UploadMode`] for what each mode guarantees.
    pub fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        Upload::begin(self.clone(), path, mode)
    }

    /// Counts the regular files under the home and their bytes, without following symlinks;
    /// upload temp files add their bytes (in progress) but not a file, as the quota hook sees
    /// them. Used to rebuild quota usage.
    pub fn usage(&self) -> Result<Usage, StorageError> {
        let io_error = |error| StorageError::from_io(&VirtualPath::root(), error);
        let mut usage = Usage::default();
        let mut pending = vec![PathBuf::from(".")];
        while let Some(dir) = pending.pop() {
            for dir_entry in self.root.read_dir(&dir).map_err(io_error)? {
                let dir_entry = dir_entry.map_err(io_error)?;
                let file_type = dir_entry.file_type().map_err(io_error)?;
                if file_type.is_dir() {
                    pending.push(dir.join(dir_entry.file_name()));
                } else if file_type.is_file() {
                    let size = dir_entry.metadata().map_err(io_error)?.len();
                    usage.bytes = usage.bytes.saturating_add(size);
                    let is_temp = dir_entry
                        .file_name()
                        .to_str()
                        .is_some_and(names::is_reserved);
                    usage.files += u64::from(!is_temp);
                }
            }
        }
        Ok(usage)
    }

    /// The quota hook, for the upload module.
    pub(crate) fn quota_hook(&self) -> &dyn QuotaHook {
        self.quota.as_ref()
    }

    /// The home capability, for the upload module.
    pub(crate) fn root(&self) -> &Dir {
        &self.root
    }

    /// The host path relative to the home for a virtual path; refuses reserved names.
    pub(crate) fn host_path(&self, path: &VirtualPath) -> Result<PathBuf, StorageError> {
        if path.components().any(names::is_reserved) {
            return Err(StorageError::ReservedName { path: path.clone() });
        }
        Ok(self.host_path_unchecked(path))
    }

    /// The host path relative to the home, `.` for the home itself.
    fn host_path_unchecked(&self, path: &VirtualPath) -> PathBuf {
        if path.is_root() {
            PathBuf::from(".")
        } else {
            path.components().collect()
        }
    }

    /// The entry for `host`: a symlink shows its target's facts only if the target is inside.
    fn entry_at(
        &self,
        path: &VirtualPath,
        host: &Path,
        name: String,
    ) -> Result<Entry, StorageError> {
        let link = self
            .root
            .symlink_metadata(host)
            .map_err(|error| StorageError::from_io(path, error))?;
        if !link.is_symlink() {
            return Ok(Entry::from_metadata(name, &link, false));
        }
        // cap-std refuses to follow a link that leads outside (or loops): then only the link
        // itself is described, and nothing about its target.
        match self.root.metadata(host) {
            Ok(target) => Ok(Entry::from_metadata(name, &target, true)),
            Err(_) => Ok(Entry::from_metadata(name, &link, true)),
        }
    }
}
