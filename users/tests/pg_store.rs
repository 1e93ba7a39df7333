//! The users in a real PostgreSQL: what the users-file tests prove (logins, the `user`
//! subcommands), plus import, migrations, and use from short-lived runtimes and forked children.

use std::io::Cursor;
use std::sync::Arc;

use clap::Parser;
use wharf_testkit::postgres::PgCluster;
use wharf_users::cli::{CliError, DbCommand, UserCommand, run_db, run_with};
use wharf_users::postgres::PgStore;
use wharf_users::users_file::CommandSettings;
use wharf_users::{
    AuthError, Authenticator, HashParams, UserRecord, UserStore, UsersFile, UsersLocation,
    Verified, hash_password,
};

const CHEAP: HashParams = HashParams::INSECURE_FOR_TESTS;

/// A stand-in for a daemon binary that embeds the subcommands.
#[derive(Parser)]
enum Daemon {
    #[command(subcommand)]
    User(UserCommand),
    #[command(subcommand)]
    Db(DbCommand),
}

/// Runs `daemon <arguments>` with `stdin` as standard input; returns what it printed.
fn cli(arguments: &[&str], stdin: &str) -> Result<String, CliError> {
    let command =
        Daemon::try_parse_from(std::iter::once("daemon").chain(arguments.iter().copied()))
            .unwrap_or_else(|error| panic!("bad test arguments {arguments:?}: {error}"));
    let mut output = Vec::new();
    match command {
        Daemon::User(user) => run_with(
            user,
            &CHEAP,
            &mut Cursor::new(stdin.as_bytes().to_vec()),
            &mut output,
        )?,
        Daemon::Db(db) => run_db(db, &mut output)?,
    }
    Ok(String::from_utf8(output).expect("the CLI prints UTF-8"))
}

