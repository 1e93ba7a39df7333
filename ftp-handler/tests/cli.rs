//! The command-line contract of DESIGN section 3, driven as an outside user would:
//! `user add|passwd|list|del`, `serve` with those users, and `demo`.

mod support;

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::common::ftpd::{self, BIN, FtpdProcess};
use support::raw::Raw;
use wharf_testkit::daemon::DaemonBuilder;

/// Runs `wharf-ftpd ARGS` with `stdin`, asserting success; returns stdout.
fn run(args: &[&str], stdin: &str) -> String {
    let output =
        wharf_testkit::process::output_with_input(Command::new(BIN).args(args), stdin.as_bytes())
            .expect("run wharf-ftpd");
    assert!(
        output.status.success(),
        "wharf-ftpd {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stops a daemon with SIGINT (Ctrl-C) and waits for it, bounded.
fn interrupt(daemon: &mut FtpdProcess) -> std::process::ExitStatus {
    daemon.signal(Signal::SIGINT);
    daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the server did not stop on SIGINT")
}

#[test]
fn user_subcommands_manage_the_users_that_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let users = users.to_str().unwrap();
    let home = dir.path().join("homes/carol");
    run(
        &[
            "user",
            "add",
            "carol",
            "--users",
            users,
            "--home",
            home.to_str().unwrap(),
            "--quota",
            "10MiB",
            "--password-stdin",
        ],
        "first-pass\n",
    );
    assert!(home.is_dir(), "user add creates the home");
    let listed = run(&["user", "list", "--users", users], "");
    assert!(listed.contains("carol"), "{listed}");
    run(
        &[
            "user",
            "passwd",
            "carol",
            "--users",
            users,
            "--password-stdin",
        ],
        "second-pass\n",
    );

    let state = dir.path().join("state");
    let mut server = DaemonBuilder::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--users",
            users,
            "--mode",
            "threading",
        ])
        .arg("--state-dir")
        .arg(&state)
        .args(["--passive-ports", "40100-40199"])
        .env("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "10ms")
        .start();
    let addr = server.addr();
    let (mut raw, _) = Raw::connect(addr);
    raw.cmd("USER carol");
    assert_eq!(raw.cmd("PASS first-pass").code, 530, "old password refused");
    drop(raw);
    let mut raw = Raw::login(addr, "carol", "second-pass");
    let epsv = raw.cmd("EPSV");
    let port: u16 = epsv.lines[0]
        .split("(|||")
        .nth(1)
        .and_then(|rest| rest.split('|').next())
        .and_then(|port| port.parse().ok())
        .expect("EPSV port");
    assert!(
        (40100..=40199).contains(&port),
        "passive port {port} outside --passive-ports"
    );
    let quota = raw.cmd("SITE QUOTA");
    assert!(quota.text().contains("Bytes limit: 10485760"), "{quota:?}");
    raw.cmd("QUIT");

    run(&["user", "del", "carol", "--users", users], "");
    let (mut raw, _) = Raw::connect(addr);
    raw.cmd("USER carol");
    assert_eq!(
        raw.cmd("PASS second-pass").code,
        530,
        "deleted user refused"
    );
    drop(raw);
    assert!(interrupt(&mut server).success());
}

#[test]
fn serve_refuses_bad_configuration_with_a_clear_message() {
    let output = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--users",
            "/nonexistent/users.toml",
        ])
        .env("WHARF_FTPD__LIMITS__IDLE_TIMEOUT", "soon")
        .output()
        .expect("run serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("idle_timeout") && stderr.contains("soon"),
        "{stderr}"
    );
    let output = Command::new(BIN)
        .args(["serve", "--mode", "spawning"])
        .output()
        .expect("run serve");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("spawning"));
}

#[test]
fn demo_prints_how_to_connect_serves_demo_and_cleans_up_on_ctrl_c() {
    let mut demo = ftpd::demo();
    let addr = demo.addr();
    let banner = demo.wait_for_stdout("Ctrl-C", Duration::from_secs(60));
    assert!(
        banner.contains(&format!(
            "curl -u demo:demo ftp://127.0.0.1:{}/",
            addr.port()
        )),
        "{banner}"
    );
    assert!(
        banner.contains("lftp") && banner.contains("ftplib"),
        "{banner}"
    );
    let home_line = banner
        .lines()
        .find(|line| line.starts_with("files live in "))
        .expect("home line");
    let home = std::path::PathBuf::from(
        home_line["files live in ".len()..]
            .split(" (")
            .next()
            .expect("path"),
    );
    assert!(home.is_dir());

    let mut raw = Raw::login(addr, "demo", "demo");
    let quota = raw.cmd("SITE QUOTA");
    assert!(quota.text().contains("Bytes limit: 104857600"), "{quota:?}");
    raw.cmd("QUIT");
    if support::have("curl") {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-u", "demo:demo"])
            .arg(format!("ftp://127.0.0.1:{}/", addr.port()))
            .output()
            .expect("curl");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(interrupt(&mut demo).success());
    assert!(
        !home.exists(),
        "demo root left behind at {}",
        home.display()
    );
}
