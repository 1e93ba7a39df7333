//! `--metrics-listen`: after scripted sessions on both front ends (the native client `wharf-ssh`
//! and a raw framed connection; OpenSSH and russh's client over SSH) with a failed login,
//! commands that succeed, fail, time out, hit the output limit, die of a signal or are refused,
//! `/metrics` holds exactly the expected counts, as read by Prometheus's own Python text
//! parser, in async, threading and forking mode (forking: the counts of connection processes
//! reach the exporter); `/healthz` and `/readyz` answer, and `/readyz` fails once the users
//! file is gone or the users database is stopped; a command whose client hangs up counts as
//! `disconnected`.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Disconnect};
use support::raw::Raw;
use support::{Daemon, PASSWORD, TestUser, run_with_input, text};
use tempfile::TempDir;
use wharf_ssh::protocol::{Request, Response};
use wharf_testkit::postgres::PgCluster;
use wharf_testkit::scrape::{Scraped, exporter_addr, scrape, value};

/// The daemon's command time limit in these tests: short, so the timed-out command is quick.
const TIME_LIMIT_SECONDS: f64 = 3.0;
/// The daemon's output cap in these tests: above every other command's output.
const MAX_OUTPUT: usize = 64;

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

/// Runs OpenSSH's `ssh` against `addr` as `user` with only `key`, the command and `stdin`.
fn openssh(addr: SocketAddr, user: &str, key: &Path, command: &str, stdin: &[u8]) -> Output {
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
        // Only this key, offered once: the login count is exact.
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-i",
    ])
    .arg(key)
    .arg("-p")
    .arg(addr.port().to_string())
    .arg(format!("{user}@{}", addr.ip()))
    .arg(command);
    run_with_input(ssh, stdin)
}

/// russh's client, trusting any host key.
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

/// What an SSH exec ended with: the exit status or the exit signal's name.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// `exit-status`.
    Status(u32),
    /// `exit-signal`.
    Signal(String),
}

/// Logs in over SSH with a password and runs `command`; `None` if the login is refused.
fn password_exec(addr: SocketAddr, user: &str, password: &str, command: &str) -> Option<Ended> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let exchange = async {
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
            let mut ended = None;
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::ExitStatus { exit_status } => {
                        ended = Some(Ended::Status(exit_status));
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        ended = Some(Ended::Signal(format!("{signal_name:?}")));
                    }
                    _ => {}
                }
            }
            let _ = session
                .disconnect(Disconnect::ByApplication, "", "en")
                .await;
            Some(ended.expect("the command's end"))
        };
        tokio::time::timeout(support::CLIENT_TIMEOUT, exchange)
            .await
            .expect("the SSH exchange ended in time")
    })
}

/// Runs the refused command through a raw native connection: a command line of spaces.
fn refused_native_command(addr: SocketAddr) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut raw = Raw::logged_in(addr, "alice", PASSWORD).await;
        raw.send(&Request::Exec {
            command: "   ".into(),
        })
        .await;
        let reply: Option<Response> = raw.recv().await;
        assert!(
            matches!(reply, Some(Response::CommandRefused { .. })),
            "{reply:?}"
        );
    });
}