/// A fresh database on the shared cluster, with its URL and a scratch directory for homes.
struct Fixture {
    url: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let cluster = PgCluster::shared();
        let database = cluster.new_database("users");
        Fixture {
            url: cluster.url(&database),
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn home(&self, name: &str) -> String {
        self.dir
            .path()
            .join("homes")
            .join(name)
            .to_string_lossy()
            .into_owned()
    }
    fn add(&self, name: &str, password: &str, extra: &[&str]) -> Result<String, CliError> {
        let home = self.home(name);
        let mut arguments = vec!["user", "add", name, "--users", &self.url, "--home", &home];
        arguments.extend_from_slice(extra);
        arguments.push("--password-stdin");
        cli(&arguments, &format!("{password}\n"))
    }
    fn location(&self) -> UsersLocation {
        self.url.parse().unwrap()
    }
    fn store(&self) -> PgStore {
        let UsersLocation::Postgres(url) = self.location() else {
            panic!("not a database URL");
        };
        PgStore::open(&url).unwrap()
    }
    fn authenticator(&self) -> Authenticator {
        Authenticator::builder_for(self.location())
            .params(CHEAP)
            .build()
            .unwrap()
    }
}

#[test]
fn right_password_authenticates_and_wrong_or_unknown_are_rejected_alike() {
    let fixture = Fixture::new();
    fixture
        .add("alice", "wonderland", &["--quota", "10MiB"])
        .unwrap();
    let authenticator = fixture.authenticator();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(check_logins(&fixture, &authenticator));
    assert_eq!(
        authenticator.lookup("alice").unwrap().unwrap().name,
        "alice"
    );
    assert_eq!(authenticator.lookup("mallory").unwrap(), None);
    assert!(
        !authenticator
            .location()
            .contains(PgCluster::shared().password())
    );
}

/// Alice's password works; a wrong one, unknown names and impossible names do not.
async fn check_logins(fixture: &Fixture, authenticator: &Authenticator) {
    match authenticator.verify("alice", "wonderland").await.unwrap() {
        Verified::Authenticated(user) => {
            assert_eq!(user.name, "alice");
            assert_eq!(user.quota_bytes, Some(10 << 20));
            assert_eq!(user.home.to_string_lossy(), fixture.home("alice"));
        }
        Verified::Rejected => panic!("the right password was rejected"),
    }
    for (user, password) in [
        ("alice", "wonderland2"),
        ("mallory", "wonderland"),
        ("../etc", "x"),
        ("a\0b", "x"),
    ] {
        assert_eq!(
            authenticator.verify(user, password).await.unwrap(),
            Verified::Rejected,
            "{user:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_hash_is_upgraded_in_the_database_on_login() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let old_params = HashParams::new(16, 1, 1).unwrap();
    let record = UserRecord {
        name: "bob".into(),
        password_hash: hash_password("builder", &old_params).unwrap(),
        home: fixture.home("bob").into(),
        quota_bytes: None,
        quota_files: None,
        allow_exec: false,
        authorized_keys: vec![],
    };
    let old_hash = record.password_hash.clone();
    store.add(record, CommandSettings::default()).await.unwrap();
    let authenticator = fixture.authenticator();
    assert_eq!(
        authenticator.verify("bob", "nope").await.unwrap(),
        Verified::Rejected
    );
    assert_eq!(
        store.find("bob").await.unwrap().unwrap().password_hash,
        old_hash
    );
    let Verified::Authenticated(user) = authenticator.verify("bob", "builder").await.unwrap()
    else {
        panic!("rejected");
    };
    let stored = store.find("bob").await.unwrap().unwrap().password_hash;
    assert_ne!(stored, old_hash);
    assert_eq!(user.password_hash, stored);
    assert!(!wharf_users::needs_rehash(&stored, &CHEAP));
}

#[test]
fn the_user_subcommands_add_change_list_and_delete_in_the_database() {
    let fixture = Fixture::new();
    let printed = fixture
        .add("alice", "first", &["--quota", "1G", "--allow-exec"])
        .unwrap();
    assert!(printed.contains("added user alice"), "{printed}");
    fixture.add("bob", "second", &[]).unwrap();
    assert!(matches!(
        fixture.add("alice", "again", &[]),
        Err(CliError::Auth(AuthError::DuplicateUser { .. }))
    ));
    assert!(matches!(
        fixture.add("bad/name", "x", &[]),
        Err(CliError::Auth(AuthError::BadName { .. }))
    ));
    let listed = cli(&["user", "list", "--users", &fixture.url], "").unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("alice\t") && lines[0].ends_with("exec yes"),
        "{listed}"
    );
    assert!(lines[0].contains("quota 1 GiB"), "{listed}");
    assert!(
        lines[1].starts_with("bob\t") && lines[1].ends_with("exec no"),
        "{listed}"
    );

    cli(
        &[
            "user",
            "passwd",
            "alice",
            "--users",
            &fixture.url,
            "--password-stdin",
        ],
        "changed\n",
    )
    .unwrap();
    assert!(matches!(
        cli(
            &[
                "user",
                "passwd",
                "carol",
                "--users",
                &fixture.url,
                "--password-stdin"
            ],
            "x\n"
        ),
        Err(CliError::Auth(AuthError::UnknownUser { .. }))
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let authenticator = fixture.authenticator();
    runtime.block_on(async {
        assert_eq!(
            authenticator.verify("alice", "first").await.unwrap(),
            Verified::Rejected
        );
        assert!(matches!(
            authenticator.verify("alice", "changed").await.unwrap(),
            Verified::Authenticated(_)
        ));
    });

    cli(
        &[
            "user",
            "quota",
            "bob",
            "--users",
            &fixture.url,
            "--set",
            "5MiB",
        ],
        "",
    )
    .unwrap();
    cli(
        &["user", "exec", "bob", "--users", &fixture.url, "--allow"],
        "",
    )
    .unwrap();
    let bob = authenticator.lookup("bob").unwrap().unwrap();
    assert_eq!((bob.quota_bytes, bob.allow_exec), (Some(5 << 20), true));

    let deleted = cli(&["user", "del", "alice", "--users", &fixture.url], "").unwrap();
    assert!(deleted.contains("deleted user alice"), "{deleted}");
    assert!(
        std::path::Path::new(&fixture.home("alice")).is_dir(),
        "the home stays"
    );
    assert!(matches!(
        cli(&["user", "del", "alice", "--users", &fixture.url], ""),
        Err(CliError::Auth(AuthError::UnknownUser { .. }))
    ));
    let listed = cli(&["user", "list", "--users", &fixture.url], "").unwrap();
    assert!(
        listed.starts_with("bob\t") && listed.lines().count() == 1,
        "{listed}"
    );
}

#[test]
fn import_copies_every_field_of_a_users_file_and_a_second_run_changes_nothing() {
    let fixture = Fixture::new();
    let file = fixture.dir.path().join("users.toml");
    let mut users = UsersFile::empty(&file);
    for (name, exec) in [("alice", true), ("bob", false)] {
        users
            .add(UserRecord {
                name: name.into(),
                password_hash: hash_password(name, &CHEAP).unwrap(),
                home: fixture.home(name).into(),
                quota_bytes: Some(1000),
                quota_files: Some(7),
                allow_exec: exec,
                authorized_keys: vec![format!(
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== {name}@laptop"
                )],
            })
            .unwrap();
    }
    let mut settings = CommandSettings::default();
    settings.uid = Some(2001);
    settings.gid = Some(300);
    settings.allow_network = true;
    settings.limit_processes = Some(64);
    users
        .set_command_settings("alice", settings.clone())
        .unwrap();
    users.save().unwrap();
    let file = file.to_string_lossy().into_owned();
    let printed = cli(
        &["user", "import", "--from", &file, "--users", &fixture.url],
        "",
    )
    .unwrap();
    assert!(printed.contains("imported 2 users"), "{printed}");
    let again = cli(
        &["user", "import", "--from", &file, "--users", &fixture.url],
        "",
    )
    .unwrap();
    assert!(again.contains("imported 0 users"), "{again}");
    assert!(
        again.contains("skipped (already present): alice, bob"),
        "{again}"
    );

    let snapshot = fixture.store().snapshot_blocking().unwrap();
    let imported: Vec<UserRecord> = snapshot.iter().cloned().collect();
    let original: Vec<UserRecord> = users.iter().cloned().collect();
    assert_eq!(imported, original);
    assert_eq!(snapshot.command_settings("alice"), settings);
    assert!(snapshot.command_settings("bob").is_default());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let authenticator = fixture.authenticator();
    runtime.block_on(async {
        assert!(matches!(
            authenticator.verify("bob", "bob").await.unwrap(),
            Verified::Authenticated(_)
        ));
    });
}

#[test]
fn migrate_applies_the_schema_once_even_when_run_concurrently() {
    let fixture = Fixture::new();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = fixture.url.clone();
            std::thread::spawn(move || cli(&["db", "migrate", "--users", &url], ""))
        })
        .collect();
    let outputs: Vec<String> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        outputs
            .iter()
            .filter(|out| out.contains("applied migrations [1, 2, 3]"))
            .count(),
        1,
        "{outputs:?}"
    );
    let again = cli(&["db", "migrate", "--users", &fixture.url], "").unwrap();
    assert!(again.contains("schema up to date (version 3)"), "{again}");
    assert!(!again.contains(PgCluster::shared().password()), "{again}");
    let database = fixture.url.rsplit('/').next().unwrap();
    assert_eq!(
        PgCluster::shared().psql(
            database,
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM wharf_schema_migrations"
        ),
        "1,2,3"
    );
    let file = fixture
        .dir
        .path()
        .join("users.toml")
        .to_string_lossy()
        .into_owned();
    assert!(matches!(
        cli(&["db", "migrate", "--users", &file], ""),
        Err(CliError::NotADatabase { .. })
    ));
}

#[test]
fn logins_work_from_runtimes_that_come_and_go_as_threading_mode_connections_do() {
    let fixture = Fixture::new();
    fixture.add("carol", "pw", &[]).unwrap();
    let authenticator = fixture.authenticator();
    for round in 0..3 {
        let authenticator = authenticator.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let outcome = runtime
                .block_on(authenticator.verify("carol", "pw"))
                .unwrap();
            assert!(
                matches!(outcome, Verified::Authenticated(_)),
                "round {round}"
            );
        })
        .join()
        .unwrap();
    }
}

#[test]
fn a_forked_child_makes_its_own_connections_and_the_parent_keeps_its_own() {
    let fixture = Fixture::new();
    fixture.add("dave", "pw", &[]).unwrap();
    let store: Arc<dyn UserStore> = Arc::new(fixture.store());
    // The parent connects first, so the child inherits a pool and a runtime it cannot use.
    assert!(store.find_blocking("dave").unwrap().is_some());
    // SAFETY: the child only makes its own runtime and connections, then leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let found = store.find_blocking("dave");
            let code = if matches!(found, Ok(Some(_))) { 0 } else { 1 };
            // SAFETY: _exit ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
    assert!(
        store.find_blocking("dave").unwrap().is_some(),
        "the parent's pool still works"
    );
}
