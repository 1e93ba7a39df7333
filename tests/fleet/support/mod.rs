//! A fleet on loopback: PostgreSQL (users, quotas, bans, session caps), Garage (the files),
//! three `wharf-ftpd serve` nodes (async, threading and forking) and HAProxy in front of them,
//! configured as docs/cluster.md describes; and the clients that reach it through HAProxy only.

pub mod clients;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use wharf_testkit::daemon::{Daemon, DaemonBuilder};
use wharf_testkit::garage::Garage;
use wharf_testkit::haproxy::Haproxy;
use wharf_testkit::objects::Objects;
use wharf_testkit::port::DistinctPorts;
use wharf_testkit::postgres::PgCluster;

/// The balancer's address: the only one clients are given.
pub const BALANCER: &str = "127.0.0.10";
/// HAProxy's own address towards the nodes (the one the PROXY header must hide).
pub const HAPROXY_SOURCE: &str = "127.0.0.1";
/// Passive ports per node.
const RANGE: u16 = 16;
/// The nodes' modes, one each.
pub const MODES: [&str; 3] = ["async", "threading", "forking"];
/// Every user's password.
pub const PASSWORD: &str = "secret";
/// Failed logins from one address, across the fleet, that ban it.
pub const BAN_AFTER: u32 = 3;

/// One fleet at a time: each brings up three daemons and moves real data, on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The wharf-ftpd binary: `WHARF_FTPD_BIN`, or the one `cargo test --workspace` built beside
/// this test; it must be newer than the sources it is built from (checked once per process).
pub fn ftpd_binary() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_ftpd_binary).clone()
}

/// [`ftpd_binary`]'s look-up and staleness check.
fn find_ftpd_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WHARF_FTPD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/fleet-HASH -> target/<profile>/wharf-ftpd
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("wharf-ftpd"))
        .expect("a target directory");
    let built = std::fs::metadata(&binary)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: `cargo test --workspace` builds it, or run \
                 `cargo build -p wharf-ftp --bin wharf-ftpd` before `cargo test -p wharf-e2e`",
                binary.display()
            )
        });
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    for crate_dir in ["ftp-handler", "framework", "users"] {
        let newest = newest_source(&workspace.join(crate_dir).join("src"));
        assert!(
            newest <= built,
            "{} is older than the sources of {crate_dir}: run `cargo build -p wharf-ftp --bin \
             wharf-ftpd` (or `cargo test --workspace`)",
            binary.display()
        );
    }
    binary
}

/// The latest modification time of any file under `dir`.
fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if let Ok(modified) = meta.modified() {
                newest = newest.max(modified);
            }
        }
    }
    newest
}

/// One node: its daemon and what belongs to it alone.
pub struct Node {
    /// The `wharf-ftpd serve` process (restartable).
    pub daemon: Daemon,
    /// The mode it runs in.
    pub mode: &'static str,
    /// The balancer's frontend that leads to this node only (PROXY v2 like the shared one),
    /// so a test can say which node a client reaches, still through HAProxy.
    pub pinned: SocketAddr,
    /// Its xferlog.
    pub xferlog: PathBuf,
}

impl Node {
    /// Its log so far, over every run.
    pub fn log(&self) -> String {
        self.daemon.log_text()
    }

    /// Its xferlog lines so far.
    pub fn xferlog_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.xferlog)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Three nodes over one database and one bucket prefix, HAProxy in front.
pub struct Fleet {
    /// Node 1 (async), node 2 (threading), node 3 (forking).
    pub nodes: Vec<Node>,
    /// The shared control frontend: source-balanced, sticky, redispatching.
    pub control: SocketAddr,
    /// The database cluster.
    pub cluster: &'static PgCluster,
    /// The users database's name.
    pub database: String,
    /// Its URL, without the password (the nodes get it in `PGPASSWORD`).
    pub url: String,
    /// The key prefix the whole fleet stores under.
    pub prefix: String,
    /// The configuration file every node reads (the storage section).
    pub config: PathBuf,
    /// Stopped before the nodes go.
    _haproxy: Haproxy,
    /// Configuration, state directories, xferlogs.
    root: tempfile::TempDir,
    /// Held for the fleet's life.
    _turn: MutexGuard<'static, ()>,
}

