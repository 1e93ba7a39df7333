//! Upload safety and usage across interruptions, in every concurrency mode: a daemon killed
//! with SIGKILL mid-upload comes back with usage equal to the disk, an interrupted new file
//! resumes to the identical file, an interrupted overwrite leaves the old file byte for byte.
//!
//! Local disk only: these cases watch the jail's upload temp files and resumable partial files
//! grow on disk. Object storage has neither (an upload is all or nothing); its counterparts,
//! a killed daemon or a cut upload leaving the previous object and no parts, are in
//! `s3_storage.rs`.

mod quota_support;

use std::time::{Duration, Instant};

use quota_support::{MODES, Site, User, run_for_alice_in_every_mode};

/// Limit of these tests: 1 MiB.
const LIMIT: u64 = 1024 * 1024;

/// Stores `old.bin` (20000 bytes).
const FILL: &str = r#"
ftp = login("alice")
assert store(ftp, "STOR old.bin", payload(20000, 1)).startswith("226")
ftp.quit()
print("ok")
"#;

/// Starts replacing `old.bin` and stops once the server has 16384 bytes in its temp file.
const OVERWRITE_PAUSED: &str = r#"
home = ARGS[0]
ftp = login("alice")
conn = ftp.transfercmd("STOR old.bin")
conn.sendall(payload(40000, 2)[:16384])
wait_for_size(lambda: temp_file(home), 16384)
print("ready", flush=True)
sys.stdin.read()
"#;

/// After the restart: old.bin intact, usage equal to the disk, no temp file left.
const AFTER_OVERWRITE: &str = r#"
home = ARGS[0]
ftp = login("alice")
assert read_file(home, "old.bin") == payload(20000, 1)
assert check_usage(ftp, home, "after restart") == 20000
ftp.quit()
print("ok")
"#;

/// Starts uploading `new.bin` and stops once the server has written 24576 bytes of it.
const NEW_FILE_PAUSED: &str = r#"
home = ARGS[0]
ftp = login("alice")
conn = ftp.transfercmd("STOR new.bin")
conn.sendall(payload(40000, 3)[:24576])
wait_for_size(os.path.join(home, "new.bin"), 24576)
print("ready", flush=True)
sys.stdin.read()
"#;

/// After the restart: the partial file counts; REST + STOR completes it to the identical file.
const RESUME: &str = r#"
home = ARGS[0]
data = payload(40000, 3)
ftp = login("alice")
assert check_usage(ftp, home, "after restart") == 20000 + 24576
done = ftp.size("new.bin")
assert done == 24576, done
assert store(ftp, "STOR new.bin", data[done:], rest=done).startswith("226")
assert read_file(home, "new.bin") == data
assert check_usage(ftp, home, "resumed") == 20000 + 40000
ftp.quit()
print("ok")
"#;

#[test]
fn a_daemon_killed_mid_upload_restarts_with_usage_equal_to_the_disk() {
    for mode in MODES {
        let site = Site::new(&[User::limited("alice", LIMIT)]);
        let home = site.home("alice");
        let home_arg = [home.to_str().expect("utf-8")];
        let daemon = site.start(mode);
        daemon.python(FILL, &[]);

        // Killed while replacing a file: the restarted daemon counts what is on disk.
        let client = daemon.python_paused(OVERWRITE_PAUSED, &home_arg);
        daemon.kill_hard();
        drop(client);
        let daemon = site.start(mode);
        daemon.python(AFTER_OVERWRITE, &home_arg);

        // Killed while writing a new file: the partial file counts, the CLI repairs the count
        // while the daemon is down, and the upload resumes after the restart.
        let client = daemon.python_paused(NEW_FILE_PAUSED, &home_arg);
        daemon.kill_hard();
        drop(client);
        // A killed session's lock goes when its last descriptor closes, which can lag the
        // process's death on a loaded machine: ask again for a few seconds.
        let mut shown = site.quota_command(&["show", "alice"]);
        let patience = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&shown.stdout).contains("rebuilt from disk")
            && Instant::now() < patience
        {
            std::thread::sleep(Duration::from_millis(100));
            shown = site.quota_command(&["show", "alice"]);
        }
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success()
                && text.contains("bytes 44576 of 1048576")
                && text.contains("rebuilt from disk"),
            "{mode}: {text} {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        let daemon = site.start(mode);
        daemon.python(RESUME, &home_arg);
    }
}

