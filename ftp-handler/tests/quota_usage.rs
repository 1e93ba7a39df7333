//! Usage stays exact through every operation that changes a home, on both backends (every
//! mode on the local disk, async and threading on S3): after each step SITE QUOTA equals the
//! bytes and files stored. A changed limit applies at the next login.

mod quota_support;

use std::process::Command;

use quota_support::{BIN, Backend, MODES, Site, User, run_for_alice_on_each_backend};

/// Limit of these tests: 1 MiB, well above what they store.
const LIMIT: u64 = 1024 * 1024;

#[test]
fn overwrite_delete_rename_append_and_resume_keep_usage_exact() {
    const SCRIPT: &str = r#"
home = ARGS[0]
ftp = login("alice")
def step(what, reply=None):
    if reply is not None:
        assert reply.startswith(("226", "250")), (what, reply)
    return check_usage(ftp, home, what)

step("empty")
step("new file", store(ftp, "STOR a", payload(30000, 1)))
step("second file", store(ftp, "STOR b", payload(20000, 2)))
step("overwrite smaller", store(ftp, "STOR a", payload(5000, 3)))
step("overwrite larger", store(ftp, "STOR a", payload(45000, 4)))
step("append", store(ftp, "APPE a", payload(1000, 5)))
step("append creates", store(ftp, "APPE c", payload(700, 6)))
step("resume at the end", store(ftp, "STOR c", payload(300, 7), rest=700))
expected = payload(700, 6) + payload(300, 7)
assert read_file(home, "c") == expected
step("resume cuts the tail", store(ftp, "STOR a", payload(100, 8), rest=2000))
assert read_file(home, "a") == payload(45000, 4)[:2000] + payload(100, 8)
step("unique", store(ftp, "STOU a", payload(4000, 9)))
ftp.rename("b", "b2")
step("rename")
ftp.rename("b2", "a")
step("rename over an existing file")
ftp.mkd("dir")
step("mkdir", store(ftp, "STOR dir/inner", payload(3000, 10)))
ftp.rename("dir", "folder")
step("rename a directory")
ftp.delete("folder/inner")
step("delete in a directory")
ftp.rmd("folder")
ftp.delete("c")
step("delete")
ftp.storlines("STOR text", io.BytesIO(b"one\ntwo\nthree\n"))
assert read_file(home, "text") == b"one\ntwo\nthree\n"
step("ASCII upload counts the bytes stored, not the bytes sent")
for name in ftp.nlst():
    ftp.delete(name)
assert step("everything deleted") == 0
ftp.quit()
print("ok")
"#;
    run_for_alice_on_each_backend(LIMIT, SCRIPT, &[]);
}

#[test]
fn a_changed_limit_applies_at_the_next_login() {
    const FILL: &str = r#"
ftp = login("alice")
assert store(ftp, "STOR fill", payload(60000, 1)).startswith("226")
assert store(ftp, "STOR more", payload(40000, 2)).startswith("552")
assert quota(ftp)["bytes_limit"] == 65536
ftp.quit()
print("ok")
"#;
    const RAISED: &str = r#"
ftp = login("alice")
assert quota(ftp)["bytes_limit"] == 102400
assert store(ftp, "STOR more", payload(40000, 2)).startswith("226")
ftp.quit()
print("ok")
"#;
    const LOWERED: &str = r#"
home = ARGS[0]
ftp = login("alice")
used = quota(ftp)
assert (used["bytes"], used["bytes_limit"], used["files_limit"]) == (100000, 10240, 1), used
# Over the new limits: nothing more may be stored, but deleting works and frees room.
assert store(ftp, "STOR tiny", b"x").startswith("552")
ftp.delete("fill")
assert store(ftp, "APPE more", b"x").startswith("552")
ftp.delete("more")
assert store(ftp, "STOR tiny", b"x").startswith("226")
assert check_usage(ftp, home) == 1
ftp.quit()
print("ok")
"#;
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let site = Site::on(backend, &[User::limited("alice", 64 * 1024)]);
        let daemon = site.start(mode);
        daemon.python(FILL, &[]);
        set_quota(&site, &["--set", "100KiB"]);
        daemon.python(RAISED, &[]);
        set_quota(&site, &["--set", "10KiB", "--files", "1"]);
        daemon.python(LOWERED, &[&site.home_arg("alice")]);
    }
}

/// `wharf-ftpd user quota alice --users FILE ARGS`.
fn set_quota(site: &Site, args: &[&str]) {
    let output = Command::new(BIN)
        .args(["user", "quota", "alice", "--users"])
        .arg(site.users_file())
        .args(args)
        .output()
        .expect("run wharf-ftpd user quota");
    assert!(
        output.status.success(),
        "user quota failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