/// Drives the scripted sessions against a daemon in `mode` and checks every family.
fn scripted_sessions_are_counted_exactly(mode: &str) {
    let (_keys, key, public) = keypair();
    let alice = TestUser {
        name: "alice",
        allow_exec: true,
        keys: vec![public],
    };
    let max_output = MAX_OUTPUT.to_string();
    let time_limit = format!("{TIME_LIMIT_SECONDS}s");
    let daemon = Daemon::start_with_ssh(
        mode,
        &[alice],
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--time-limit",
            &time_limit,
            "--max-output",
            &max_output,
        ],
    );
    let exporter = exporter_addr(|| daemon.log_text());
    let ssh_addr = daemon.ssh_addr.expect("ssh address");
    assert!(
        ![daemon.addr, ssh_addr].contains(&exporter),
        "the exporter has a listener of its own"
    );
    let log = daemon.log_text();
    assert!(
        log.lines()
            .filter(|line| line.contains("listening on "))
            .all(|line| !line.contains(&exporter.to_string()) && !line.contains("http")),
        "the exporter is not logged as a command listener: {log}"
    );

    let before = scrape(exporter, &["/metrics"]).remove(0);
    assert_eq!(
        value(&before, "wharf_sshd_sessions_total", "protocol=native"),
        Some(0.0),
        "{}",
        before.body
    );

    // The native client: a failed login, then commands that succeed (with input), fail, time
    // out and reach the output cap; a raw connection whose command line is refused.
    let output = daemon.client_with("alice", "wrong", &[], "true", b"");
    assert_eq!(output.status.code(), Some(255), "{}", text(&output.stderr));
    let output = daemon.client("alice", "cat; printf err >&2", b"hello\n");
    assert_eq!(
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr)
        ),
        (Some(0), "hello\n".to_string(), "err".to_string())
    );
    let output = daemon.client("alice", "exit 3", b"");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let output = daemon.client("alice", "sleep 60", b"");
    assert!(
        text(&output.stderr).contains("time limit"),
        "{:?} {}",
        output.status,
        text(&output.stderr)
    );
    let output = daemon.client("alice", "printf '%0100d' 0", b"");
    assert_eq!(output.stdout, vec![b'0'; MAX_OUTPUT]);
    assert!(
        text(&output.stderr).contains("output limit"),
        "{}",
        text(&output.stderr)
    );
    refused_native_command(daemon.addr);

    // SSH: OpenSSH with the key (input and both streams), then russh's client with a wrong
    // password, a failing command and one killed by a signal.
    let output = openssh(ssh_addr, "alice", &key, "cat; printf e >&2", b"abc");
    assert_eq!(
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr)
        ),
        (Some(0), "abc".to_string(), "e".to_string())
    );
    assert_eq!(password_exec(ssh_addr, "alice", "wrong", "true"), None);
    assert_eq!(
        password_exec(ssh_addr, "alice", PASSWORD, "exit 4"),
        Some(Ended::Status(4))
    );
    assert_eq!(
        password_exec(ssh_addr, "alice", PASSWORD, "kill -TERM $$"),
        Some(Ended::Signal("TERM".to_string()))
    );

    // The last connection's end reaches the gauge just after its last reply.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let scraped = scrape(exporter, &["/metrics"]).remove(0);
        let idle = ["protocol=native", "protocol=ssh"]
            .iter()
            .all(|labels| value(&scraped, "wharf_sshd_sessions_active", labels) == Some(0.0));
        if idle || Instant::now() > deadline {
            break scraped;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );

    let mut expected: Vec<(&str, String, f64)> = Vec::new();
    let mut expect = |name: &'static str, labels: &str, want: f64| {
        expected.push((name, labels.to_string(), want));
    };
    for (protocol, sessions) in [("native", 6.0), ("ssh", 4.0)] {
        expect(
            "wharf_sshd_sessions_active",
            &format!("protocol={protocol}"),
            0.0,
        );
        expect(
            "wharf_sshd_sessions_total",
            &format!("protocol={protocol}"),
            sessions,
        );
        expect(
            "wharf_sshd_commands_running",
            &format!("protocol={protocol}"),
            0.0,
        );
    }
    for (protocol, ok, failed) in [("native", 5.0, 1.0), ("ssh", 3.0, 1.0)] {
        for (result, want) in [("ok", ok), ("failed", failed), ("error", 0.0)] {
            let labels = format!("protocol={protocol},result={result}");
            expect("wharf_sshd_logins_total", &labels, want);
        }
    }
    let commands: [(&str, &[(&str, f64)]); 2] = [
        (
            "native",
            &[
                ("ok", 1.0),
                ("failed", 1.0),
                ("timeout", 1.0),
                ("output_limit", 1.0),
                ("refused", 1.0),
            ],
        ),
        ("ssh", &[("ok", 1.0), ("failed", 1.0), ("signal", 1.0)]),
    ];
    let results = [
        "ok",
        "failed",
        "signal",
        "timeout",
        "output_limit",
        "refused",
        "error",
        "disconnected",
    ];
    for (protocol, counted) in commands {
        for result in results {
            let want = counted
                .iter()
                .find(|(name, _)| *name == result)
                .map_or(0.0, |(_, want)| *want);
            let labels = format!("protocol={protocol},result={result}");
            expect("wharf_sshd_commands_total", &labels, want);
        }
    }
    // Started commands only: the refused one never ran.
    expect("wharf_sshd_command_seconds_count", "protocol=native", 4.0);
    expect("wharf_sshd_command_seconds_count", "protocol=ssh", 3.0);
    expect(
        "wharf_sshd_command_seconds_bucket",
        "le=+Inf,protocol=native",
        4.0,
    );
    expect(
        "wharf_sshd_command_seconds_bucket",
        "le=+Inf,protocol=ssh",
        3.0,
    );
    let native_stdout = ("hello\n".len() + MAX_OUTPUT) as f64;
    for (labels, want) in [
        ("protocol=native,stream=stdout", native_stdout),
        ("protocol=native,stream=stderr", "err".len() as f64),
        ("protocol=ssh,stream=stdout", "abc".len() as f64),
        ("protocol=ssh,stream=stderr", "e".len() as f64),
    ] {
        expect("wharf_sshd_output_bytes_total", labels, want);
    }
    expect("wharf_sshd_input_bytes_total", "protocol=native", 6.0);
    expect("wharf_sshd_input_bytes_total", "protocol=ssh", 3.0);

    let mut wrong = Vec::new();
    for (name, labels, want) in &expected {
        let got = value(&metrics, name, labels);
        if got != Some(*want) {
            wrong.push(format!("{name}{{{labels}}}: got {got:?}, want {want}"));
        }
    }
    // Every command series is one of the above: no label value beyond the documented ones.
    let command_series = metrics
        .samples
        .keys()
        .filter(|(name, _)| name == "wharf_sshd_commands_total")
        .count();
    if command_series != 2 * results.len() {
        wrong.push(format!("{command_series} command series"));
    }
    assert!(wrong.is_empty(), "{mode}: {wrong:#?}\n{}", metrics.body);

    // The timed-out command alone ran for the whole limit.
    let native_seconds = value(
        &metrics,
        "wharf_sshd_command_seconds_sum",
        "protocol=native",
    )
    .expect("native command seconds");
    assert!(
        native_seconds >= TIME_LIMIT_SECONDS,
        "{mode}: {native_seconds}"
    );
    // Buckets are cumulative as exposed: never falling, ending at the count.
    let mut buckets: Vec<(f64, f64)> = metrics
        .samples
        .iter()
        .filter(|((name, labels), _)| {
            name == "wharf_sshd_command_seconds_bucket" && labels.ends_with("protocol=native")
        })
        .map(|((_, labels), count)| {
            let bound = labels
                .trim_start_matches("le=")
                .split(',')
                .next()
                .unwrap_or_default();
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().expect("le")
            };
            (bound, *count)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        buckets.len() > 2 && buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1),
        "{mode}: {buckets:?}"
    );
    for (family, kind) in [
        ("wharf_sshd_sessions_active", "gauge"),
        ("wharf_sshd_sessions", "counter"),
        ("wharf_sshd_logins", "counter"),
        ("wharf_sshd_commands", "counter"),
        ("wharf_sshd_commands_running", "gauge"),
        ("wharf_sshd_command_seconds", "histogram"),
        ("wharf_sshd_output_bytes", "counter"),
        ("wharf_sshd_input_bytes", "counter"),
    ] {
        assert_eq!(
            metrics.families.get(family).map(String::as_str),
            Some(kind),
            "{mode}: {family}: {:?}",
            metrics.families
        );
    }

    // Health: alive and ready; then the users file goes and readiness fails with a reason.
    let health = scrape(exporter, &["/healthz", "/readyz", "/nowhere"]);
    assert_eq!(
        (health[0].status, health[1].status, health[2].status),
        (200, 200, 404),
        "{mode}"
    );
    std::fs::remove_file(daemon.root.path().join("users.toml")).expect("remove users file");
    let health = scrape(exporter, &["/healthz", "/readyz"]);
    assert_eq!(health[0].status, 200, "{mode}: still alive");
    assert_eq!(health[1].status, 503, "{mode}: {}", health[1].body);
    assert!(
        health[1].body.contains("users file"),
        "{mode}: {}",
        health[1].body
    );
}

