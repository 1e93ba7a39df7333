//! The storage a test daemon keeps its users' files in: the local disk, or S3 in this test
//! binary's one Garage under a key prefix of the site's own. What a backend stored is read
//! behind the daemon's back, with boto3 for S3 (an independent S3 client), and compared in
//! Rust.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use wharf_testkit::garage::Garage;

/// Where a site's files live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A home directory on the local disk (the default backend).
    Local,
    /// A key prefix in a Garage bucket (`[storage] backend = "s3"`).
    S3,
}

/// Both backends, local first.
pub const BACKENDS: [Backend; 2] = [Backend::Local, Backend::S3];

/// The modes a suite runs on S3: the two whose sessions share the daemon's process. Forking
/// and sequential sessions on S3 are proven by `s3_storage.rs`; running every suite in them
/// too would add minutes for no new path through the code.
pub const S3_MODES: [&str; 2] = ["async", "threading"];

impl Backend {
    /// The modes of `all` this backend is tested in: every one locally, [`S3_MODES`] on S3.
    pub fn modes(self, all: &[&'static str]) -> Vec<&'static str> {
        match self {
            Backend::Local => all.to_vec(),
            Backend::S3 => all
                .iter()
                .copied()
                .filter(|mode| S3_MODES.contains(mode))
                .collect(),
        }
    }

    /// Every `(backend, mode)` pair a suite runs: `all` locally, then [`S3_MODES`] on S3.
    pub fn each_with_modes(all: &[&'static str]) -> Vec<(Backend, &'static str)> {
        BACKENDS
            .iter()
            .flat_map(|backend| {
                backend
                    .modes(all)
                    .into_iter()
                    .map(move |mode| (*backend, mode))
            })
            .collect()
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Backend::Local => "local",
            Backend::S3 => "s3",
        })
    }
}

/// This test binary's Garage (started by the first S3 case, stopped when the binary exits).
pub fn garage() -> &'static Garage {
    Garage::shared()
}

/// A key prefix no other site of this test binary uses: `t-NAME-N/`.
pub fn fresh_prefix(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t-{name}-{}/", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writes `ftpd.toml` at `path`: the users file and state directory, and S3 storage in the
/// shared Garage under `prefix`.
pub fn write_s3_config(path: &Path, users_file: &Path, state_dir: &Path, prefix: &str) {
    let garage = garage();
    std::fs::write(
        path,
        format!(
            "[server]\nusers_file = \"{users}\"\nstate_dir = \"{state}\"\n\n\
             [storage]\nbackend = \"s3\"\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\n\
             region = \"{region}\"\naccess_key_id = \"{key}\"\n\
             secret_access_key = \"{secret}\"\nprefix = \"{prefix}\"\n",
            users = users_file.display(),
            state = state_dir.display(),
            endpoint = garage.endpoint(),
            bucket = garage.bucket(),
            region = garage.region(),
            key = garage.access_key_id(),
            secret = garage.secret_access_key(),
        ),
    )
    .expect("write ftpd.toml");
}

/// The environment the Python helpers ([`PYTHON_STORED`]) read the backend from.
pub fn python_env(backend: Backend) -> Vec<(&'static str, String)> {
    let mut env = vec![("WHARF_TEST_BACKEND", backend.to_string())];
    if backend == Backend::S3 {
        let garage = garage();
        env.extend([
            ("WHARF_TEST_S3_ENDPOINT", garage.endpoint()),
            ("WHARF_TEST_S3_BUCKET", garage.bucket().to_owned()),
            ("WHARF_TEST_S3_REGION", garage.region().to_owned()),
            ("WHARF_TEST_S3_KEY_ID", garage.access_key_id().to_owned()),
            (
                "WHARF_TEST_S3_SECRET",
                garage.secret_access_key().to_owned(),
            ),
        ]);
    }
    env
}

/// Python helpers that read and place what a backend stores, without the FTP server. A
/// `home` is a directory on the local backend and a key prefix (`t-x-0/alice/`) on S3, read
/// with boto3. `stored_bytes(home, name)`, `place(home, name, data)`, `stored_files(home)`
/// (every file's `(name, size)`), `unfinished_uploads(home)` (S3 multipart uploads left, or
/// local upload temp files), and `report_stored(home, name)`, which prints a `stored SIZE
/// SHA256 NAME` line for the Rust side to compare ([`stored_reports`]).
pub const PYTHON_STORED: &str = r#"
import hashlib as _hashlib, os as _os, time as _time
BACKEND = _os.environ.get("WHARF_TEST_BACKEND", "local")
_TEMP_PREFIX = ".wharf-upload."
if BACKEND == "s3":
    import boto3 as _boto3
    from botocore.config import Config as _Config
    _S3 = _boto3.client(
        "s3",
        endpoint_url=_os.environ["WHARF_TEST_S3_ENDPOINT"],
        region_name=_os.environ["WHARF_TEST_S3_REGION"],
        aws_access_key_id=_os.environ["WHARF_TEST_S3_KEY_ID"],
        aws_secret_access_key=_os.environ["WHARF_TEST_S3_SECRET"],
        config=_Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                       request_checksum_calculation="when_required",
                       response_checksum_validation="when_required"),
    )
    _BUCKET = _os.environ["WHARF_TEST_S3_BUCKET"]

