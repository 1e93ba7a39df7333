//! Directory operations, renames and reads through the jail, with their error replies.

mod storage_support;

use std::fs;
use std::io::Read;
use std::path::Path;

use storage_support::{Fixture, path};
use wharf_ftp::storage::{LocalJail, StorageError, VirtualPath};

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
