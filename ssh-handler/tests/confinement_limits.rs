//! Resource limits of confined commands: a fork bomb and a memory hog end at their limits while
//! another user's command runs normally and the daemon keeps serving.

mod confine_support;
mod support;

use std::time::{Duration, Instant};

use confine_support::{ConfinedUser, running_as_root, start};
use support::text;

#[test]
fn a_fork_bomb_and_a_memory_hog_stop_at_their_limits_while_another_user_works() {
    if !running_as_root("a_fork_bomb_and_a_memory_hog_...") {
        return;
    }
    let mut bomber = ConfinedUser::with_uid("mallory", 52101);
    bomber.settings.limit_processes = Some(24);
    let daemon = start(
        &[bomber, ConfinedUser::with_uid("bob", 52102)],
        &["--time-limit", "20s"],
    );
    std::thread::scope(|scope| {
        // 200 children asked for, 24 processes allowed: fork fails, the shell gives up, and
        // `exec` (which needs no fork) keeps the tree alive while bob works.
        let bomb = scope.spawn(|| {
            daemon.client(
                "mallory",
                "(i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done); \
                 echo bomb-stopped >&2; exec sleep 3",
                b"",
            )
        });
        std::thread::sleep(Duration::from_millis(1500));
        let started = Instant::now();
        let other = daemon.client("bob", "echo fine; ls / > /dev/null; echo done", b"");
        assert_eq!(
            text(&other.stdout),
            "fine\ndone\n",
            "{}",
            text(&other.stderr)
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bob was slowed down"
        );
        let bomb = bomb.join().expect("bomb client");
        let stderr = text(&bomb.stderr);
        assert!(stderr.contains("Cannot fork"), "{stderr}");
        assert!(stderr.contains("bomb-stopped"), "{stderr}");
    });
    // 4 GiB of memory asked for, 2 GiB of address space allowed (the default).
    let hog = daemon.client(
        "mallory",
        "python3 -c 'b = bytearray(4 << 30); print(len(b))'",
        b"",
    );
    assert!(!hog.status.success(), "{}", text(&hog.stdout));
    assert!(hog.stdout.is_empty(), "{}", text(&hog.stdout));
    assert!(
        text(&hog.stderr).contains("MemoryError"),
        "{}",
        text(&hog.stderr)
    );
    let hog = daemon.client("mallory", "head -c 4G /dev/zero | tail | wc -c", b"");
    assert!(
        text(&hog.stderr).contains("memory exhausted"),
        "{}",
        text(&hog.stderr)
    );
    assert_eq!(text(&hog.stdout), "0\n");
    let after = daemon.client("bob", "echo still-serving", b"");
    assert_eq!(
        text(&after.stdout),
        "still-serving\n",
        "{}",
        text(&after.stderr)
    );
}

#[test]
fn per_user_limits_override_the_daemons_defaults() {
    if !running_as_root("per_user_limits_override_...") {
        return;
    }
    let mut small = ConfinedUser::with_uid("tiny", 52111);
    small.settings.limit_file_size = Some(4096);
    small.settings.limit_open_files = Some(64);
    let daemon = start(
        &[small, ConfinedUser::with_uid("bob", 52112)],
        &["--limit-cpu-seconds", "7"],
    );
    let tiny = daemon.client(
        "tiny",
        "ulimit -f; ulimit -n; ulimit -t; head -c 10000 /dev/zero > big",
        b"",
    );
    // dash reports the file size in 512-byte blocks.
    assert!(
        text(&tiny.stdout).starts_with("8\n64\n7\n"),
        "{}",
        text(&tiny.stdout)
    );
    assert!(!tiny.status.success());
    let size = std::fs::metadata(daemon.home("tiny").join("big")).map(|meta| meta.len());
    assert_eq!(size.ok(), Some(4096), "the write stopped at the limit");
    let bob = daemon.client("bob", "ulimit -n; ulimit -t", b"");
    assert_eq!(text(&bob.stdout), "1024\n7\n", "{}", text(&bob.stderr));
}
