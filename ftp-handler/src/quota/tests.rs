//! The store's rules, on real files: one count for every session, limits checked as one step,
//! repairs only when the user is alone, rebuilds that match the disk.

use std::fs;
use std::path::Path;

use super::record::{Record, Stored};
use super::*;
use crate::storage::{LocalJail, QuotaHook, StorageError, UploadMode, Usage, VirtualPath};

/// A state directory, a home and the store.
struct Fixture {
    _state: tempfile::TempDir,
    home: tempfile::TempDir,
    store: QuotaStore,
}

fn fixture() -> Fixture {
    let state = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let store = QuotaStore::open(state.path()).unwrap();
    Fixture {
        _state: state,
        home,
        store,
    }
}

impl Fixture {
    fn jail(&self) -> LocalJail {
        LocalJail::open(self.home.path()).unwrap()
    }

    fn attach(&self, bytes: Option<u64>, files: Option<u64>) -> UserQuota {
        self.store
            .attach("alice", QuotaLimits { bytes, files }, &self.jail())
            .unwrap()
    }

    /// Overwrites alice's record as a crashed session could have left it.
    fn plant(&self, record: Record) {
        let path = self.store.dir().join("alice.usage");
        fs::write(&path, record.encode()).unwrap();
    }

    fn stored(&self) -> Stored {
        let file = fs::File::open(self.store.dir().join("alice.usage")).unwrap();
        Record::read(&file).unwrap()
    }
}

fn disk_usage(home: &Path) -> Usage {
    LocalJail::open(home).unwrap().usage().unwrap()
}

#[test]
fn sessions_share_one_count_and_one_limit() {
    let fixture = fixture();
    let first = fixture.attach(Some(100), None);
    let second = fixture.attach(Some(100), None);
    first.reserve(60, 1).unwrap();
    let refused = second.reserve(41, 0);
    assert!(
        matches!(
            refused,
            Err(StorageError::QuotaExceeded {
                usage: 60,
                limit: 100
            })
        ),
        "{refused:?}"
    );
    second.reserve(40, 0).unwrap();
    assert_eq!(
        first.usage().unwrap(),
        Usage {
            bytes: 100,
            files: 1
        }
    );
    first.release(30, 1);
    assert_eq!(
        second.usage().unwrap(),
        Usage {
            bytes: 70,
            files: 0
        }
    );
    assert_eq!(
        fixture.stored(),
        Stored::Valid(Record {
            bytes: 70,
            files: 0,
            sessions: 2
        })
    );
    drop(first);
    drop(second);
    assert!(matches!(
        fixture.stored(),
        Stored::Valid(Record { sessions: 0, .. })
    ));
}

#[test]
fn the_file_limit_is_checked_and_zero_reservations_always_pass() {
    let fixture = fixture();
    let quota = fixture.attach(Some(10), Some(2));
    quota.reserve(0, 1).unwrap();
    quota.reserve(10, 1).unwrap();
    let refused = quota.reserve(0, 1);
    assert!(
        matches!(
            refused,
            Err(StorageError::FileQuotaExceeded { files: 2, limit: 2 })
        ),
        "{refused:?}"
    );
    // Full on bytes and files, nothing new is asked for: allowed.
    quota.reserve(0, 0).unwrap();
    assert_eq!(
        quota.usage().unwrap(),
        Usage {
            bytes: 10,
            files: 2
        }
    );
}

#[test]
fn the_first_session_counts_the_home_and_removes_dead_temp_files() {
    let fixture = fixture();
    fs::create_dir(fixture.home.path().join("sub")).unwrap();
    fs::write(fixture.home.path().join("a"), vec![1; 1000]).unwrap();
    fs::write(fixture.home.path().join("sub/b"), vec![2; 24]).unwrap();
    let temp = fixture
        .home
        .path()
        .join("sub/.wharf-upload.0000000000000001");
    fs::write(&temp, vec![3; 500]).unwrap();
    let quota = fixture.attach(None, None);
    assert_eq!(
        quota.usage().unwrap(),
        Usage {
            bytes: 1024,
            files: 2
        }
    );
    assert!(!temp.exists(), "a dead upload's temp file must go");
}

