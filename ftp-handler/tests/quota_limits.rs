//! Quota limits over real sessions, driven by Python's ftplib, on both backends (every mode on
//! the local disk, async and threading on S3): the limit is reachable exactly, one byte more
//! is refused with 552 and leaves the files as they were, parallel sessions of one user cannot
//! pass it together, users are counted apart.

mod quota_support;

use quota_support::{Backend, MODES, Site, User, run_for_alice_on_each_backend};

/// Limit of the tests below: 64 KiB.
const LIMIT: u64 = 64 * 1024;

#[test]
fn the_limit_is_reachable_exactly_and_one_byte_more_gets_552_with_the_files_intact() {
    const SCRIPT: &str = r#"
home, limit = ARGS[0], int(ARGS[1])
ftp = login("alice")
first, second = payload(10000, 1), payload(limit - 10000, 2)
assert store(ftp, "STOR first.bin", first).startswith("226")
assert store(ftp, "STOR second.bin", second).startswith("226")
used = quota(ftp)
assert (used["bytes"], used["bytes_limit"]) == (limit, limit), used
check_usage(ftp, home, "full")

def unchanged(what):
    assert sorted(ftp.nlst()) == ["first.bin", "second.bin"], (what, ftp.nlst())
    assert read_file(home, "first.bin") == first, what
    assert read_file(home, "second.bin") == second, what
    check_usage(ftp, home, what)
    assert quota(ftp)["bytes"] == limit, what

# One byte more, in every way an upload can add bytes: refused with 552, files as before.
refusals = {
    "new file": store(ftp, "STOR third.bin", b"x"),
    "overwrite": store(ftp, "STOR first.bin", payload(10000, 3)),
    "append": store(ftp, "APPE first.bin", b"x"),
    "resume": store(ftp, "STOR first.bin", b"xy", rest=9999),
    "unique": store(ftp, "STOU", b"x"),
}
for what, reply in refusals.items():
    assert reply.startswith("552"), (what, reply)
    assert "%d of %d" % (limit, limit) in reply, (what, reply)
    unchanged(what)

# A bigger upload is cut off when it reaches the limit, and rolled back.
reply = store(ftp, "STOR big.bin", payload(3 * limit, 4))
assert reply.startswith("552"), reply
unchanged("big")

# Freeing space makes exactly that much room again.
ftp.delete("first.bin")
assert store(ftp, "STOR third.bin", payload(10000, 5)).startswith("226")
assert store(ftp, "STOR fourth.bin", b"x").startswith("552")
assert check_usage(ftp, home, "refilled") == limit
ftp.quit()
print("ok")
"#;
    run_for_alice_on_each_backend(LIMIT, SCRIPT, &[&LIMIT.to_string()]);
}

#[test]
fn fast_multi_mebibyte_uploads_end_exactly_at_the_limit_and_one_byte_more_leaves_nothing() {
    // A fast sender makes upload buffers grow to 2 MiB; the limit is no multiple of any buffer
    // or reservation step.
    const BIG_LIMIT: u64 = 20 * 1024 * 1024 + 12_345;
    const SCRIPT: &str = r#"
home, limit = ARGS[0], int(ARGS[1])
ftp = login("alice")
data = payload(limit, 7)
assert store(ftp, "STOR big.bin", data, blocksize=1 << 20).startswith("226")
assert read_file(home, "big.bin") == data
assert check_usage(ftp, home, "exactly full") == limit
ftp.delete("big.bin")
reply = store(ftp, "STOR big.bin", payload(limit + 1, 8), blocksize=1 << 20)
assert reply.startswith("552"), reply
assert ftp.nlst() == [], ftp.nlst()
assert check_usage(ftp, home, "one byte over") == 0
ftp.quit()
print("ok")
"#;
    run_for_alice_on_each_backend(BIG_LIMIT, SCRIPT, &[&BIG_LIMIT.to_string()]);
}

