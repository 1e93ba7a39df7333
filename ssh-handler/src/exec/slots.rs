//! The per-user cap on concurrent commands, kept in lock files so every concurrency mode sees it.
//!
//! Each user has `max` slot files under `<state>/exec-slots/`; a running command holds an
//! exclusive `flock` on one of them. The kernel releases the lock when the holder closes the
//! file or dies, so a crashed connection process (forking mode) never leaks a slot, and the
//! count is shared by threads, tasks and processes alike.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The slot files of every user, and how many each may hold at once.
#[derive(Debug, Clone)]
pub struct CommandSlots {
    /// `<state>/exec-slots`, created with mode 0700.
    dir: PathBuf,
    /// Commands one user may run at once.
    per_user: usize,
}

/// One held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct SlotGuard {
    /// The locked slot file; the lock lives as long as this descriptor.
    _lock: Flock<File>,
}

impl CommandSlots {
    /// Slots under `state_dir/exec-slots`, `per_user` for each user (at least 1).
    pub fn new(state_dir: &Path, per_user: usize) -> io::Result<Self> {
        let dir = state_dir.join("exec-slots");
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(CommandSlots {
            dir,
            per_user: per_user.max(1),
        })
    }

    /// Commands one user may run at once.
    pub fn per_user(&self) -> usize {
        self.per_user
    }

    /// Takes a free slot of `user` (a name already validated by `wharf-users`), or `None` when
    /// all are busy. Blocking, but only for a few non-waiting file operations.
    pub fn try_acquire(&self, user: &str) -> io::Result<Option<SlotGuard>> {
        for index in 0..self.per_user {
            let path = self.dir.join(format!("{user}.{index}"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(Some(SlotGuard { _lock: lock })),
                Err((_, Errno::EWOULDBLOCK)) => continue,
                Err((_, errno)) => return Err(io::Error::from(errno)),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let slots = CommandSlots::new(dir.path(), 2).unwrap();
        let first = slots.try_acquire("alice").unwrap().expect("slot 1");
        let second = slots.try_acquire("alice").unwrap().expect("slot 2");
        assert!(slots.try_acquire("alice").unwrap().is_none());
        assert!(slots.try_acquire("bob").unwrap().is_some());
        drop(first);
        let third = slots.try_acquire("alice").unwrap();
        assert!(third.is_some());
        drop((second, third));
    }
}
