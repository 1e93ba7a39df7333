//! Directory operations, renames and reads through the jail, with their error replies. The
//! `_on_both_backends` cases run through the storage trait on the local disk and on S3
//! (Garage); the others use the local jail's own interface and its links, which object
//! storage does not have.

mod storage_support;

use std::fs;
use std::io::Read;
use std::path::Path;

use storage_support::backends::{
    BACKENDS, Backend, BackendHome, digest_of, read_from, upload, vpath,
};
use storage_support::{Fixture, path};
use wharf_ftp::storage::{LocalJail, StorageError, UploadMode, VirtualPath};

#[test]
fn directory_operations_and_their_errors() {
    let fixture = Fixture::new();
    let jail = &fixture.jail;
    jail.create_dir(&path("/new")).expect("mkdir");
    assert!(fixture.home.join("new").is_dir());
    assert!(matches!(
        jail.create_dir(&path("/new")),
        Err(StorageError::AlreadyExists { .. })
    ));
    assert!(matches!(
        jail.create_dir(&path("/no/such")),
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        jail.create_dir(&VirtualPath::root()),
        Err(StorageError::AlreadyExists { .. })
    ));
    assert!(matches!(
        jail.remove_dir(&path("/sub")),
        Err(StorageError::DirectoryNotEmpty { .. })
    ));
    assert!(matches!(
        jail.remove_dir(&VirtualPath::root()),
        Err(StorageError::PermissionDenied { .. })
    ));
    assert!(matches!(
        jail.remove_dir(&path("/file.txt")),
        Err(StorageError::NotADirectory { .. })
    ));
    assert!(matches!(
        jail.remove_file(&path("/sub")),
        Err(StorageError::IsADirectory { .. })
    ));
    assert!(matches!(
        jail.remove_file(&path("/gone")),
        Err(StorageError::NotFound { .. })
    ));
    jail.remove_dir(&path("/new")).expect("rmdir");
    assert!(!fixture.home.join("new").exists());

    jail.remove_file(&path("/link_etc"))
        .expect("removes the link itself");
    assert!(Path::new("/etc").is_dir());
    jail.remove_file(&path("/sub/inner.txt")).expect("rm");
    assert!(!fixture.home.join("sub/inner.txt").exists());

    let (code, _) = jail
        .metadata(&path("/nothing"))
        .expect_err("missing")
        .reply();
    assert_eq!(code, 550);
}

#[test]
fn rename_moves_files_but_never_replaces_directories_or_the_root() {
    let fixture = Fixture::new();
    let jail = &fixture.jail;
    jail.rename(&path("/file.txt"), &path("/sub/moved.txt"))
        .expect("move");
    assert_eq!(
        fs::read(fixture.home.join("sub/moved.txt")).expect("moved"),
        b"inside"
    );
    jail.rename(&path("/sub/moved.txt"), &path("/sub/inner.txt"))
        .expect("replace a file");
    assert_eq!(
        fs::read(fixture.home.join("sub/inner.txt")).expect("replaced"),
        b"inside"
    );
    assert!(matches!(
        jail.rename(&path("/.hidden"), &path("/sub")),
        Err(StorageError::AlreadyExists { .. })
    ));
    assert!(matches!(
        jail.rename(&VirtualPath::root(), &path("/x")),
        Err(StorageError::PermissionDenied { .. })
    ));
    assert!(matches!(
        jail.rename(&path("/sub"), &VirtualPath::root()),
        Err(StorageError::PermissionDenied { .. })
    ));
    assert!(matches!(
        jail.rename(&path("/sub"), &path("/sub/deeper/x")),
        Err(StorageError::PermissionDenied { .. })
    ));
    assert!(matches!(
        jail.rename(&path("/absent"), &path("/x")),
        Err(StorageError::NotFound { .. })
    ));
    jail.rename(&path("/sub"), &path("/renamed"))
        .expect("rename dir");
    assert!(fixture.home.join("renamed/deeper").is_dir());
}