#[test]
fn a_session_that_died_attached_is_repaired_once_the_user_is_alone() {
    let fixture = fixture();
    fs::write(fixture.home.path().join("a"), vec![1; 300]).unwrap();
    fixture.plant(Record {
        bytes: 999_999,
        files: 7,
        sessions: 1,
    });
    let alone = fixture.attach(None, None);
    assert_eq!(
        alone.usage().unwrap(),
        Usage {
            bytes: 300,
            files: 1
        }
    );

    // Another session dies while this one lives: nothing can be recounted exactly yet.
    fixture.plant(Record {
        bytes: 5_000,
        files: 1,
        sessions: 2,
    });
    let second = fixture.attach(None, None);
    assert_eq!(second.usage().unwrap().bytes, 5_000);
    drop(alone);
    drop(second);
    let report = fixture.store.report("alice", &fixture.jail()).unwrap();
    assert_eq!(
        report.usage,
        Usage {
            bytes: 300,
            files: 1
        }
    );
    assert!(report.rebuilt);
    let again = fixture.store.report("alice", &fixture.jail()).unwrap();
    assert!(!again.rebuilt, "a clean record is reported as it is");
}

#[test]
fn a_damaged_record_refuses_uploads_instead_of_guessing() {
    let fixture = fixture();
    let quota = fixture.attach(Some(100), None);
    fs::write(fixture.store.dir().join("alice.usage"), b"garbage").unwrap();
    assert!(matches!(quota.reserve(1, 0), Err(StorageError::Io { .. })));
    drop(quota);
    let repaired = fixture.attach(Some(100), None);
    assert_eq!(repaired.usage().unwrap(), Usage::default());
}

#[test]
fn rebuild_waits_until_no_session_runs() {
    let fixture = fixture();
    fs::write(fixture.home.path().join("a"), vec![1; 42]).unwrap();
    let quota = fixture.attach(None, None);
    let busy = fixture.store.rebuild("alice", &fixture.jail());
    assert!(matches!(busy, Err(QuotaError::Busy { .. })), "{busy:?}");
    drop(quota);
    fs::write(fixture.home.path().join("b"), vec![1; 8]).unwrap();
    let usage = fixture.store.rebuild("alice", &fixture.jail()).unwrap();
    assert_eq!(
        usage,
        Usage {
            bytes: 50,
            files: 2
        }
    );
    assert_eq!(
        fixture.stored(),
        Stored::Valid(Record {
            bytes: 50,
            files: 2,
            sessions: 0
        })
    );
}

#[test]
fn names_that_cannot_be_users_are_refused() {
    let fixture = fixture();
    for name in ["../x", "", ".hidden", "a/b"] {
        let refused = fixture
            .store
            .attach(name, QuotaLimits::default(), &fixture.jail());
        assert!(
            matches!(refused, Err(QuotaError::BadUserName { .. })),
            "{name:?}"
        );
    }
}

#[test]
fn parallel_sessions_never_store_more_than_the_limit() {
    let fixture = fixture();
    let limit = 1000;
    let record = wharf_users::UserRecord {
        name: "alice".to_owned(),
        password_hash: String::new(),
        home: fixture.home.path().to_path_buf(),
        quota_bytes: Some(limit),
        quota_files: None,
        allow_exec: false,
        authorized_keys: Vec::new(),
    };
    let committed: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u8)
            .map(|index| {
                let (jail, _quota) = fixture.store.open_jail(&record).unwrap();
                scope.spawn(move || {
                    let target = VirtualPath::parse(&format!("/file{index}")).unwrap();
                    let mut upload = jail.begin_upload(&target, UploadMode::Replace).unwrap();
                    for _ in 0..40 {
                        if upload.write_all(&[index; 10]).is_err() {
                            return 0;
                        }
                    }
                    upload.commit().unwrap().size
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .sum()
    });
    let on_disk = disk_usage(fixture.home.path());
    assert!(
        committed <= limit && on_disk.bytes == committed,
        "{committed} {on_disk:?}"
    );
    // At most two 400-byte files fit; how many of the four complete depends on how their
    // chunks interleave, but every refused upload is rolled back whole.
    assert_eq!(committed % 400, 0, "only whole uploads remain: {committed}");
    let report = fixture.store.report("alice", &fixture.jail()).unwrap();
    assert_eq!(report.usage, on_disk);
    assert!(!report.rebuilt, "the running count was exact");
}