#[test]
fn metrics_count_scripted_sessions_exactly_in_async_mode() {
    scripted_sessions_are_counted_exactly("async");
}

#[test]
fn metrics_count_scripted_sessions_exactly_in_forking_mode() {
    scripted_sessions_are_counted_exactly("forking");
}

#[test]
fn metrics_count_scripted_sessions_exactly_in_threading_mode() {
    scripted_sessions_are_counted_exactly("threading");
}

#[test]
fn without_metrics_listen_no_exporter_starts() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    let output = daemon.client("alice", "true", b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        !daemon.log_text().contains("metrics exporter"),
        "{}",
        daemon.log_text()
    );
}

/// Logs in over SSH, starts `command`, calls `while_running` (off the client's runtime, which
/// must go on sending the request meanwhile), and hangs up.
fn ssh_hang_up_during(
    addr: SocketAddr,
    command: &str,
    while_running: impl FnOnce() + Send + 'static,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = Arc::new(client::Config::default());
        let mut session = client::connect(config, addr, TrustingClient)
            .await
            .expect("connect");
        let auth = session
            .authenticate_password("alice", PASSWORD)
            .await
            .expect("auth exchange");
        assert!(auth.success());
        let channel = session.channel_open_session().await.expect("channel");
        channel.exec(true, command).await.expect("exec");
        tokio::task::spawn_blocking(while_running)
            .await
            .expect("the check while the command runs");
        drop(channel);
        drop(session);
    });
}

