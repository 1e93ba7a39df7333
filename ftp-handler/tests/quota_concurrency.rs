//! Ten sessions uploading different content to one path at once, on both backends (every mode
//! on the local disk, async and threading on S3): the uploads never interleave, and the file
//! ends as exactly one of them.

mod quota_support;

use quota_support::run_for_alice_on_each_backend;

#[test]
fn ten_parallel_uploads_to_one_path_leave_exactly_one_of_them() {
    // Locally a busy file is refused with 450. S3 has no per-key lock: every upload runs, the
    // last to complete wins, and each counts its bytes while in flight, so with five under
    // way a sixth meets the exact quota (552). The clients retry until each upload went through.
    const SCRIPT: &str = r#"
home = ARGS[0]
size = 200000
retry = ("450", "552") if BACKEND == "s3" else ("450",)
contents = [payload(size, 100 + i) for i in range(10)]
replies, busy = {}, {}

def upload(index):
    ftp = login("alice")
    busy[index] = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        reply = store(ftp, "STOR same.bin", contents[index])
        if not reply.startswith(retry):
            break
        busy[index] += 1
        time.sleep(random.uniform(0.005, 0.03))
    replies[index] = reply
    ftp.quit()

workers = [threading.Thread(target=upload, args=(i,)) for i in range(10)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(180)
assert len(replies) == 10, replies
assert all(reply.startswith("226") for reply in replies.values()), replies
final = read_file(home, "same.bin")
matches = [i for i, content in enumerate(contents) if content == final]
assert len(matches) == 1, ("the file is not exactly one upload", len(final))
ftp = login("alice")
assert ftp.nlst() == ["same.bin"], ftp.nlst()
assert check_usage(ftp, home) == size
assert quota(ftp)["files"] == 1
ftp.quit()
print("busy replies:", sum(busy.values()))
print("ok")
"#;
    run_for_alice_on_each_backend(1024 * 1024, SCRIPT, &[]);
}
