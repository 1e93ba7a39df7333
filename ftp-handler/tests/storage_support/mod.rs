//! Shared fixture of the storage tests: a home full of links pointing out, and an outside
//! directory that must never be touched; and in [`backends`], an empty home on either backend
//! behind the storage trait, for the cases that hold on both.
// Each test crate uses a subset of these helpers.
#![allow(dead_code)]

pub mod backends;
#[path = "../common/mod.rs"]
pub mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use wharf_ftp::storage::{LocalJail, StorageError, VirtualPath};

pub const SECRET: &[u8] = b"outside secret, never to be seen";

/// A temp root with `home/` (the jail) and a sibling `outside/` that must stay untouched.
pub struct Fixture {
    _root: tempfile::TempDir,
    pub home: PathBuf,
    pub outside: PathBuf,
    pub jail: LocalJail,
}

impl Fixture {
    pub fn new() -> Fixture {
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
        let jail = LocalJail::open(&home).expect("open jail");
        Fixture {
            _root: root,
            home,
            outside,
            jail,
        }
    }

    /// Resolves `arg` from `/sub`, as a session in that directory would.
    pub fn path(&self, arg: &str) -> Result<VirtualPath, StorageError> {
        Ok(VirtualPath::resolve(&VirtualPath::parse("/sub")?, arg)?)
    }
}

/// Every file under `dir` with its contents (symlinks as their target text), for comparisons.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
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

/// A valid absolute virtual path.
pub fn path(text: &str) -> VirtualPath {
    VirtualPath::parse(text).expect("valid path")
}

/// An empty home in a fresh temp dir: (guard, host home path, jail).
pub fn empty_home() -> (tempfile::TempDir, PathBuf, LocalJail) {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    fs::create_dir(&home).expect("home");
    let jail = LocalJail::open(&home).expect("jail");
    (root, home, jail)
}

/// The whole content of a file, read through the jail.
pub fn read_all(jail: &LocalJail, target: &VirtualPath) -> Vec<u8> {
    let (mut file, _) = jail.open_read(target, 0).expect("open");
    let mut content = Vec::new();
    file.read_to_end(&mut content).expect("read");
    content
}

/// Names in a host directory that look like upload temp files.
pub fn temp_files(dir: &Path) -> Vec<String> {
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
