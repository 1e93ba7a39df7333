//! Upload safety: atomic replace, intact old content after an interrupted overwrite, resumable
//! partial files, append, exclusive per-file uploads and invisible temp files. The
//! `_on_both_backends` cases run through the storage trait on the local disk and on S3
//! (Garage), reading what was stored behind the storage's back; the others are the local
//! jail's own: temp files, resumable partial files, permission bits and `std::io::Write`,
//! none of which object storage has (an S3 upload is all or nothing).

mod storage_support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use storage_support::backends::{
    BACKENDS, Backend, BackendHome, digest_of, read_from, upload, vpath, write_all,
};
use storage_support::common::payload::random_bytes;
use storage_support::{empty_home as setup, path, read_all, temp_files};
use tokio::io::AsyncReadExt;
use wharf_ftp::storage::{StorageError, UploadMode, VirtualPath, WritePlacement};

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

#[tokio::test]
async fn replace_is_atomic_and_an_abort_or_drop_keeps_the_old_bytes_on_both_backends() {
    for backend in BACKENDS {
        let home = BackendHome::new(backend, "replace");
        let jail = &home.jail;
        let old = vec![b'o'; 64 * 1024];
        let new = vec![b'n'; 96 * 1024];
        home.place("data.bin", &old);
        let mut sink = jail
            .begin_upload(
                &vpath("/data.bin"),
                UploadMode::Replace,
                WritePlacement::Inline,
            )
            .await
            .expect("begin");
        write_all(&mut sink, &new[..50_000])
            .await
            .expect("first half");
        assert_eq!(read_from(jail, "/data.bin", 0).await.expect("read"), old);
        assert_eq!(home.stored("data.bin"), digest_of(&old), "{backend}");
        write_all(&mut sink, &new[50_000..])
            .await
            .expect("second half");
        assert_eq!(sink.bytes_written(), new.len() as u64);
        let info = sink.commit().await.expect("commit");
        assert_eq!(
            (info.size, info.replaced_size),
            (new.len() as u64, Some(old.len() as u64)),
            "{backend}"
        );
        assert_eq!(home.stored("data.bin"), digest_of(&new), "{backend}");

        for ending in ["abort", "drop"] {
            let mut sink = jail
                .begin_upload(
                    &vpath("/data.bin"),
                    UploadMode::Replace,
                    WritePlacement::Inline,
                )
                .await
                .expect("begin");
            write_all(&mut sink, b"garbage that must never land")
                .await
                .expect("write");
            if ending == "abort" {
                sink.abort().await;
            } else {
                drop(sink);
            }
            assert_eq!(
                home.stored("data.bin"),
                digest_of(&new),
                "{backend}: {ending}"
            );
            let names: Vec<String> = jail
                .list(&VirtualPath::root())
                .await
                .expect("list")
                .into_iter()
                .map(|entry| entry.name)
                .collect();
            assert_eq!(names, ["data.bin"], "{backend}: {ending}");
        }
    }
}

#[tokio::test]
async fn a_download_never_mixes_the_old_and_the_new_object_on_both_backends() {
    // Bigger than one ranged GET of the S3 backend (4 MiB), so the download spans requests;
    // the object is replaced after the first. Before the reads were pinned to the object's
    // ETag, S3 handed out the old first chunk and the new rest.
    let old = random_bytes(9 << 20, 31);
    let new = random_bytes(9 << 20, 32);
    for backend in BACKENDS {
        let home = BackendHome::new(backend, "mix");
        let jail = &home.jail;
        upload(jail, "/big.bin", UploadMode::Replace, &old)
            .await
            .expect("old");
        let download = jail.open_read(&vpath("/big.bin"), 0).await.expect("open");
        let mut reader = download.body.into_reader();
        let mut first = vec![0; 1 << 20];
        reader.read_exact(&mut first).await.expect("first MiB");
        assert_eq!(first, old[..1 << 20], "{backend}");
        upload(jail, "/big.bin", UploadMode::Replace, &new)
            .await
            .expect("new");
        let mut rest = Vec::new();
        match reader.read_to_end(&mut rest).await {
            // The local reader holds the old file open: it reads it to its end.
            Ok(_) => assert!(
                rest == old[1 << 20..],
                "{backend}: {} bytes that are not the old object's rest",
                rest.len()
            ),
            // S3 cannot read an object that is gone: the download ends with an error.
            Err(_) => assert_eq!(backend, Backend::S3, "the local download failed"),
        }
        assert_eq!(home.stored("big.bin"), digest_of(&new), "{backend}");
    }
}

