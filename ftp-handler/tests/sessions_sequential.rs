//! Sequential mode under a crowd: 50 clients that connect at the same moment are all served
//! completely, strictly one after another, and the server is healthy afterwards.
//!
//! The other modes are covered by `fifty_sessions_at_once` in `protocol.rs`, which holds 50
//! sessions open together; sequential mode cannot do that by definition, so here each client
//! runs a whole session (login, LIST, RETR, QUIT) while the others wait in the listen backlog.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use support::raw::{Raw, read_reply};
use support::{Daemon, random_bytes, sha256_hex};

/// Clients started together.
const CLIENTS: usize = 50;

/// How long a queued client may wait for its greeting: every session before it runs first.
const GREETING_WAIT: Duration = Duration::from_secs(300);

/// How long any other reply or data read may take once a client is being served.
const REPLY_WAIT: Duration = Duration::from_secs(30);

/// The file every client lists and downloads.
const FILE_NAME: &str = "small.bin";

/// Its size in bytes.
const FILE_SIZE: usize = 4096;

/// Sessions between their greeting and their QUIT, and the most ever seen at once.
#[derive(Default)]
struct Overlap {
    /// Sessions being served right now, as the clients see it.
    active: AtomicUsize,
    /// The highest value `active` reached.
    most: AtomicUsize,
}

impl Overlap {
    /// A client got its greeting: it is being served.
    fn enter(&self) {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    /// A client is about to send QUIT; the server can only greet the next one after reading it.
    fn leave(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A control connection whose failures are returned, not panicked, so one thread's error is
/// reported with its client number.
struct Client {
    /// Buffered read side.
    reader: BufReader<TcpStream>,
    /// Write side.
    writer: TcpStream,
}

impl Client {
    /// Connects; the greeting is read separately, since a queued client waits long for it.
    fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        let writer = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Reads one complete reply (multi-line aware) within `wait`; returns its lines.
    fn reply(&mut self, wait: Duration) -> Result<Vec<String>, String> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(wait))
            .map_err(|e| format!("timeout: {e}"))?;
        read_reply(&mut self.reader).map(|reply| reply.lines)
    }

    /// Sends a command and checks its reply code; returns the reply's lines.
    fn expect(&mut self, command: &str, code: &str) -> Result<Vec<String>, String> {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(|e| format!("send {command}: {e}"))?;
        let reply = self.reply(REPLY_WAIT)?;
        if reply[0].starts_with(code) {
            Ok(reply)
        } else {
            Err(format!("{command}: expected {code}, got {reply:?}"))
        }
    }

    /// Runs `command` over a fresh EPSV data connection and returns what the server sent,
    /// with the 150 reply line; checks the closing 226.
    fn download(&mut self, addr: SocketAddr, command: &str) -> Result<(String, Vec<u8>), String> {
        let reply = self.expect("EPSV", "229")?;
        let port: u16 = reply[0]
            .split("(|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|port| port.parse().ok())
            .ok_or(format!("no port in {reply:?}"))?;
        let mut data = TcpStream::connect(SocketAddr::new(addr.ip(), port))
            .map_err(|e| format!("data connect: {e}"))?;
        data.set_read_timeout(Some(REPLY_WAIT))
            .map_err(|e| format!("timeout: {e}"))?;
        let opening = self.expect(command, "150")?.remove(0);
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)
            .map_err(|e| format!("{command} data: {e}"))?;
        let done = self.reply(REPLY_WAIT)?;
        if !done[0].starts_with("226") {
            return Err(format!("{command}: expected 226, got {done:?}"));
        }
        Ok((opening, bytes))
    }
}

/// One client's whole session; `overlap` records when it is being served.
fn session(addr: SocketAddr, content: &[u8], overlap: &Overlap) -> Result<(), String> {
    let mut client = Client::connect(addr)?;
    let greeting = client.reply(GREETING_WAIT)?;
    if !greeting[0].starts_with("220") {
        return Err(format!("greeting {greeting:?}"));
    }
    overlap.enter();
    let served = (|| {
        client.expect("USER alice", "331")?;
        client.expect("PASS secret", "230")?;
        client.expect("TYPE I", "200")?;
        let (_, listing) = client.download(addr, "LIST")?;
        let listing = String::from_utf8_lossy(&listing);
        if !listing
            .lines()
            .any(|line| line.ends_with(&format!(" {FILE_NAME}")))
        {
            return Err(format!("LIST lacks {FILE_NAME}: {listing:?}"));
        }
        let (opening, bytes) = client.download(addr, &format!("RETR {FILE_NAME}"))?;
        if !opening.ends_with(&format!("({FILE_SIZE} bytes).")) {
            return Err(format!("RETR 150 without the size: {opening:?}"));
        }
        if sha256_hex(&bytes) != sha256_hex(content) {
            return Err(format!("RETR gave {} different bytes", bytes.len()));
        }
        Ok(())
    })();
    overlap.leave();
    served?;
    client.expect("QUIT", "221")?;
    Ok(())
}

#[test]
fn fifty_clients_connecting_at_once_are_all_served_one_after_another() {
    let daemon = Daemon::start("sequential", &[("alice", "secret")]);
    let content = Arc::new(random_bytes(FILE_SIZE, 50));
    std::fs::write(daemon.home("alice").join(FILE_NAME), content.as_slice()).unwrap();
    let addr = daemon.addr;
    let overlap = Arc::new(Overlap::default());
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (content, overlap, start) = (
                Arc::clone(&content),
                Arc::clone(&overlap),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                start.wait();
                session(addr, &content, &overlap)
            })
        })
        .collect();
    let failures: Vec<String> = clients
        .into_iter()
        .enumerate()
        .filter_map(|(index, client)| match client.join() {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("client {index}: {error}")),
            Err(_) => Some(format!("client {index}: thread panicked")),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed: {failures:#?}\ndaemon log:\n{}",
        failures.len(),
        daemon.log_text()
    );
    assert_eq!(
        overlap.most.load(Ordering::SeqCst),
        1,
        "sequential mode served two sessions at once"
    );

    // Healthy afterwards: the process runs, a new session works, nothing went wrong in the log.
    let pid = Pid::from_raw(i32::try_from(daemon.pid()).unwrap());
    assert!(kill(pid, None).is_ok(), "the daemon exited");
    let mut raw = Raw::login(addr, "alice", "secret");
    assert_eq!(
        raw.cmd(&format!("SIZE {FILE_NAME}")).lines[0],
        format!("213 {FILE_SIZE}")
    );
    assert_eq!(raw.cmd("QUIT").code, 221);
    // The log is read from the daemon's stderr by another thread: give the last lines a moment.
    let logins = |log: &str| {
        log.lines()
            .filter(|line| line.contains("logged in"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while logins(&daemon.log_text()) < CLIENTS + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = daemon.log_text();
    assert_eq!(logins(&log), CLIENTS + 1, "one login per session:\n{log}");
    assert!(
        !log.contains("ERROR") && !log.contains("panicked"),
        "errors in the daemon log:\n{log}"
    );
}
