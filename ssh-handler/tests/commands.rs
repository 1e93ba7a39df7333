//! Commands over the native protocol with the real `wharf-ssh` client, in every mode: output
//! streams kept apart and complete, exit codes and signals, stdin, environment and home.

mod support;

use support::{Daemon, MODES, TestUser, random_bytes, text};

#[test]
fn stdout_and_stderr_arrive_apart_and_complete_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &[]);
        // Interleaved writes to both streams, far more than one chunk each.
        let script = "i=0; while [ $i -lt 3000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";
        let output = daemon.client("alice", script, b"");
        assert!(output.status.success(), "{mode}: {}", text(&output.stderr));
        let expected_out: String = (0..3000).map(|i| format!("out{i}\n")).collect();
        let expected_err: String = (0..3000).map(|i| format!("err{i}\n")).collect();
        assert_eq!(text(&output.stdout), expected_out, "{mode}: stdout");
        assert_eq!(text(&output.stderr), expected_err, "{mode}: stderr");
    }
}

#[test]
fn exit_codes_and_death_by_signal_are_reported_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &[]);
        for code in [0, 1, 7] {
            let output = daemon.client("alice", &format!("echo before; exit {code}"), b"");
            assert_eq!(
                output.status.code(),
                Some(code),
                "{mode}: {}",
                text(&output.stderr)
            );
            assert_eq!(text(&output.stdout), "before\n", "{mode}");
        }
        // The shell kills itself: 128 + SIGTERM, as a local shell would report.
        let output = daemon.client("alice", "kill -TERM $$", b"");
        assert_eq!(
            output.status.code(),
            Some(128 + 15),
            "{mode}: {}",
            text(&output.stderr)
        );
        let output = daemon.client("alice", "kill -KILL $$", b"");
        assert_eq!(output.status.code(), Some(128 + 9), "{mode}");
    }
}

#[test]
fn stdin_is_relayed_to_cat_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[TestUser::exec("alice")], &[]);
        // Several megabytes both ways at once: input must keep flowing while output does.
        let input = random_bytes(3 << 20, 7);
        let output = daemon.client("alice", "cat", &input);
        assert!(output.status.success(), "{mode}: {}", text(&output.stderr));
        assert_eq!(output.stdout.len(), input.len(), "{mode}");
        assert!(output.stdout == input, "{mode}: cat returned other bytes");
        // No input at all: cat sees end of file at once.
        let output = daemon.client("alice", "cat; echo done", b"");
        assert_eq!(text(&output.stdout), "done\n", "{mode}");
    }
}

#[test]
fn commands_run_in_the_home_with_a_clean_environment() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    let output = daemon.client("alice", "pwd; env | sort", b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let home = daemon.home("alice");
    let stdout = text(&output.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(home.to_str().expect("utf-8 home")));
    let variables: Vec<&str> = lines
        .map(|line| line.split('=').next().unwrap_or(line))
        .collect();
    assert_eq!(
        variables,
        ["HOME", "LANG", "LOGNAME", "PATH", "PWD", "SHELL", "USER"],
        "{stdout}"
    );
    assert!(stdout.contains("USER=alice\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("HOME={}\n", home.display())),
        "{stdout}"
    );
}

#[test]
fn one_connection_runs_several_commands_in_turn() {
    let daemon = Daemon::start("async", &[TestUser::exec("alice")], &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut raw = support::raw::Raw::logged_in(daemon.addr, "alice", support::PASSWORD).await;
        for index in 0..3 {
            let result = raw.run(&format!("echo run{index}"), b"").await;
            assert_eq!(text(&result.stdout), format!("run{index}\n"));
            let outcome = result.outcome.expect("finished");
            assert_eq!(outcome.status, wharf_ssh::protocol::ExitStatus::Code(0));
        }
        // A signal is reported with its number and name.
        let result = raw.run("kill -TERM $$", b"").await;
        assert_eq!(
            result.outcome.expect("finished").status,
            wharf_ssh::protocol::ExitStatus::Signal {
                number: 15,
                name: "TERM".into()
            }
        );
    });
}