#[tokio::test]
async fn resume_append_and_unique_uploads_on_both_backends() {
    for backend in BACKENDS {
        let home = BackendHome::new(backend, "modes");
        let jail = &home.jail;
        upload(jail, "/short", UploadMode::Replace, b"12345")
            .await
            .expect("file");
        let beyond = upload(jail, "/short", UploadMode::ResumeAt(6), b"x").await;
        assert!(
            matches!(
                beyond,
                Err(StorageError::BadOffset {
                    offset: 6,
                    size: 5,
                    ..
                })
            ),
            "{backend}: {beyond:?}"
        );
        let missing = upload(jail, "/missing", UploadMode::ResumeAt(1), b"x").await;
        assert!(
            matches!(missing, Err(StorageError::BadOffset { .. })),
            "{backend}: {missing:?}"
        );
        assert_eq!(home.stored("missing"), None, "{backend}");
        assert_eq!(home.stored("short"), digest_of(b"12345"), "{backend}");
        upload(jail, "/missing", UploadMode::ResumeAt(0), b"ok")
            .await
            .expect("resume at 0 is a new upload");
        assert_eq!(home.stored("missing"), digest_of(b"ok"), "{backend}");
        let info = upload(jail, "/short", UploadMode::ResumeAt(3), b"abcdef")
            .await
            .expect("resume");
        assert_eq!(info.size, 9, "{backend}");
        assert_eq!(home.stored("short"), digest_of(b"123abcdef"), "{backend}");

        upload(jail, "/log", UploadMode::Append, b"one\n")
            .await
            .expect("append creates");
        let info = upload(jail, "/log", UploadMode::Append, b"two\n")
            .await
            .expect("append");
        assert_eq!(info.size, 8, "{backend}");
        assert_eq!(home.stored("log"), digest_of(b"one\ntwo\n"), "{backend}");

        let info = upload(jail, "/log", UploadMode::Unique, b"fresh")
            .await
            .expect("stou");
        assert_eq!(info.path.as_str(), "/log.1", "{backend}");
        assert_eq!(home.stored("log.1"), digest_of(b"fresh"), "{backend}");
        assert_eq!(home.stored("log"), digest_of(b"one\ntwo\n"), "{backend}");
        let info = upload(jail, "/", UploadMode::Unique, b"in root")
            .await
            .expect("stou in /");
        assert_eq!(info.path.as_str(), "/upload", "{backend}");
    }
}

#[tokio::test]
async fn uploads_refuse_directories_and_missing_parents_on_both_backends() {
    for backend in BACKENDS {
        let home = BackendHome::new(backend, "refuse");
        let jail = &home.jail;
        jail.create_dir(&vpath("/dir")).await.expect("mkdir");
        for (target, mode) in [("/dir", UploadMode::Replace), ("/", UploadMode::Append)] {
            let refused = upload(jail, target, mode, b"x").await;
            assert!(
                matches!(refused, Err(StorageError::IsADirectory { .. })),
                "{backend}: {target}: {refused:?}"
            );
        }
        let refused = upload(jail, "/nodir/file", UploadMode::Replace, b"x").await;
        assert!(
            matches!(refused, Err(StorageError::NotFound { .. })),
            "{backend}: {refused:?}"
        );
        assert_eq!(home.stored("nodir/file"), None, "{backend}");
    }
}