#[test]
fn an_interrupted_new_file_upload_resumes_to_the_identical_file() {
    const SCRIPT: &str = r#"
home = ARGS[0]
data = payload(300000, 5)

def aborted(ftp):
    reply = ftp.abort()
    assert reply[:3] in ("426", "226"), reply
    if reply.startswith("426"):
        assert ftp.getresp().startswith("226")

# ABOR after 100000 bytes: the bytes received stay as a file; REST + STOR completes it.
ftp = login("alice")
conn = ftp.transfercmd("STOR new.bin")
conn.sendall(data[:100000])
wait_for_size(os.path.join(home, "new.bin"), 100000)
aborted(ftp)
conn.close()
assert check_usage(ftp, home, "aborted") == 100000
done = ftp.size("new.bin")
assert done == 100000, done
assert store(ftp, "STOR new.bin", data[done:], rest=done).startswith("226")
assert read_file(home, "new.bin") == data
ftp.quit()

# The client vanishes after 50000 bytes (control connection first): APPE completes it.
ftp = login("alice")
conn = ftp.transfercmd("STOR other.bin")
conn.sendall(data[:50000])
wait_for_size(os.path.join(home, "other.bin"), 50000)
ftp.close()  # the control connection first, without QUIT
conn.close()
ftp = login("alice")
done = ftp.size("other.bin")
assert done == 50000, done
assert store(ftp, "APPE other.bin", data[done:]).startswith("226")
assert read_file(home, "other.bin") == data
assert check_usage(ftp, home, "appended") == 2 * len(data)
ftp.quit()
print("ok")
"#;
    run_for_alice_in_every_mode(LIMIT, SCRIPT, &[]);
}

#[test]
fn an_interrupted_overwrite_leaves_the_old_file_byte_for_byte() {
    const SCRIPT: &str = r#"
import socket, struct
home = ARGS[0]
old, new = payload(200000, 7), payload(200000, 8)
ftp = login("alice")
assert store(ftp, "STOR old.bin", old).startswith("226")

# ABOR half-way.
conn = ftp.transfercmd("STOR old.bin")
conn.sendall(new[:100000])
wait_for_size(lambda: temp_file(home), 100000)
reply = ftp.abort()
assert reply[:3] in ("426", "226"), reply
if reply.startswith("426"):
    assert ftp.getresp().startswith("226")
conn.close()
assert read_file(home, "old.bin") == old
assert check_usage(ftp, home, "aborted") == len(old)
ftp.quit()

# The client vanishes half-way: control connection closed, data connection reset.
ftp = login("alice")
conn = ftp.transfercmd("STOR old.bin")
conn.sendall(new[:100000])
wait_for_size(lambda: temp_file(home), 100000)
ftp.close()  # the control connection first, without QUIT
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
deadline = time.time() + 30
while temp_file(home) and time.time() < deadline:
    time.sleep(0.01)
ftp = login("alice")
assert read_file(home, "old.bin") == old
assert check_usage(ftp, home, "vanished") == len(old)

# A completed overwrite replaces it whole.
assert store(ftp, "STOR old.bin", new).startswith("226")
assert read_file(home, "old.bin") == new
assert check_usage(ftp, home, "replaced") == len(new)
ftp.quit()
print("ok")
"#;
    run_for_alice_in_every_mode(LIMIT, SCRIPT, &[]);
}
