//! Garage, an S3-compatible object store, as a single-node cluster on loopback: configured in a
//! temporary directory, given one bucket and one key, and killed on drop or when the test
//! process ends (even if the fixture lives in a `static` and is never dropped).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::process::{Tie, spawn_tied};

/// How long Garage may take to answer `garage status`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The bucket every fixture creates.
const BUCKET: &str = "wharf";

/// The region Garage is configured to sign for.
const REGION: &str = "garage";

/// The name of the access key every fixture creates.
const KEY_NAME: &str = "wharf-key";

/// A running single-node Garage with a bucket and a key allowed to use it.
pub struct Garage {
    /// The `garage server` process, spawned with `PR_SET_PDEATHSIG` so it dies with the tests.
    child: Child,
    /// Keeps the server alive until the fixture is dropped.
    _tie: Tie,
    /// The binary, for the administration commands.
    binary: PathBuf,
    /// The configuration file the server and the commands share.
    config: PathBuf,
    /// The S3 API address.
    s3_port: u16,
    /// The access key id (`GK...`).
    access_key_id: String,
    /// The secret access key.
    secret_access_key: String,
    /// Holds the configuration, metadata and data.
    _dir: tempfile::TempDir,
}

/// The garage binary: `garage` on the PATH, or in `$CARGO_HOME/bin` or `~/.cargo/bin`.
pub fn binary() -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME").map(|home| PathBuf::from(home).join("bin"));
    let home_cargo = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    path_dirs
        .into_iter()
        .chain(cargo_home)
        .chain(home_cargo)
        .map(|dir| dir.join("garage"))
        .find(|candidate| candidate.is_file())
}

/// A random 32-byte secret in hex, as Garage's `rpc_secret` wants it.
fn random_hex_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The value after `label` on the first line of `text` that starts with it.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(str::trim)
}

/// How many times a start is tried when Garage finds one of its ports taken.
const START_ATTEMPTS: usize = 4;

/// Two different ports free on 127.0.0.1 a moment ago (held together while they are found).
fn two_free_ports() -> (u16, u16) {
    let first = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let second = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let port = |listener: &std::net::TcpListener| listener.local_addr().expect("bound").port();
    (port(&first), port(&second))
}

impl Garage {
    /// Starts a single-node Garage on free loopback ports, applies a layout, and creates the
    /// bucket `wharf` and a key with read, write and owner rights on it.
    pub fn start() -> Garage {
        let binary = binary().expect(
            "garage not found on PATH, in $CARGO_HOME/bin or ~/.cargo/bin: \
             run `cargo install --locked garage` (scripts/test does)",
        );
        // A port found free can be taken by another process before Garage binds it: then
        // Garage stops at start, and a second try on other ports is made.
        for _ in 1..START_ATTEMPTS {
            match Garage::try_start(&binary) {
                Ok(garage) => return garage,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("garage exited at start: {log}"),
            }
        }
        Garage::try_start(&binary).unwrap_or_else(|log| panic!("garage exited at start: {log}"))
    }

    /// One start on two fresh ports; `Err` with the server's log if it exits at start.
    fn try_start(binary: &std::path::Path) -> Result<Garage, String> {
        let binary = binary.to_path_buf();
        let dir = tempfile::tempdir().expect("temp dir");
        let (rpc_port, s3_port) = two_free_ports();
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"lmdb\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{secret}\"\n\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n",
                meta = dir.path().join("meta").display(),
                data = dir.path().join("data").display(),
                secret = random_hex_secret(),
            ),
        )
        .expect("write garage.toml");
        let log = std::fs::File::create(dir.path().join("garage.log")).expect("garage.log");
        let mut command = Command::new(&binary);
        command
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let (child, tie) = spawn_tied(command).expect("start garage server");
        let mut garage = Garage {
            child,
            _tie: tie,
            binary,
            config,
            s3_port,
            access_key_id: String::new(),
            secret_access_key: String::new(),
            _dir: dir,
        };
        garage.wait_ready()?;
        garage.configure();
        Ok(garage)
    }

    /// Polls `garage status` until the server answers; `Err` with its log if it exits first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status}) {}", self.server_log()));
            }
            if self.command(&["status"]).status.success() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "garage did not answer `status`: {}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One node, one bucket, one key.
    fn configure(&mut self) {
        let node = self.admin(&["node", "id", "-q"]);
        let node_id = node
            .trim()
            .split('@')
            .next()
            .expect("node id before @")
            .to_owned();
        self.admin(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id]);
        self.admin(&["layout", "apply", "--version", "1"]);
        self.admin(&["bucket", "create", BUCKET]);
        let key = self.admin(&["key", "create", KEY_NAME]);
        self.access_key_id = field(&key, "Key ID:")
            .unwrap_or_else(|| panic!("no key id in: {key}"))
            .to_owned();
        self.secret_access_key = field(&key, "Secret key:")
            .unwrap_or_else(|| panic!("no secret in: {key}"))
            .to_owned();
        assert!(self.access_key_id.starts_with("GK"), "key id: {key}");
        self.admin(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_NAME,
        ]);
    }

    /// `garage -c CONFIG ARGS`, its output whatever it is.
    fn command(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run garage")
    }

    /// `garage -c CONFIG ARGS`, which must succeed; its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            output.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What the server logged, for failure messages.
    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("garage.log")).unwrap_or_default()
    }

    /// The fixture's temporary directory.
    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The S3 endpoint URL (`http://127.0.0.1:PORT`), path-style.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The bucket the fixture created.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The access key id (`GK...`).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

/// The test process's one Garage, once started by [`Garage::shared`].
static SHARED: OnceLock<Garage> = OnceLock::new();

/// Runs when the test process exits: a `static` is never dropped, so this stops the shared
/// Garage and removes its directory.
extern "C" fn stop_shared_at_exit() {
    if let Some(garage) = SHARED.get() {
        garage.stop_in_place();
    }
}

impl Garage {
    /// The test process's one Garage, started on first use and shared by every test in it
    /// (each test keeps to a key prefix of its own); stopped, and its directory removed, when
    /// the process exits.
    pub fn shared() -> &'static Garage {
        SHARED.get_or_init(|| {
            let garage = Garage::start();
            // SAFETY: registers a plain function with no arguments; it runs once, at exit.
            unsafe {
                libc::atexit(stop_shared_at_exit);
            }
            garage
        })
    }

    /// Kills the server and removes its files, through a shared reference (at process exit).
    fn stop_in_place(&self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: plain system calls on our own child's pid.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn field_reads_the_value_after_its_label() {
        let text = "==== ACCESS KEY INFORMATION ====\nKey ID:              GKabc\n\
                    Secret key:          0123\n";
        assert_eq!(field(text, "Key ID:"), Some("GKabc"));
        assert_eq!(field(text, "Secret key:"), Some("0123"));
        assert_eq!(field(text, "Expiration:"), None);
    }
}
