//! `wharf-ftpd quota show|rebuild` as an administrator runs them, and the demo's quota.

mod quota_support;

use std::process::Output;
use std::time::{Duration, Instant};

use quota_support::common::ftpd;
use quota_support::{Site, User, said_ok, write_file};

/// Standard output of a command that must succeed.
fn success(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error of a command that must fail.
fn failure(output: Output) -> String {
    assert!(
        !output.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn quota_show_and_rebuild_follow_the_disk_and_wait_for_idle_users() {
    let site = Site::new(&[
        User::limited("alice", 64 * 1024),
        User {
            name: "bob",
            bytes: None,
            files: Some(10),
        },
    ]);
    let alice = site.home("alice");
    std::fs::create_dir(alice.join("sub")).expect("mkdir");
    write_file(&alice.join("a"), &[1; 1000]);
    write_file(&alice.join("sub/b"), &[2; 24]);
    write_file(&site.home("bob").join("x"), b"hello");

    // Never counted: both users are counted from disk.
    let shown = success(site.quota_command(&["show"]));
    assert_eq!(
        shown,
        "alice\tbytes 1024 of 65536\tfiles 2 of unlimited\tsessions 0\trebuilt from disk\n\
         bob\tbytes 5 of unlimited\tfiles 1 of 10\tsessions 0\trebuilt from disk\n"
    );

    // Files added behind the server's back are seen by a rebuild, not by show.
    write_file(&alice.join("c"), &[3; 100]);
    let temp = alice.join("sub/.wharf-upload.00000000deadbeef");
    write_file(&temp, &[4; 500]);
    let shown = success(site.quota_command(&["show", "alice"]));
    assert_eq!(
        shown,
        "alice\tbytes 1024 of 65536\tfiles 2 of unlimited\tsessions 0\n"
    );
    let rebuilt = success(site.quota_command(&["rebuild", "alice"]));
    assert_eq!(
        rebuilt,
        "alice\tbytes 1124 of 65536\tfiles 3 of unlimited\trebuilt from disk\n"
    );
    assert!(!temp.exists(), "a dead upload's temp file is removed");

    let unknown = failure(site.quota_command(&["show", "carol"]));
    assert!(unknown.contains("no user carol"), "{unknown}");

    // While alice has a session, a rebuild is refused and show counts the session.
    let daemon = site.start("forking");
    let client = daemon.python_paused(
        "ftp = login('alice')\nprint('ready', flush=True)\nsys.stdin.read()\nftp.quit()\nprint('ok')",
        &[],
    );
    let busy = failure(site.quota_command(&["rebuild", "alice"]));
    assert!(busy.contains("alice has sessions running"), "{busy}");
    let shown = success(site.quota_command(&["show", "alice"]));
    assert!(shown.contains("\tsessions 1"), "{shown}");
    let rebuilt_bob = success(site.quota_command(&["rebuild", "bob"]));
    assert!(
        rebuilt_bob.starts_with("bob\tbytes 5 of unlimited"),
        "{rebuilt_bob}"
    );
    let (finished, output) = client.finish();
    assert!(finished && said_ok(&output), "{output}");

    // Once the session has ended, the rebuild goes through.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = site.quota_command(&["rebuild", "alice"]);
        if output.status.success() {
            assert!(String::from_utf8_lossy(&output.stdout).contains("bytes 1124"));
            break;
        }
        assert!(Instant::now() < deadline, "the session never detached");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_demo_user_has_a_100_mib_quota_that_is_enforced() {
    const LIMIT: u64 = 100 * 1024 * 1024;
    let demo = ftpd::demo();
    let addr = demo.addr();
    let banner = demo.wait_for_stdout("files live in ", Duration::from_secs(60));
    let home = banner
        .lines()
        .find_map(|line| line.strip_prefix("files live in "))
        .and_then(|rest| rest.split(" (removed").next())
        .expect("demo home")
        .to_string();

    // A sparse file fills the quota to 10 bytes short without writing 100 MiB.
    let big = std::fs::File::create(std::path::Path::new(&home).join("big")).expect("big");
    big.set_len(LIMIT - 10).expect("sparse file");
    let script = format!(
        "{}\n{}",
        quota_support::PRELUDE,
        r#"
limit = int(ARGS[0])
ftp = login("demo", "demo")
used = quota(ftp)
assert (used["bytes"], used["bytes_limit"]) == (limit - 10, limit), used
reply = store(ftp, "STOR eleven", b"x" * 11)
assert reply.startswith("552") and "%d of %d" % (limit - 10, limit) in reply, reply
assert store(ftp, "STOR ten", b"x" * 10).startswith("226")
assert quota(ftp)["bytes"] == limit
assert store(ftp, "APPE ten", b"x").startswith("552")
ftp.quit()
print("ok")
"#
    );
    let output = quota_support::common::python::script(&script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(LIMIT.to_string())
        .output()
        .expect("python3 must be installed to run this test");
    drop(demo);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said_ok(&stdout),
        "demo client failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
