//! The jail confines every operation to the home: hostile paths and symlinks pointing out are
//! refused or resolved inside, and nothing outside the home is ever read, listed or changed.
//! The `_on_both_backends` case tries the hostile paths through the storage trait on the
//! local disk and on S3 (Garage), where the outside is a sibling key prefix; the symlink cases
//! are the local jail's own (object storage has no links).

mod storage_support;

use std::fs;
use std::io::Read;
use std::path::Path;

use storage_support::backends::{BACKENDS, BackendHome, digest_of, read_from, upload, vpath};
use storage_support::{Fixture, SECRET, snapshot};
use wharf_ftp::storage::{EntryKind, StorageError, UploadMode, VirtualPath};

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

/// Hostile paths without links, for every backend; `alice-outside` is the S3 outside's name
/// (a prefix that starts like the home's `alice/`).
const HOSTILE_NAMES: &[&str] = &[
    "..",
    "../..",
    "../../etc/passwd",
    "/../..",
    "/../../etc/passwd",
    "/etc/passwd",
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "../../../outside/secret.txt",
    "../alice-outside/secret.txt",
    "../../alice-outside/secret.txt",
    "/../alice-outside/secret.txt",
    "..\\..\\outside\\secret.txt",
];

#[tokio::test]
async fn hostile_paths_stay_inside_the_home_on_both_backends() {
    for backend in BACKENDS {
        let home = BackendHome::new(backend, "jail");
        home.place_outside("secret.txt", SECRET);
        let jail = &home.jail;
        jail.create_dir(&vpath("/sub")).await.expect("mkdir");
        upload(jail, "/file.txt", UploadMode::Replace, b"inside")
            .await
            .expect("file");
        let cwd = vpath("/sub");
        for arg in HOSTILE_NAMES {
            let Ok(target) = VirtualPath::resolve(&cwd, arg) else {
                continue;
            };
            if let Ok(content) = read_from(jail, target.as_str(), 0).await {
                assert_ne!(content, SECRET, "{backend}: {arg} read the outside secret");
            }
            if let Ok(entries) = jail.list(&target).await {
                for entry in entries {
                    assert!(
                        !["secret.txt", "alice-outside", "outside", "passwd"]
                            .contains(&entry.name.as_str()),
                        "{backend}: {arg} listed {entry:?}"
                    );
                }
            }
            let _ = jail.remove_file(&target).await;
            let _ = jail.remove_dir(&target).await;
            if !target.is_root() {
                let _ = upload(jail, target.as_str(), UploadMode::Replace, b"attack").await;
                let _ = upload(jail, target.as_str(), UploadMode::Append, b"attack").await;
            }
        }
        assert_eq!(
            home.stored_outside("secret.txt"),
            digest_of(SECRET),
            "{backend}: the outside changed"
        );
        assert_eq!(home.stored_outside("passwd"), None, "{backend}");
        assert_eq!(home.stored("file.txt"), digest_of(b"inside"), "{backend}");
    }
}
