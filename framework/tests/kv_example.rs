//! The `kv_store` example, run as its own binary: SET, GET, DEL and KEYS over TCP and a Unix
//! socket in every mode, a value set through one listener read through the other, two clients
//! at once in the concurrent modes, bad input answered with errors, and the forking mode's
//! need for a shared store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const MODES: [&str; 4] = ["sequential", "threading", "forking", "async"];
const CONCURRENT_MODES: [&str; 3] = ["threading", "forking", "async"];

/// The example's binary, built by cargo first so it matches the sources.
///
/// `cargo test` builds examples next to the test binaries (`target/<profile>/examples`), but
/// `cargo test --test kv_example` does not, and an older binary may be left there: the test
/// asks cargo for it, which costs nothing when it is up to date.
fn example_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/kv_example-HASH -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in target/<profile>/deps");
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build
            // The whole workspace's features, as `cargo test --workspace` resolves them, so an
            // up-to-date binary is not rebuilt with another feature set.
            .args(["build", "--quiet", "--workspace", "--example", "kv_store"])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"));
        match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        if let Some(target_dir) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = build.status().expect("run cargo build --example kv_store");
        assert!(status.success(), "cargo build --example kv_store failed");
        let binary = profile_dir.join("examples").join("kv_store");
        assert!(binary.exists(), "no example binary at {}", binary.display());
        binary
    })
}

/// A running `kv_store` process, stopped with SIGTERM.
struct KvServer {
    child: Child,
    tcp: SocketAddr,
    unix: PathBuf,
    /// Holds the Unix socket and the store directory (`store/`); `stop` hands it back.
    scratch: Option<tempfile::TempDir>,
}

/// Where a server keeps its pairs.
#[derive(Clone, Copy, Debug)]
enum Keep {
    Memory,
    Files,
}

impl KvServer {
    /// Starts the example in `mode` and waits for its two `listening on` lines.
    fn start(mode: &str, keep: Keep) -> Self {
        let scratch = tempfile::tempdir().expect("temp dir");
        Self::start_in(mode, keep, scratch)
    }

    /// As `start`, with the store directory (`store/`) in `scratch`, kept from an earlier run.
    fn start_in(mode: &str, keep: Keep, scratch: tempfile::TempDir) -> Self {
        let unix = scratch.path().join("kv.sock");
        let mut command = Command::new(example_binary());
        command
            .args(["--mode", mode, "--tcp", "127.0.0.1:0", "--max-line", "64"])
            .arg("--unix")
            .arg(&unix)
            .stdout(Stdio::piped());
        if let Keep::Files = keep {
            command.arg("--dir").arg(scratch.path().join("store"));
        }
        let mut child = command.spawn().expect("start kv_store");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut tcp = None;
        let mut listening_unix = None;
        while tcp.is_none() || listening_unix.is_none() {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("kv_store ({mode}) exited before listening"))
                .expect("read kv_store output");
            let addr = line
                .strip_prefix("listening on ")
                .expect("a listening line");
            match addr.strip_prefix("unix:") {
                Some(path) => listening_unix = Some(PathBuf::from(path)),
                None => tcp = Some(addr.parse().expect("a TCP address")),
            }
        }
        assert_eq!(listening_unix.as_deref(), Some(unix.as_path()));
        // Keep draining, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        KvServer {
            child,
            tcp: tcp.expect("TCP listener"),
            unix,
            scratch: Some(scratch),
        }
    }

    fn tcp_client(&self) -> Client {
        let stream = TcpStream::connect(self.tcp).expect("connect over TCP");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client::new(stream.try_clone().unwrap(), stream)
    }

    fn unix_client(&self) -> Client {
        let stream = UnixStream::connect(&self.unix).expect("connect over the Unix socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client::new(stream.try_clone().unwrap(), stream)
    }

    /// Sends SIGTERM, expects a clean exit, and hands back the scratch directory.
    fn stop(mut self) -> tempfile::TempDir {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let status = self.child.wait().expect("wait for kv_store");
        assert!(status.success(), "kv_store exited with {status}");
        self.scratch.take().expect("the scratch directory")
    }
}

impl Drop for KvServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection speaking the line protocol.
struct Client {
    reader: BufReader<Box<dyn Read>>,
    writer: Box<dyn Write>,
}

impl Client {
    fn new(reader: impl Read + 'static, writer: impl Write + 'static) -> Self {
        Client {
            reader: BufReader::new(Box::new(reader)),
            writer: Box::new(writer),
        }
    }

    /// Sends one line and returns the reply line, without its newline.
    fn ask(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
        let mut reply = String::new();
        self.reader.read_line(&mut reply).expect("reply");
        assert!(
            reply.ends_with('\n'),
            "a whole reply line to {line:?}: {reply:?}"
        );
        reply.pop();
        reply
    }

    /// Says QUIT and expects BYE, then the end of the connection.
    fn quit(mut self) {
        assert_eq!(self.ask("QUIT"), "BYE");
        let mut rest = String::new();
        self.reader
            .read_to_string(&mut rest)
            .expect("end of stream");
        assert_eq!(rest, "", "nothing after BYE");
    }
}

