//! Logins: a wrong password, an unknown user and a user without command permission are refused
//! alike; TLS wraps the same protocol.

mod support;

use std::process::Command;

use support::raw::Raw;
use support::{Daemon, MODES, PASSWORD, TestUser, text};
use wharf_ssh::native::LOGIN_REFUSED;
use wharf_ssh::protocol::{PROTOCOL_VERSION, Response, ServerHello};

#[test]
fn refused_logins_look_the_same_whatever_the_reason_in_every_mode() {
    let users = [TestUser::exec("alice"), TestUser::no_exec("bob")];
    for mode in MODES {
        let daemon = Daemon::start(mode, &users, &[]);
        let attempts = [
            ("alice", "wrong password"),
            ("nobody", PASSWORD),
            ("bob", PASSWORD),
        ];
        let mut client_errors = Vec::new();
        for (user, password) in attempts {
            let output = daemon.client_with(user, password, &[], "echo should not run", b"");
            assert_eq!(output.status.code(), Some(255), "{mode}: {user}");
            assert!(output.stdout.is_empty(), "{mode}: {user} ran a command");
            client_errors.push(text(&output.stderr));
        }
        assert_eq!(
            client_errors[0],
            format!("wharf-ssh: login refused: {LOGIN_REFUSED}\n"),
            "{mode}"
        );
        assert!(
            client_errors.iter().all(|error| *error == client_errors[0]),
            "{mode}: {client_errors:?}"
        );
        // On the wire too: the very same frame for every reason.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                for (user, password) in attempts {
                    let mut raw = Raw::connect(daemon.addr).await;
                    assert!(matches!(
                        raw.hello(PROTOCOL_VERSION).await,
                        ServerHello::Accepted { .. }
                    ));
                    let reply = raw.login(user, password).await;
                    let expected = Response::LoginRefused {
                        message: LOGIN_REFUSED.into(),
                    };
                    assert_eq!(reply, Some(expected), "{mode}: {user}");
                }
            });
    }
}

#[test]
fn a_connection_is_closed_after_three_failed_logins() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let mut raw = Raw::connect(daemon.addr).await;
            assert!(matches!(
                raw.hello(PROTOCOL_VERSION).await,
                ServerHello::Accepted { .. }
            ));
            for _ in 0..3 {
                let reply = raw.login("alice", "guess").await;
                assert!(
                    matches!(reply, Some(Response::LoginRefused { .. })),
                    "{reply:?}"
                );
            }
            let closing = raw.recv::<Response>().await;
            assert_eq!(
                closing,
                Some(Response::Error {
                    message: "too many failed logins".into()
                })
            );
            assert!(raw.recv::<Response>().await.is_none());
        });
}

#[test]
fn the_native_protocol_runs_inside_tls() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let flags = [
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ];
    for mode in ["async", "forking"] {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &flags);
        let tls_flags = ["--tls", "--tls-ca", cert.to_str().expect("utf-8")];
        let output = daemon.client_with("alice", PASSWORD, &tls_flags, "cat; exit 3", b"over tls");
        assert_eq!(
            output.status.code(),
            Some(3),
            "{mode}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout), "over tls", "{mode}");
        // A plain client cannot talk to the TLS port.
        let output = daemon.client("alice", "true", b"");
        assert_eq!(output.status.code(), Some(255), "{mode}");
    }
    // A client that does not trust the certificate refuses the server.
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &flags);
    let other =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).expect("write");
    let output = daemon.client_with(
        "alice",
        PASSWORD,
        &["--tls", "--tls-ca", other_ca.to_str().expect("utf-8")],
        "true",
        b"",
    );
    assert_eq!(output.status.code(), Some(255));
    assert!(
        text(&output.stderr).contains("TLS handshake"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn without_a_password_or_a_terminal_the_client_says_how_to_give_one() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    // setsid: no controlling terminal, as under CI.
    let mut detached = Command::new("setsid");
    detached
        .arg(env!("CARGO_BIN_EXE_wharf-ssh"))
        .arg(daemon.target("alice"))
        .arg("true")
        .env_remove("WHARF_SSH_PASSWORD");
    let output = support::run_with_input(detached, b"");
    assert_eq!(output.status.code(), Some(255));
    assert!(
        text(&output.stderr).contains("WHARF_SSH_PASSWORD"),
        "{}",
        text(&output.stderr)
    );
}
