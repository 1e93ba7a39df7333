//! The SSH front end with the stock OpenSSH client (key authentication) and with russh's client
//! (password authentication): exec with stdin, stdout, stderr and exit status; shell and pty
//! refused promptly; a host key that survives restarts.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Disconnect};
use support::{Daemon, MODES, PASSWORD, TestUser, run_with_input, run_within, text};
use tempfile::TempDir;

/// How long a refused shell may take: far beyond the refusal itself (well under a second), far
/// below the server's idle timeout, so only a hang fails it.
const PROMPT_REFUSAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A fresh ed25519 key pair made by OpenSSH's own `ssh-keygen`: (dir, private key, public line).
fn keypair() -> (TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@wharf", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) must be installed: scripts/test installs it");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    (dir, key, public.trim().to_string())
}

/// Runs OpenSSH's `ssh` against `addr` as `user` with `key`, extra options, the command (none
/// asks for a shell) and `stdin`.
fn openssh(
    addr: SocketAddr,
    user: &str,
    key: &Path,
    options: &[&str],
    command: Option<&str>,
    stdin: &[u8],
) -> Output {
    run_with_input(openssh_command(addr, user, key, options, command), stdin)
}

/// The `ssh` command line [`openssh`] runs.
fn openssh_command(
    addr: SocketAddr,
    user: &str,
    key: &Path,
    options: &[&str],
    command: Option<&str>,
) -> Command {
    let mut ssh = Command::new("ssh");
    ssh.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=30",
        "-i",
    ])
    .arg(key)
    .arg("-p")
    .arg(addr.port().to_string())
    .args(options)
    .arg(format!("{user}@{}", addr.ip()))
    .args(command);
    ssh
}

/// Users for these tests: carol has the key, dave has it but may not run commands.
fn users(public: &str) -> [TestUser; 2] {
    [
        TestUser {
            name: "carol",
            allow_exec: true,
            keys: vec![public.to_string()],
        },
        TestUser {
            name: "dave",
            allow_exec: false,
            keys: vec![public.to_string()],
        },
    ]
}

#[test]
fn openssh_runs_commands_with_key_authentication_in_every_mode() {
    let (_keys, key, public) = keypair();
    for mode in MODES {
        let daemon = Daemon::start_with_ssh(mode, &users(&public), &[]);
        let addr = daemon.ssh_addr.expect("ssh address");
        let output = openssh(
            addr,
            "carol",
            &key,
            &[],
            Some("echo out; echo err >&2; exit 7"),
            b"",
        );
        assert_eq!(
            output.status.code(),
            Some(7),
            "{mode}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout), "out\n", "{mode}");
        assert_eq!(text(&output.stderr), "err\n", "{mode}");

        let output = openssh(addr, "carol", &key, &[], Some("cat; pwd"), b"through ssh\n");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mode}: {}",
            text(&output.stderr)
        );
        let home = daemon.home("carol");
        assert_eq!(
            text(&output.stdout),
            format!("through ssh\n{}\n", home.display()),
            "{mode}"
        );

        // The key is right but the user may not run commands.
        let output = openssh(addr, "dave", &key, &[], Some("true"), b"");
        assert_eq!(output.status.code(), Some(255), "{mode}");
        assert!(
            text(&output.stderr).contains("Permission denied"),
            "{mode}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn openssh_streams_large_input_and_output() {
    let (_keys, key, public) = keypair();
    let daemon = Daemon::start_with_ssh("async", &users(&public), &[]);
    let addr = daemon.ssh_addr.expect("ssh address");
    let input = support::random_bytes(4 << 20, 11);
    let output = openssh(addr, "carol", &key, &[], Some("cat"), &input);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        output.stdout == input,
        "cat over ssh returned {} other bytes",
        output.stdout.len()
    );
}

#[test]
fn openssh_without_a_command_is_refused_promptly() {
    let (_keys, key, public) = keypair();
    for mode in MODES {
        let daemon = Daemon::start_with_ssh(mode, &users(&public), &[]);
        let addr = daemon.ssh_addr.expect("ssh address");
        // No command: OpenSSH asks for a shell. A refusal is immediate; waiting for the
        // connection's idle timeout (two minutes here) would fail this bound.
        let shell = openssh_command(addr, "carol", &key, &[], None);
        let output = run_within(shell, b"", PROMPT_REFUSAL);
        assert_eq!(output.status.code(), Some(255), "{mode}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("interactive shells are not supported"),
            "{mode}: {stderr}"
        );
        // A forced terminal is refused too (OpenSSH then gives up, as -tt asks it to).
        let output = openssh(addr, "carol", &key, &["-tt"], Some("echo hi"), b"");
        assert_eq!(output.status.code(), Some(255), "{mode}");
        assert!(!text(&output.stdout).contains("hi"), "{mode}");
        assert!(
            text(&output.stderr).contains("PTY allocation request failed"),
            "{mode}"
        );
    }
}

