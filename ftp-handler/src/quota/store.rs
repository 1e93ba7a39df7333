//! The quota store: one usage record per user in `<state_dir>/quota/`, shared by every session
//! of every process, and the rules for attaching sessions and rebuilding usage from disk.
//!
//! Two files per user:
//! - `<user>.usage`: the [`Record`] (bytes, files, attached sessions), changed only under an
//!   exclusive `flock` on it, so a check and its update are one step for every process.
//! - `<user>.sessions`: an empty file each attached session holds a shared `flock` on. Whoever
//!   gets it exclusively knows that no session of the user is alive anywhere, because the kernel
//!   drops the locks of a process that dies. That is the one moment a rebuild from disk is exact
//!   (nothing is in flight), and the moment to repair the record after a session died without
//!   detaching (its record still counts it) or after the daemon was killed.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use wharf_users::{UserRecord, validate_name};

use super::error::QuotaError;
use super::hook::UserQuota;
use super::record::{Record, Stored};
use super::shared::SharedQuotaStore;
use crate::storage::{Jail, LocalJail, QuotaHook, StorageBackend, Usage, wait};

/// The store's folder inside the state directory.
pub const QUOTA_DIR: &str = "quota";

/// A user's limits, as the users file states them; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimits {
    /// Most bytes the user may store.
    pub bytes: Option<u64>,
    /// Most files the user may store.
    pub files: Option<u64>,
}

impl QuotaLimits {
    /// The limits of a users-file record.
    pub fn of(record: &UserRecord) -> QuotaLimits {
        QuotaLimits {
            bytes: record.quota_bytes,
            files: record.quota_files,
        }
    }
}

/// A user's usage as the store reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageReport {
    /// Bytes and files in use, committed plus in progress.
    pub usage: Usage,
    /// Sessions of the user attached right now.
    pub sessions: u64,
    /// Whether the usage was just rebuilt from disk (never counted, or a session had died).
    pub rebuilt: bool,
}

/// A session's attachment to its user's usage, whichever store keeps it: the hook its storage
/// reports to, and what SITE QUOTA shows.
pub trait AttachedQuota: QuotaHook {
    /// The user this session belongs to.
    fn user(&self) -> &str;
    /// The limits checked (as of login).
    fn limits(&self) -> QuotaLimits;
    /// The user's usage now, across every session: committed plus in progress.
    fn usage(&self) -> Result<Usage, QuotaError>;
}

/// Where quota usage is kept: the state directory's records, or the users database.
#[derive(Debug, Clone)]
pub enum Quotas {
    /// Records under the state directory (users in a file): exact on one machine.
    Local(QuotaStore),
    /// Rows in PostgreSQL (users there): exact across every daemon on the database.
    Shared(SharedQuotaStore),
}

impl Quotas {
    /// Attaches a session of `record`'s user to `storage` (opened on its home): the returned
    /// storage checks and counts every change against the user's limits. Blocks.
    pub fn attach_storage(
        &self,
        record: &UserRecord,
        storage: &Jail,
    ) -> Result<(Jail, Arc<dyn AttachedQuota>), QuotaError> {
        let limits = QuotaLimits::of(record);
        let quota: Arc<dyn AttachedQuota> = match self {
            Quotas::Local(store) => {
                Arc::new(store.attach(&record.name, limits, storage.as_ref())?)
            }
            Quotas::Shared(store) => {
                Arc::new(store.attach(&record.name, limits, storage.as_ref())?)
            }
        };
        let hook: Arc<dyn QuotaHook> = quota.clone();
        Ok((storage.with_quota(hook), quota))
    }

    /// Counts `user`'s home again and stores the count; refused while the user has sessions.
    pub fn rebuild(&self, user: &str, storage: &dyn StorageBackend) -> Result<Usage, QuotaError> {
        match self {
            Quotas::Local(store) => store.rebuild(user, storage),
            Quotas::Shared(store) => store.rebuild(user, storage),
        }
    }

    /// `user`'s usage now, repaired first when the user is idle and the count untrusted.
    pub fn report(
        &self,
        user: &str,
        storage: &dyn StorageBackend,
    ) -> Result<UsageReport, QuotaError> {
        match self {
            Quotas::Local(store) => store.report(user, storage),
            Quotas::Shared(store) => store.report(user, storage),
        }
    }
}

/// The per-user usage records under a state directory.
#[derive(Debug, Clone)]
pub struct QuotaStore {
    /// `<state_dir>/quota`.
    dir: PathBuf,
}