#[test]
fn the_file_count_limit_refuses_one_file_more() {
    const SCRIPT: &str = r#"
home = ARGS[0]
ftp = login("carol")
assert store(ftp, "STOR one", b"1").startswith("226")
assert store(ftp, "STOR two", b"2").startswith("226")
for command in ("STOR three", "APPE three", "STOU"):
    reply = store(ftp, command, b"3")
    assert reply.startswith("552") and "2 of 2 files" in reply, (command, reply)
assert sorted(ftp.nlst()) == ["one", "two"], ftp.nlst()
# Replacing or appending to an existing file needs no new file.
assert store(ftp, "STOR one", b"11").startswith("226")
assert store(ftp, "APPE two", b"22").startswith("226")
ftp.rename("one", "two")
assert store(ftp, "STOR three", b"3").startswith("226")
assert quota(ftp)["files"] == 2
check_usage(ftp, home)
ftp.quit()
print("ok")
"#;
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let site = Site::on(
            backend,
            &[quota_support::User {
                name: "carol",
                bytes: None,
                files: Some(2),
            }],
        );
        let daemon = site.start(mode);
        daemon.python(SCRIPT, &[&site.home_arg("carol")]);
    }
}

#[test]
fn three_parallel_sessions_of_one_user_cannot_exceed_the_limit_together() {
    // Each upload fits alone and any two fit together, three do not: exactly one must fail,
    // whichever order the chunks of the three sessions interleave in.
    const SCRIPT: &str = r#"
home, limit, mode = ARGS[0], int(ARGS[1]), ARGS[2]
size = 400000
assert 2 * size <= limit < 3 * size
replies, samples = {}, []

def upload(index):
    ftp = login("alice")
    replies[index] = store(ftp, "STOR part%d.bin" % index, payload(size, index))
    ftp.quit()

# A fourth session samples the shared count while the uploads run (the sequential mode serves
# one session at a time, so there it would only delay them).
watcher = login("alice") if mode != "sequential" else None
workers = [threading.Thread(target=upload, args=(i,)) for i in range(3)]
for worker in workers:
    worker.start()
while watcher and any(worker.is_alive() for worker in workers):
    samples.append(quota(watcher)["bytes"])
for worker in workers:
    worker.join(120)
assert all(sample <= limit for sample in samples), max(samples)
if watcher:
    watcher.quit()
assert len(replies) == 3, replies
done = sorted(i for i, reply in replies.items() if reply.startswith("226"))
refused = [i for i, reply in replies.items() if reply.startswith("552")]
assert len(done) == 2 and len(refused) == 1, replies
ftp = login("alice")
assert sorted(ftp.nlst()) == ["part%d.bin" % i for i in done], ftp.nlst()
for i in done:
    assert read_file(home, "part%d.bin" % i) == payload(size, i)
assert check_usage(ftp, home) == 2 * size
ftp.quit()
print("ok")
"#;
    // Uploads of many chunks each, so that the sessions' reservations interleave.
    const PARALLEL_LIMIT: u64 = 1024 * 1024;
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let site = Site::on(backend, &[User::limited("alice", PARALLEL_LIMIT)]);
        let daemon = site.start(mode);
        daemon.python(
            SCRIPT,
            &[&site.home_arg("alice"), &PARALLEL_LIMIT.to_string(), mode],
        );
    }
}

#[test]
fn a_second_users_usage_is_independent() {
    // One session at a time, so that the sequential mode serves them too.
    const SCRIPT: &str = r#"
alice_home, bob_home, limit = ARGS[0], ARGS[1], int(ARGS[2])
bob_limit = limit // 2
alice = login("alice")
assert store(alice, "STOR full.bin", payload(limit, 1)).startswith("226")
assert store(alice, "STOR more.bin", b"x").startswith("552")
before = quota(alice)
alice.quit()

bob = login("bob")
assert quota(bob) == {"bytes": 0, "bytes_limit": bob_limit, "files": 0, "files_limit": None}
assert store(bob, "STOR half.bin", payload(bob_limit, 2)).startswith("226")
reply = store(bob, "STOR more.bin", b"x")
assert reply.startswith("552") and "%d of %d" % (bob_limit, bob_limit) in reply, reply
assert check_usage(bob, bob_home) == bob_limit
bob.quit()

alice = login("alice")
assert quota(alice) == before
assert check_usage(alice, alice_home) == limit
alice.delete("full.bin")
alice.quit()

bob = login("bob")
assert check_usage(bob, bob_home) == bob_limit
assert store(bob, "STOR more.bin", b"x").startswith("552")
bob.quit()
print("ok")
"#;
    for (backend, mode) in Backend::each_with_modes(&MODES) {
        let site = Site::on(
            backend,
            &[
                User::limited("alice", LIMIT),
                User::limited("bob", LIMIT / 2),
            ],
        );
        let daemon = site.start(mode);
        daemon.python(
            SCRIPT,
            &[
                &site.home_arg("alice"),
                &site.home_arg("bob"),
                &LIMIT.to_string(),
            ],
        );
    }
}