/// The stores each mode can use: memory only where connections share it.
fn stores(mode: &str) -> Vec<Keep> {
    if mode == "forking" {
        vec![Keep::Files]
    } else {
        vec![Keep::Memory, Keep::Files]
    }
}

#[test]
fn a_value_set_over_tcp_is_read_and_deleted_over_unix_in_every_mode() {
    for mode in MODES {
        for keep in stores(mode) {
            let server = KvServer::start(mode, keep);
            let what = format!("{mode}, {keep:?}");

            let mut tcp = server.tcp_client();
            assert_eq!(tcp.ask("SET greeting hello,  world"), "OK", "{what}");
            assert_eq!(tcp.ask("set count 1"), "OK", "{what}: commands ignore case");
            tcp.quit();

            let mut unix = server.unix_client();
            assert_eq!(unix.ask("GET greeting"), "VALUE hello,  world", "{what}");
            assert_eq!(unix.ask("KEYS"), "KEYS 2 count greeting", "{what}");
            assert_eq!(unix.ask("SET count 2"), "OK", "{what}");
            assert_eq!(unix.ask("DEL greeting"), "DELETED", "{what}");
            assert_eq!(unix.ask("DEL greeting"), "NOT_FOUND", "{what}");
            unix.quit();

            let mut tcp = server.tcp_client();
            assert_eq!(tcp.ask("GET greeting"), "NOT_FOUND", "{what}");
            assert_eq!(tcp.ask("GET count"), "VALUE 2", "{what}");
            assert_eq!(tcp.ask("KEYS"), "KEYS 1 count", "{what}");
            tcp.quit();
            server.stop();
        }
    }
}

#[test]
fn two_clients_at_once_see_each_other_in_the_concurrent_modes() {
    for mode in CONCURRENT_MODES {
        for keep in stores(mode) {
            let server = KvServer::start(mode, keep);
            let what = format!("{mode}, {keep:?}");
            let mut tcp = server.tcp_client();
            let mut unix = server.unix_client();
            assert_eq!(tcp.ask("SET a from-tcp"), "OK", "{what}");
            assert_eq!(unix.ask("GET a"), "VALUE from-tcp", "{what}");
            assert_eq!(unix.ask("SET a from-unix"), "OK", "{what}");
            assert_eq!(tcp.ask("GET a"), "VALUE from-unix", "{what}");
            assert_eq!(unix.ask("SET b 2"), "OK", "{what}");
            assert_eq!(tcp.ask("KEYS"), "KEYS 2 a b", "{what}");
            assert_eq!(tcp.ask("DEL b"), "DELETED", "{what}");
            assert_eq!(unix.ask("KEYS"), "KEYS 1 a", "{what}");
            tcp.quit();
            unix.quit();
            server.stop();
        }
    }
}

#[test]
fn bad_input_gets_an_error_line_and_the_session_goes_on() {
    for mode in MODES {
        let keep = stores(mode)[0];
        let server = KvServer::start(mode, keep);
        let mut client = server.unix_client();
        let errors = [
            ("FLY away", "ERR unknown command \"FLY\""),
            ("", "ERR empty line"),
            ("SET lonely", "ERR usage: SET key value"),
            ("GET", "ERR usage: GET key"),
            ("GET a b", "ERR usage: GET key"),
            ("DEL", "ERR usage: DEL key"),
            ("KEYS now", "ERR usage: KEYS takes no argument"),
            ("GET ../../etc/passwd", "ERR bad key"),
            ("SET .hidden x", "ERR bad key"),
        ];
        for (line, expected) in errors {
            let reply = client.ask(line);
            assert!(reply.starts_with(expected), "{mode}: {line:?} -> {reply:?}");
        }
        let long = format!("SET big {}", "x".repeat(200));
        assert_eq!(
            client.ask(&long),
            "ERR line too long: at most 64 bytes",
            "{mode}"
        );
        assert_eq!(client.ask("SET k v\r"), "OK", "{mode}: CRLF is accepted");
        assert_eq!(client.ask("GET k"), "VALUE v", "{mode}");
        client.quit();
        server.stop();
    }
}

#[test]
fn pairs_kept_in_files_outlive_the_server() {
    let server = KvServer::start("async", Keep::Files);
    let mut client = server.tcp_client();
    assert_eq!(client.ask("SET kept yes"), "OK");
    client.quit();
    let scratch = server.stop();
    let server = KvServer::start_in("forking", Keep::Files, scratch);
    let mut client = server.unix_client();
    assert_eq!(client.ask("GET kept"), "VALUE yes");
    client.quit();
    server.stop();
}

#[test]
fn forking_mode_without_a_directory_is_refused() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let output = Command::new(example_binary())
        .args(["--mode", "forking", "--tcp", "127.0.0.1:0", "--unix"])
        .arg(scratch.path().join("kv.sock"))
        .output()
        .expect("run kv_store");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("give --dir DIR"), "{stderr}");
}
