//! Upload safety: atomic replace, intact old content after an interrupted overwrite, resumable
//! partial files, append, exclusive per-file uploads and invisible temp files.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use wharf_ftp::storage::{Jail, StorageError, UploadMode, VirtualPath};

fn setup() -> (tempfile::TempDir, PathBuf, Jail) {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    fs::create_dir(&home).expect("home");
    let jail = Jail::open(&home).expect("jail");
    (root, home, jail)
}

fn path(text: &str) -> VirtualPath {
    VirtualPath::parse(text).expect("valid path")
}

fn read_all(jail: &Jail, target: &VirtualPath) -> Vec<u8> {
    let (mut file, _) = jail.open_read(target, 0).expect("open");
    let mut content = Vec::new();
    file.read_to_end(&mut content).expect("read");
    content
}

/// Names in a host directory that look like upload temp files.
fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(".wharf-upload."))
        .collect()
}

#[test]
fn replace_is_atomic_for_readers() {
    let (_root, home, jail) = setup();
    let old = vec![b'o'; 64 * 1024];
    let new = vec![b'n'; 96 * 1024];
    fs::write(home.join("data.bin"), &old).expect("old content");
    let target = path("/data.bin");

    let mut upload = jail
        .begin_upload(&target, UploadMode::Replace)
        .expect("begin");
    assert!(upload.replaces_existing());
    upload.write_all(&new[..50_000]).expect("first half");
    // A reader during the upload sees the whole old content.
    assert_eq!(read_all(&jail, &target), old);
    let (mut early_reader, early_size) = jail.open_read(&target, 0).expect("open before commit");
    upload.write_all(&new[50_000..]).expect("second half");
    assert_eq!(upload.bytes_written(), new.len() as u64);
    let info = upload.commit().expect("commit");
    assert_eq!(
        (info.size, info.replaced_size),
        (new.len() as u64, Some(old.len() as u64))
    );
    assert_eq!(info.path, target);
    // A reader that opened before the commit still reads the old file, entirely.
    let mut early = Vec::new();
    early_reader.read_to_end(&mut early).expect("read");
    assert_eq!((early, early_size), (old, 64 * 1024));
    assert_eq!(read_all(&jail, &target), new);
    assert!(temp_files(&home).is_empty());
}

#[test]
fn aborted_or_dropped_replace_keeps_the_old_bytes() {
    let (_root, home, jail) = setup();
    fs::write(home.join("keep.txt"), b"precious").expect("old");
    let target = path("/keep.txt");

    let mut upload = jail
        .begin_upload(&target, UploadMode::Replace)
        .expect("begin");
    upload
        .write_all(b"garbage that must never land")
        .expect("write");
    upload.abort();
    assert_eq!(fs::read(home.join("keep.txt")).expect("read"), b"precious");
    assert!(temp_files(&home).is_empty());

    let mut upload = jail
        .begin_upload(&target, UploadMode::Replace)
        .expect("begin");
    upload.write_all(b"more garbage").expect("write");
    drop(upload);
    assert_eq!(fs::read(home.join("keep.txt")).expect("read"), b"precious");
    assert!(temp_files(&home).is_empty());
}

#[test]
fn temp_files_never_appear_in_listings() {
    let (_root, home, jail) = setup();
    fs::create_dir(home.join("dir")).expect("dir");
    fs::write(home.join("dir/f"), b"old").expect("old");
    let mut upload = jail
        .begin_upload(&path("/dir/f"), UploadMode::Replace)
        .expect("begin");
    upload.write_all(b"new").expect("write");
    let on_disk = temp_files(&home.join("dir"));
    assert_eq!(on_disk.len(), 1, "the temp file lives beside the target");
    let names: Vec<String> = jail
        .list(&path("/dir"))
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["f"]);
    let temp = path("/dir").join(&on_disk[0]).expect("valid");
    assert!(matches!(
        jail.open_read(&temp, 0),
        Err(StorageError::ReservedName { .. })
    ));
    assert!(matches!(
        jail.remove_file(&temp),
        Err(StorageError::ReservedName { .. })
    ));
    upload.commit().expect("commit");
    assert!(temp_files(&home.join("dir")).is_empty());
}

