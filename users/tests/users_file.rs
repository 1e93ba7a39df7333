//! The users file on a real disk: missing files, atomic saves, and concurrent locked writers.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use wharf_users::{AuthError, HashParams, UserRecord, UsersFile, hash_password};

fn record(name: &str, hash: &str) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        password_hash: hash.to_owned(),
        home: PathBuf::from(format!("/srv/{name}")),
        quota_bytes: None,
        quota_files: None,
        allow_exec: false,
        authorized_keys: Vec::new(),
    }
}

#[test]
fn a_missing_file_is_an_error_for_serving_and_empty_for_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let error = UsersFile::load(&path).unwrap_err();
    assert!(matches!(error, AuthError::MissingFile { .. }), "{error}");
    assert!(
        error.to_string().contains(&*path.to_string_lossy()),
        "{error}"
    );
    let empty = UsersFile::load_or_empty(&path).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.path(), path);
}

#[test]
fn saves_are_private_complete_and_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
    UsersFile::update(&path, |users| users.add(record("alice", &hash))).unwrap();
    UsersFile::update(&path, |users| users.add(record("bob", &hash))).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["users.toml", "users.toml.lock"]);
    let loaded = UsersFile::load(&path).unwrap();
    assert_eq!(
        loaded.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
}

#[test]
fn a_failed_change_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
    UsersFile::update(&path, |users| users.add(record("alice", &hash))).unwrap();
    let before = std::fs::read(&path).unwrap();
    let error = UsersFile::update(&path, |users| {
        users.remove("alice")?;
        users.remove("nobody")
    })
    .unwrap_err();
    assert!(matches!(error, AuthError::UnknownUser { .. }), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn concurrent_writers_lose_no_update() {
    const WRITERS: usize = 6;
    const USERS_EACH: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let hash = hash_password("pw", &HashParams::INSECURE_FOR_TESTS).unwrap();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (path, hash) = (&path, &hash);
            scope.spawn(move || {
                for index in 0..USERS_EACH {
                    let name = format!("w{writer}-u{index}");
                    UsersFile::update(path, |users| users.add(record(&name, hash))).unwrap();
                }
            });
        }
    });
    let users = UsersFile::load(&path).unwrap();
    assert_eq!(users.len(), WRITERS * USERS_EACH);
}