#[test]
fn the_host_key_is_generated_once_and_kept_across_restarts() {
    let (_keys, _key, public) = keypair();
    let root = tempfile::tempdir().expect("temp dir");
    support::write_users(root.path(), &users(&public));
    let key_file = root.path().join("state").join("ssh_host_ed25519_key.pub");
    let first = Daemon::start_in(root, "async", &[], &[], true);
    let served_first = keyscan(first.ssh_addr.expect("ssh address"));
    let stored = std::fs::read_to_string(&key_file).expect("public host key");
    assert_eq!(
        served_first,
        key_blob(&stored),
        "the served key is the stored one"
    );
    let root = first.stop_and_keep_root();
    let second = Daemon::start_in(root, "async", &[], &[], true);
    let served_second = keyscan(second.ssh_addr.expect("ssh address"));
    assert_eq!(
        served_first, served_second,
        "the host key changed across a restart"
    );
}

/// The ed25519 host key blob `ssh-keyscan` reads from the server.
fn keyscan(addr: SocketAddr) -> String {
    let mut scan = Command::new("ssh-keyscan");
    scan.args([
        "-T",
        "30",
        "-t",
        "ed25519",
        "-p",
        &addr.port().to_string(),
        &addr.ip().to_string(),
    ]);
    let output = run_with_input(scan, b"");
    let listing = text(&output.stdout);
    let line = listing
        .lines()
        .find(|line| line.contains("ssh-ed25519"))
        .unwrap_or_else(|| {
            panic!(
                "ssh-keyscan found no key: {listing} {}",
                text(&output.stderr)
            )
        });
    key_blob(line)
}

/// The base64 blob after `ssh-ed25519` in a key line.
fn key_blob(line: &str) -> String {
    let mut words = line
        .split_whitespace()
        .skip_while(|word| *word != "ssh-ed25519");
    words.nth(1).expect("key blob").to_string()
}

/// russh's client, trusting any host key (the test checks the host key separately).
struct TrustingClient;

impl client::Handler for TrustingClient {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// What an SSH exec sent back.
#[derive(Debug, Default)]
struct Exec {
    /// Channel data.
    stdout: Vec<u8>,
    /// Extended data of type 1.
    stderr: Vec<u8>,
    /// The exit-status, if one came.
    status: Option<u32>,
    /// The exit-signal name, if one came.
    signal: Option<String>,
}

/// Logs in with a password over SSH and runs `command`; `None` if the login is refused.
async fn password_exec(
    addr: SocketAddr,
    user: &str,
    password: &str,
    command: &str,
) -> Option<Exec> {
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, addr, TrustingClient)
        .await
        .expect("connect");
    let auth = session
        .authenticate_password(user, password)
        .await
        .expect("auth exchange");
    if !auth.success() {
        return None;
    }
    let mut channel = session.channel_open_session().await.expect("channel");
    channel.exec(true, command).await.expect("exec");
    let mut exec = Exec::default();
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => exec.stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => exec.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => exec.status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exec.signal = Some(format!("{signal_name:?}"))
            }
            _ => {}
        }
    }
    let _ = session
        .disconnect(Disconnect::ByApplication, "", "en")
        .await;
    Some(exec)
}

#[test]
fn ssh_password_logins_follow_the_users_file_in_every_mode() {
    let users = [TestUser::exec("alice"), TestUser::no_exec("bob")];
    for mode in MODES {
        let daemon = Daemon::start_with_ssh(mode, &users, &["--time-limit", "2s"]);
        let addr = daemon.ssh_addr.expect("ssh address");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let ran =
                    password_exec(addr, "alice", PASSWORD, "echo pw; echo e >&2; exit 4").await;
                let exec = ran.expect("alice logs in");
                assert_eq!(
                    (text(&exec.stdout), text(&exec.stderr), exec.status),
                    ("pw\n".into(), "e\n".into(), Some(4)),
                    "{mode}"
                );
                let exec = password_exec(addr, "alice", PASSWORD, "kill -TERM $$")
                    .await
                    .expect("login");
                assert_eq!(
                    (exec.status, exec.signal.as_deref()),
                    (None, Some("TERM")),
                    "{mode}"
                );
                assert!(
                    password_exec(addr, "alice", "wrong", "true")
                        .await
                        .is_none(),
                    "{mode}"
                );
                assert!(
                    password_exec(addr, "nobody", PASSWORD, "true")
                        .await
                        .is_none(),
                    "{mode}"
                );
                assert!(
                    password_exec(addr, "bob", PASSWORD, "true").await.is_none(),
                    "{mode}"
                );
                // Limits apply on this front end too.
                let exec = password_exec(addr, "alice", PASSWORD, "sleep 100")
                    .await
                    .expect("login");
                assert_eq!(
                    (exec.status, exec.signal.as_deref()),
                    (None, Some("KILL")),
                    "{mode}"
                );
                let stderr = text(&exec.stderr);
                assert!(
                    stderr.contains("time limit of 2 s was reached"),
                    "{mode}: {stderr}"
                );
            });
    }
}
