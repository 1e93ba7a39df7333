//! The `user` subcommands, driven through `cli::run_with` against real temporary directories.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Parser;
use wharf_users::cli::{CliError, UserCommand, run_with};
use wharf_users::{AuthError, HashParams, UsersFile, verify_password};

/// A stand-in for a daemon binary that embeds the subcommands.
#[derive(Parser)]
struct Daemon {
    #[command(subcommand)]
    user: UserCommand,
}

/// Runs `user <arguments>` with `stdin` as standard input; returns what it printed.
fn user(arguments: &[&str], stdin: &str) -> Result<String, CliError> {
    let command =
        Daemon::try_parse_from(std::iter::once("daemon").chain(arguments.iter().copied()))
            .unwrap_or_else(|error| panic!("bad test arguments {arguments:?}: {error}"))
            .user;
    let mut output = Vec::new();
    run_with(
        command,
        &HashParams::INSECURE_FOR_TESTS,
        &mut Cursor::new(stdin.as_bytes().to_vec()),
        &mut output,
    )?;
    Ok(String::from_utf8(output).expect("the CLI prints UTF-8"))
}

/// A temporary directory with a users-file path and a home path inside it.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }
    fn users(&self) -> String {
        self.path("users.toml")
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
    fn add(&self, name: &str, extra: &[&str], password: &str) -> Result<String, CliError> {
        let users = self.users();
        let home = self.path(&format!("homes/{name}"));
        let mut arguments = vec!["add", name, "--users", &users, "--home", &home];
        arguments.extend_from_slice(extra);
        arguments.push("--password-stdin");
        user(&arguments, &format!("{password}\n"))
    }
    fn load(&self) -> UsersFile {
        UsersFile::load(self.users()).expect("users file loads")
    }
}

fn mode(path: impl AsRef<Path>) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn add_creates_the_file_the_home_and_a_verifiable_hash() {
    let scratch = Scratch::new();
    let printed = scratch
        .add(
            "alice",
            &["--quota", "10MiB", "--quota-files", "100", "--allow-exec"],
            "s3cret",
        )
        .unwrap();
    assert!(printed.contains("added user alice"), "{printed}");
    assert_eq!(mode(scratch.users()), 0o600);
    let home = PathBuf::from(scratch.path("homes/alice"));
    assert!(home.is_dir());
    assert_eq!(mode(&home), 0o700);

    let users = scratch.load();
    let alice = users.get("alice").unwrap();
    assert_eq!(alice.home, home);
    assert_eq!(alice.quota_bytes, Some(10 * 1024 * 1024));
    assert_eq!(alice.quota_files, Some(100));
    assert!(alice.allow_exec);
    assert!(alice.password_hash.starts_with("$argon2id$v=19$"));
    assert!(verify_password("s3cret", &alice.password_hash).unwrap());
    assert!(!verify_password("s3cret\n", &alice.password_hash).unwrap());
}

#[test]
fn add_refuses_duplicates_bad_names_and_empty_passwords_without_writing() {
    let scratch = Scratch::new();
    assert!(matches!(
        scratch.add("bob", &[], "\r"),
        Err(CliError::EmptyPassword)
    ));
    assert!(
        !Path::new(&scratch.users()).exists(),
        "nothing written for an empty password"
    );
    assert!(matches!(
        scratch.add(".bob", &[], "pw"),
        Err(CliError::Auth(AuthError::BadName { .. }))
    ));
    scratch.add("bob", &[], "first").unwrap();
    let error = scratch.add("bob", &[], "second").unwrap_err();
    assert!(
        matches!(error, CliError::Auth(AuthError::DuplicateUser { .. })),
        "{error}"
    );
    assert!(error.to_string().contains(&scratch.users()), "{error}");
    let bob = scratch.load().get("bob").unwrap().clone();
    assert!(verify_password("first", &bob.password_hash).unwrap());
}

#[test]
fn add_reads_authorized_keys_and_rejects_junk_key_files() {
    let scratch = Scratch::new();
    let keys = scratch.path("id.pub");
    std::fs::write(
        &keys,
        "# my keys\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx alice@laptop\nssh-rsa AAAAB3Nza bob\n",
    )
    .unwrap();
    scratch
        .add("alice", &["--authorized-key", &keys], "pw")
        .unwrap();
    let alice = scratch.load().get("alice").unwrap().clone();
    assert_eq!(
        alice.authorized_keys,
        [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx alice@laptop",
            "ssh-rsa AAAAB3Nza bob"
        ]
    );

    let junk = scratch.path("junk.pub");
    std::fs::write(&junk, "ssh-ed25519 AAAA\nnot-a-key\n").unwrap();
    let error = scratch
        .add("carol", &["--authorized-key", &junk], "pw")
        .unwrap_err();
    assert!(
        matches!(error, CliError::BadAuthorizedKey { line: 2, .. }),
        "{error}"
    );
    assert!(scratch.load().get("carol").is_none());
}

#[test]
fn passwd_replaces_the_hash_of_an_existing_user_only() {
    let scratch = Scratch::new();
    scratch.add("alice", &[], "old").unwrap();
    let users = scratch.users();
    let printed = user(
        &["passwd", "alice", "--users", &users, "--password-stdin"],
        "new\r\n",
    )
    .unwrap();
    assert!(printed.contains("alice"), "{printed}");
    let alice = scratch.load().get("alice").unwrap().clone();
    assert!(verify_password("new", &alice.password_hash).unwrap());
    assert!(!verify_password("old", &alice.password_hash).unwrap());

    let error = user(
        &["passwd", "nobody", "--users", &users, "--password-stdin"],
        "x\n",
    )
    .unwrap_err();
    assert!(
        matches!(error, CliError::Auth(AuthError::UnknownUser { .. })),
        "{error}"
    );
}