impl Fleet {
    /// Brings up the fleet for a test called `name`; `env` goes to every node.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Fleet {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let binary = ftpd_binary();
        let cluster = PgCluster::shared();
        let garage = Garage::shared();
        let root = tempfile::tempdir().expect("temp dir");
        let database = cluster.new_database(name);
        let url = cluster.url_without_password(&database);
        let prefix = format!("{name}-{}/", std::process::id());
        let config = root.path().join("ftpd.toml");
        std::fs::write(
            &config,
            format!(
                "[storage]\nbackend = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\n\
                 region = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
                 prefix = \"{prefix}\"\n",
                garage.endpoint(),
                garage.bucket(),
                garage.region(),
                garage.access_key_id(),
                garage.secret_access_key(),
            ),
        )
        .expect("write ftpd.toml");
        let migrated = run_ftpd(cluster, &binary, &["db", "migrate", "--users", &url], b"");
        assert_success(&migrated, "db migrate");

        let ban_after = BAN_AFTER.to_string();
        // Every port of the fleet distinct: HAProxy's frontends bind only after the nodes start.
        let mut ports = DistinctPorts::default();
        let mut nodes = Vec::new();
        let mut backends = Vec::new();
        for (index, mode) in MODES.into_iter().enumerate() {
            let number = index + 1;
            let port = ports.one();
            let low = ports.range(BALANCER, RANGE);
            let xferlog = root.path().join(format!("xferlog-{number}"));
            let state = root.path().join(format!("state-{number}"));
            let mut builder = DaemonBuilder::new(&binary)
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .args(["--listen", &format!("127.0.0.1:{port}"), "--mode", mode])
                .args(["--users", &url])
                .arg("--state-dir")
                .arg(&state)
                .args(["--proxy-protocol-from", &format!("{HAPROXY_SOURCE}/32")])
                .args(["--passive-address", BALANCER])
                .args(["--passive-ports", &format!("{low}-{}", low + RANGE - 1)])
                .env("PGPASSWORD", cluster.password())
                .env("RUST_LOG", "info")
                .env("WHARF_FTPD__LOG__XFERLOG", &xferlog)
                .env("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "50ms")
                .env("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", &ban_after)
                .env("WHARF_FTPD__LIMITS__BAN_WINDOW", "120s")
                .env("WHARF_FTPD__LIMITS__BAN_DURATION", "120s")
                .env("WHARF_FTPD__LIMITS__MAX_LOGIN_ATTEMPTS", "10")
                .stop_timeout(Duration::from_secs(30));
            for (key, value) in env {
                builder = builder.env(key, value);
            }
            let daemon = builder.start();
            let pinned = SocketAddr::new(BALANCER.parse().expect("address"), ports.one());
            backends.push((port, low, pinned));
            nodes.push(Node {
                daemon,
                mode,
                pinned,
                xferlog,
            });
        }
        let control = SocketAddr::new(BALANCER.parse().expect("address"), ports.one());
        let haproxy = Haproxy::start(&haproxy_config(control, &backends), control);
        Fleet {
            nodes,
            control,
            cluster,
            database,
            url,
            prefix,
            config,
            _haproxy: haproxy,
            root,
            _turn: turn,
        }
    }

    /// Adds `name` (password [`PASSWORD`], home `NAME/`, byte quota `quota`) through
    /// `wharf-ftpd user add`, into the fleet's database.
    pub fn add_user(&self, name: &str, quota: &str) {
        let config = self.config.to_string_lossy().into_owned();
        let added = run_ftpd(
            self.cluster,
            &ftpd_binary(),
            &[
                "user",
                "add",
                name,
                "--password-stdin",
                "--users",
                &self.url,
                "--home",
                &format!("{name}/"),
                "--quota",
                quota,
                "--config",
                &config,
            ],
            format!("{PASSWORD}\n").as_bytes(),
        );
        assert_success(&added, "user add");
    }

