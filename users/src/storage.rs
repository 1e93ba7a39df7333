//! The users file on disk: reading one exact version, and replacing it atomically.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::AuthError;

/// Identity of one version of the users file, to notice changes with one `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    /// Device, so a file on another mount is never mistaken for this one.
    device: u64,
    /// Inode: every atomic save creates a new one.
    inode: u64,
    /// Size in bytes.
    len: u64,
    /// Modification time, seconds part.
    mtime_seconds: i64,
    /// Modification time, nanoseconds part.
    mtime_nanoseconds: i64,
}

impl FileStamp {
    /// The stamp of the file `metadata` describes.
    pub(crate) fn of(metadata: &std::fs::Metadata) -> Self {
        FileStamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            len: metadata.len(),
            mtime_seconds: metadata.mtime(),
            mtime_nanoseconds: metadata.mtime_nsec(),
        }
    }
}

/// Reads the whole file at `path` and the stamp of exactly the version read.
pub(crate) fn read_with_stamp(path: &Path) -> Result<(String, FileStamp), AuthError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(AuthError::MissingFile {
                path: path.to_owned(),
            });
        }
        Err(error) => return Err(AuthError::io("open", path, error)),
    };
    // fstat of the open file, so the stamp describes the bytes read even if a save races.
    let metadata = file
        .metadata()
        .map_err(|source| AuthError::io("stat", path, source))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|source| AuthError::io("read", path, source))?;
    Ok((text, FileStamp::of(&metadata)))
}

/// Replaces `path` with `contents` so that readers see the old or the new file, never a mix.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    let file_name = path.file_name().ok_or_else(|| {
        AuthError::io(
            "save",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        )
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let temporary = directory.join(format!(
        ".{}.tmp-{}-{:016x}",
        file_name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|source| AuthError::io("create", &temporary, source))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|source| AuthError::io("write", &temporary, source))?;
        std::fs::rename(&temporary, path).map_err(|source| AuthError::io("replace", path, source))
    })();
    if written.is_err() {
        // Best effort: the temporary file may not exist if its creation was what failed.
        let _ = std::fs::remove_file(&temporary);
        return written;
    }
    // Make the rename itself durable.
    File::open(&directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| AuthError::io("sync directory", &directory, source))
}