def stored_bytes(home, name):
    if BACKEND == "s3":
        try:
            return _S3.get_object(Bucket=_BUCKET, Key=home + name)["Body"].read()
        except _S3.exceptions.NoSuchKey:
            return None
    path = _os.path.join(home, name)
    if not _os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()

def place(home, name, data):
    if BACKEND == "s3":
        _S3.put_object(Bucket=_BUCKET, Key=home + name, Body=data)
        return
    with open(_os.path.join(home, name), "wb") as handle:
        handle.write(data)

def stored_files(home):
    found = []
    if BACKEND == "s3":
        for page in _S3.get_paginator("list_objects_v2").paginate(Bucket=_BUCKET, Prefix=home):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):
                    found.append((item["Key"][len(home):], item["Size"]))
        return sorted(found)
    for folder, _, names in _os.walk(home):
        for name in names:
            path = _os.path.join(folder, name)
            if _os.path.islink(path) or not _os.path.isfile(path) or name.startswith(_TEMP_PREFIX):
                continue
            found.append((_os.path.relpath(path, home), _os.path.getsize(path)))
    return sorted(found)

def unfinished_uploads(home, settle=10):
    if BACKEND == "s3":
        # A refused or cut upload is aborted just after its reply: give that a moment.
        deadline = _time.time() + settle
        while True:
            left = [u["Key"] for u in _S3.list_multipart_uploads(Bucket=_BUCKET, Prefix=home).get("Uploads", [])]
            if not left or _time.time() > deadline:
                return left
            _time.sleep(0.1)
    return [_os.path.join(folder, name) for folder, _, names in _os.walk(home)
            for name in names if name.startswith(_TEMP_PREFIX)]

def report_stored(home, name):
    data = stored_bytes(home, name)
    if data is None:
        print("stored - - %s" % name, flush=True)
    else:
        print("stored %d %s %s" % (len(data), _hashlib.sha256(data).hexdigest(), name), flush=True)
"#;

/// The `(size, SHA-256)` of each `stored SIZE SHA256 NAME` line in a script's output, by name
/// (`None`: nothing stored under it).
pub fn stored_reports(output: &str) -> Vec<(String, Option<(u64, String)>)> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("stored "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, ' ');
            let (size, digest, name) = (parts.next()?, parts.next()?, parts.next()?);
            let found = size.parse().ok().map(|size| (size, digest.to_owned()));
            Some((name.to_owned(), found))
        })
        .collect()
}

