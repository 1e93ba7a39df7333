//! Upload safety: atomic replace, intact old content after an interrupted overwrite, resumable
//! partial files, append, exclusive per-file uploads and invisible temp files.

mod storage_support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use storage_support::{empty_home as setup, path, read_all, temp_files};
use wharf_ftp::storage::{StorageError, UploadMode, VirtualPath};

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
