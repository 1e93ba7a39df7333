//! Helpers shared by the framework's integration tests: run a real server on 127.0.0.1 in a
//! thread and talk to it over real sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use wharf::{ListenAddr, RequestHandler, ServerBuilder, ServerError, ServerHandle};

/// A server running on a background thread.
pub struct Running {
    pub handle: ServerHandle,
    pub addr: ListenAddr,
    pub thread: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    /// The TCP address (panics for Unix servers).
    pub fn tcp(&self) -> SocketAddr {
        self.addr.as_tcp().expect("a TCP server")
    }

    /// Asks for a graceful shutdown and waits for `serve_forever` to return.
    pub fn stop(self) -> Result<(), ServerError> {
        self.handle.shutdown();
        self.thread.join().expect("server thread panicked")
    }
}

/// Binds `builder` (plus 127.0.0.1:0 if it has no address) and serves on a thread.
pub fn start<H: RequestHandler>(builder: ServerBuilder, handler: H) -> Running {
    let server = builder
        .handle_signals(false)
        .build(handler)
        .expect("server binds");
    let handle = server.handle();
    let addr = server.local_addr().clone();
    let thread = std::thread::spawn(move || server.serve_forever());
    Running {
        handle,
        addr,
        thread,
    }
}

/// A builder on 127.0.0.1:0 in `mode`.
pub fn builder(mode: &str) -> ServerBuilder {
    wharf::Server::builder()
        .listen("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .mode(mode.parse().expect("mode name"))
        .shutdown_timeout(Duration::from_secs(5))
}

/// Connects with read and write timeouts so a broken server fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends one line and reads one line back (without its newline).
pub fn request(stream: &mut TcpStream, line: &str) -> std::io::Result<String> {
    stream.write_all(format!("{line}\n").as_bytes())?;
    read_line(stream)
}

/// Reads one line (without its newline) byte by byte, so nothing past it is consumed.
pub fn read_line(stream: &mut impl Read) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte)? {
            0 if out.is_empty() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => out.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads everything until the peer closes.
pub fn read_to_end(stream: &mut TcpStream) -> String {
    let mut all = String::new();
    let _ = BufReader::new(stream).read_to_string(&mut all);
    all
}

/// Reads all lines until the peer closes.
pub fn read_lines(stream: &mut TcpStream) -> Vec<String> {
    BufReader::new(stream)
        .lines()
        .map_while(Result::ok)
        .collect()
}

/// Every mode name.
pub const MODES: [&str; 4] = ["sequential", "threading", "forking", "async"];
/// The modes that serve connections concurrently.
pub const CONCURRENT_MODES: [&str; 3] = ["threading", "forking", "async"];

/// How a test server is configured; passed to a server child process as TOML in an env var.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// Which of the test file's handlers to serve.
    pub handler: String,
    /// The concurrency mode.
    pub mode: wharf::Mode,
    /// `max_connections` and whether the policy is Reject.
    pub max_connections: Option<(usize, bool)>,
    /// Shutdown timeout in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// The line a connection refused by `max_connections` is sent.
    pub refusal: Option<String>,
    /// Networks trusted to send a PROXY header on the listener (none: no PROXY protocol).
    pub proxy_trusted: Vec<String>,
}

impl Spec {
    /// A spec with the default shutdown timeout and no connection limit.
    pub fn new(handler: &str, mode: &str) -> Self {
        Spec {
            handler: handler.to_string(),
            mode: mode.parse().expect("mode name"),
            max_connections: None,
            shutdown_timeout_ms: 5000,
            refusal: None,
            proxy_trusted: Vec::new(),
        }
    }