/// Runs `PYTHON_STORED + script` with `args` on `backend`; it must succeed. Its stdout.
fn run_stored_script(backend: Backend, script: &str, args: &[&str]) -> String {
    let mut command: Command = super::python::script(&format!("{PYTHON_STORED}\n{script}"));
    command.args(args);
    for (key, value) in python_env(backend) {
        command.env(key, value);
    }
    let output = command
        .output()
        .expect("python3 (with boto3 for S3) must be installed to run this test");
    assert!(
        output.status.success(),
        "{backend}: stored-object script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `(size, SHA-256)` of what `backend` stores under `name` in `home`, read without the
/// FTP server (boto3 straight from Garage on S3); `None` if nothing is stored there.
pub fn stored_digest(backend: Backend, home: &str, name: &str) -> Option<(u64, String)> {
    let output = run_stored_script(
        backend,
        "import sys\nreport_stored(sys.argv[1], sys.argv[2])\n",
        &[home, name],
    );
    let mut reports = stored_reports(&output);
    assert_eq!(reports.len(), 1, "{backend}: {output}");
    reports.pop().and_then(|(_, found)| found)
}

/// Stores `content` under `name` in `home` behind the daemon's back (boto3 on S3).
pub fn place(backend: Backend, home: &str, name: &str, content: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let source: PathBuf = dir.path().join("content");
    std::fs::write(&source, content).expect("write content");
    run_stored_script(
        backend,
        "import sys\nplace(sys.argv[1], sys.argv[2], open(sys.argv[3], 'rb').read())\n",
        &[home, name, source.to_str().expect("utf-8")],
    );
}

/// The storage of one site (a users file, homes and a state directory under `root`): on S3 a
/// fresh key prefix in the shared Garage and the `ftpd.toml` that points the daemon there.
#[derive(Debug, Clone)]
pub struct SiteStorage {
    /// Local disk or S3.
    pub backend: Backend,
    /// The site's root directory (`users.toml`, `state/`, local `home/NAME`).
    root: PathBuf,
    /// The daemon's key prefix on S3 (`t-NAME-N/`), empty locally.
    prefix: String,
}

impl SiteStorage {
    /// The storage of the site at `root` for `backend`; on S3 it writes `ROOT/ftpd.toml` for a
    /// fresh prefix named after `name`.
    pub fn new(backend: Backend, root: &Path, name: &str) -> SiteStorage {
        let prefix = match backend {
            Backend::Local => String::new(),
            Backend::S3 => fresh_prefix(name),
        };
        let storage = SiteStorage {
            backend,
            root: root.to_path_buf(),
            prefix,
        };
        if backend == Backend::S3 {
            write_s3_config(
                &storage.config(),
                &super::users::users_file(root),
                &super::users::state_dir(root),
                &storage.prefix,
            );
        }
        storage
    }

    /// The configuration file an S3 site's daemon reads.
    fn config(&self) -> PathBuf {
        self.root.join("ftpd.toml")
    }

    /// The `serve` flags that select this storage (`--config ftpd.toml` on S3).
    pub fn serve_flags(&self) -> Vec<String> {
        match self.backend {
            Backend::Local => Vec::new(),
            Backend::S3 => vec![
                "--config".to_owned(),
                self.config().to_str().expect("utf-8").to_owned(),
            ],
        }
    }

    /// A user's home as the stored-object helpers take it: the local directory, or the key
    /// prefix (`t-NAME-N/USER/`) on S3.
    pub fn home(&self, user: &str) -> String {
        match self.backend {
            Backend::Local => super::users::home(&self.root, user)
                .to_str()
                .expect("utf-8")
                .to_owned(),
            Backend::S3 => format!("{}{user}/", self.prefix),
        }
    }

    /// The `(size, SHA-256)` of what is stored as `name` in `user`'s home, read without the
    /// daemon; `None` if nothing is.
    pub fn stored_digest(&self, user: &str, name: &str) -> Option<(u64, String)> {
        stored_digest(self.backend, &self.home(user), name)
    }

    /// Stores `content` as `name` in `user`'s home, behind the daemon's back.
    pub fn place(&self, user: &str, name: &str, content: &[u8]) {
        place(self.backend, &self.home(user), name, content);
    }

    /// The environment for Python scripts that use [`PYTHON_STORED`].
    pub fn python_env(&self) -> Vec<(&'static str, String)> {
        python_env(self.backend)
    }
}

/// The `(size, SHA-256)` that [`stored_digest`] reports for `content`.
pub fn digest_of(content: &[u8]) -> Option<(u64, String)> {
    Some((
        u64::try_from(content.len()).expect("size"),
        super::payload::sha256_hex(content),
    ))
}