impl QuotaStore {
    /// The store under `state_dir`; its folder is created (mode 0700) if missing.
    pub fn open(state_dir: &Path) -> Result<QuotaStore, QuotaError> {
        let dir = state_dir.join(QUOTA_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| QuotaError::io(&dir, source))?;
        Ok(QuotaStore { dir })
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Attaches a session of `user`, whose files `jail` (any backend) holds: the returned hook checks and
    /// counts every change against `limits`. If no other session of the user is alive, the
    /// usage is first rebuilt from disk when it was never counted or a session died attached.
    pub fn attach(
        &self,
        user: &str,
        limits: QuotaLimits,
        jail: &dyn StorageBackend,
    ) -> Result<UserQuota, QuotaError> {
        let (record_path, sessions_path) = self.paths(user)?;
        let record_file = open_store_file(&record_path)?;
        let sessions_file = open_store_file(&sessions_path)?;
        let lease = match lock(
            sessions_file,
            FlockArg::LockExclusiveNonblock,
            &sessions_path,
        )? {
            Ok(exclusive) => {
                refresh_when_idle(user, &record_file, &record_path, jail)?;
                // Not atomic (the kernel drops, then takes), which is fine: whoever slips in
                // between finds the record repaired and this session not yet counted.
                retry_interrupted(|| exclusive.relock(FlockArg::LockShared))
                    .map_err(|errno| QuotaError::io(&sessions_path, errno.into()))?;
                exclusive
            }
            Err(sessions_file) => lock(sessions_file, FlockArg::LockShared, &sessions_path)?
                .map_err(|_| QuotaError::io(&sessions_path, Errno::EWOULDBLOCK.into()))?,
        };
        {
            let locked = lock_record(&record_file, &record_path)?;
            let mut record = match read(&locked, &record_path)? {
                Stored::Valid(record) => record,
                Stored::Missing | Stored::Corrupt => best_effort_rebuild(user, jail)?,
            };
            record.sessions += 1;
            write(&record, &locked, &record_path)?;
        }
        Ok(UserQuota::new(
            user.to_owned(),
            limits,
            record_file,
            record_path,
            lease,
        ))
    }

    /// Opens `record`'s home as a local jail that checks and counts every change against the
    /// user's limits; the attachment is returned too, for reports (SITE QUOTA).
    pub fn open_jail(
        &self,
        record: &UserRecord,
    ) -> Result<(LocalJail, Arc<UserQuota>), QuotaError> {
        let jail = LocalJail::open(&record.home).map_err(|source| QuotaError::Home {
            user: record.name.clone(),
            source,
        })?;
        let quota = Arc::new(self.attach(&record.name, QuotaLimits::of(record), &jail)?);
        Ok((jail.with_quota(quota.clone()), quota))
    }

    /// Attaches a session of `record`'s user to `storage` (any backend, opened on its home):
    /// the returned storage checks and counts every change against the user's limits.
    pub fn attach_storage(
        &self,
        record: &UserRecord,
        storage: &Jail,
    ) -> Result<(Jail, Arc<UserQuota>), QuotaError> {
        let quota =
            Arc::new(self.attach(&record.name, QuotaLimits::of(record), storage.as_ref())?);
        Ok((storage.with_quota(quota.clone()), quota))
    }

    /// Recounts `user`'s usage from the files in `jail` (after removing the temp files of dead
    /// uploads) and stores it. Refused with [`QuotaError::Busy`] while a session of the user
    /// runs, since its uploads in flight could not be counted exactly.
    pub fn rebuild(&self, user: &str, jail: &dyn StorageBackend) -> Result<Usage, QuotaError> {
        let (record_path, sessions_path) = self.paths(user)?;
        let record_file = open_store_file(&record_path)?;
        let sessions_file = open_store_file(&sessions_path)?;
        let Ok(_idle) = lock(
            sessions_file,
            FlockArg::LockExclusiveNonblock,
            &sessions_path,
        )?
        else {
            return Err(QuotaError::Busy {
                user: user.to_owned(),
            });
        };
        let locked = lock_record(&record_file, &record_path)?;
        let usage = count_home(user, jail)?;
        write(&record_of(usage), &locked, &record_path)?;
        Ok(usage)
    }

    /// `user`'s usage now. With no session of the user alive, the record is first repaired as
    /// [`attach`](Self::attach) would (so a report after a crash matches the disk).
    pub fn report(&self, user: &str, jail: &dyn StorageBackend) -> Result<UsageReport, QuotaError> {
        let (record_path, sessions_path) = self.paths(user)?;
        let record_file = open_store_file(&record_path)?;
        let sessions_file = open_store_file(&sessions_path)?;
        if let Ok(_idle) = lock(
            sessions_file,
            FlockArg::LockExclusiveNonblock,
            &sessions_path,
        )? {
            return refresh_when_idle(user, &record_file, &record_path, jail);
        }
        let locked = lock_record(&record_file, &record_path)?;
        let (record, rebuilt) = match read(&locked, &record_path)? {
            Stored::Valid(record) => (record, false),
            Stored::Missing | Stored::Corrupt => {
                let record = best_effort_rebuild(user, jail)?;
                write(&record, &locked, &record_path)?;
                (record, true)
            }
        };
        Ok(UsageReport {
            usage: usage_of(&record),
            sessions: record.sessions,
            rebuilt,
        })
    }

    /// The record and sessions-lock paths of `user`.
    /// The committed usage recorded for `user`, as it stands (no repair, no recount); `None`
    /// when it was never counted or the record is unreadable.
    pub fn recorded_usage(&self, user: &str) -> Result<Option<Usage>, QuotaError> {
        let (record_path, _) = self.paths(user)?;
        let file = match File::open(&record_path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(QuotaError::io(&record_path, source)),
        };
        let locked = lock(file, FlockArg::LockShared, &record_path)?
            .map_err(|_| QuotaError::io(&record_path, Errno::EWOULDBLOCK.into()))?;
        Ok(match read(&locked, &record_path)? {
            Stored::Valid(record) => Some(usage_of(&record)),
            Stored::Missing | Stored::Corrupt => None,
        })
    }

    fn paths(&self, user: &str) -> Result<(PathBuf, PathBuf), QuotaError> {
        // The users file only holds names valid as file names; anything else is refused here
        // too, so no name can reach outside the store.
        validate_name(user).map_err(|_| QuotaError::BadUserName {
            name: user.to_owned(),
        })?;
        Ok((
            self.dir.join(format!("{user}.usage")),
            self.dir.join(format!("{user}.sessions")),
        ))
    }
}

/// With the sessions lock held exclusively: rebuilds the record from disk if it was never
/// written, is damaged, or still counts sessions (which can only be dead ones now).
fn refresh_when_idle(
    user: &str,
    record_file: &File,
    record_path: &Path,
    jail: &dyn StorageBackend,
) -> Result<UsageReport, QuotaError> {
    let locked = lock_record(record_file, record_path)?;
    let stored = read(&locked, record_path)?;
    if let Stored::Valid(record) = stored
        && record.sessions == 0
    {
        return Ok(UsageReport {
            usage: usage_of(&record),
            sessions: 0,
            rebuilt: false,
        });
    }
    tracing::info!(user, ?stored, "rebuilding quota usage from disk");
    let usage = count_home(user, jail)?;
    write(&record_of(usage), &locked, record_path)?;
    Ok(UsageReport {
        usage,
        sessions: 0,
        rebuilt: true,
    })
}

/// A record counted from disk while other sessions may be uploading (their bytes in flight
/// are missed until the user is next idle); only for a record that was lost or damaged.
fn best_effort_rebuild(user: &str, jail: &dyn StorageBackend) -> Result<Record, QuotaError> {
    tracing::warn!(
        user,
        "quota record missing or damaged while sessions run; recounting the home"
    );
    let usage = wait(jail.usage()).map_err(|source| QuotaError::Home {
        user: user.to_owned(),
        source,
    })?;
    Ok(record_of(usage))
}

/// The home's usage with nothing in flight: dead uploads' temp files removed, then counted.
pub(crate) fn count_home(user: &str, jail: &dyn StorageBackend) -> Result<Usage, QuotaError> {
    let home_error = |source| QuotaError::Home {
        user: user.to_owned(),
        source,
    };
    wait(jail.remove_stale_uploads()).map_err(home_error)?;
    wait(jail.usage()).map_err(home_error)
}

/// A record holding `usage` and no sessions.
fn record_of(usage: Usage) -> Record {
    Record {
        bytes: usage.bytes,
        files: usage.files,
        sessions: 0,
    }
}

/// The usage part of a record.
pub(crate) fn usage_of(record: &Record) -> Usage {
    Usage {
        bytes: record.bytes,
        files: record.files,
    }
}

/// Opens (creating, mode 0600) a store file for reading and writing.
fn open_store_file(path: &Path) -> Result<File, QuotaError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|source| QuotaError::io(path, source))
}

