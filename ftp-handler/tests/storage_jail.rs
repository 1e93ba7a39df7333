//! The jail confines every operation to the home: hostile paths and symlinks pointing out are
//! refused or resolved inside, and nothing outside the home is ever read, listed or changed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use wharf_ftp::storage::{EntryKind, Jail, StorageError, UploadMode, VirtualPath};

const SECRET: &[u8] = b"outside secret, never to be seen";

/// A temp root with `home/` (the jail) and a sibling `outside/` that must stay untouched.
struct Fixture {
    _root: tempfile::TempDir,
    home: PathBuf,
    outside: PathBuf,
    jail: Jail,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("temp dir");
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        fs::create_dir_all(home.join("sub/deeper")).expect("home");
        fs::create_dir(&outside).expect("outside");
        fs::write(outside.join("secret.txt"), SECRET).expect("secret");
        fs::write(home.join("file.txt"), b"inside").expect("file");
        fs::write(home.join("sub/inner.txt"), b"inner").expect("inner");
        fs::write(home.join(".hidden"), b"dot").expect("hidden");
        symlink("/etc", home.join("link_etc")).expect("link to /etc");
        symlink("../", home.join("link_up")).expect("link to ..");
        symlink("../outside/secret.txt", home.join("link_secret")).expect("link to secret");
        symlink(&outside, home.join("link_outside_abs")).expect("absolute link out");
        symlink("sub", home.join("link_sub")).expect("link inside");
        symlink("missing", home.join("dangling")).expect("dangling link");
        let jail = Jail::open(&home).expect("open jail");
        Fixture {
            _root: root,
            home,
            outside,
            jail,
        }
    }

    fn path(&self, arg: &str) -> Result<VirtualPath, StorageError> {
        Ok(VirtualPath::resolve(&VirtualPath::parse("/sub")?, arg)?)
    }
}

/// Every file under `dir` with its contents (symlinks as their target text), for comparisons.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("entry").path();
            let kind = fs::symlink_metadata(&path).expect("lstat").file_type();
            if kind.is_symlink() {
                let target = fs::read_link(&path).expect("readlink");
                found.insert(path, target.into_os_string().into_encoded_bytes());
            } else if kind.is_dir() {
                found.insert(path.clone(), b"<dir>".to_vec());
                pending.push(path);
            } else {
                found.insert(path.clone(), fs::read(&path).expect("read"));
            }
        }
    }
    found
}

const HOSTILE: &[&str] = &[
    "..",
    "../..",
    "../../etc/passwd",
    "/../..",
    "/../../etc/passwd",
    "/etc/passwd",
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "/link_etc/passwd",
    "/link_etc",
    "/link_up/outside/secret.txt",
    "/link_up",
    "/link_secret",
    "/link_outside_abs/secret.txt",
    "/link_outside_abs",
    "/dangling",
    "/link_up/home/file.txt",
];

#[test]
fn hostile_paths_never_read_outside_the_home() {
    let fixture = Fixture::new();
    let etc_passwd = fs::read("/etc/passwd").unwrap_or_default();
    for arg in HOSTILE {
        let path = fixture.path(arg).expect("hostile paths still resolve");
        assert!(path.as_str().starts_with('/'), "{arg}");
        if let Ok((mut file, _)) = fixture.jail.open_read(&path, 0) {
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("read");
            assert_ne!(content, SECRET, "{arg} read the outside secret");
            assert!(
                etc_passwd.is_empty() || content != etc_passwd,
                "{arg} read /etc/passwd"
            );
        }
        if let Ok(entry) = fixture.jail.metadata(&path) {
            // Links out are described as links, with nothing about their target.
            if entry.is_symlink && entry.kind != EntryKind::Symlink {
                assert!(
                    !arg.contains("etc") && !arg.contains("outside"),
                    "{arg}: {entry:?}"
                );
            }
        }
        if let Ok(entries) = fixture.jail.list(&path) {
            for entry in entries {
                assert!(
                    !["passwd", "secret.txt", "outside", "home", "shadow"]
                        .contains(&entry.name.as_str()),
                    "{arg} listed {entry:?}"
                );
            }
        }
    }
}

#[test]
fn links_out_of_the_home_are_refused_by_the_capability() {
    let fixture = Fixture::new();
    for arg in [
        "/link_etc/passwd",
        "/link_up/outside/secret.txt",
        "/link_secret",
        "/link_outside_abs/secret.txt",
    ] {
        let path = VirtualPath::parse(arg).expect("valid");
        let error = fixture.jail.open_read(&path, 0).expect_err(arg);
        assert_eq!(error.reply().0, 550, "{arg}: {error}");
        let (_, message) = error.reply();
        assert!(
            !message.contains(fixture.home.to_str().expect("utf-8")),
            "{message}"
        );
    }
    for arg in ["/link_etc", "/link_up", "/link_outside_abs"] {
        let path = VirtualPath::parse(arg).expect("valid");
        let entry = fixture
            .jail
            .metadata(&path)
            .expect("the link itself is visible");
        assert_eq!(entry.kind, EntryKind::Symlink, "{arg}");
        assert_eq!(
            fixture.jail.list(&path).expect("lists the link").len(),
            1,
            "{arg}"
        );
    }
}

