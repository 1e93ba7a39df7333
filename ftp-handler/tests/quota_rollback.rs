//! Rollback against the real quota store: a refused upload leaves the user's files exactly as
//! before it started, including REST n + STOR, which cuts the file at n when it starts.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use wharf_ftp::quota::{QuotaStore, UserQuota};
use wharf_ftp::storage::{LocalJail, StorageError, UploadMode, VirtualPath};
use wharf_users::UserRecord;

/// A state directory and a home holding `f` with `original`, opened with `limit`.
struct Setup {
    _state: tempfile::TempDir,
    home: tempfile::TempDir,
    jail: LocalJail,
    quota: Arc<UserQuota>,
}

fn setup(original: &[u8], limit: u64) -> Setup {
    let state = tempfile::tempdir().expect("state");
    let home = tempfile::tempdir().expect("home");
    fs::write(home.path().join("f"), original).expect("file");
    let record = UserRecord {
        name: "alice".to_owned(),
        password_hash: String::new(),
        home: home.path().to_path_buf(),
        quota_bytes: Some(limit),
        quota_files: None,
        allow_exec: false,
        authorized_keys: Vec::new(),
    };
    let store = QuotaStore::open(state.path()).expect("store");
    let (jail, quota) = store.open_jail(&record).expect("jail");
    Setup {
        _state: state,
        home,
        jail,
        quota,
    }
}

impl Setup {
    /// The store's count equals the disk's (temp files included while uploads run).
    fn assert_counted(&self, step: &str) {
        let on_disk = self.jail.usage().expect("usage");
        assert_eq!(self.quota.usage().expect("store"), on_disk, "after {step}");
    }

    fn content(&self) -> Vec<u8> {
        fs::read(self.home.path().join("f")).expect("read f")
    }

    fn entries(&self) -> Vec<String> {
        names(self.home.path())
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    names.sort();
    names
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn f() -> VirtualPath {
    VirtualPath::parse("/f").expect("path")
}

#[test]
fn a_refused_resume_puts_the_cut_tail_back() {
    let original = pattern(1000, 7);
    for limit in [1000, 1500] {
        let setup = setup(&original, limit);
        let mut upload = setup
            .jail
            .begin_upload(&f(), UploadMode::ResumeAt(400))
            .expect("resume");
        setup.assert_counted("cut at 400");
        let mut refused = None;
        for chunk in 0..10 {
            if let Err(error) = upload.write_all(&[chunk; 100]) {
                refused = Some(error);
                break;
            }
        }
        assert!(
            matches!(refused, Some(StorageError::QuotaExceeded { limit: l, .. }) if l == limit),
            "{refused:?}"
        );
        assert_eq!(setup.content(), original, "limit {limit}");
        assert_eq!(setup.entries(), ["f"], "no temp file may remain");
        setup.assert_counted("refusal");
    }
}

#[test]
fn a_committed_resume_replaces_the_tail_and_releases_it() {
    let original = pattern(1000, 1);
    let setup = setup(&original, 2000);
    let mut upload = setup
        .jail
        .begin_upload(&f(), UploadMode::ResumeAt(400))
        .expect("resume");
    upload.write_all(&[9; 100]).expect("write");
    setup.assert_counted("resume in progress");
    assert_eq!(upload.commit().expect("commit").size, 500);
    let mut expected = original[..400].to_vec();
    expected.extend([9; 100]);
    assert_eq!(setup.content(), expected);
    assert_eq!(setup.entries(), ["f"]);
    setup.assert_counted("commit");
    assert_eq!(setup.quota.usage().expect("usage").bytes, 500);
}

#[test]
fn an_interrupted_resume_keeps_what_arrived_and_resumes_again() {
    let original = pattern(1000, 2);
    let setup = setup(&original, 2000);
    let mut upload = setup
        .jail
        .begin_upload(&f(), UploadMode::ResumeAt(400))
        .expect("resume");
    upload.write_all(&[5; 100]).expect("write");
    upload.abort();
    let mut expected = original[..400].to_vec();
    expected.extend([5; 100]);
    assert_eq!(setup.content(), expected);
    assert_eq!(setup.entries(), ["f"]);
    setup.assert_counted("abort");

    let mut upload = setup
        .jail
        .begin_upload(&f(), UploadMode::ResumeAt(500))
        .expect("resume again");
    upload.write_all(&[6; 50]).expect("write");
    drop(upload);
    expected.extend([6; 50]);
    assert_eq!(setup.content(), expected);
    setup.assert_counted("dropped");
}

#[test]
fn refused_appends_and_overwrites_leave_the_file_and_the_count() {
    let original = pattern(1000, 3);
    let setup = setup(&original, 1000);
    for mode in [
        UploadMode::Append,
        UploadMode::Replace,
        UploadMode::ResumeAt(1000),
    ] {
        let mut upload = setup.jail.begin_upload(&f(), mode).expect("begin");
        let refused = upload.write_all(b"x");
        assert!(
            matches!(
                refused,
                Err(StorageError::QuotaExceeded {
                    usage: 1000,
                    limit: 1000
                })
            ),
            "{mode:?}: {refused:?}"
        );
        assert_eq!(setup.content(), original, "{mode:?}");
        assert_eq!(setup.entries(), ["f"], "{mode:?}");
        setup.assert_counted("refusal");
    }
}
