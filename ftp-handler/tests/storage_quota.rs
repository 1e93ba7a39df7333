//! The quota hook sees every usage change before bytes land, a refusal leaves the user's files
//! as they were, and the hook's running count always matches a rebuild from disk. The
//! `_on_both_backends` case runs through the storage trait on the local disk and on S3
//! (Garage); the others use the local jail's own interface (chunk-level reservation steps,
//! the file-count order, a resumed tail put back in place).

mod storage_support;

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use storage_support::backends::{BACKENDS, Backend, BackendHome, digest_of, upload, write_all};
use wharf_ftp::storage::{
    LocalJail, QuotaHook, StorageError, UploadMode, Usage, VirtualPath, WritePlacement,
};

/// A byte-limited hook that keeps its count in memory (the real one lives in the state dir).
#[derive(Debug)]
struct LimitHook {
    limit: u64,
    usage: Mutex<Usage>,
    /// Calls of `reserve` that asked for bytes.
    byte_reserves: Mutex<usize>,
}

impl LimitHook {
    fn new(limit: u64, start: Usage) -> Arc<LimitHook> {
        Arc::new(LimitHook {
            limit,
            usage: Mutex::new(start),
            byte_reserves: Mutex::new(0),
        })
    }

    fn usage(&self) -> Usage {
        *self.usage.lock().expect("usage lock")
    }
}

impl QuotaHook for LimitHook {
    fn reserve(&self, bytes: u64, files: u64) -> Result<(), StorageError> {
        if bytes > 0 {
            *self.byte_reserves.lock().expect("count lock") += 1;
        }
        let mut usage = self.usage.lock().expect("usage lock");
        if usage.bytes + bytes > self.limit {
            return Err(StorageError::QuotaExceeded {
                usage: usage.bytes,
                limit: self.limit,
            });
        }
        usage.bytes += bytes;
        usage.files += files;
        Ok(())
    }

    fn release(&self, bytes: u64, files: u64) {
        let mut usage = self.usage.lock().expect("usage lock");
        usage.bytes = usage
            .bytes
            .checked_sub(bytes)
            .expect("released more bytes than reserved");
        usage.files = usage
            .files
            .checked_sub(files)
            .expect("released more files than reserved");
    }
}

fn setup(limit: u64) -> (tempfile::TempDir, PathBuf, LocalJail, Arc<LimitHook>) {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    fs::create_dir(&home).expect("home");
    fs::write(home.join("existing"), vec![b'e'; 1000]).expect("existing file");
    let jail = LocalJail::open(&home).expect("jail");
    let hook = LimitHook::new(limit, jail.usage().expect("initial usage"));
    let jail = jail.with_quota(hook.clone());
    (root, home, jail, hook)
}

fn path(text: &str) -> VirtualPath {
    VirtualPath::parse(text).expect("valid path")
}