/// Takes `arg` on `file`, retrying when a signal interrupts the wait. `Ok(Err(file))` means a
/// non-blocking request found the lock taken.
fn lock(file: File, arg: FlockArg, path: &Path) -> Result<Result<Flock<File>, File>, QuotaError> {
    let mut file = file;
    loop {
        match Flock::lock(file, arg) {
            Ok(locked) => return Ok(Ok(locked)),
            Err((back, Errno::EINTR)) => file = back,
            Err((back, Errno::EWOULDBLOCK)) => return Ok(Err(back)),
            Err((_, errno)) => return Err(QuotaError::io(path, errno.into())),
        }
    }
}

/// Locks the record exclusively through a second descriptor of the same open file, so the
/// caller keeps its own; the lock goes with the returned value.
pub(crate) fn lock_record(file: &File, path: &Path) -> Result<Flock<File>, QuotaError> {
    let duplicate = file
        .try_clone()
        .map_err(|source| QuotaError::io(path, source))?;
    lock(duplicate, FlockArg::LockExclusive, path)?
        .map_err(|_| QuotaError::io(path, Errno::EWOULDBLOCK.into()))
}

/// Reads the record, naming the file in errors.
pub(crate) fn read(file: &File, path: &Path) -> Result<Stored, QuotaError> {
    Record::read(file).map_err(|source| QuotaError::io(path, source))
}

/// Writes the record, naming the file in errors.
pub(crate) fn write(record: &Record, file: &File, path: &Path) -> Result<(), QuotaError> {
    record
        .write(file)
        .map_err(|source| QuotaError::io(path, source))
}

/// Runs a lock call again while a signal interrupts it.
fn retry_interrupted(mut call: impl FnMut() -> nix::Result<()>) -> nix::Result<()> {
    loop {
        match call() {
            Err(Errno::EINTR) => {}
            other => return other,
        }
    }
}
