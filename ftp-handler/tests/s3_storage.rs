//! The S3 backend against a real Garage: `wharf-ftpd serve` with `[storage] backend = "s3"`,
//! Python's `ftplib` as the client, and every stored object checked byte for byte with an
//! independent S3 client (curl's SigV4 signing).

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use common::ftpd::{self, BIN, FtpdProcess};
use wharf_testkit::garage::Garage;
use wharf_users::{HashParams, UserRecord, UsersFile, hash_password};

/// The modes whose sessions share the daemon's process (and its storage runtime).
const MODES: [&str; 2] = ["async", "threading"];

/// Every mode: forking and sequential sessions build their HTTP requests in a child process or
/// on a runtime of their own, after the daemon started.
const ALL_MODES: [&str; 4] = ["async", "threading", "forking", "sequential"];

/// One Garage for the whole test binary, stopped when the test process exits.
static GARAGE: LazyLock<&'static Garage> = LazyLock::new(Garage::shared);

/// Helpers every client script starts with. Arguments: HOST PORT, then the script's own.
const PRELUDE: &str = r#"
import ftplib, hashlib, io, os, random, socket, struct, sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
ARGS = sys.argv[3:]

def login(user, password="secret"):
    ftp = ftplib.FTP()
    ftp.connect(HOST, PORT, timeout=60)
    ftp.login(user, password)
    return ftp

def payload(size, seed):
    return random.Random(seed).randbytes(size)

def fetch(ftp, name, rest=None):
    got = bytearray()
    ftp.retrbinary("RETR " + name, got.extend, rest=rest)
    return bytes(got)

def refused(call, *args):
    """The 4xx/5xx reply text of a call that must fail."""
    try:
        call(*args)
    except (ftplib.error_perm, ftplib.error_temp) as error:
        return str(error)
    raise SystemExit("accepted: %r %r" % (call, args))
"#;

/// One test's site: a users file of key-prefix homes, a state directory and a configuration
/// pointing to Garage under a prefix of the test's own, so tests share the bucket safely.
struct Site {
    /// Holds `users.toml`, `ftpd.toml` and `state/`.
    root: tempfile::TempDir,
    /// The daemon's key prefix (`t-NAME/`), before every home.
    prefix: String,
}

impl Site {
    /// A site for `test` with users `(name, byte quota)`, homes `NAME/`, password `secret`.
    fn new(test: &str, users: &[(&str, Option<u64>)]) -> Site {
        Site::build(test, users, &GARAGE.endpoint())
    }

    /// Like [`Site::new`], the endpoint given as `http://localhost:PORT` (a name to resolve)
    /// instead of its address.
    fn by_host_name(test: &str, users: &[(&str, Option<u64>)]) -> Site {
        let endpoint = GARAGE.endpoint().replace("//127.0.0.1:", "//localhost:");
        assert!(endpoint.contains("//localhost:"), "{endpoint}");
        Site::build(test, users, &endpoint)
    }

    /// A site whose daemon reaches Garage at `endpoint`.
    fn build(test: &str, users: &[(&str, Option<u64>)], endpoint: &str) -> Site {
        let garage = &*GARAGE;
        let root = tempfile::tempdir().expect("temp dir");
        let prefix = format!("t-{test}/");
        let site = Site { root, prefix };
        let mut file = UsersFile::empty(site.users_file());
        for (name, quota) in users {
            file.add(UserRecord {
                name: (*name).to_owned(),
                password_hash: hash_password("secret", &HashParams::PRODUCTION).expect("hash"),
                home: PathBuf::from(format!("{name}/")),
                quota_bytes: *quota,
                quota_files: None,
                allow_exec: false,
                authorized_keys: Vec::new(),
            })
            .expect("add user");
        }
        file.save().expect("save users");
        std::fs::write(
            site.config(),
            format!(
                "[server]\nusers_file = \"{users}\"\nstate_dir = \"{state}\"\n\n\
                 [storage]\nbackend = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\n\
                 region = \"{region}\"\naccess_key_id = \"{key}\"\n\
                 secret_access_key = \"{secret}\"\nprefix = \"{prefix}\"\n",
                users = site.users_file().display(),
                state = site.state_dir().display(),
                bucket = garage.bucket(),
                region = garage.region(),
                key = garage.access_key_id(),
                secret = garage.secret_access_key(),
                prefix = site.prefix,
            ),
        )
        .expect("write ftpd.toml");
        site
    }

    fn users_file(&self) -> PathBuf {
        self.root.path().join("users.toml")
    }

    fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    fn config(&self) -> PathBuf {
        self.root.path().join("ftpd.toml")
    }

