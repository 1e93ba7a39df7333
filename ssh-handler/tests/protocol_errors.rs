//! Broken clients get a clear error, never a hang or a crash: malformed frames, oversized
//! frames, another protocol version, requests out of order.

mod support;

use support::raw::Raw;
use support::{Daemon, MODES, PASSWORD, TestUser};
use wharf::frame::encode_frame;
use wharf_ssh::protocol::{
    ClientHello, MAX_FRAME_SIZE, PROTOCOL_NAME, PROTOCOL_VERSION, Request, Response, ServerHello,
};

/// Runs `body` on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body)
}

/// The message of a refused hello.
fn refusal(hello: ServerHello) -> String {
    match hello {
        ServerHello::Refused { supported, message } => {
            assert_eq!(supported, PROTOCOL_VERSION);
            message
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The message of an `Error` response; the server closes the connection after it.
async fn error_then_close(raw: &mut Raw) -> String {
    let message = match raw.recv::<Response>().await {
        Some(Response::Error { message }) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    assert!(
        raw.recv::<Response>().await.is_none(),
        "the connection stays open after: {message}"
    );
    message
}

#[test]
fn a_wrong_protocol_version_is_refused_with_the_supported_one_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &[]);
        block_on(async {
            let mut raw = Raw::connect(daemon.addr).await;
            let message = refusal(raw.hello(PROTOCOL_VERSION + 1).await);
            assert!(
                message.contains("unsupported protocol version 2"),
                "{mode}: {message}"
            );
            assert!(
                raw.recv::<ServerHello>().await.is_none(),
                "{mode}: closed after the refusal"
            );

            let mut raw = Raw::connect(daemon.addr).await;
            raw.send(&ClientHello {
                protocol: "not-wharf".into(),
                version: PROTOCOL_VERSION,
                client: "test".into(),
            })
            .await;
            let message = refusal(raw.recv().await.expect("answer"));
            assert!(
                message.contains("unknown protocol \"not-wharf\""),
                "{mode}: {message}"
            );
            assert!(message.contains(PROTOCOL_NAME), "{mode}: {message}");
        });
        // The server is still serving.
        let output = daemon.client("alice", "echo alive", b"");
        assert_eq!(support::text(&output.stdout), "alive\n", "{mode}");
    }
}

#[test]
fn a_malformed_hello_is_answered_with_a_clear_refusal() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    block_on(async {
        // A valid frame whose payload is not a hello (the string length runs past the end).
        let mut raw = Raw::connect(daemon.addr).await;
        raw.send_bytes(&[0, 0, 0, 3, 200, 1, 2]).await;
        let message = refusal(raw.recv().await.expect("answer"));
        assert!(message.contains("bad hello: malformed frame"), "{message}");

        // Someone speaking another protocol entirely (an HTTP request).
        let mut raw = Raw::connect(daemon.addr).await;
        raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let message = refusal(raw.recv().await.expect("answer"));
        assert!(message.contains("bad hello: frame of"), "{message}");
        assert!(message.contains("over the limit"), "{message}");
    });
}

#[test]
fn malformed_and_oversized_frames_after_login_get_an_error_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &[]);
        block_on(async {
            // An unknown request variant.
            let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            raw.send_bytes(&[0, 0, 0, 2, 42, 0]).await;
            let message = error_then_close(&mut raw).await;
            assert!(
                message.starts_with("protocol error: malformed frame"),
                "{mode}: {message}"
            );

            // A valid request with bytes left over in its frame.
            let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            let mut frame = encode_frame(&Request::StdinEof, MAX_FRAME_SIZE).expect("encode");
            frame[3] += 2;
            frame.extend([1, 2]);
            raw.send_bytes(&frame).await;
            let message = error_then_close(&mut raw).await;
            assert!(message.contains("2 bytes left over"), "{mode}: {message}");

            // A length over the limit: refused from the header alone, nothing more is read.
            let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            let too_big = u32::try_from(MAX_FRAME_SIZE + 1).expect("fits");
            raw.send_bytes(&too_big.to_be_bytes()).await;
            let message = error_then_close(&mut raw).await;
            assert!(
                message.contains(&format!(
                    "frame of {too_big} bytes is over the limit of {MAX_FRAME_SIZE} bytes"
                )),
                "{mode}: {message}"
            );

            // A malformed frame while a command runs stops the command too.
            let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            raw.send(&Request::Exec {
                command: "cat".into(),
            })
            .await;
            assert_eq!(raw.recv::<Response>().await, Some(Response::Started));
            raw.send_bytes(&[0, 0, 0, 1, 99]).await;
            let message = error_then_close(&mut raw).await;
            assert!(message.contains("malformed frame"), "{mode}: {message}");
        });
    }
}

#[test]
fn requests_out_of_order_are_errors() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    block_on(async {
        let mut raw = Raw::connect(daemon.addr).await;
        assert!(matches!(
            raw.hello(PROTOCOL_VERSION).await,
            ServerHello::Accepted { .. }
        ));
        raw.send(&Request::Exec {
            command: "true".into(),
        })
        .await;
        assert_eq!(error_then_close(&mut raw).await, "log in first");

        let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
        raw.send(&Request::Exec {
            command: "sleep 10".into(),
        })
        .await;
        assert_eq!(raw.recv::<Response>().await, Some(Response::Started));
        raw.send(&Request::Exec {
            command: "true".into(),
        })
        .await;
        assert_eq!(
            error_then_close(&mut raw).await,
            "a command is already running"
        );

        let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
        raw.send(&Request::Exec {
            command: "   ".into(),
        })
        .await;
        assert_eq!(
            raw.recv::<Response>().await,
            Some(Response::CommandRefused {
                message: "empty command".into()
            })
        );
        // A refused command leaves the session usable.
        let result = raw.run("echo still here", b"").await;
        assert_eq!(support::text(&result.stdout), "still here\n");
    });
}

#[test]
fn a_truncated_frame_or_silent_client_does_not_disturb_others() {
    let daemon = Daemon::start(
        "async",
        &[TestUser::exec("alice")],
        &["--login-timeout", "1s"],
    );
    block_on(async {
        // Half a header, then the client leaves.
        let mut raw = Raw::connect(daemon.addr).await;
        raw.send_bytes(&[0, 0]).await;
        drop(raw);
        // A client that says nothing is told it took too long.
        let mut silent = Raw::connect(daemon.addr).await;
        assert!(
            silent.recv::<ServerHello>().await.is_none(),
            "closed at the login timeout"
        );
        let mut raw = Raw::connect(daemon.addr).await;
        assert!(matches!(
            raw.hello(PROTOCOL_VERSION).await,
            ServerHello::Accepted { .. }
        ));
        let answer =
            tokio::time::timeout(std::time::Duration::from_secs(30), raw.recv::<Response>()).await;
        assert_eq!(
            answer.expect("answered"),
            Some(Response::Error {
                message: "login timeout".into()
            })
        );
    });
    let output = daemon.client("alice", "echo fine", b"");
    assert_eq!(support::text(&output.stdout), "fine\n");
}
