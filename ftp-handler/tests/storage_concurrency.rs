//! Two uploads to one file never interleave: the second is told the file is busy (450), and
//! writers that retry after it each land whole.

mod storage_support;

use std::fs;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use storage_support::{empty_home, path, temp_files};
use wharf_ftp::storage::{LocalJail, StorageError, UploadMode};

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
