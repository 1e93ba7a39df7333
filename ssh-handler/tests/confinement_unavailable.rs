//! A kernel without Landlock, simulated with the test-only switch: commands are refused, or run
//! with a warning under `--unconfined-commands` (still as an unprivileged uid).

mod confine_support;
mod support;

use confine_support::{ConfinedUser, running_as_root, snapshot, start};
use support::text;

/// Every test of this file pretends the same kernel, so setting it process-wide is safe.
fn pretend_no_landlock() {
    // SAFETY: every test here sets the same value before starting its daemon, and nothing else
    // in this test binary reads or writes the environment concurrently.
    unsafe { std::env::set_var(wharf_ssh::daemon::confinement::TEST_LANDLOCK_ABI_ENV, "0") };
}

#[test]
fn without_landlock_commands_are_refused_with_a_clear_message() {
    if !running_as_root("without_landlock_commands_are_refused_...") {
        return;
    }
    pretend_no_landlock();
    let daemon = start(&[ConfinedUser::with_uid("alice", 52201)], &[]);
    let output = daemon.client("alice", "echo ran > proof", b"");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot confine them (Landlock ABI 0"),
        "{stderr}"
    );
    assert!(
        snapshot(&daemon.home("alice").join("proof")).is_none(),
        "the command ran"
    );
    assert!(
        daemon.log_text().contains("every command will be refused"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn unconfined_commands_run_with_a_warning_and_still_not_as_root() {
    if !running_as_root("unconfined_commands_run_with_a_warning_...") {
        return;
    }
    pretend_no_landlock();
    let daemon = start(
        &[ConfinedUser::with_uid("alice", 52202)],
        &["--unconfined-commands"],
    );
    let output = daemon.client("alice", "id -u", b"");
    assert_eq!(text(&output.stdout), "52202\n", "{}", text(&output.stderr));
    let log = daemon.log_text();
    assert!(log.contains("command started UNCONFINED"), "{log}");
    assert!(
        log.contains("--unconfined-commands: commands run WITHOUT Landlock"),
        "{log}"
    );
}
