//! A private PostgreSQL cluster for one test run: `initdb` into a temporary directory (as the
//! unprivileged `postgres` account when the tests run as root, since `initdb` refuses root),
//! the server on a free port of 127.0.0.1 with password authentication, stopped on drop.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::port::free_port;

/// The superuser the cluster is made with.
pub const SUPERUSER: &str = "wharf";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server with its own data directory.
pub struct PgCluster {
    /// The `postgres` process.
    server: Child,
    /// Data directory, socket directory and password file.
    root: tempfile::TempDir,
    /// Where it listens.
    port: u16,
    /// The superuser's password.
    password: String,
    /// The server binaries.
    bindir: PathBuf,
}

/// The directory of the server binaries: `pg_config --bindir`, else Debian's layout.
pub fn bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let candidates = from_pg_config.into_iter().chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin")),
    );
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists())
}

/// Whether the tests run as root (then the cluster runs as `postgres`).
fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The `postgres` account, which owns the cluster when the tests run as root.
fn owner() -> nix::unistd::User {
    nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .expect("a postgres account (Debian's postgresql package makes it)")
}

/// A command that runs `program` as the cluster's owner; the process is the program itself
/// (no `runuser` in between), so signals reach the server.
fn as_owner(program: &Path) -> Command {
    let mut command = Command::new(program);
    if as_root() {
        use std::os::unix::process::CommandExt;
        let owner = owner();
        command.uid(owner.uid.as_raw()).gid(owner.gid.as_raw());
    }
    command
}

/// The cluster [`PgCluster::shared`] hands out, one per test binary.
static SHARED: OnceLock<PgCluster> = OnceLock::new();
/// Numbers the databases [`PgCluster::new_database`] makes.
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Stops the shared cluster when the test binary exits (statics are never dropped).
extern "C" fn stop_shared() {
    if let Some(cluster) = SHARED.get() {
        if let Ok(pid) = i32::try_from(cluster.server.id()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        let _ = std::fs::remove_dir_all(cluster.root.path());
    }
}

impl PgCluster {
    /// One cluster shared by every test of this binary, started on first use and stopped when
    /// the binary exits. Tests that stop or restart the server make their own with
    /// [`PgCluster::start`].
    pub fn shared() -> &'static PgCluster {
        SHARED.get_or_init(|| {
            let cluster = PgCluster::start();
            // SAFETY: registering a plain function with no captured state.
            unsafe { libc_atexit(stop_shared) };
            cluster
        })
    }

    /// Creates a database with a name no other test of this process uses; returns the name.
    pub fn new_database(&self, prefix: &str) -> String {
        let number = DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}_{}_{number}", std::process::id());
        self.create_database(&name);
        name
    }

    /// Makes and starts a cluster; panics with the server's own words if it cannot.
    pub fn start() -> PgCluster {
        let bindir = bindir().expect(
            "PostgreSQL server binaries (initdb, postgres) not found: scripts/test installs Debian's postgresql",
        );
        let root = tempfile::Builder::new()
            .prefix("wharf-pg-")
            .tempdir()
            .expect("temp dir");
        // The owner must reach its files; nobody else needs to.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let password: String = format!("pw{:016x}", rand::random::<u64>());
        let pwfile = root.path().join("pwfile");
        std::fs::File::create(&pwfile)
            .and_then(|mut file| writeln!(file, "{password}"))
            .expect("password file");
        let data = root.path().join("data");
        let sockets = root.path().join("sockets");
        std::fs::create_dir(&sockets).expect("socket dir");
        if as_root() {
            let owner = owner();
            for path in [root.path(), &pwfile, &sockets] {
                nix::unistd::chown(path, Some(owner.uid), Some(owner.gid)).expect("chown");
            }
        }
        let initdb = as_owner(&bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let server = launch(&bindir, root.path(), port);
        let mut cluster = PgCluster {
            server,
            root,
            port,
            password,
            bindir,
        };
        cluster.wait_ready();
        cluster
    }

    /// Waits until the server accepts connections (`pg_isready`).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!("postgres exited at start: {status}");
            }
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|status| status.success());
            if ready && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start in time");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A `postgres://` URL of `database` for the superuser, password included.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The same URL without the password (for tests that pass it through `PGPASSWORD`).
    pub fn url_without_password(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database (each test gets its own, so tests can share one cluster).
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
    }

    /// Runs one SQL statement with `psql` and returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bindir.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Stops the server (fast shutdown) and waits for it; the data stays until drop.
    pub fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.server.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let _ = self.server.wait();
    }

    /// Starts the server again on the same data directory and port (after [`PgCluster::stop`]).
    pub fn restart(&mut self) {
        self.server = launch(&self.bindir, self.root.path(), self.port);
        self.wait_ready();
    }
}

unsafe extern "C" {
    /// C's `atexit`: `std::process::exit`, which the test harness ends with, runs these.
    #[link_name = "atexit"]
    fn libc_atexit(function: extern "C" fn()) -> std::ffi::c_int;
}

/// Starts `postgres` on the cluster under `root` (its `data` and `sockets` directories).
fn launch(bindir: &Path, root: &Path, port: u16) -> Child {
    as_owner(&bindir.join("postgres"))
        .arg("-D")
        .arg(root.join("data"))
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!(
            "unix_socket_directories={}",
            root.join("sockets").display()
        ))
        // A test cluster: losing it on a power cut is fine, speed is not.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .args(["-c", "max_connections=200"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres")
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