#[test]
fn hostile_writes_leave_the_outside_untouched() {
    for arg in HOSTILE {
        let fixture = Fixture::new();
        let outside_before = snapshot(&fixture.outside);
        let etc_before = fs::read_dir("/etc").map(|dir| dir.count()).unwrap_or(0);
        let Ok(path) = fixture.path(arg) else {
            continue;
        };
        let new_child = path.join("wharf-new").expect("valid name");
        if let Ok(mut upload) = fixture.jail.begin_upload(&path, UploadMode::Replace) {
            upload.write_all(b"overwritten").expect("write");
            let _ = upload.commit();
        }
        if let Ok(mut upload) = fixture.jail.begin_upload(&path, UploadMode::Append) {
            upload.write_all(b"appended").expect("write");
            let _ = upload.commit();
        }
        if let Ok(mut upload) = fixture.jail.begin_upload(&new_child, UploadMode::Replace) {
            upload.write_all(b"created").expect("write");
            let _ = upload.commit();
        }
        let _ = fixture.jail.create_dir(&new_child);
        let _ = fixture.jail.remove_file(&path);
        let _ = fixture.jail.remove_dir(&path);
        let _ = fixture
            .jail
            .rename(&path, &VirtualPath::parse("/grabbed").expect("valid"));
        let _ = fixture
            .jail
            .rename(&VirtualPath::parse("/file.txt").expect("valid"), &new_child);
        assert_eq!(
            snapshot(&fixture.outside),
            outside_before,
            "{arg} changed the outside"
        );
        assert_eq!(
            fs::read(fixture.outside.join("secret.txt")).expect("secret"),
            SECRET
        );
        assert!(
            !Path::new("/etc/wharf-new").exists(),
            "{arg} wrote into /etc"
        );
        assert_eq!(
            fs::read_dir("/etc").map(|dir| dir.count()).unwrap_or(0),
            etc_before,
            "{arg}"
        );
    }
}

#[test]
fn nul_line_breaks_overlong_and_reserved_names_are_bad_file_names() {
    let fixture = Fixture::new();
    let cwd = VirtualPath::root();
    for arg in ["a\0b", "x\r\ny", &"n".repeat(256), &"d/".repeat(2100)] {
        let error = StorageError::from(VirtualPath::resolve(&cwd, arg).expect_err(arg));
        assert_eq!(error.reply().0, 553, "{arg:?}");
    }
    let reserved = VirtualPath::parse("/.wharf-upload.0123456789abcdef").expect("valid path");
    assert_eq!(
        fixture
            .jail
            .metadata(&reserved)
            .expect_err("reserved")
            .reply()
            .0,
        553
    );
    let upload = fixture.jail.begin_upload(&reserved, UploadMode::Replace);
    assert_eq!(upload.expect_err("reserved").reply().0, 553);
}

#[test]
fn symlinks_inside_the_home_work_like_their_target() {
    let fixture = Fixture::new();
    let link = VirtualPath::parse("/link_sub").expect("valid");
    let entry = fixture.jail.metadata(&link).expect("link inside");
    assert_eq!(entry.kind, EntryKind::Dir);
    assert!(entry.is_symlink);
    let names: Vec<String> = fixture
        .jail
        .list(&link)
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["deeper", "inner.txt"]);
    let (mut file, size) = fixture
        .jail
        .open_read(
            &VirtualPath::parse("/link_sub/inner.txt").expect("valid"),
            0,
        )
        .expect("read through link");
    let mut content = String::new();
    file.read_to_string(&mut content).expect("read");
    assert_eq!((content.as_str(), size), ("inner", 5));
}

#[test]
fn listing_is_sorted_includes_hidden_files_and_describes_links_safely() {
    let fixture = Fixture::new();
    let entries = fixture.jail.list(&VirtualPath::root()).expect("list home");
    let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".hidden",
            "dangling",
            "file.txt",
            "link_etc",
            "link_outside_abs",
            "link_secret",
            "link_sub",
            "link_up",
            "sub"
        ]
    );
    let kind = |name: &str| {
        entries
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| entry.kind)
    };
    assert_eq!(kind("file.txt"), Some(EntryKind::File));
    assert_eq!(kind("sub"), Some(EntryKind::Dir));
    assert_eq!(kind("link_sub"), Some(EntryKind::Dir));
    for link in [
        "link_etc",
        "link_up",
        "link_secret",
        "link_outside_abs",
        "dangling",
    ] {
        assert_eq!(kind(link), Some(EntryKind::Symlink), "{link}");
    }
    let secret_link = entries
        .iter()
        .find(|entry| entry.name == "link_secret")
        .expect("listed");
    assert_ne!(
        secret_link.size,
        SECRET.len() as u64,
        "the link must not report its target's size"
    );

    let single = fixture
        .jail
        .list(&VirtualPath::parse("/file.txt").expect("valid"))
        .expect("list file");
    assert_eq!(single.len(), 1);
    assert_eq!((single[0].name.as_str(), single[0].size), ("file.txt", 6));
}

#[test]
fn names_that_the_session_cannot_address_are_not_listed() {
    let fixture = Fixture::new();
    fs::write(fixture.home.join("line\nbreak"), b"x").expect("odd name");
    let names: Vec<String> = fixture
        .jail
        .list(&VirtualPath::root())
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!names.iter().any(|name| name.contains('\n')), "{names:?}");
}

#[test]
fn directory_operations_and_their_errors() {
    let fixture = Fixture::new();
    let jail = &fixture.jail;
    let path = |text: &str| VirtualPath::parse(text).expect("valid");
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
    let path = |text: &str| VirtualPath::parse(text).expect("valid");
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
    let error = Jail::open(&root.path().join("absent")).expect_err("no home");
    assert_eq!(error.reply().0, 550);
}
