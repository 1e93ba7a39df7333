//! The `wharf-sshd` command line: the shared `user` subcommands and `serve`'s flags.

mod support;

use std::process::Command;

use support::{Daemon, PASSWORD, run_with_input, text};

/// Runs `wharf-sshd` with `args` and `stdin`.
fn sshd(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wharf-sshd"));
    command.args(args);
    run_with_input(command, stdin)
}

#[test]
fn users_added_with_wharf_sshd_log_in_and_permission_changes_apply_at_once() {
    let root = tempfile::tempdir().expect("temp dir");
    let users = root.path().join("users.toml");
    let users_arg = users.to_str().expect("utf-8");
    let home = root.path().join("home").join("erin");
    let key_file = root.path().join("erin.pub");
    std::fs::write(&key_file, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu91usumKai59f8sQFe91l0FyqlUexFz6C6850dLJ7N erin@laptop\n")
        .expect("key file");
    let add = [
        "user",
        "add",
        "erin",
        "--users",
        users_arg,
        "--home",
        home.to_str().expect("utf-8"),
        "--allow-exec",
        "--authorized-key",
        key_file.to_str().expect("utf-8"),
        "--password-stdin",
    ];
    let output = sshd(&add, format!("{PASSWORD}\n").as_bytes());
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(home.is_dir(), "the home directory is created");
    let listing = sshd(&["user", "list", "--users", users_arg], b"");
    assert!(
        text(&listing.stdout).contains("erin"),
        "{}",
        text(&listing.stdout)
    );
    let stored = std::fs::read_to_string(&users).expect("users file");
    assert!(stored.contains("allow_exec = true"), "{stored}");
    assert!(stored.contains("erin@laptop"), "{stored}");

    let daemon = Daemon::start_in(root, "async", &[], &[], false);
    let output = daemon.client("erin", "echo hello from $USER", b"");
    assert_eq!(
        text(&output.stdout),
        "hello from erin\n",
        "{}",
        text(&output.stderr)
    );
    // Revoking the permission takes effect on the running server.
    let users_arg = daemon.root.path().join("users.toml");
    let revoke = sshd(
        &[
            "user",
            "exec",
            "erin",
            "--users",
            users_arg.to_str().expect("utf-8"),
            "--deny",
        ],
        b"",
    );
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let output = daemon.client("erin", "echo should not run", b"");
    assert_eq!(output.status.code(), Some(255));
    assert!(
        text(&output.stderr).contains("login refused"),
        "{}",
        text(&output.stderr)
    );
}

/// Asserts that `wharf-sshd` with `args` fails with `expected` on stderr.
fn assert_refused(args: &[&str], expected: &str) {
    let output = sshd(args, b"");
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
}

#[test]
fn serve_reports_bad_settings_clearly() {
    assert_refused(&["serve", "--users", "/nonexistent/users.toml"], "--listen");
    assert_refused(
        &[
            "serve",
            "--users",
            "/nonexistent/users.toml",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "/tmp",
        ],
        "users file",
    );
    let serve = ["serve", "--users", "u", "--listen", "127.0.0.1:0"];
    assert_refused(
        &[&serve[..], &["--time-limit", "0"]].concat(),
        "invalid duration",
    );
    let output = sshd(&[&serve[..], &["--tls-cert", "c.pem"]].concat(), b"");
    assert!(!output.status.success(), "--tls-cert needs --tls-key");
}

#[test]
fn the_client_rejects_a_bad_target_and_a_missing_command() {
    let mut client = Command::new(env!("CARGO_BIN_EXE_wharf-ssh"));
    client.args(["no-user-here", "true"]);
    let output = run_with_input(client, b"");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("user@host"),
        "{}",
        text(&output.stderr)
    );

    let mut client = Command::new(env!("CARGO_BIN_EXE_wharf-ssh"));
    client.arg("alice@127.0.0.1:1");
    let output = run_with_input(client, b"");
    assert!(!output.status.success(), "a command is required");

    // Nothing listens on port 1: a connection error, with ssh's failure status.
    let mut client = Command::new(env!("CARGO_BIN_EXE_wharf-ssh"));
    client
        .args(["alice@127.0.0.1:1", "true"])
        .env("WHARF_SSH_PASSWORD", "x");
    let output = run_with_input(client, b"");
    assert_eq!(output.status.code(), Some(255));
    assert!(
        text(&output.stderr).contains("cannot connect"),
        "{}",
        text(&output.stderr)
    );
}