#[test]
fn interrupted_new_file_is_a_resumable_partial_file() {
    let (_root, home, jail) = setup();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let target = path("/big.bin");

    let mut upload = jail
        .begin_upload(&target, UploadMode::Replace)
        .expect("begin");
    assert!(
        !upload.replaces_existing(),
        "a new file is written in place"
    );
    upload.write_all(&content[..80_000]).expect("write");
    drop(upload); // the connection died
    assert_eq!(
        fs::read(home.join("big.bin")).expect("partial"),
        &content[..80_000]
    );

    let size = jail.metadata(&target).expect("partial exists").size;
    assert_eq!(size, 80_000);
    // The client resumes a little earlier than the end (REST 70000): the tail is rewritten.
    let mut resumed = jail
        .begin_upload(&target, UploadMode::ResumeAt(70_000))
        .expect("resume");
    resumed.write_all(&content[70_000..]).expect("write rest");
    let info = resumed.commit().expect("commit");
    assert_eq!(
        (info.size, info.replaced_size),
        (content.len() as u64, None)
    );
    assert_eq!(fs::read(home.join("big.bin")).expect("complete"), content);
}

#[test]
fn resume_offsets_beyond_the_file_are_refused() {
    let (_root, home, jail) = setup();
    fs::write(home.join("short"), b"12345").expect("file");
    let error = jail
        .begin_upload(&path("/short"), UploadMode::ResumeAt(6))
        .expect_err("beyond");
    assert!(matches!(
        error,
        StorageError::BadOffset {
            offset: 6,
            size: 5,
            ..
        }
    ));
    assert_eq!(error.reply().0, 554);
    let missing = jail
        .begin_upload(&path("/missing"), UploadMode::ResumeAt(1))
        .expect_err("no file");
    assert_eq!(missing.reply().0, 554);
    assert!(!home.join("missing").exists());
    assert_eq!(fs::read(home.join("short")).expect("untouched"), b"12345");
    // ResumeAt(0) on a missing file is a plain new upload.
    let mut fresh = jail
        .begin_upload(&path("/missing"), UploadMode::ResumeAt(0))
        .expect("resume at 0");
    fresh.write_all(b"ok").expect("write");
    fresh.commit().expect("commit");
    assert_eq!(fs::read(home.join("missing")).expect("created"), b"ok");
}

#[test]
fn append_adds_in_place_and_creates_missing_files() {
    let (_root, home, jail) = setup();
    fs::write(home.join("log"), b"one\n").expect("file");
    let mut upload = jail
        .begin_upload(&path("/log"), UploadMode::Append)
        .expect("append");
    upload.write_all(b"two\n").expect("write");
    let info = upload.commit().expect("commit");
    assert_eq!((info.size, info.replaced_size), (8, None));
    assert_eq!(fs::read(home.join("log")).expect("read"), b"one\ntwo\n");

    let mut interrupted = jail
        .begin_upload(&path("/log"), UploadMode::Append)
        .expect("append");
    interrupted.write_all(b"three").expect("write");
    interrupted.abort();
    assert_eq!(
        fs::read(home.join("log")).expect("read"),
        b"one\ntwo\nthree",
        "bytes received stay"
    );

    let mut created = jail
        .begin_upload(&path("/new.log"), UploadMode::Append)
        .expect("append new");
    created.write_all(b"first").expect("write");
    created.commit().expect("commit");
    assert_eq!(fs::read(home.join("new.log")).expect("read"), b"first");
}

