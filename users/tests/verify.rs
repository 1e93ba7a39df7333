//! The `Authenticator` against real users files: outcomes, re-hashing, reloads, limits, runtimes.

use std::path::{Path, PathBuf};

use wharf_users::{
    AuthError, Authenticator, HashParams, UserRecord, UsersFile, Verified, hash_password,
    needs_rehash,
};

const CHEAP: HashParams = HashParams::INSECURE_FOR_TESTS;

/// Adds `name` with `password` hashed with `params` to the users file at `path`.
fn add_user(path: &Path, name: &str, password: &str, params: &HashParams) {
    let record = UserRecord {
        name: name.to_owned(),
        password_hash: hash_password(password, params).unwrap(),
        home: PathBuf::from(format!("/srv/{name}")),
        quota_bytes: Some(1 << 20),
        quota_files: None,
        allow_exec: true,
        authorized_keys: Vec::new(),
    };
    UsersFile::update(path, |users| users.add(record)).unwrap();
}

/// A temporary users file holding alice (password "wonderland").
fn users_with_alice() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    add_user(&path, "alice", "wonderland", &CHEAP);
    (dir, path)
}

fn stored_hash(path: &Path, name: &str) -> String {
    UsersFile::load(path)
        .unwrap()
        .get(name)
        .unwrap()
        .password_hash
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_password_authenticates_and_everything_else_is_rejected_alike() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    match authenticator.verify("alice", "wonderland").await.unwrap() {
        Verified::Authenticated(record) => {
            assert_eq!(record.name, "alice");
            assert_eq!(record.quota_bytes, Some(1 << 20));
            assert!(record.allow_exec);
        }
        Verified::Rejected => panic!("the right password was rejected"),
    }
    let wrong = authenticator.verify("alice", "wonderland2").await.unwrap();
    let unknown = authenticator.verify("mallory", "wonderland").await.unwrap();
    let invalid_name = authenticator.verify("../etc", "x").await.unwrap();
    assert_eq!(wrong, Verified::Rejected);
    assert_eq!(unknown, wrong);
    assert_eq!(invalid_name, wrong);
}

#[test]
fn verification_works_on_a_current_thread_runtime() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (right, wrong) = runtime.block_on(async {
        (
            authenticator.verify("alice", "wonderland").await.unwrap(),
            authenticator.verify("alice", "nope").await.unwrap(),
        )
    });
    assert!(matches!(right, Verified::Authenticated(_)));
    assert_eq!(wrong, Verified::Rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_hash_is_upgraded_on_successful_login_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let old_params = HashParams::new(16, 2, 1).unwrap();
    add_user(&path, "alice", "wonderland", &old_params);
    let original = stored_hash(&path, "alice");
    assert!(needs_rehash(&original, &CHEAP));

    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    assert_eq!(
        authenticator.verify("alice", "wrong").await.unwrap(),
        Verified::Rejected
    );
    assert_eq!(
        stored_hash(&path, "alice"),
        original,
        "a failed login must not rewrite the hash"
    );

    let Verified::Authenticated(record) =
        authenticator.verify("alice", "wonderland").await.unwrap()
    else {
        panic!("the right password was rejected");
    };
    let upgraded = stored_hash(&path, "alice");
    assert_ne!(upgraded, original);
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "{upgraded}"
    );
    assert_eq!(record.password_hash, upgraded);
    // The upgraded hash still opens the door, and is left alone from now on.
    assert!(matches!(
        authenticator.verify("alice", "wonderland").await.unwrap(),
        Verified::Authenticated(_)
    ));
    assert_eq!(stored_hash(&path, "alice"), upgraded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_write_does_not_fail_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    add_user(
        &path,
        "alice",
        "wonderland",
        &HashParams::new(16, 2, 1).unwrap(),
    );
    let original = stored_hash(&path, "alice");
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    // A directory where the lock file should be makes every locked write fail.
    std::fs::remove_file(dir.path().join("users.toml.lock")).unwrap();
    std::fs::create_dir(dir.path().join("users.toml.lock")).unwrap();
    let outcome = authenticator.verify("alice", "wonderland").await.unwrap();
    let Verified::Authenticated(record) = outcome else {
        panic!("login failed because the upgrade could not be written");
    };
    assert_eq!(record.password_hash, original);
    assert_eq!(stored_hash(&path, "alice"), original);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_verifications_through_one_hash_slot_all_complete_correctly() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::builder(&path)
        .params(CHEAP)
        .max_concurrent_hashes(1)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for attempt in 0..12 {
        let authenticator = authenticator.clone();
        tasks.push(tokio::spawn(async move {
            let (user, password) = match attempt % 3 {
                0 => ("alice", "wonderland"),
                1 => ("alice", "guess"),
                _ => ("nobody", "wonderland"),
            };
            (attempt, authenticator.verify(user, password).await.unwrap())
        }));
    }
    let bounded = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    })
    .await
    .expect("verifications finished");
    assert_eq!(bounded.len(), 12);
    for (attempt, outcome) in bounded {
        let authenticated = matches!(outcome, Verified::Authenticated(_));
        assert_eq!(
            authenticated,
            attempt % 3 == 0,
            "attempt {attempt}: {outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_disk_are_picked_up_without_restart() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    assert_eq!(
        authenticator.verify("bob", "builder").await.unwrap(),
        Verified::Rejected
    );
    assert_eq!(authenticator.lookup("bob").unwrap(), None);

    add_user(&path, "bob", "builder", &CHEAP);
    assert!(matches!(
        authenticator.verify("bob", "builder").await.unwrap(),
        Verified::Authenticated(_)
    ));
    assert_eq!(authenticator.lookup("bob").unwrap().unwrap().name, "bob");

    UsersFile::update(&path, |users| users.remove("alice").map(|_| ())).unwrap();
    assert_eq!(
        authenticator.verify("alice", "wonderland").await.unwrap(),
        Verified::Rejected
    );
    assert_eq!(authenticator.lookup("alice").unwrap(), None);
}

#[test]
fn an_in_place_edit_is_picked_up_too() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    assert_eq!(
        authenticator.lookup("alice").unwrap().unwrap().quota_files,
        None
    );
    // An editor that rewrites the file in place keeps the inode: size and mtime still change.
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("allow_exec = true", "allow_exec = true\nquota_files = 42");
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    assert_eq!(
        authenticator.lookup("alice").unwrap().unwrap().quota_files,
        Some(42)
    );
}

#[test]
fn a_malformed_or_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let shown = path.to_string_lossy().into_owned();

    let missing = Authenticator::new(&path, CHEAP)
        .err()
        .expect("missing file refused");
    assert!(
        matches!(missing, AuthError::MissingFile { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains(&shown), "{missing}");

    std::fs::write(&path, "[users.alice\npassword = 3\n").unwrap();
    let malformed = Authenticator::new(&path, CHEAP)
        .err()
        .expect("malformed file refused");
    assert!(
        matches!(malformed, AuthError::MalformedToml { .. }),
        "{malformed}"
    );
    assert!(malformed.to_string().contains(&shown), "{malformed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_broken_while_serving_fails_closed_with_its_name() {
    let (_dir, path) = users_with_alice();
    let authenticator = Authenticator::new(&path, CHEAP).unwrap();
    std::fs::write(&path, "this is = = not toml").unwrap();
    let error = authenticator
        .verify("alice", "wonderland")
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::MalformedToml { .. }), "{error}");
    assert!(
        error.to_string().contains(&*path.to_string_lossy()),
        "{error}"
    );
    assert!(authenticator.lookup("alice").is_err());
}
