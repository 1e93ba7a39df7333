//! A command's private temporary directory: created for it, shown to it as `/tmp`, removed after.
//!
//! The directory is made under the daemon's temporary directory, mode 0700, owned by the
//! command's uid. The child mounts it over `/tmp` in a mount namespace of its own, so every tool
//! that writes to `/tmp` works and none sees another command's files; Landlock grants it like
//! the home. Mounting needs root, so a daemon that is not root gives its commands no `/tmp`.

use std::ffi::CString;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::identity::Identity;

/// Attempts at finding an unused random name.
const NAME_ATTEMPTS: usize = 16;

/// The directory of one command; dropping it removes the directory and everything in it.
#[derive(Debug)]
pub struct PrivateTmp {
    /// Where it is in the daemon's view.
    path: PathBuf,
}

impl PrivateTmp {
    /// Creates `<base>/wharf-sshd-cmd.<random>` owned by `owner`.
    pub(super) fn create(base: &Path, owner: Identity) -> io::Result<Self> {
        let mut last_error = None;
        for _ in 0..NAME_ATTEMPTS {
            let path = base.join(format!("wharf-sshd-cmd.{:016x}", rand::random::<u64>()));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let tmp = PrivateTmp { path };
                    std::os::unix::fs::chown(&tmp.path, Some(owner.uid), Some(owner.gid))?;
                    return Ok(tmp);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary directory name")))
    }

    /// The directory, as the daemon sees it.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory as a C string for `mount(2)` in the child (prepared before the fork).
    pub(super) fn mount_source(&self) -> io::Result<CString> {
        CString::new(self.path.as_os_str().as_bytes())
            .map_err(|_| io::Error::other("the temporary directory's path holds a NUL byte"))
    }
}

impl Drop for PrivateTmp {
    /// Removes the directory at once: the command's tree is gone by now, and a connection
    /// process (forking mode) may exit right after, so a deferred removal could never run.
    fn drop(&mut self) {
        // remove_dir_all does not follow symlinks, so a command cannot aim it elsewhere.
        if let Err(error) = std::fs::remove_dir_all(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), %error, "cannot remove a command's temporary directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_private_and_removed_with_its_content() {
        let base = tempfile::tempdir().unwrap();
        let owner = Identity {
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
        };
        let tmp = PrivateTmp::create(base.path(), owner).unwrap();
        let path = tmp.path().to_owned();
        let mode = std::fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o700
        );
        std::fs::create_dir(path.join("sub")).unwrap();
        std::fs::write(path.join("sub/file"), b"x").unwrap();
        std::os::unix::fs::symlink(base.path(), path.join("link")).unwrap();
        drop(tmp);
        assert!(!path.exists());
        assert!(
            base.path().exists(),
            "a symlink inside must not be followed"
        );
    }
}