#[test]
fn open_read_honours_offsets() {
    let fixture = Fixture::new();
    let path = VirtualPath::parse("/file.txt").expect("valid");
    let (mut file, size) = fixture.jail.open_read(&path, 2).expect("open at 2");
    let mut rest = String::new();
    file.read_to_string(&mut rest).expect("read");
    assert_eq!((rest.as_str(), size), ("side", 6));
    let (mut at_end, _) = fixture
        .jail
        .open_read(&path, 6)
        .expect("offset == size is allowed");
    assert_eq!(at_end.read(&mut [0; 4]).expect("read"), 0);
    let error = fixture
        .jail
        .open_read(&path, 7)
        .expect_err("beyond the end");
    assert!(matches!(
        error,
        StorageError::BadOffset {
            offset: 7,
            size: 6,
            ..
        }
    ));
    assert_eq!(error.reply().0, 554);
    let dir = fixture
        .jail
        .open_read(&VirtualPath::parse("/sub").expect("valid"), 0);
    assert!(matches!(dir, Err(StorageError::IsADirectory { .. })));
}

#[test]
fn opening_a_missing_home_fails_cleanly() {
    let root = tempfile::tempdir().expect("temp dir");
    let error = LocalJail::open(&root.path().join("absent")).expect_err("no home");
    assert_eq!(error.reply().0, 550);
}

#[test]
fn jail_and_uploads_move_between_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn movable<T: Send + 'static>() {}
    shareable::<LocalJail>();
    movable::<wharf_ftp::storage::Upload>();
    movable::<StorageError>();
    let fixture = Fixture::new();
    let jail = fixture.jail.clone();
    let size =
        std::thread::spawn(move || jail.metadata(&path("/file.txt")).map(|entry| entry.size))
            .join()
            .expect("thread");
    assert_eq!(size.expect("metadata"), 6);
}

/// Every backend's `/file.txt` (`inside`), `/sub/inner.txt` (`inner`) and `/sub/deeper/`.
async fn populated(backend: Backend, name: &str) -> BackendHome {
    let home = BackendHome::new(backend, name);
    let jail = &home.jail;
    jail.create_dir(&vpath("/sub")).await.expect("mkdir sub");
    jail.create_dir(&vpath("/sub/deeper"))
        .await
        .expect("mkdir deeper");
    upload(jail, "/file.txt", UploadMode::Replace, b"inside")
        .await
        .expect("file");
    upload(jail, "/sub/inner.txt", UploadMode::Replace, b"inner")
        .await
        .expect("inner");
    home
}

#[tokio::test]
async fn directory_operations_and_their_errors_on_both_backends() {
    for backend in BACKENDS {
        let home = populated(backend, "dirs").await;
        let jail = &home.jail;
        let error = |result: Result<(), StorageError>| result.expect_err("refused");
        jail.create_dir(&vpath("/new")).await.expect("mkdir");
        assert!(
            jail.metadata(&vpath("/new")).await.expect("stat").is_dir(),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.create_dir(&vpath("/new")).await),
                StorageError::AlreadyExists { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.create_dir(&vpath("/file.txt")).await),
                StorageError::AlreadyExists { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.create_dir(&vpath("/no/such")).await),
                StorageError::NotFound { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.create_dir(&VirtualPath::root()).await),
                StorageError::AlreadyExists { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.remove_dir(&vpath("/sub")).await),
                StorageError::DirectoryNotEmpty { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.remove_dir(&VirtualPath::root()).await),
                StorageError::PermissionDenied { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.remove_dir(&vpath("/file.txt")).await),
                StorageError::NotADirectory { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.remove_file(&vpath("/sub")).await),
                StorageError::IsADirectory { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                error(jail.remove_file(&vpath("/gone")).await),
                StorageError::NotFound { .. }
            ),
            "{backend}"
        );
        assert!(
            matches!(
                jail.metadata(&vpath("/nothing")).await,
                Err(StorageError::NotFound { .. })
            ),
            "{backend}"
        );
        jail.remove_dir(&vpath("/new")).await.expect("rmdir");
        assert!(jail.metadata(&vpath("/new")).await.is_err(), "{backend}");
        jail.remove_file(&vpath("/sub/inner.txt"))
            .await
            .expect("rm");
        assert_eq!(home.stored("sub/inner.txt"), None, "{backend}");
        assert_eq!(
            home.stored("file.txt"),
            digest_of(b"inside"),
            "{backend}: untouched"
        );
        let names: Vec<String> = jail
            .list(&VirtualPath::root())
            .await
            .expect("list")
            .into_iter()
            .map(|entry| entry.name)
            .collect();
        assert_eq!(names, ["file.txt", "sub"], "{backend}");
    }
}

