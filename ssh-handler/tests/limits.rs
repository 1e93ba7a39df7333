//! The limits every command runs under: wall-clock time (the whole process group dies), output
//! bytes, and commands per user across connections and processes.

mod support;

use std::time::{Duration, Instant};

use support::raw::Raw;
use support::{Daemon, PASSWORD, TestUser, process_gone, text};
use wharf_ssh::protocol::{ExitStatus, Limit, Response};

#[test]
fn the_time_limit_kills_sleep_and_its_children_in_async_and_forking_modes() {
    for mode in ["async", "forking"] {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &["--time-limit", "3s"]);
        let pids = daemon.home("alice").join("pids");
        // A background child and a foreground one; both record their pids first.
        let script = "sleep 100 & echo $! > pids; sh -c 'echo $$ >> pids; exec sleep 100'";
        let output = daemon.client("alice", script, b"");
        assert_eq!(
            output.status.code(),
            Some(128 + 9),
            "{mode}: {}",
            text(&output.stderr)
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("time limit of 3 s was reached"),
            "{mode}: {stderr}"
        );
        let recorded = std::fs::read_to_string(&pids).expect("pids file");
        let children: Vec<u32> = recorded
            .lines()
            .map(|line| line.trim().parse().expect("pid"))
            .collect();
        assert_eq!(children.len(), 2, "{recorded}");
        // The group was killed with SIGKILL before the answer; allow for reaping by init.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !children.iter().all(|pid| process_gone(*pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in &children {
            assert!(
                process_gone(*pid),
                "{mode}: process {pid} outlived the time limit"
            );
        }
    }
}

#[test]
fn reaching_the_output_cap_is_reported_and_stops_the_command() {
    let daemon = Daemon::start(
        "async",
        &[TestUser::exec("alice")],
        &["--max-output", "100000"],
    );
    let output = daemon.client("alice", "yes wharf", b"");
    assert_eq!(
        output.status.code(),
        Some(128 + 9),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(output.stdout.len(), 100_000, "exactly the cap is delivered");
    assert!(output.stdout.starts_with(b"wharf\nwharf\n"));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("output limit of 100000 bytes was reached"),
        "{stderr}"
    );

    // The protocol says which limit ended the command.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
        let result = raw.run("yes wharf >&2", b"").await;
        assert_eq!(result.stderr.len(), 100_000);
        let outcome = result.outcome.expect("finished");
        assert_eq!(outcome.limit, Some(Limit::Output { bytes: 100_000 }));
        assert!(
            matches!(outcome.status, ExitStatus::Signal { number: 9, .. }),
            "{outcome:?}"
        );
        // Output of exactly the cap is not a limit.
        let result = raw.run("head -c 100000 /dev/zero", b"").await;
        let outcome = result.outcome.expect("finished");
        assert_eq!((outcome.status, outcome.limit), (ExitStatus::Code(0), None));
    });
}

#[test]
fn the_per_user_command_cap_holds_across_connections_in_every_concurrent_mode() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Sequential mode serves one connection at a time, so two cannot overlap there.
    for mode in ["async", "threading", "forking"] {
        let users = [TestUser::exec("alice"), TestUser::exec("bob")];
        let daemon = Daemon::start(mode, &users, &["--max-commands-per-user", "2"]);
        runtime.block_on(async {
            let mut busy = Vec::new();
            for _ in 0..2 {
                let mut raw = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
                raw.send(&wharf_ssh::protocol::Request::Exec {
                    command: "sleep 30".into(),
                })
                .await;
                assert_eq!(
                    raw.recv::<Response>().await,
                    Some(Response::Started),
                    "{mode}"
                );
                busy.push(raw);
            }
            let mut third = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            third
                .send(&wharf_ssh::protocol::Request::Exec {
                    command: "true".into(),
                })
                .await;
            match third.recv::<Response>().await {
                Some(Response::CommandRefused { message }) => {
                    assert!(message.contains("too many commands"), "{mode}: {message}");
                }
                other => panic!("{mode}: expected a refusal, got {other:?}"),
            }
            // Another user is not affected.
            let mut bob = Raw::logged_in(daemon.addr, "bob", PASSWORD).await;
            let result = bob.run("echo bob", b"").await;
            assert_eq!(text(&result.stdout), "bob\n", "{mode}");
            // Closing a busy connection kills its command and frees its slot.
            drop(busy.pop());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                third
                    .send(&wharf_ssh::protocol::Request::Exec {
                        command: "echo freed".into(),
                    })
                    .await;
                match third.recv::<Response>().await {
                    Some(Response::Started) => break,
                    Some(Response::CommandRefused { .. }) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => panic!("{mode}: the slot was not freed: {other:?}"),
                }
            }
            let mut stdout = Vec::new();
            while let Some(response) = third.recv::<Response>().await {
                match response {
                    Response::Stdout(bytes) => stdout.extend(bytes),
                    Response::Finished(_) => break,
                    _ => {}
                }
            }
            assert_eq!(text(&stdout), "freed\n", "{mode}");
        });
    }
}