    /// Starts `wharf-ftpd serve --config` on the site in `mode`.
    fn start(&self, mode: &str) -> FtpdProcess {
        self.start_with_env(mode, &[])
    }

    /// Like [`Site::start`], with extra environment variables (setting overrides).
    fn start_with_env(&self, mode: &str, env: &[(&str, &str)]) -> FtpdProcess {
        let config = self.config();
        let config = config.to_str().expect("utf-8");
        ftpd::serve(
            mode,
            &self.users_file(),
            &self.state_dir(),
            &["--config", config],
            env,
        )
    }

    /// The bucket key of `path` (`alice/dir/file`) under this site's prefix.
    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// Every `(key, size)` in the bucket under `path`, the site's prefix stripped.
    fn objects(&self, path: &str) -> Vec<(String, u64)> {
        list_objects(&self.key(path))
            .into_iter()
            .filter_map(|(key, size)| Some((key.strip_prefix(&self.prefix)?.to_owned(), size)))
            .collect()
    }

    /// The keys of the incomplete multipart uploads under `path`, the site's prefix stripped.
    fn uploads(&self, path: &str) -> Vec<String> {
        list_multipart_uploads(&self.key(path))
            .into_iter()
            .filter_map(|key| Some(key.strip_prefix(&self.prefix)?.to_owned()))
            .collect()
    }

    /// The keys under `path`, the site's prefix stripped.
    fn keys(&self, path: &str) -> Vec<String> {
        self.objects(path).into_iter().map(|(key, _)| key).collect()
    }

    /// `wharf-ftpd quota ARGS --config FILE`.
    fn quota_command(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("quota")
            .args(args)
            .arg("--config")
            .arg(self.config())
            .output()
            .expect("run wharf-ftpd quota")
    }
}

/// `curl` signing for Garage with the fixture's key: the independent S3 client.
fn s3_curl() -> Command {
    let garage = &*GARAGE;
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--aws-sigv4"])
        .arg(format!("aws:amz:{}:s3", garage.region()))
        .arg("--user")
        .arg(format!(
            "{}:{}",
            garage.access_key_id(),
            garage.secret_access_key()
        ))
        // Garage wants the header; curl 7.x does not send it by itself.
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["-w", "\n%{http_code}"]);
    command
}

/// A request through [`s3_curl`]: (HTTP status, body).
fn s3_request(args: &[&str], url: &str) -> (u16, Vec<u8>) {
    let output = s3_curl()
        .args(args)
        .arg(url)
        .output()
        .expect("curl must be installed to run this test");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut body = output.stdout;
    let split = body
        .iter()
        .rposition(|byte| *byte == b'\n')
        .expect("status line");
    let status = std::str::from_utf8(&body[split + 1..])
        .expect("status")
        .parse()
        .expect("numeric status");
    body.truncate(split);
    (status, body)
}

/// The URL of `key` in the fixture's bucket (keys here are plain ASCII without spaces).
fn object_url(key: &str) -> String {
    format!("{}/{}/{key}", GARAGE.endpoint(), GARAGE.bucket())
}

/// The object's bytes, `None` if there is no such object.
fn get_object(key: &str) -> Option<Vec<u8>> {
    let (status, body) = s3_request(&[], &object_url(key));
    match status {
        200 => Some(body),
        404 => None,
        other => panic!("GET {key}: {other} {}", String::from_utf8_lossy(&body)),
    }
}

/// Stores an object directly, behind the daemon's back.
fn put_object(key: &str, content: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("body");
    std::fs::write(&file, content).expect("write body");
    let (status, body) = s3_request(&["-T", file.to_str().expect("utf-8")], &object_url(key));
    assert_eq!(status, 200, "PUT {key}: {}", String::from_utf8_lossy(&body));
}

/// The text between `<tag>` and `</tag>` for each occurrence in `xml`.
fn xml_values<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split(close.as_str()).next())
        .collect()
}

/// Every `(key, size)` under `prefix` (ListObjectsV2, every page).
fn list_objects(prefix: &str) -> Vec<(String, u64)> {
    let encoded = prefix.replace('/', "%2F");
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/{}?list-type=2&prefix={encoded}",
            GARAGE.endpoint(),
            GARAGE.bucket()
        );
        if let Some(token) = &token {
            // Query parameters in sorted order, as SigV4's canonical request has them.
            url = format!(
                "{}/{}?continuation-token={}&list-type=2&prefix={encoded}",
                GARAGE.endpoint(),
                GARAGE.bucket(),
                token
                    .replace('/', "%2F")
                    .replace('+', "%2B")
                    .replace('=', "%3D")
            );
        }
        let (status, body) = s3_request(&[], &url);
        let xml = String::from_utf8(body).expect("utf-8 listing");
        assert_eq!(status, 200, "list {prefix}: {xml}");
        for contents in xml_values(&xml, "Contents") {
            let key = xml_values(contents, "Key")[0].replace("&amp;", "&");
            let size = xml_values(contents, "Size")[0].parse().expect("size");
            found.push((key, size));
        }
        match xml_values(&xml, "NextContinuationToken").first() {
            Some(next) if xml.contains("<IsTruncated>true</IsTruncated>") => {
                token = Some((*next).to_owned());
            }
            _ => return found,
        }
    }
}

