//! Two uploads to one file never interleave: locally the second is told the file is busy
//! (450), and writers that retry after it each land whole. The `_on_both_backends` case races
//! writers through the storage trait on the local disk and on S3 (Garage); the busy refusal
//! and the in-place REST/APPE races are the local jail's own (S3 has no per-file lock and
//! never writes in place).

mod storage_support;

use std::fs;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use storage_support::backends::{BACKENDS, BackendHome, digest_of, read_from, write_all};
use storage_support::{empty_home, path, temp_files};
use wharf_ftp::storage::{LocalJail, QuotaHook, StorageError, UploadMode, Usage, WritePlacement};

#[test]
fn a_second_upload_to_the_same_file_is_told_it_is_busy() {
    let (_root, home, jail) = empty_home();
    fs::write(home.join("shared"), b"base").expect("file");
    for (first_mode, second_mode) in [
        (UploadMode::Replace, UploadMode::Replace),
        (UploadMode::Replace, UploadMode::Append),
        (UploadMode::Append, UploadMode::Replace),
        (UploadMode::ResumeAt(2), UploadMode::Append),
    ] {
        let first = jail
            .begin_upload(&path("/shared"), first_mode)
            .expect("first");
        let error = jail
            .begin_upload(&path("/shared"), second_mode)
            .expect_err("second must wait");
        assert!(
            matches!(error, StorageError::Busy { .. }),
            "{first_mode:?}/{second_mode:?}: {error}"
        );
        assert_eq!(error.reply().0, 450);
        drop(first);
        let again = jail
            .begin_upload(&path("/shared"), second_mode)
            .expect("free again");
        drop(again);
    }
    // The same holds for a new file being created.
    let creating = jail
        .begin_upload(&path("/fresh"), UploadMode::Replace)
        .expect("new file");
    let error = jail
        .begin_upload(&path("/fresh"), UploadMode::Replace)
        .expect_err("busy");
    assert!(matches!(error, StorageError::Busy { .. }));
    drop(creating);
}

const WRITERS: usize = 10;
const CHUNKS: usize = 32;
const CHUNK: usize = 4096;

/// Runs [`WRITERS`] threads uploading distinct content (all `a`, all `b`, ...) to one path with
/// `mode`, each retrying while told the file is busy; returns how many committed.
fn race_writers(jail: &LocalJail, target: &str, mode: UploadMode) -> usize {
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let jail = jail.clone();
            let barrier = Arc::clone(&barrier);
            let target = path(target);
            thread::spawn(move || {
                let chunk = vec![b'a' + writer as u8; CHUNK];
                barrier.wait();
                // Retry while another upload holds the file, as a client would after a 450.
                for _ in 0..5000 {
                    let mut upload = match jail.begin_upload(&target, mode) {
                        Ok(upload) => upload,
                        Err(StorageError::Busy { .. }) => {
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        Err(error) => panic!("writer {writer}: {error}"),
                    };
                    for _ in 0..CHUNKS {
                        upload.write_all(&chunk).expect("write");
                        thread::yield_now();
                    }
                    return upload.commit().is_ok();
                }
                false
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().expect("writer thread"))
        .filter(|committed| *committed)
        .count()
}

/// Whether `content` is exactly one writer's upload.
fn is_one_writers_content(content: &[u8]) -> bool {
    content.len() == CHUNKS * CHUNK
        && (b'a'..b'a' + WRITERS as u8).contains(&content[0])
        && content.iter().all(|byte| *byte == content[0])
}

#[test]
fn concurrent_replacing_uploads_never_interleave() {
    let (_root, home, jail) = empty_home();
    assert_eq!(
        race_writers(&jail, "/contested", UploadMode::Replace),
        WRITERS
    );
    let content = fs::read(home.join("contested")).expect("result");
    assert!(is_one_writers_content(&content), "uploads interleaved");
    assert!(temp_files(&home).is_empty());
}

#[test]
fn concurrent_in_place_uploads_never_interleave() {
    let (_root, home, jail) = empty_home();
    fs::write(home.join("resumed"), b"previous content").expect("file");
    // REST 0 + STOR writes in place: only the lock keeps the writers apart.
    assert_eq!(
        race_writers(&jail, "/resumed", UploadMode::ResumeAt(0)),
        WRITERS
    );
    let content = fs::read(home.join("resumed")).expect("result");
    assert!(is_one_writers_content(&content), "uploads interleaved");

    assert_eq!(
        race_writers(&jail, "/appended", UploadMode::Append),
        WRITERS
    );
    let content = fs::read(home.join("appended")).expect("result");
    assert_eq!(content.len(), WRITERS * CHUNKS * CHUNK);
    let mut writers_seen: Vec<u8> = content
        .chunks(CHUNKS * CHUNK)
        .map(|block| {
            assert!(
                block.iter().all(|byte| *byte == block[0]),
                "appends interleaved"
            );
            block[0]
        })
        .collect();
    writers_seen.sort_unstable();
    writers_seen.dedup();
    assert_eq!(
        writers_seen.len(),
        WRITERS,
        "each writer appended one whole block"
    );
}

/// Unlimited, keeping the running count a session's quota layer would.
#[derive(Debug, Default)]
struct CountingHook {
    usage: Mutex<Usage>,
}

impl QuotaHook for CountingHook {
    fn reserve(&self, bytes: u64, files: u64) -> Result<(), StorageError> {
        let mut usage = self.usage.lock().expect("usage lock");
        usage.bytes += bytes;
        usage.files += files;
        Ok(())
    }

    fn release(&self, bytes: u64, files: u64) {
        let mut usage = self.usage.lock().expect("usage lock");
        usage.bytes = usage.bytes.checked_sub(bytes).expect("released bytes");
        usage.files = usage.files.checked_sub(files).expect("released files");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replacing_uploads_never_interleave_and_count_once_on_both_backends() {
    // S3 has no per-file lock (no 450): the uploads all run and the last to complete wins.
    // Before commits to one key took turns, each of them counted the new file as its own.
    for backend in BACKENDS {
        let hook = Arc::new(CountingHook::default());
        let home = BackendHome::new(backend, "race").with_quota(hook.clone());
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let jail = home.jail.clone();
                tokio::spawn(async move {
                    let content = vec![b'a' + writer as u8; CHUNKS * CHUNK];
                    for _ in 0..5000 {
                        let mut sink = match jail
                            .begin_upload(
                                &path("/contested"),
                                UploadMode::Replace,
                                WritePlacement::Inline,
                            )
                            .await
                        {
                            Ok(sink) => sink,
                            Err(StorageError::Busy { .. }) => {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                                continue;
                            }
                            Err(error) => panic!("writer {writer}: {error}"),
                        };
                        write_all(&mut sink, &content).await.expect("write");
                        return sink.commit().await.is_ok();
                    }
                    false
                })
            })
            .collect();
        let mut committed = 0;
        for writer in writers {
            committed += usize::from(writer.await.expect("writer task"));
        }
        assert_eq!(committed, WRITERS, "{backend}");
        let content: Vec<u8> = read_from(&home.jail, "/contested", 0).await.expect("read");
        assert!(is_one_writers_content(&content), "{backend}: interleaved");
        assert_eq!(home.stored("contested"), digest_of(&content), "{backend}");
        let stored = home.jail.usage().await.expect("rebuild");
        assert_eq!(
            stored,
            Usage {
                bytes: (CHUNKS * CHUNK) as u64,
                files: 1
            },
            "{backend}"
        );
        assert_eq!(
            *hook.usage.lock().expect("usage"),
            stored,
            "{backend}: the running count"
        );
    }
}