#[test]
fn refused_new_file_upload_leaves_no_file() {
    let (_root, home, jail, hook) = setup(1500);
    let mut upload = jail
        .begin_upload(&path("/new"), UploadMode::Replace)
        .expect("begin");
    upload.write_all(&[1; 400]).expect("within quota");
    let error = upload.write_all(&[2; 400]).expect_err("over quota");
    assert!(matches!(
        error,
        StorageError::QuotaExceeded {
            usage: 1400,
            limit: 1500
        }
    ));
    let (code, message) = error.reply();
    assert_eq!(code, 552);
    assert!(
        message.contains("1400") && message.contains("1500"),
        "{message}"
    );
    assert!(matches!(
        upload.write_all(&[3]),
        Err(StorageError::UploadEnded { .. })
    ));
    assert!(matches!(
        upload.commit(),
        Err(StorageError::UploadEnded { .. })
    ));
    assert!(!home.join("new").exists());
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

#[test]
fn refused_overwrite_keeps_the_old_file() {
    let (_root, home, jail, hook) = setup(1500);
    let mut upload = jail
        .begin_upload(&path("/existing"), UploadMode::Replace)
        .expect("begin");
    upload.write_all(&[1; 500]).expect("old plus temp fit");
    assert!(upload.write_all(&[1; 100]).is_err());
    drop(upload);
    assert_eq!(
        fs::read(home.join("existing")).expect("read"),
        vec![b'e'; 1000]
    );
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

#[test]
fn refused_append_is_cut_back_to_the_old_length() {
    let (_root, home, jail, hook) = setup(1300);
    let mut upload = jail
        .begin_upload(&path("/existing"), UploadMode::Append)
        .expect("begin");
    upload.write_all(&[1; 200]).expect("fits");
    assert!(upload.write_all(&[1; 200]).is_err());
    assert_eq!(
        fs::read(home.join("existing")).expect("read"),
        vec![b'e'; 1000]
    );
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

#[test]
fn running_usage_matches_a_rebuild_from_disk() {
    let (_root, home, jail, hook) = setup(1 << 20);
    let check =
        |step: &str| assert_eq!(hook.usage(), jail.usage().expect("rebuild"), "after {step}");

    let mut upload = jail
        .begin_upload(&path("/a"), UploadMode::Replace)
        .expect("new");
    upload.write_all(&[0; 3000]).expect("write");
    upload.commit().expect("commit");
    check("new file");

    let mut upload = jail
        .begin_upload(&path("/a"), UploadMode::Replace)
        .expect("replace");
    upload.write_all(&[0; 100]).expect("write");
    check("replace in progress (temp bytes count)");
    upload.commit().expect("commit");
    check("replace");

    let mut upload = jail
        .begin_upload(&path("/a"), UploadMode::Replace)
        .expect("replace");
    upload.write_all(&[0; 700]).expect("write");
    upload.abort();
    check("aborted replace");

    let mut upload = jail
        .begin_upload(&path("/b"), UploadMode::Replace)
        .expect("new");
    upload.write_all(&[0; 900]).expect("write");
    drop(upload);
    check("interrupted new file (partial kept)");

    let mut upload = jail
        .begin_upload(&path("/b"), UploadMode::ResumeAt(400))
        .expect("resume");
    upload.write_all(&[0; 50]).expect("write");
    upload.commit().expect("commit");
    check("resume truncates");

    let mut upload = jail
        .begin_upload(&path("/b"), UploadMode::Append)
        .expect("append");
    upload.write_all(&[0; 25]).expect("write");
    upload.commit().expect("commit");
    check("append");

    let mut upload = jail
        .begin_upload(&path("/b"), UploadMode::Unique)
        .expect("unique");
    upload.write_all(&[0; 10]).expect("write");
    upload.commit().expect("commit");
    check("unique");

    jail.rename(&path("/b"), &path("/a"))
        .expect("rename over a file");
    check("rename over a file");
    jail.remove_file(&path("/a")).expect("delete");
    check("delete");
    jail.create_dir(&path("/d")).expect("mkdir");
    fs::write(home.join("d/inside"), b"12345").expect("file in dir");
    hook.reserve(5, 1)
        .expect("account for the file written behind the jail's back");
    check("file in a sub directory");
}

#[test]
fn file_creation_is_asked_for_before_the_file_exists() {
    #[derive(Debug)]
    struct NoNewFiles;
    impl QuotaHook for NoNewFiles {
        fn reserve(&self, _bytes: u64, files: u64) -> Result<(), StorageError> {
            if files > 0 {
                Err(StorageError::QuotaExceeded { usage: 0, limit: 0 })
            } else {
                Ok(())
            }
        }
        fn release(&self, _bytes: u64, _files: u64) {}
    }
    let (_root, home, jail, _) = setup(0);
    let jail = jail.with_quota(Arc::new(NoNewFiles));
    let error = jail
        .begin_upload(&path("/new"), UploadMode::Replace)
        .expect_err("no new file");
    assert_eq!(error.reply().0, 552);
    assert!(!home.join("new").exists());
    let mut upload = jail
        .begin_upload(&path("/existing"), UploadMode::Append)
        .expect("existing file");
    upload.write_all(b"!").expect("bytes are fine");
    upload.commit().expect("commit");
}

/// Writes `total` bytes in 256 KiB chunks, as a session does.
fn write_in_chunks(upload: &mut wharf_ftp::storage::Upload, total: usize) {
    let chunk = vec![7u8; 256 * 1024];
    let mut left = total;
    while left > 0 {
        let length = left.min(chunk.len());
        upload.write_all(&chunk[..length]).expect("within quota");
        left -= length;
    }
}

#[test]
fn a_large_upload_asks_the_hook_once_per_step_not_once_per_chunk() {
    let (_root, home, jail, hook) = setup(1 << 30);
    let mut upload = jail
        .begin_upload(&path("/big"), UploadMode::Replace)
        .expect("begin");
    write_in_chunks(&mut upload, 10 << 20);
    // Forty chunks, three reservations of 4 MiB; in progress, the usage covers every byte.
    assert_eq!(*hook.byte_reserves.lock().expect("count lock"), 3);
    assert!(hook.usage().bytes >= 1000 + (10 << 20));
    upload.commit().expect("commit");
    assert_eq!(fs::metadata(home.join("big")).expect("big").len(), 10 << 20);
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

#[test]
fn an_upload_still_ends_exactly_at_a_limit_smaller_than_a_step() {
    let room = 5 * (1 << 20) + 12345;
    let (_root, home, jail, hook) = setup(1000 + room as u64);
    let mut upload = jail
        .begin_upload(&path("/fits"), UploadMode::Replace)
        .expect("begin");
    write_in_chunks(&mut upload, room);
    assert_eq!(hook.usage().bytes, 1000 + room as u64);
    let refused = upload.write_all(&[1]).expect_err("one byte over");
    assert!(matches!(refused, StorageError::QuotaExceeded { .. }));
    assert!(!home.join("fits").exists());
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));

    let mut upload = jail
        .begin_upload(&path("/fits"), UploadMode::Replace)
        .expect("begin again");
    write_in_chunks(&mut upload, room);
    upload.commit().expect("exactly at the limit");
    assert_eq!(
        fs::metadata(home.join("fits")).expect("fits").len(),
        room as u64
    );
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

#[test]
fn an_aborted_upload_gives_back_its_reservation() {
    let (_root, home, jail, hook) = setup(1 << 30);
    let mut upload = jail
        .begin_upload(&path("/partial"), UploadMode::Append)
        .expect("begin");
    write_in_chunks(&mut upload, 300 * 1024);
    upload.abort();
    // The received bytes stay (resumable); the rest of the 4 MiB step is released.
    assert_eq!(
        fs::metadata(home.join("partial")).expect("partial").len(),
        300 * 1024
    );
    assert_eq!(hook.usage(), jail.usage().expect("rebuild"));
}

/// An empty home on `backend` with `existing` (1000 bytes of `e`), counted by a hook with
/// `limit` that starts from the backend's own count.
async fn home_with_limit(backend: Backend, limit: u64) -> (BackendHome, Arc<LimitHook>) {
    let home = BackendHome::new(backend, "quota");
    home.place("existing", &[b'e'; 1000]);
    let hook = LimitHook::new(limit, home.jail.usage().await.expect("initial usage"));
    let home = home.with_quota(hook.clone());
    (home, hook)
}

/// The hook's running count must equal what the backend counts from what it stores.
async fn assert_counted(home: &BackendHome, hook: &LimitHook, step: &str) {
    let rebuilt = home.jail.usage().await.expect("rebuild");
    assert_eq!(hook.usage(), rebuilt, "{}: {step}", home.backend);
}

#[tokio::test]
async fn refusals_leave_the_files_and_the_count_on_both_backends() {
    for backend in BACKENDS {
        let (home, hook) = home_with_limit(backend, 1500).await;
        let mut sink = home
            .jail
            .begin_upload(&path("/new"), UploadMode::Replace, WritePlacement::Inline)
            .await
            .expect("begin");
        write_all(&mut sink, &[1; 400]).await.expect("within quota");
        let refused = write_all(&mut sink, &[2; 400]).await;
        assert!(
            matches!(
                refused,
                Err(StorageError::QuotaExceeded {
                    usage: 1400,
                    limit: 1500
                })
            ),
            "{backend}: {refused:?}"
        );
        assert!(
            matches!(
                write_all(&mut sink, &[3]).await,
                Err(StorageError::UploadEnded { .. })
            ),
            "{backend}"
        );
        assert!(
            matches!(sink.commit().await, Err(StorageError::UploadEnded { .. })),
            "{backend}"
        );
        assert_eq!(home.stored("new"), None, "{backend}");
        assert_counted(&home, &hook, "refused new file").await;

        let mut sink = home
            .jail
            .begin_upload(
                &path("/existing"),
                UploadMode::Replace,
                WritePlacement::Inline,
            )
            .await
            .expect("begin");
        write_all(&mut sink, &[1; 500])
            .await
            .expect("old plus new fit");
        assert!(write_all(&mut sink, &[1; 100]).await.is_err(), "{backend}");
        drop(sink);
        assert_eq!(home.stored("existing"), digest_of(&[b'e'; 1000]));
        assert_counted(&home, &hook, "refused overwrite").await;

        // S3 counts the kept bytes twice until the commit (the new object copies them), so
        // there APPE may be refused at once; either way nothing changes.
        match home
            .jail
            .begin_upload(
                &path("/existing"),
                UploadMode::Append,
                WritePlacement::Inline,
            )
            .await
        {
            Ok(mut sink) => {
                let refused = write_all(&mut sink, &[1; 600]).await;
                assert!(refused.is_err(), "{backend}: an append over the limit");
            }
            Err(error) => assert!(
                backend == Backend::S3 && matches!(error, StorageError::QuotaExceeded { .. }),
                "{backend}: {error:?}"
            ),
        }
        assert_eq!(home.stored("existing"), digest_of(&[b'e'; 1000]));
        assert_counted(&home, &hook, "refused append").await;

        let mut sink = home
            .jail
            .begin_upload(
                &path("/aborted"),
                UploadMode::Replace,
                WritePlacement::Inline,
            )
            .await
            .expect("begin");
        write_all(&mut sink, &[4; 300]).await.expect("fits");
        sink.abort().await;
        // The local disk keeps an aborted new file's bytes for a resume; S3 keeps nothing.
        let kept = home.stored("aborted").map(|(size, _)| size);
        assert_eq!(
            kept,
            (backend == Backend::Local).then_some(300),
            "{backend}"
        );
        assert_counted(&home, &hook, "aborted upload").await;
        let room = 1500 - hook.usage().bytes;
        let filling = vec![5; usize::try_from(room).expect("room")];
        let info = upload(&home.jail, "/kept", UploadMode::Replace, &filling)
            .await
            .expect("exactly up to the limit");
        assert_eq!(info.size, room);
        assert_eq!(hook.usage().bytes, 1500, "{backend}");
        assert_counted(&home, &hook, "full").await;
    }
}