/// The keys of every incomplete multipart upload under `prefix` (ListMultipartUploads; one
/// page is plenty for a test's few uploads, and a truncated page fails the test).
fn list_multipart_uploads(prefix: &str) -> Vec<String> {
    let url = format!(
        "{}/{}?prefix={}&uploads=",
        GARAGE.endpoint(),
        GARAGE.bucket(),
        prefix.replace('/', "%2F")
    );
    let (status, body) = s3_request(&[], &url);
    let xml = String::from_utf8(body).expect("utf-8 listing");
    assert_eq!(status, 200, "list uploads under {prefix}: {xml}");
    assert!(!xml.contains("<IsTruncated>true"), "{xml}");
    xml_values(&xml, "Upload")
        .into_iter()
        .map(|upload| xml_values(upload, "Key")[0].replace("&amp;", "&"))
        .collect()
}

/// Runs `PRELUDE + script` against `daemon` with `args`; it must succeed and print `ok` last.
fn python(daemon: &FtpdProcess, script: &str, args: &[&str]) -> String {
    let output = common::python::script(&format!("{PRELUDE}\n{script}"))
        .arg(daemon.addr().ip().to_string())
        .arg(daemon.addr().port().to_string())
        .args(args)
        .output()
        .expect("python3 must be installed to run this test");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "client script failed\nstdout: {stdout}\nstderr: {}\ndaemon log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        daemon.log_text()
    );
    stdout
}

/// Writes `content` to a file under `dir` and returns its path as text, for scripts.
fn payload_file(dir: &Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write payload");
    path.to_str().expect("utf-8").to_owned()
}