#[tokio::test]
async fn rename_moves_files_and_directories_on_both_backends() {
    for backend in BACKENDS {
        let home = populated(backend, "rename").await;
        let jail = &home.jail;
        jail.rename(&vpath("/file.txt"), &vpath("/sub/moved.txt"))
            .await
            .expect("move");
        assert_eq!(home.stored("sub/moved.txt"), digest_of(b"inside"));
        assert_eq!(home.stored("file.txt"), None, "{backend}");
        jail.rename(&vpath("/sub/moved.txt"), &vpath("/sub/inner.txt"))
            .await
            .expect("replace a file");
        assert_eq!(
            home.stored("sub/inner.txt"),
            digest_of(b"inside"),
            "{backend}"
        );
        upload(jail, "/loose", UploadMode::Replace, b"loose")
            .await
            .expect("file");
        for (from, to, what) in [
            ("/loose", "/sub", "a file over a directory"),
            ("/", "/x", "the root"),
            ("/sub", "/", "onto the root"),
            ("/sub", "/sub/deeper/x", "a directory into itself"),
            ("/absent", "/x", "a missing file"),
        ] {
            let refused = jail.rename(&vpath(from), &vpath(to)).await;
            assert!(
                matches!(
                    refused,
                    Err(StorageError::AlreadyExists { .. }
                        | StorageError::PermissionDenied { .. }
                        | StorageError::NotFound { .. })
                ),
                "{backend}: {what}: {refused:?}"
            );
        }
        jail.rename(&vpath("/sub"), &vpath("/renamed"))
            .await
            .expect("rename dir");
        assert!(
            jail.metadata(&vpath("/renamed/deeper"))
                .await
                .expect("moved")
                .is_dir(),
            "{backend}"
        );
        assert_eq!(
            home.stored("renamed/inner.txt"),
            digest_of(b"inside"),
            "{backend}"
        );
        assert_eq!(home.stored("sub/inner.txt"), None, "{backend}");
        assert_eq!(home.stored("loose"), digest_of(b"loose"), "{backend}");
    }
}

#[tokio::test]
async fn open_read_honours_offsets_on_both_backends() {
    for backend in BACKENDS {
        let home = populated(backend, "offsets").await;
        let jail = &home.jail;
        assert_eq!(
            read_from(jail, "/file.txt", 2).await.expect("at 2"),
            b"side",
            "{backend}"
        );
        assert_eq!(
            read_from(jail, "/file.txt", 6).await.expect("at the end"),
            b"",
            "{backend}"
        );
        assert!(
            matches!(
                jail.open_read(&vpath("/file.txt"), 7).await,
                Err(StorageError::BadOffset {
                    offset: 7,
                    size: 6,
                    ..
                })
            ),
            "{backend}"
        );
        assert!(
            matches!(
                jail.open_read(&vpath("/sub"), 0).await,
                Err(StorageError::IsADirectory { .. })
            ),
            "{backend}"
        );
        assert!(
            matches!(
                jail.open_read(&vpath("/missing"), 0).await,
                Err(StorageError::NotFound { .. })
            ),
            "{backend}"
        );
    }
}