#[test]
fn a_second_upload_to_the_same_file_is_told_it_is_busy() {
    let (_root, home, jail) = setup();
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
fn race_writers(jail: &Jail, target: &str, mode: UploadMode) -> usize {
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
    let (_root, home, jail) = setup();
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
    let (_root, home, jail) = setup();
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

#[test]
fn unique_uploads_pick_a_fresh_name() {
    let (_root, home, jail) = setup();
    fs::write(home.join("report"), b"taken").expect("file");
    let mut upload = jail
        .begin_upload(&path("/report"), UploadMode::Unique)
        .expect("stou");
    assert_eq!(upload.path().as_str(), "/report.1");
    upload.write_all(b"fresh").expect("write");
    assert_eq!(upload.commit().expect("commit").path.as_str(), "/report.1");
    assert_eq!(fs::read(home.join("report")).expect("read"), b"taken");

    let in_root = jail
        .begin_upload(&VirtualPath::root(), UploadMode::Unique)
        .expect("stou in /");
    assert_eq!(in_root.path().as_str(), "/upload");
    let second = jail
        .begin_upload(&VirtualPath::root(), UploadMode::Unique)
        .expect("again");
    assert_eq!(second.path().as_str(), "/upload.1");
}

#[test]
fn replace_keeps_the_permissions_of_the_old_file() {
    let (_root, home, jail) = setup();
    fs::write(home.join("script.sh"), b"old").expect("file");
    fs::set_permissions(home.join("script.sh"), fs::Permissions::from_mode(0o750)).expect("chmod");
    let mut upload = jail
        .begin_upload(&path("/script.sh"), UploadMode::Replace)
        .expect("begin");
    upload.write_all(b"new").expect("write");
    upload.commit().expect("commit");
    let mode = fs::metadata(home.join("script.sh"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o750);
}

#[test]
fn uploads_refuse_directories_and_missing_parents() {
    let (_root, home, jail) = setup();
    fs::create_dir(home.join("dir")).expect("dir");
    let error = jail
        .begin_upload(&path("/dir"), UploadMode::Replace)
        .expect_err("a directory");
    assert!(matches!(error, StorageError::IsADirectory { .. }));
    let error = jail
        .begin_upload(&VirtualPath::root(), UploadMode::Append)
        .expect_err("the root");
    assert!(matches!(error, StorageError::IsADirectory { .. }));
    let error = jail
        .begin_upload(&path("/nodir/file"), UploadMode::Replace)
        .expect_err("no parent");
    assert!(matches!(error, StorageError::NotFound { .. }));
}

#[test]
fn io_write_carries_storage_errors() {
    let (_root, home, jail) = setup();
    let mut upload = jail
        .begin_upload(&path("/via-io"), UploadMode::Replace)
        .expect("begin");
    std::io::copy(&mut &b"through std::io"[..], &mut upload).expect("copy");
    upload.flush().expect("flush");
    upload.commit().expect("commit");
    assert_eq!(
        fs::read(home.join("via-io")).expect("read"),
        b"through std::io"
    );
}

#[test]
fn stale_temp_files_do_not_keep_a_directory_alive() {
    let (_root, home, jail) = setup();
    fs::create_dir(home.join("dir")).expect("dir");
    // A temp file left by a crashed process (no one holds its lock).
    fs::write(home.join("dir/.wharf-upload.00000000deadbeef"), b"half").expect("stale temp");
    jail.remove_dir(&path("/dir"))
        .expect("rmdir removes stale temps");
    assert!(!home.join("dir").exists());

    fs::create_dir(home.join("busy")).expect("dir");
    fs::write(home.join("busy/f"), b"old").expect("file");
    let upload = jail
        .begin_upload(&path("/busy/f"), UploadMode::Replace)
        .expect("begin");
    jail.remove_file(&path("/busy/f")).expect("rm target");
    let error = jail
        .remove_dir(&path("/busy"))
        .expect_err("a live temp file is content");
    assert!(matches!(error, StorageError::DirectoryNotEmpty { .. }));
    drop(upload);
    jail.remove_dir(&path("/busy")).expect("now empty");
}