    /// Sets `max_connections`.
    pub fn max_connections(mut self, limit: usize, policy: wharf::LimitPolicy) -> Self {
        self.max_connections = Some((limit, policy == wharf::LimitPolicy::Reject));
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: wharf::Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the refusal line.
    pub fn refusal(mut self, line: &str) -> Self {
        self.refusal = Some(line.to_string());
        self
    }

    /// PROXY protocol from these networks (header required, 500 ms to send it).
    pub fn proxy_from(mut self, networks: &[&str]) -> Self {
        self.proxy_trusted = networks.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Sets the shutdown timeout.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout_ms = timeout.as_millis() as u64;
        self
    }

    /// The builder this spec describes, on 127.0.0.1:0.
    pub fn builder(&self) -> ServerBuilder {
        let mut builder = wharf::Server::builder()
            .listen_as("main", "127.0.0.1:0".parse::<SocketAddr>().unwrap())
            .mode(self.mode)
            .shutdown_timeout(Duration::from_millis(self.shutdown_timeout_ms));
        if let Some(line) = &self.refusal {
            builder = builder.refusal(line.as_bytes());
        }
        if !self.proxy_trusted.is_empty() {
            let trusted = self
                .proxy_trusted
                .iter()
                .map(|net| net.parse::<wharf::Cidr>().expect("network"));
            let settings =
                wharf::ProxyProtocol::new(trusted).header_timeout(Duration::from_millis(500));
            builder = builder.proxy_protocol("main", settings);
        }
        match self.max_connections {
            Some((limit, reject)) => builder.max_connections(
                limit,
                if reject {
                    wharf::LimitPolicy::Reject
                } else {
                    wharf::LimitPolicy::Wait
                },
            ),
            None => builder,
        }
    }
}

const SPEC_VAR: &str = "WHARF_TEST_SERVER_SPEC";

/// A server in its own process: the test binary re-run with only its `server_process` test,
/// which serves the spec. Forking servers run this way, so that forked children do not
/// inherit the test's own client sockets (which would keep connections open).
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the server process and waits for its `listening on` line.
    pub fn start(spec: &Spec) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = std::process::Command::new(exe)
            .args([
                "--exact",
                "server_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SPEC_VAR, toml::to_string(spec).expect("spec to TOML"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server process printed its address")
                .expect("read server output");
            // The harness may print `test server_process ... ` on the same line first.
            if let Some((_, addr)) = line.split_once("listening on ") {
                break addr.trim().parse().expect("address");
            }
        };
        // Keep draining the rest so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        ServerProcess { child, addr }
    }

    /// Sends SIGTERM and waits for the process; returns how long it took to exit.
    pub fn stop(mut self) -> Duration {
        let started = std::time::Instant::now();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().expect("wait for the server process");
        assert!(status.success(), "server process failed: {status}");
        started.elapsed()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of each test file's `server_process` entry: serves the spec from the environment
/// until SIGTERM. Run without one (`--include-ignored`), it fails: it checks nothing, so it
/// must never pass as a test.
pub fn server_process_entry(serve: impl FnOnce(&Spec, ServerBuilder)) {
    let Ok(text) = std::env::var(SPEC_VAR) else {
        panic!(
            "server_process is the entry point of the server child processes the tests start, \
             not a test: it runs only with {SPEC_VAR} set by its parent"
        );
    };
    let spec: Spec = toml::from_str(&text).expect("spec from TOML");
    serve(&spec, spec.builder());
}

/// Serves `handler` in the calling process until a stop signal, announcing the address.
pub fn serve_announced<H: RequestHandler>(builder: ServerBuilder, handler: H) {
    let server = builder.build(handler).expect("server binds");
    println!("listening on {}", server.local_addr());
    server.serve_forever().expect("serve_forever");
}

/// A server under test, in this process or (forking mode) in its own.
pub enum TestServer {
    /// Serving on a thread of this process.
    Thread(Running),
    /// Serving in a child process.
    Process(ServerProcess),
}

impl TestServer {
    /// The server's TCP address.
    pub fn tcp(&self) -> SocketAddr {
        match self {
            TestServer::Thread(running) => running.tcp(),
            TestServer::Process(process) => process.addr,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub fn stop(self) {
        match self {
            TestServer::Thread(running) => running.stop().expect("serve_forever"),
            TestServer::Process(process) => {
                process.stop();
            }
        }
    }
}

/// Starts `spec` in a child process if its mode forks, else on a thread with `handler`.
pub fn start_spec<H: RequestHandler>(spec: &Spec, handler: H) -> TestServer {
    if matches!(spec.mode, wharf::Mode::Forking { .. }) {
        TestServer::Process(ServerProcess::start(spec))
    } else {
        TestServer::Thread(start(spec.builder(), handler))
    }
}

/// Whether something accepts TCP connections at `addr`. A connection to a closed loopback port
/// can still succeed when the kernel happens to pick that same port as its source (a TCP
/// simultaneous open with itself); that is no listener.
pub fn listening_at(addr: SocketAddr) -> bool {
    match TcpStream::connect(addr) {
        Ok(stream) => stream.local_addr().ok() != stream.peer_addr().ok(),
        Err(_) => false,
    }
}

/// Whether `addr` stops accepting within 5 s. A test of this binary that forks (a forking
/// server run in the test process) gives its child a copy of every descriptor the process
/// holds, other tests' listening sockets included, until that child exits: a listener closed
/// here may accept a moment longer through such a copy.
pub fn stops_listening(addr: SocketAddr) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while listening_at(addr) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