/// Random bytes from a fixed seed.
fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut bytes = vec![0; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

#[test]
fn an_endpoint_given_by_name_is_resolved_by_the_confined_daemon_and_its_sessions() {
    // Landlock confines the daemon (and in forking mode each session): name resolution must
    // still read what it needs, or no request (stat, upload, the download's own GET) goes out.
    for mode in ALL_MODES {
        let site = Site::by_host_name(&format!("named-{mode}"), &[("alice", None)]);
        let daemon = site.start(mode);
        let files = tempfile::tempdir().expect("temp dir");
        let content = random_bytes(6 * 1024 * 1024 + 99, 11);
        let path = payload_file(files.path(), "named.bin", &content);
        python(
            &daemon,
            r#"
data = open(ARGS[0], "rb").read()
ftp = login("alice")
assert ftp.storbinary("STOR named.bin", io.BytesIO(data)).startswith("226")
assert fetch(ftp, "named.bin") == data, "RETR differs"
assert fetch(ftp, "named.bin", rest=1000) == data[1000:], "REST+RETR differs"
ftp.quit()
print("ok")
"#,
            &[&path],
        );
        assert_eq!(
            get_object(&site.key("alice/named.bin")).as_deref(),
            Some(content.as_slice()),
            "{mode}: the object differs from the upload"
        );
    }
}

#[test]
fn a_12_mib_upload_is_one_object_read_back_whole_and_from_an_offset() {
    for mode in ALL_MODES {
        let site = Site::new(&format!("big-{mode}"), &[("alice", None)]);
        let daemon = site.start(mode);
        let files = tempfile::tempdir().expect("temp dir");
        let content = random_bytes(12 * 1024 * 1024 + 12345, 7);
        let path = payload_file(files.path(), "big.bin", &content);
        python(
            &daemon,
            r#"
data = open(ARGS[0], "rb").read()
ftp = login("alice")
assert ftp.storbinary("STOR big.bin", io.BytesIO(data)).startswith("226")
assert fetch(ftp, "big.bin") == data, "RETR differs"
offset = 5 * 1024 * 1024 + 17
assert fetch(ftp, "big.bin", rest=offset) == data[offset:], "REST+RETR differs"
assert fetch(ftp, "big.bin", rest=len(data)) == b"", "REST at the end"
assert ftp.size("big.bin") == len(data)
mdtm = ftp.sendcmd("MDTM big.bin")
assert mdtm.startswith("213 ") and len(mdtm.split()[1]) >= 14 and not mdtm.split()[1].startswith("1970"), mdtm
digest = hashlib.sha256(data).hexdigest()
assert ftp.sendcmd("HASH big.bin") == "213 SHA-256 0-%d %s big.bin" % (len(data), digest), ftp.sendcmd("HASH big.bin")
reply = ftp.storbinary("STOU", io.BytesIO(b"unique bytes"))
assert reply.startswith("226"), reply
names = [n for n in ftp.nlst() if n != "big.bin"]
assert len(names) == 1, ftp.nlst()
assert fetch(ftp, names[0]) == b"unique bytes"
print(names[0])
ftp.quit()
print("ok")
"#,
            &[&path],
        );
        assert_eq!(
            get_object(&site.key("alice/big.bin")).as_deref(),
            Some(content.as_slice()),
            "{mode}: the object differs from the upload"
        );
        let keys = site.keys("alice/");
        assert_eq!(keys.len(), 2, "{mode}: {keys:?}");
        let unique = keys
            .iter()
            .find(|key| *key != "alice/big.bin")
            .expect("STOU object");
        assert_eq!(
            get_object(&site.key(unique)).as_deref(),
            Some(&b"unique bytes"[..])
        );
    }
}

/// A client script run step by step: it prints a line at each step and waits for a line on
/// its standard input before the next; killed on drop.
struct SteppedClient {
    /// The script's process.
    process: KillOnDrop,
    /// Its standard output, line by line.
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl SteppedClient {
    /// Runs `PRELUDE + script` against `daemon`.
    fn start(daemon: &FtpdProcess, script: &str) -> SteppedClient {
        let child = common::python::script(&format!("{PRELUDE}\n{script}"))
            .arg(daemon.addr().ip().to_string())
            .arg(daemon.addr().port().to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut process = KillOnDrop(child);
        let stdout = process.0.stdout.take().expect("stdout");
        SteppedClient {
            process,
            lines: std::io::BufRead::lines(std::io::BufReader::new(stdout)),
        }
    }

    /// The next line the script prints (empty once it ended).
    fn next_line(&mut self) -> String {
        self.lines.next().and_then(Result::ok).unwrap_or_default()
    }

    /// Lets the script go on past its current step.
    fn proceed(&mut self) {
        let stdin = self.process.0.stdin.as_mut().expect("stdin");
        std::io::Write::write_all(stdin, b"go\n").expect("tell the client");
    }
}

/// Waits (at most 10 s) until `path` has an incomplete multipart upload of `key`: the upload
/// under way reached S3, so what follows tests the fate of real parts.
fn wait_for_upload(site: &Site, key: &str, context: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !site.uploads("alice/").iter().any(|listed| listed == key) {
        assert!(
            std::time::Instant::now() < deadline,
            "{context}: no multipart upload of {key} started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The start of a client script: `STOR name` with 12 MiB sent (OpenDAL starts the multipart
/// upload with the second 5 MiB part), then a pause (step `sent`) while the rest of the
/// connection stays open.
fn upload_then_wait(name: &str, seed: u64) -> String {
    format!(
        "ftp = login('alice')\nconn = ftp.transfercmd('STOR {name}')\n\
         conn.sendall(payload(12 << 20, {seed}))\nprint('sent', flush=True)\nsys.stdin.readline()\n"
    )
}

/// Waits (at most 10 s: a dropped upload is aborted on the runtime, just after the reply)
/// until no multipart upload is left under `path`.
fn assert_no_uploads_left(site: &Site, path: &str, context: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = site.uploads(path);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{context}: orphaned multipart uploads: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The ends of an upload under way that the cut-off test tries, after [`upload_then_wait`].
const UPLOAD_ENDINGS: [(&str, &str); 3] = [
    (
        "ABOR",
        r#"
reply = ftp.abort()
assert reply[:3] in ("426", "225", "226"), reply
if reply.startswith("426"):
    assert ftp.getresp()[:3] in ("225", "226")
conn.close()
assert ftp.nlst() == ["keep.bin"], ftp.nlst()
print("ok", flush=True)
"#,
    ),
    (
        "a reset data connection",
        r#"
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
try:
    reply = ftp.getresp()
except (ftplib.error_perm, ftplib.error_temp) as error:
    reply = str(error)
assert reply[:1] in ("4", "5"), reply
assert ftp.nlst() == ["keep.bin"], ftp.nlst()
print("ok", flush=True)
"#,
    ),
    (
        "the client gone (both connections dropped)",
        "os._exit(0)\n",
    ),
];

#[test]
fn an_upload_aborted_or_cut_off_leaves_the_previous_object_and_no_parts() {
    for mode in ALL_MODES {
        let site = Site::new(&format!("cut-{mode}"), &[("alice", None)]);
        let daemon = site.start(mode);
        python(
            &daemon,
            "ftp = login('alice')\nftp.storbinary('STOR keep.bin', io.BytesIO(b'the previous version'))\nprint('ok')",
            &[],
        );
        for (seed, (ending, script)) in (1..).zip(UPLOAD_ENDINGS) {
            for target in ["keep.bin", "new.bin"] {
                let context = format!("{mode}: STOR {target} ended by {ending}");
                let mut client =
                    SteppedClient::start(&daemon, &(upload_then_wait(target, seed) + script));
                assert_eq!(client.next_line(), "sent", "{context}");
                wait_for_upload(&site, &format!("alice/{target}"), &context);
                client.proceed();
                let last = client.next_line();
                assert!(
                    last == "ok" || script.starts_with("os._exit"),
                    "{context}: {last:?}\n{}",
                    daemon.log_text()
                );
                drop(client);
                assert_no_uploads_left(&site, "alice/", &context);
                assert_eq!(
                    get_object(&site.key("alice/keep.bin")).as_deref(),
                    Some(&b"the previous version"[..]),
                    "{context}"
                );
                assert_eq!(site.keys("alice/"), ["alice/keep.bin"], "{context}");
            }
        }
    }
}

#[test]
fn a_dead_daemons_multipart_upload_is_aborted_once_stale_and_a_live_one_never() {
    for mode in MODES {
        let site = Site::new(&format!("stale-{mode}"), &[("alice", None)]);
        let mut daemon = site.start(mode);
        python(
            &daemon,
            "ftp = login('alice')\nftp.storbinary('STOR keep.bin', io.BytesIO(b'previous'))\nprint('ok')",
            &[],
        );
        // The daemon killed mid-upload cannot abort its multipart upload.
        let mut client = SteppedClient::start(&daemon, &upload_then_wait("keep.bin", 3));
        assert_eq!(client.next_line(), "sent", "{mode}");
        wait_for_upload(&site, "alice/keep.bin", mode);
        daemon.kill();
        drop(client);
        assert_eq!(
            get_object(&site.key("alice/keep.bin")).as_deref(),
            Some(&b"previous"[..]),
            "{mode}: after the daemon was killed"
        );
        assert_eq!(site.keys("alice/"), ["alice/keep.bin"], "{mode}");
        assert_eq!(
            site.uploads("alice/"),
            ["alice/keep.bin"],
            "{mode}: the orphan"
        );

        // Two daemons share the bucket. One (default age, a day) has an upload running; a
        // login on the other, with an age of 3 s, sweeps the home once the orphan is older
        // than that: the orphan goes, the running upload (about a second old) stays and
        // completes. The sweeping session quits right after its login: the sweep still runs
        // to its end (in threading mode the session's runtime ends with it).
        std::thread::sleep(std::time::Duration::from_secs(4));
        let running = site.start(mode);
        let mut live = SteppedClient::start(
            &running,
            &(upload_then_wait("live.bin", 5)
                + "conn.sendall(payload(1000, 6))\nconn.close()\nprint(ftp.getresp(), flush=True)\n"),
        );
        assert_eq!(live.next_line(), "sent", "{mode}");
        wait_for_upload(&site, "alice/live.bin", mode);
        let sweeper = site.start_with_env(mode, &[("WHARF_FTPD__STORAGE__STALE_UPLOAD_AGE", "3s")]);
        python(
            &sweeper,
            "ftp = login('alice')\nftp.quit()\nprint('ok')",
            &[],
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while site
            .uploads("alice/")
            .contains(&"alice/keep.bin".to_owned())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{mode}: the orphan stayed\n{}",
                sweeper.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(sweeper);
        assert_eq!(
            site.uploads("alice/"),
            ["alice/live.bin"],
            "{mode}: the live upload"
        );
        live.proceed();
        let done = live.next_line();
        assert!(
            done.starts_with("226"),
            "{mode}: the running upload: {done:?}"
        );
        assert_eq!(
            get_object(&site.key("alice/live.bin")).map(|bytes| bytes.len()),
            Some((12 << 20) + 1000),
            "{mode}"
        );
        assert!(site.uploads("alice/").is_empty(), "{mode}");
    }
}

/// A child process killed and reaped on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn appe_and_rest_stor_extend_or_rewrite_the_object() {
    for mode in ALL_MODES {
        let site = Site::new(&format!("appe-{mode}"), &[("alice", None)]);
        let daemon = site.start(mode);
        let files = tempfile::tempdir().expect("temp dir");
        // Larger than one part, so the copied prefix spans parts.
        let first = random_bytes(6 * 1024 * 1024 + 3, 11);
        let more = random_bytes(300_000, 12);
        let first_path = payload_file(files.path(), "first", &first);
        let more_path = payload_file(files.path(), "more", &more);
        python(
            &daemon,
            r#"
first, more = open(ARGS[0], "rb").read(), open(ARGS[1], "rb").read()
ftp = login("alice")
feat = ftp.sendcmd("FEAT")
assert "REST STREAM" in feat, feat
ftp.storbinary("STOR a.bin", io.BytesIO(first))
assert ftp.storbinary("APPE a.bin", io.BytesIO(more)).startswith("226")
assert fetch(ftp, "a.bin") == first + more
print("ok")
"#,
            &[&first_path, &more_path],
        );
        let mut expected = first.clone();
        expected.extend_from_slice(&more);
        assert_eq!(
            get_object(&site.key("alice/a.bin")).as_deref(),
            Some(expected.as_slice()),
            "{mode}: APPE"
        );
        python(
            &daemon,
            r#"
more = open(ARGS[1], "rb").read()
ftp = login("alice")
assert ftp.storbinary("STOR a.bin", io.BytesIO(more), rest=4096).startswith("226")
# A restart offset beyond the end is refused, and the object stays as it was.
assert refused(ftp.storbinary, "STOR a.bin", io.BytesIO(b"x"), 8192, None, 10 << 20)[:1] == "5"
print("ok")
"#,
            &[&first_path, &more_path],
        );
        let mut rewritten = first[..4096].to_vec();
        rewritten.extend_from_slice(&more);
        assert_eq!(
            get_object(&site.key("alice/a.bin")).as_deref(),
            Some(rewritten.as_slice()),
            "{mode}: REST + STOR"
        );
    }
}

#[test]
fn directories_are_prefixes_and_an_empty_one_persists_across_sessions() {
    for mode in MODES {
        let site = Site::new(&format!("dirs-{mode}"), &[("alice", None)]);
        let daemon = site.start(mode);
        python(
            &daemon,
            r#"
ftp = login("alice")
assert ftp.mkd("docs") == "/docs"
assert ftp.mkd("empty") == "/empty"
assert refused(ftp.mkd, "docs")[:3] == "550"
ftp.cwd("docs")
assert ftp.pwd() == "/docs"
ftp.storbinary("STOR one.txt", io.BytesIO(b"one"))
assert ftp.mkd("sub") == "/docs/sub"
ftp.storbinary("STOR sub/two.txt", io.BytesIO(b"two"))
assert sorted(ftp.nlst()) == ["one.txt", "sub"], ftp.nlst()
facts = dict(ftp.mlsd())
assert facts["one.txt"]["type"] == "file" and facts["one.txt"]["size"] == "3", facts
assert facts["sub"]["type"] == "dir", facts
listing = []
ftp.retrlines("LIST", listing.append)
assert len(listing) == 2 and listing[0].startswith("-") and listing[1].startswith("d"), listing
assert refused(ftp.rmd, "sub")[:3] == "550", "a non-empty directory is kept"
ftp.cwd("/")
assert refused(ftp.cwd, "missing")[:3] == "550"
assert refused(ftp.cwd, "docs/one.txt")[:3] == "550"
ftp.quit()
ftp = login("alice")
assert sorted(ftp.nlst()) == ["docs", "empty"], ftp.nlst()
ftp.cwd("empty")
assert ftp.nlst() == []
ftp.cwd("/")
print("ok")
"#,
            &[],
        );
        assert_eq!(
            site.keys("alice/"),
            [
                "alice/docs/",
                "alice/docs/one.txt",
                "alice/docs/sub/",
                "alice/docs/sub/two.txt",
                "alice/empty/",
            ],
            "{mode}"
        );
        python(
            &daemon,
            r#"
ftp = login("alice")
ftp.rename("docs/one.txt", "docs/renamed.txt")
assert fetch(ftp, "docs/renamed.txt") == b"one"
assert refused(ftp.size, "docs/one.txt")[:3] == "550"
ftp.rename("docs", "papers")
assert sorted(ftp.nlst()) == ["empty", "papers"], ftp.nlst()
assert fetch(ftp, "papers/sub/two.txt") == b"two"
ftp.rename("empty", "papers/void")
ftp.rmd("papers/void")
ftp.delete("papers/sub/two.txt")
ftp.rmd("papers/sub")
assert ftp.nlst("papers") in (["renamed.txt"], ["papers/renamed.txt"]), ftp.nlst("papers")
print("ok")
"#,
            &[],
        );
        assert_eq!(
            site.keys("alice/"),
            ["alice/papers/", "alice/papers/renamed.txt"],
            "{mode}"
        );
        assert_eq!(
            get_object(&site.key("alice/papers/renamed.txt")).as_deref(),
            Some(&b"one"[..])
        );
    }
}

#[test]
fn alice_cannot_read_list_or_write_bobs_keys() {
    for mode in MODES {
        let site = Site::new(&format!("jail-{mode}"), &[("alice", None), ("bob", None)]);
        put_object(&site.key("bob/secret.txt"), b"bob's secret");
        put_object(&site.key("alice-not/secret.txt"), b"a sibling prefix");
        let daemon = site.start(mode);
        python(
            &daemon,
            r#"
ftp = login("alice")
ftp.storbinary("STOR mine.txt", io.BytesIO(b"alice's"))
for name in ["../bob/secret.txt", "/../bob/secret.txt", "../../bob/secret.txt",
             "/bob/secret.txt", "./../bob/secret.txt", "sub/../../bob/secret.txt",
             "../alice-not/secret.txt", "..\\bob\\secret.txt"]:
    try:
        got = fetch(ftp, name)
    except (ftplib.error_perm, ftplib.error_temp):
        continue
    raise SystemExit("read %r: %r" % (name, got))
for name in ["../bob/x", "/../bob/x", "../../bob/x"]:
    try:
        ftp.storbinary("STOR " + name, io.BytesIO(b"attack"))
    except (ftplib.error_perm, ftplib.error_temp):
        continue
    # Accepted only if it landed inside alice's home.
for target in ["..", "/..", "../bob", "/../bob", "../..", "../../t-x"]:
    try:
        ftp.cwd(target)
    except (ftplib.error_perm, ftplib.error_temp):
        continue
    assert ftp.pwd() in ("/", "/bob"), ftp.pwd()
    names = ftp.nlst()
    assert "secret.txt" not in names and "alice" not in names and "bob" not in names, (target, names)
    ftp.cwd("/")
for target in ["..", "/..", "../bob", "/../bob", "../../"]:
    try:
        names = ftp.nlst(target)
    except (ftplib.error_perm, ftplib.error_temp):
        continue
    assert all("secret" not in name for name in names), (target, names)
try:
    ftp.rename("../bob/secret.txt", "stolen.txt")
except (ftplib.error_perm, ftplib.error_temp):
    pass
try:
    ftp.delete("../bob/secret.txt")
except (ftplib.error_perm, ftplib.error_temp):
    pass
print("ok")
"#,
            &[],
        );
        assert_eq!(site.keys("bob/"), ["bob/secret.txt"], "{mode}");
        assert_eq!(
            get_object(&site.key("bob/secret.txt")).as_deref(),
            Some(&b"bob's secret"[..])
        );
        assert_eq!(site.keys("alice-not/"), ["alice-not/secret.txt"]);
        let theirs = site.objects("");
        assert!(
            theirs.iter().all(|(key, _)| key.starts_with("alice/")
                || key == "bob/secret.txt"
                || key == "alice-not/secret.txt"),
            "{mode}: a key outside alice's home: {theirs:?}"
        );
        assert!(
            list_objects("")
                .iter()
                .all(|(key, _)| key.starts_with("t-")),
            "{mode}: a key outside every site prefix"
        );
    }
}

/// A quota refusal after the multipart upload started (12 MiB sent of 20, limit 14 MiB):
/// `552`, the previous object kept, no parts left.
fn refused_multipart_upload_leaves_no_parts(mode: &str) {
    let site = Site::new(&format!("quota-parts-{mode}"), &[("alice", Some(14 << 20))]);
    let daemon = site.start(mode);
    python(
        &daemon,
        "ftp = login('alice')\nftp.storbinary('STOR keep.bin', io.BytesIO(b'previous'))\nprint('ok')",
        &[],
    );
    let mut client = SteppedClient::start(
        &daemon,
        &(upload_then_wait("keep.bin", 7)
            + r#"
try:
    conn.sendall(payload(8 << 20, 8))
    conn.close()
except OSError:
    pass
try:
    reply = ftp.getresp()
except (ftplib.error_perm, ftplib.error_temp) as error:
    reply = str(error)
print(reply, flush=True)
"#),
    );
    assert_eq!(client.next_line(), "sent", "{mode}");
    wait_for_upload(&site, "alice/keep.bin", mode);
    client.proceed();
    let reply = client.next_line();
    assert!(reply.starts_with("552"), "{mode}: {reply:?}");
    drop(client);
    assert_no_uploads_left(&site, "alice/", &format!("{mode}: after a quota refusal"));
    assert_eq!(
        get_object(&site.key("alice/keep.bin")).as_deref(),
        Some(&b"previous"[..]),
        "{mode}"
    );
}

#[test]
fn a_byte_quota_holds_on_s3_and_quota_commands_count_the_bucket() {
    const LIMIT: u64 = 1024 * 1024;
    for mode in MODES {
        let site = Site::new(&format!("quota-{mode}"), &[("alice", Some(LIMIT))]);
        let daemon = site.start(mode);
        python(
            &daemon,
            r#"
ftp = login("alice")
ftp.storbinary("STOR small.bin", io.BytesIO(payload(600 * 1024, 1)))
reply = None
try:
    ftp.storbinary("STOR big.bin", io.BytesIO(payload(600 * 1024, 2)))
except (ftplib.error_perm, ftplib.error_temp) as error:
    reply = str(error)
except OSError:
    reply = ftp.getresp()
assert reply is not None and reply.startswith("552"), reply
try:
    ftp.storbinary("APPE small.bin", io.BytesIO(payload(600 * 1024, 3)))
    raise SystemExit("APPE over the limit accepted")
except (ftplib.error_perm, ftplib.error_temp) as error:
    assert str(error).startswith("552"), error
except OSError:
    assert ftp.getresp().startswith("552")
print("ok")
"#,
            &[],
        );
        let stored = site.objects("alice/");
        assert_eq!(
            stored,
            [("alice/small.bin".to_owned(), 600 * 1024)],
            "{mode}: nothing over the limit is stored"
        );
        drop(daemon);
        refused_multipart_upload_leaves_no_parts(mode);
        put_object(&site.key("alice/behind.bin"), &[7; 100]);
        let shown = site.quota_command(&["rebuild", "alice"]);
        assert!(
            shown.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&shown.stdout),
            format!(
                "alice\tbytes {} of {LIMIT}\tfiles 2 of unlimited\trebuilt from disk\n",
                600 * 1024 + 100
            ),
            "{mode}"
        );
        let shown = site.quota_command(&["show", "alice"]);
        assert_eq!(
            String::from_utf8_lossy(&shown.stdout),
            format!(
                "alice\tbytes {} of {LIMIT}\tfiles 2 of unlimited\tsessions 0\n",
                600 * 1024 + 100
            ),
            "{mode}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
    }
}

#[test]
fn user_add_with_an_s3_config_keeps_the_key_prefix_and_creates_no_directory() {
    let site = Site::new("useradd", &[("alice", None)]);
    let work = tempfile::tempdir().expect("temp dir");
    let add = |name: &str, home: &str| {
        wharf_testkit::process::output_with_input(
            Command::new(BIN)
                .current_dir(work.path())
                .args(["user", "add", name, "--password-stdin", "--users"])
                .arg(site.users_file())
                .args(["--home", home, "--config"])
                .arg(site.config()),
            b"secret\n",
        )
        .expect("run wharf-ftpd user add")
    };
    let added = add("carol", "carol/");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        std::fs::read_dir(work.path())
            .expect("read dir")
            .next()
            .is_none(),
        "no local directory is created"
    );
    let users = UsersFile::load(site.users_file()).expect("users file");
    assert_eq!(
        users.get("carol").map(|user| user.home.clone()),
        Some(PathBuf::from("carol/"))
    );
    for bad in ["/srv/carol", "../carol/", "dave"] {
        let refused = add("dave", bad);
        assert!(!refused.status.success(), "home {bad} accepted");
    }
    // carol can log in and store under her prefix.
    let daemon = site.start("async");
    python(
        &daemon,
        "ftp = login('carol')\nftp.storbinary('STOR c.txt', io.BytesIO(b'carol'))\nprint('ok')",
        &[],
    );
    assert_eq!(
        get_object(&site.key("carol/c.txt")).as_deref(),
        Some(&b"carol"[..])
    );
}

/// The `ETag` of an object (HEAD), quotes removed.
fn object_etag(key: &str) -> String {
    let (status, head) = s3_request(&["-I"], &object_url(key));
    let head = String::from_utf8_lossy(&head).into_owned();
    assert_eq!(status, 200, "HEAD {key}: {head}");
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("etag")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("no ETag for {key}: {head}"))
}

#[test]
fn an_upload_of_one_part_is_a_single_put_and_a_longer_one_a_multipart_upload() {
    // What docs/storage.md states: S3 gives a multipart object an ETag ending in `-PARTS`.
    let site = Site::new("etag", &[("alice", None)]);
    let daemon = site.start("async");
    python(
        &daemon,
        r#"
ftp = login("alice")
for name, size in (("one.bin", 5 << 20), ("two.bin", (5 << 20) + 1)):
    assert ftp.storbinary("STOR " + name, io.BytesIO(payload(size, 1))).startswith("226")
print("ok")
"#,
        &[],
    );
    let single = object_etag(&site.key("alice/one.bin"));
    assert!(!single.contains('-'), "one part: {single}");
    let multipart = object_etag(&site.key("alice/two.bin"));
    assert!(multipart.ends_with("-2"), "two parts: {multipart}");
}