#[test]
fn del_removes_the_user_but_keeps_the_home() {
    let scratch = Scratch::new();
    scratch.add("alice", &[], "pw").unwrap();
    scratch.add("bob", &[], "pw").unwrap();
    std::fs::write(scratch.path("homes/alice/file.txt"), "data").unwrap();
    let users = scratch.users();
    let printed = user(&["del", "alice", "--users", &users], "").unwrap();
    assert!(printed.contains("left in place"), "{printed}");
    let remaining: Vec<_> = scratch.load().iter().map(|u| u.name.clone()).collect();
    assert_eq!(remaining, ["bob"]);
    assert!(Path::new(&scratch.path("homes/alice/file.txt")).exists());
    assert!(matches!(
        user(&["del", "alice", "--users", &users], ""),
        Err(CliError::Auth(AuthError::UnknownUser { .. }))
    ));
}

#[test]
fn list_prints_one_sorted_line_per_user() {
    let scratch = Scratch::new();
    scratch
        .add("zoe", &["--quota", "1G", "--allow-exec"], "pw")
        .unwrap();
    scratch.add("adam", &[], "pw").unwrap();
    let users = scratch.users();
    let printed = user(&["list", "--users", &users], "").unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(lines[0].starts_with("adam\t"), "{printed}");
    assert!(lines[0].contains("quota unlimited"), "{printed}");
    assert!(lines[0].ends_with("exec no"), "{printed}");
    assert!(lines[1].starts_with("zoe\t"), "{printed}");
    assert!(lines[1].contains(&scratch.path("homes/zoe")), "{printed}");
    assert!(lines[1].contains("quota 1 GiB"), "{printed}");
    assert!(lines[1].ends_with("exec yes"), "{printed}");
}

#[test]
fn quota_changes_bytes_and_files_independently() {
    let scratch = Scratch::new();
    scratch
        .add("alice", &["--quota", "5M", "--quota-files", "10"], "pw")
        .unwrap();
    let users = scratch.users();
    let get = || scratch.load().get("alice").cloned().unwrap();

    let printed = user(&["quota", "alice", "--users", &users, "--set", "2GiB"], "").unwrap();
    assert!(printed.contains("quota 2 GiB, files 10"), "{printed}");
    assert_eq!(
        (get().quota_bytes, get().quota_files),
        (Some(2 << 30), Some(10))
    );

    user(&["quota", "alice", "--users", &users, "--files-none"], "").unwrap();
    assert_eq!(
        (get().quota_bytes, get().quota_files),
        (Some(2 << 30), None)
    );

    user(
        &[
            "quota", "alice", "--users", &users, "--none", "--files", "3",
        ],
        "",
    )
    .unwrap();
    assert_eq!((get().quota_bytes, get().quota_files), (None, Some(3)));

    assert!(matches!(
        user(&["quota", "nobody", "--users", &users, "--none"], ""),
        Err(CliError::Auth(AuthError::UnknownUser { .. }))
    ));
}

#[test]
fn exec_toggles_remote_command_permission() {
    let scratch = Scratch::new();
    scratch.add("alice", &[], "pw").unwrap();
    let users = scratch.users();
    user(&["exec", "alice", "--users", &users, "--allow"], "").unwrap();
    assert!(scratch.load().get("alice").unwrap().allow_exec);
    user(&["exec", "alice", "--users", &users, "--deny"], "").unwrap();
    assert!(!scratch.load().get("alice").unwrap().allow_exec);
}

#[test]
fn commands_other_than_add_need_an_existing_file_and_do_not_create_one() {
    let scratch = Scratch::new();
    let users = scratch.users();
    for arguments in [
        vec!["list", "--users", &users],
        vec!["del", "alice", "--users", &users],
        vec!["quota", "alice", "--users", &users, "--none"],
        vec!["exec", "alice", "--users", &users, "--deny"],
        vec!["passwd", "alice", "--users", &users, "--password-stdin"],
    ] {
        let error = user(&arguments, "pw\n").unwrap_err();
        assert!(
            matches!(error, CliError::Auth(AuthError::MissingFile { .. })),
            "{arguments:?}: {error}"
        );
        assert!(error.to_string().contains(&users), "{error}");
        assert!(
            !Path::new(&users).exists(),
            "{arguments:?} created the file"
        );
        assert!(
            !Path::new(&format!("{users}.lock")).exists(),
            "{arguments:?} left a lock file"
        );
    }
}

#[test]
fn an_empty_standard_input_is_a_clear_error() {
    let scratch = Scratch::new();
    let users = scratch.users();
    let home = scratch.path("homes/alice");
    let error = user(
        &[
            "add",
            "alice",
            "--users",
            &users,
            "--home",
            &home,
            "--password-stdin",
        ],
        "",
    )
    .unwrap_err();
    assert!(matches!(error, CliError::NoPasswordOnStdin), "{error}");
    assert!(error.to_string().contains("--password-stdin"), "{error}");
}