/// Polls `/metrics` until `done` holds (20 s at most); returns the last scrape.
fn scrape_until(exporter: SocketAddr, done: impl Fn(&Scraped) -> bool) -> Scraped {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let scraped = scrape(exporter, &["/metrics"]).remove(0);
        if done(&scraped) || Instant::now() > deadline {
            return scraped;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Checks that one command of `protocol` runs now (or soon: russh's `exec` does not wait for
/// the server's answer).
fn assert_running(exporter: SocketAddr, protocol: &str, mode: &str) {
    let scraped = scrape_until(exporter, |scraped| {
        value(scraped, "wharf_sshd_commands_running", protocol) == Some(1.0)
    });
    assert_eq!(
        value(&scraped, "wharf_sshd_commands_running", protocol),
        Some(1.0),
        "{mode}: {}",
        scraped.body
    );
}

#[test]
fn a_command_whose_client_hangs_up_counts_as_disconnected_in_async_and_forking_mode() {
    for mode in ["async", "forking"] {
        let daemon = Daemon::start_with_ssh(
            mode,
            &[TestUser::exec("alice")],
            &["--metrics-listen", "127.0.0.1:0"],
        );
        let exporter = exporter_addr(|| daemon.log_text());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            raw.send(&Request::Exec {
                command: "sleep 60".into(),
            })
            .await;
            let started: Option<Response> = raw.recv().await;
            assert_eq!(started, Some(Response::Started), "{mode}");
            assert_running(exporter, "protocol=native", mode);
        });
        ssh_hang_up_during(
            daemon.ssh_addr.expect("ssh address"),
            "sleep 60",
            move || {
                assert_running(exporter, "protocol=ssh", mode);
            },
        );
        let metrics = scrape_until(exporter, |scraped| {
            ["protocol=native", "protocol=ssh"].iter().all(|protocol| {
                value(
                    scraped,
                    "wharf_sshd_commands_total",
                    &format!("{protocol},result=disconnected"),
                ) == Some(1.0)
                    && value(scraped, "wharf_sshd_commands_running", protocol) == Some(0.0)
                    && value(scraped, "wharf_sshd_sessions_active", protocol) == Some(0.0)
            })
        });
        for protocol in ["protocol=native", "protocol=ssh"] {
            for (name, labels, want) in [
                (
                    "wharf_sshd_commands_total",
                    format!("{protocol},result=disconnected"),
                    1.0,
                ),
                ("wharf_sshd_commands_running", protocol.to_string(), 0.0),
                ("wharf_sshd_sessions_active", protocol.to_string(), 0.0),
                (
                    "wharf_sshd_command_seconds_count",
                    protocol.to_string(),
                    1.0,
                ),
            ] {
                assert_eq!(
                    value(&metrics, name, &labels),
                    Some(want),
                    "{mode}: {name}{{{labels}}}\n{}",
                    metrics.body
                );
            }
        }
    }
}

/// Polls `/readyz` until it answers `status` (20 s at most); returns the last body.
fn wait_for_readiness(exporter: SocketAddr, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = scrape(exporter, &["/readyz"]).remove(0);
        if ready.status == status {
            return ready.body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {} ({}), want {status}",
            ready.status,
            ready.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn readyz_fails_while_the_users_database_is_stopped() {
    let mut cluster = PgCluster::start();
    let url = cluster.url_without_password(&cluster.new_database("sshd_metrics"));
    let password = cluster.password().to_string();
    // The daemon applies the migrations at start: an empty, migrated database is enough.
    let daemon = Daemon::serve(
        tempfile::tempdir().expect("temp dir"),
        "forking",
        url.as_ref(),
        &[("PGPASSWORD", &password)],
        &["--metrics-listen", "127.0.0.1:0"],
        false,
    );
    let exporter = exporter_addr(|| daemon.log_text());
    wait_for_readiness(exporter, 200);

    cluster.stop();
    let reason = wait_for_readiness(exporter, 503);
    assert!(reason.contains("not ready"), "{reason}");
    assert_eq!(
        scrape(exporter, &["/healthz"])[0].status,
        200,
        "still alive"
    );

    cluster.restart();
    wait_for_readiness(exporter, 200);
}
