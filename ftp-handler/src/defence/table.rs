//! The folder of login records: one file per subject, read and replaced only while holding an
//! exclusive `flock` on the folder's lock file, which serialises every session of every
//! process. Files of subjects with nothing recent are swept now and then.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest, Sha256};

use super::Subject;
use super::record::Record;

/// The lock file inside the folder.
const LOCK_FILE: &str = ".lock";
/// The file whose modification time tells when the folder was last swept.
const SWEEP_MARK: &str = ".swept";
/// Where a record is written before it replaces the old one.
const SCRATCH_FILE: &str = ".scratch";

/// The records folder, locked for the lifetime of this value.
pub(super) struct Table {
    /// The folder.
    dir: PathBuf,
    /// The held lock; released on drop (or by the kernel if the process dies).
    _lock: Flock<File>,
}

impl Table {
    /// Creates the folder if needed and waits for its lock.
    pub(super) fn lock(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The file of `subject`. User names come from the peer: they are hashed, so any name
    /// makes a short, safe file name.
    fn path(&self, subject: &Subject) -> PathBuf {
        let name = match subject {
            // IPv6 text uses ':' which is fine in a Linux file name.
            Subject::Address(ip) => format!("ip-{ip}"),
            Subject::User(name) => {
                let digest: String = Sha256::digest(name.as_bytes())
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                format!("user-{digest}")
            }
        };
        self.dir.join(name)
    }

    /// The record of `subject` (empty if it has none).
    pub(super) fn read(&self, subject: &Subject) -> io::Result<Record> {
        match std::fs::read_to_string(self.path(subject)) {
            Ok(text) => Ok(Record::parse(&text)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Record::default()),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => Ok(Record::default()),
            Err(error) => Err(error),
        }
    }

    /// Replaces the record of `subject`; an empty record removes its file.
    pub(super) fn write(&self, subject: &Subject, record: &Record) -> io::Result<()> {
        let path = self.path(subject);
        if *record == Record::default() {
            return match std::fs::remove_file(&path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            };
        }
        let scratch = self.dir.join(SCRATCH_FILE);
        let mut file = File::create(&scratch)?;
        file.write_all(record.to_text().as_bytes())?;
        // A rename replaces the record whole: a crash leaves the old one or the new one.
        std::fs::rename(&scratch, &path)
    }

    /// How many subjects are banned at `now`.
    pub(super) fn count_bans(&self, now: SystemTime) -> io::Result<u64> {
        let mut bans = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if !(name.starts_with("ip-") || name.starts_with("user-")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if Record::parse(&text).ban_left(now).is_some() {
                bans += 1;
            }
        }
        Ok(bans)
    }

    /// Removes stale records if the last sweep is older than `window`.
    pub(super) fn sweep_if_due(&self, window: Duration, now: SystemTime) -> io::Result<()> {
        let mark = self.dir.join(SWEEP_MARK);
        let last = std::fs::metadata(&mark)
            .and_then(|meta| meta.modified())
            .ok();
        if last.is_some_and(|last| now.duration_since(last).unwrap_or_default() < window) {
            return Ok(());
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if !(name.starts_with("ip-") || name.starts_with("user-")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if Record::parse(&text).is_stale(now, window) {
                std::fs::remove_file(&path)?;
            }
        }
        File::create(&mark)?.set_modified(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defence::BanPolicy;

    #[test]
    fn sweep_removes_only_stale_records() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::lock(dir.path()).unwrap();
        let policy = BanPolicy {
            after_failures: 5,
            window: Duration::from_secs(10),
            duration: Duration::from_secs(10),
        };
        let t0 = SystemTime::now();
        let (old, fresh) = (
            Subject::User("old".into()),
            Subject::Address("192.0.2.1".parse().unwrap()),
        );
        let mut record = Record::default();
        record.fail(t0 - Duration::from_secs(60), &policy);
        table.write(&old, &record).unwrap();
        let mut record = Record::default();
        record.fail(t0, &policy);
        table.write(&fresh, &record).unwrap();
        table.sweep_if_due(policy.window, t0).unwrap();
        assert_eq!(table.read(&old).unwrap(), Record::default());
        assert_ne!(table.read(&fresh).unwrap(), Record::default());
        assert!(!table.path(&old).exists());
    }

    #[test]
    fn any_user_name_makes_a_safe_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::lock(dir.path()).unwrap();
        let name = format!("../../etc/{}", "x".repeat(5000));
        let path = table.path(&Subject::User(name));
        assert_eq!(path.parent(), Some(dir.path()));
        assert!(path.file_name().unwrap().len() < 100);
    }
}