    /// The key of `name` in `user`'s home.
    pub fn key(&self, user: &str, name: &str) -> String {
        format!("{}{user}/{name}", self.prefix)
    }

    /// What the bucket holds, read with boto3.
    pub fn objects(&self) -> Objects<'static> {
        Objects::new(Garage::shared())
    }

    /// Every object in `user`'s home: name and size.
    pub fn stored(&self, user: &str) -> Vec<(String, u64)> {
        let home = format!("{}{user}/", self.prefix);
        self.objects()
            .list(&home)
            .into_iter()
            .filter(|(key, _)| !key.ends_with('/'))
            .map(|(key, size)| (key[home.len()..].to_owned(), size))
            .collect()
    }

    /// `wharf-ftpd quota show USER`: bytes and files used, as the shared store counts them.
    pub fn quota_used(&self, user: &str) -> (u64, u64) {
        let config = self.config.to_string_lossy().into_owned();
        let shown = run_ftpd(
            self.cluster,
            &ftpd_binary(),
            &[
                "quota", "show", user, "--users", &self.url, "--config", &config,
            ],
            b"",
        );
        assert_success(&shown, "quota show");
        let text = String::from_utf8_lossy(&shown.stdout).into_owned();
        let used = |what: &str| -> u64 {
            text.split('\t')
                .find_map(|field| field.strip_prefix(what))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|count| count.parse().ok())
                .unwrap_or_else(|| panic!("no {what:?} count in {text:?}"))
        };
        (used("bytes "), used("files "))
    }

    /// A query's rows on the fleet's database, one per line.
    pub fn sql(&self, query: &str) -> String {
        self.cluster.psql(&self.database, query)
    }

    /// Waits until `done` holds, checking every 250 ms, or panics with `what` after `limit`.
    pub fn wait_until(&self, limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A scratch directory of the fleet's.
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }
}

/// HAProxy's configuration, as docs/cluster/haproxy.cfg on loopback: the shared control
/// frontend (source-balanced, sticky, PROXY v2, redispatching a refused connection to another
/// node), one pinned control frontend per node, and each node's passive range forwarded
/// without a header. `backends`: each node's control port, first passive port and pinned
/// frontend.
fn haproxy_config(control: SocketAddr, backends: &[(u16, u16, SocketAddr)]) -> String {
    let mut config = format!(
        "frontend control\n    bind {control}\n    default_backend nodes\n\n\
         backend nodes\n    balance source\n    hash-type consistent\n    \
         stick-table type ip size 10k expire 30m\n    stick on src\n    retries 3\n    \
         option redispatch 1\n"
    );
    for (index, (port, _, _)) in backends.iter().enumerate() {
        config.push_str(&format!(
            "    server node{} 127.0.0.1:{port} send-proxy-v2 source {HAPROXY_SOURCE}\n",
            index + 1
        ));
    }
    for (index, (port, low, pinned)) in backends.iter().enumerate() {
        let number = index + 1;
        config.push_str(&format!(
            "\nfrontend pinned{number}\n    bind {pinned}\n    default_backend pinned{number}\n\n\
             backend pinned{number}\n    \
             server node{number} 127.0.0.1:{port} send-proxy-v2 source {HAPROXY_SOURCE}\n\n\
             frontend passive{number}\n    bind {BALANCER}:{low}-{high}\n    \
             default_backend passive{number}\n\n\
             backend passive{number}\n    server node{number} 127.0.0.1 source {HAPROXY_SOURCE}\n",
            high = low + RANGE - 1
        ));
    }
    config
}

/// Runs `wharf-ftpd ARGS` with `input` on standard input and the database password in
/// `PGPASSWORD`.
fn run_ftpd(cluster: &PgCluster, binary: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut command = Command::new(binary);
    command.args(args).env("PGPASSWORD", cluster.password());
    wharf_testkit::process::output_with_input(&mut command, input).expect("run wharf-ftpd")
}

/// Panics with the command's standard error unless it succeeded.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}
