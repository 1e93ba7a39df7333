//! The exclusive advisory lock (`flock`) that serialises read-modify-write cycles on a users file.
//!
//! The lock lives on a sibling file `<users>.lock`, not on the users file itself, because every
//! save replaces the users file by rename: a lock on the old inode would not exclude a writer that
//! opened the new one. Readers need no lock since they always see a complete file.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::AuthError;

/// Held while a writer owns the users file; dropping it releases the lock.
pub(crate) struct UsersFileLock {
    /// The locked lock file; `Flock` unlocks it on drop.
    _locked: Flock<File>,
}

/// The lock file that guards `users_path`: the same path with `.lock` appended.
pub(crate) fn lock_path(users_path: &Path) -> PathBuf {
    let mut name = OsString::from(users_path.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// Blocks until this process holds the exclusive lock on `users_path`'s lock file.
pub(crate) fn lock_exclusive(users_path: &Path) -> Result<UsersFileLock, AuthError> {
    let path = lock_path(users_path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|source| AuthError::io("open lock file", &path, source))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(locked) => return Ok(UsersFileLock { _locked: locked }),
            // A signal interrupted the wait: wait again.
            Err((returned, Errno::EINTR)) => file = returned,
            Err((_, errno)) => {
                return Err(AuthError::io("lock", &path, io::Error::from(errno)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_next_to_the_users_file() {
        assert_eq!(
            lock_path(Path::new("/etc/wharf/users.toml")),
            PathBuf::from("/etc/wharf/users.toml.lock")
        );
    }

    #[test]
    fn a_second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        let first = lock_exclusive(&users).unwrap();
        let probe = File::open(lock_path(&users)).unwrap();
        // While the first lock is held a non-blocking attempt through another descriptor fails.
        let probe = match Flock::lock(probe, FlockArg::LockExclusiveNonblock) {
            Err((file, Errno::EWOULDBLOCK)) => file,
            other => panic!(
                "lock was not exclusive: {:?}",
                other.map(|_| ()).map_err(|e| e.1)
            ),
        };
        drop(first);
        assert!(Flock::lock(probe, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
