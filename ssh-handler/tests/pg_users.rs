//! wharf-sshd over users in PostgreSQL: `wharf-sshd user ...` against the database, logins and
//! commands in every mode, refusals alike for a wrong password and an unknown user, and changes
//! made while the daemon runs taking effect without a restart.

mod support;

use std::process::{Command, Output};

use support::{Daemon, MODES, PASSWORD, give_to_command_user, make_traversable, text};
use wharf_ssh::native::LOGIN_REFUSED;
use wharf_testkit::postgres::PgCluster;

/// Runs `wharf-sshd user ARGS` with `stdin`, the cluster's password in `PGPASSWORD` only.
fn user(cluster: &PgCluster, arguments: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf-sshd"));
    command
        .arg("user")
        .args(arguments)
        .env("PGPASSWORD", cluster.password());
    wharf_testkit::process::output_with_input(&mut command, stdin.as_bytes())
        .expect("run wharf-sshd user")
}

/// Like [`user`], and the command must succeed.
fn user_ok(cluster: &PgCluster, arguments: &[&str], stdin: &str) -> String {
    let output = user(cluster, arguments, stdin);
    assert!(
        output.status.success(),
        "wharf-sshd user {arguments:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn users_in_postgresql_log_in_and_run_commands_in_every_mode_and_changes_apply_at_once() {
    let cluster = PgCluster::shared();
    let url = cluster.url_without_password(&cluster.new_database("sshd"));
    let root = tempfile::tempdir().expect("temp dir");
    make_traversable(root.path());
    let home = root.path().join("home").join("alice");
    std::fs::create_dir_all(&home).expect("home");
    give_to_command_user(&home);
    let home_arg = home.to_string_lossy().into_owned();
    user_ok(
        cluster,
        &[
            "add",
            "alice",
            "--users",
            &url,
            "--home",
            &home_arg,
            "--allow-exec",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let listed = user_ok(cluster, &["list", "--users", &url], "");
    assert!(listed.contains("alice"), "{listed}");
    // A second add of the same name is refused and changes nothing.
    let again = user(
        cluster,
        &[
            "add",
            "alice",
            "--users",
            &url,
            "--home",
            &home_arg,
            "--password-stdin",
        ],
        "other\n",
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("alice"),
        "{}",
        text(&again.stderr)
    );

    let env = [("PGPASSWORD", cluster.password())];
    for mode in MODES {
        let daemon = Daemon::serve(
            tempfile::tempdir().expect("temp dir"),
            mode,
            url.as_ref(),
            &env,
            &[],
            false,
        );
        let ran = daemon.client("alice", "echo from-the-database", b"");
        assert_eq!(ran.status.code(), Some(0), "{mode}: {}", text(&ran.stderr));
        assert_eq!(text(&ran.stdout), "from-the-database\n", "{mode}");
        let refused = [("alice", "wrong"), ("mallory", PASSWORD)].map(|(name, password)| {
            let output = daemon.client_with(name, password, &[], "echo no", b"");
            assert_eq!(output.status.code(), Some(255), "{mode}: {name}");
            assert!(output.stdout.is_empty(), "{mode}: {name} ran a command");
            text(&output.stderr)
        });
        assert_eq!(
            refused[0],
            format!("wharf-ssh: login refused: {LOGIN_REFUSED}\n"),
            "{mode}"
        );
        assert_eq!(refused[0], refused[1], "{mode}");
    }

    // Changed while a daemon runs: the next login sees the new password, then the deletion.
    let daemon = Daemon::serve(
        tempfile::tempdir().expect("temp dir"),
        "async",
        url.as_ref(),
        &env,
        &[],
        false,
    );
    user_ok(
        cluster,
        &["passwd", "alice", "--users", &url, "--password-stdin"],
        "new password\n",
    );
    let old = daemon.client("alice", "echo old", b"");
    assert_eq!(old.status.code(), Some(255), "the old password still works");
    let new = daemon.client_with("alice", "new password", &[], "echo new", b"");
    assert_eq!(new.status.code(), Some(0), "{}", text(&new.stderr));
    user_ok(cluster, &["del", "alice", "--users", &url], "");
    let gone = daemon.client_with("alice", "new password", &[], "echo gone", b"");
    assert_eq!(
        gone.status.code(),
        Some(255),
        "a deleted user still logs in"
    );
    assert!(!user_ok(cluster, &["list", "--users", &url], "").contains("alice"));
}
