//! A daemon under test (`wharf-ftpd serve`, `wharf-sshd serve`, or any server that logs
//! `listening on ADDR` once it accepts connections): started, waited for until it listens,
//! signalled, restarted and stopped on drop (SIGTERM, then SIGKILL after a grace period).
//!
//! Two ways to listen:
//! - the daemon binds its own address (`--listen 127.0.0.1:0`): the harness reads the address
//!   from the daemon's `listening on ADDR` line;
//! - socket activation ([`DaemonBuilder::activated_socket`]): the harness binds the socket and
//!   hands it over as descriptor 3 (then 4, ...) with `LISTEN_FDS`, `LISTEN_PID` and
//!   `LISTEN_FDNAMES`, as systemd's socket units do. The address is known before the daemon
//!   runs (no free-port race), and the socket outlives the process: connections that arrive
//!   while the daemon restarts wait in its backlog for the next process instead of being
//!   refused.
//!
//! Either way the daemon is ready once it has logged `listening on` for each of its sockets,
//! the one line of its log that is a contract (docs: "The server logs `listening on ADDR` once
//! it accepts connections"). The process is spawned with `PR_SET_PDEATHSIG`
//! ([`crate::process`]), so it dies with the tests even if the fixture is never dropped.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::process::{Tie, spawn_tied};

/// How long a daemon may take to report that it listens, unless the builder says otherwise.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon may take to stop after SIGTERM before it is killed, unless the builder says
/// otherwise.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Most sockets one daemon can be handed (descriptors 3 to 10).
const MAX_SOCKETS: usize = 8;

/// The address in a `... listening on ADDR ...` log line.
pub fn listening_on(line: &str) -> Option<&str> {
    line.split("listening on ")
        .nth(1)?
        .split_whitespace()
        .next()
}

/// Reads a daemon's log on a thread to its end: each line is kept in `log`, and then each
/// address it reports listening on is sent to the returned channel (so the line is in `log`
/// by the time its address arrives).
fn watch_log(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
) -> mpsc::Receiver<SocketAddr> {
    let (found, listening) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let addr = listening_on(&line).and_then(|addr| addr.parse().ok());
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
            if let Some(addr) = addr {
                let _ = found.send(addr);
            }
        }
    });
    listening
}

/// How to start a daemon; [`DaemonBuilder::start`] starts it.
#[derive(Debug)]
pub struct DaemonBuilder {
    /// The binary.
    program: PathBuf,
    /// Its arguments.
    args: Vec<OsString>,
    /// Environment variables added to the test's own.
    env: Vec<(OsString, OsString)>,
    /// Sockets handed over by socket activation, with their names (`LISTEN_FDNAMES`).
    sockets: Vec<(String, TcpListener)>,
    /// How many `listening on` lines make it ready; `None`: one per activated socket, or one.
    listeners: Option<usize>,
    /// `LISTEN_PID` names another process than the daemon (a daemon must then ignore the
    /// sockets), to test exactly that.
    foreign_listen_pid: bool,
    /// Collect standard output too (else it goes to /dev/null).
    keep_stdout: bool,
    /// How long the daemon may take to listen.
    start_timeout: Duration,
    /// How long it may take to stop after SIGTERM.
    stop_timeout: Duration,
}

impl DaemonBuilder {
    /// A daemon running `program`, without arguments yet.
    pub fn new(program: impl AsRef<Path>) -> DaemonBuilder {
        DaemonBuilder {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            sockets: Vec::new(),
            listeners: None,
            foreign_listen_pid: false,
            keep_stdout: false,
            start_timeout: START_TIMEOUT,
            stop_timeout: STOP_TIMEOUT,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> DaemonBuilder {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> DaemonBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the daemon.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> DaemonBuilder {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Hands `listener` to the daemon by socket activation under `name`; the first one becomes
    /// descriptor 3, the next 4, and so on (at most 8).
    pub fn activated_socket(mut self, name: &str, listener: TcpListener) -> DaemonBuilder {
        assert!(
            self.sockets.len() < MAX_SOCKETS,
            "at most {MAX_SOCKETS} activated sockets"
        );
        self.sockets.push((name.to_owned(), listener));
        self
    }

    /// How many `listening on` lines the daemon logs before it is ready (default: one per
    /// activated socket, or one), for a daemon started with several listen addresses.
    pub fn listeners(mut self, count: usize) -> DaemonBuilder {
        self.listeners = Some(count);
        self
    }

    /// Announces the activated sockets for another process (`LISTEN_PID=1`, init) instead of
    /// the daemon (default), as a service manager's variables inherited by mistake would: the
    /// daemon must ignore them and bind its own listeners.
    pub fn foreign_listen_pid(mut self) -> DaemonBuilder {
        self.foreign_listen_pid = true;
        self
    }

    /// Collects what the daemon prints on standard output ([`Daemon::wait_for_stdout`]), for
    /// one that tells its user something there (default: standard output is discarded).
    pub fn keep_stdout(mut self) -> DaemonBuilder {
        self.keep_stdout = true;
        self
    }

    /// How long the daemon may take to report that it listens (default 60 s).
    pub fn start_timeout(mut self, limit: Duration) -> DaemonBuilder {
        self.start_timeout = limit;
        self
    }

    /// How long the daemon may take to stop after SIGTERM before it is killed (default 20 s).
    pub fn stop_timeout(mut self, limit: Duration) -> DaemonBuilder {
        self.stop_timeout = limit;
        self
    }

    /// Starts the daemon and waits until it listens; panics with its log if it does not.
    pub fn start(self) -> Daemon {
        let mut daemon = Daemon {
            launch: self,
            run: None,
            log: Arc::default(),
            stdout: Arc::default(),
            run_log_from: 0,
            addrs: Vec::new(),
        };
        daemon.start_again();
        daemon
    }

    /// The command for one run: the program itself, or `sh` exporting `LISTEN_PID=$$` and
    /// exec-ing it, with the sockets moved to descriptors 3 and up.
    fn command(&self) -> Command {
        let mut command = if self.sockets.is_empty() {
            Command::new(&self.program)
        } else {
            let mut shell = Command::new("sh");
            // `$$` is the shell's pid, which `exec` hands to the daemon.
            let script = if self.foreign_listen_pid {
                "export LISTEN_PID=1; exec \"$0\" \"$@\""
            } else {
                "export LISTEN_PID=$$; exec \"$0\" \"$@\""
            };
            shell.args(["-c", script]).arg(&self.program);
            let names: Vec<&str> = self.sockets.iter().map(|(name, _)| name.as_str()).collect();
            shell
                .env("LISTEN_FDS", self.sockets.len().to_string())
                .env("LISTEN_FDNAMES", names.join(":"));
            let mut fds = [-1 as RawFd; MAX_SOCKETS];
            for (slot, (_, listener)) in fds.iter_mut().zip(&self.sockets) {
                *slot = listener.as_raw_fd();
            }
            let count = self.sockets.len();
            // SAFETY: only fcntl and dup2 (async-signal-safe) run between fork and exec, on
            // descriptors this process owns; nothing allocates.
            unsafe {
                use std::os::unix::process::CommandExt;
                shell.pre_exec(move || pass_sockets(&fds[..count]));
            }
            shell
        };
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(if self.keep_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        command
    }
}

/// In the child: moves `fds` to descriptors 3, 4, ... (clearing close-on-exec), first out of
/// the way so that no source is overwritten before it is moved.
fn pass_sockets(fds: &[RawFd]) -> std::io::Result<()> {
    let mut high = [-1 as RawFd; MAX_SOCKETS];
    for (slot, fd) in high.iter_mut().zip(fds) {
        // Copies at 64 and above, closed at exec: never one of 3..3+8.
        // SAFETY: plain descriptor calls.
        *slot = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64) };
        if *slot < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (index, fd) in high[..fds.len()].iter().enumerate() {
        let target = 3 + index as RawFd;
        // SAFETY: plain descriptor calls; dup2 leaves close-on-exec clear on the target.
        if unsafe { libc::dup2(*fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One run of the daemon: its process and what ties it to the tests.
#[derive(Debug)]
struct Run {
    /// The process (the daemon itself, also when started through `sh`, which execs it).
    child: Child,
    /// Kills the process if the test process goes first.
    _tie: Tie,
}

/// A running daemon (or one stopped on purpose, to be started again).
#[derive(Debug)]
pub struct Daemon {
    /// How it is started, kept for [`Daemon::start_again`].
    launch: DaemonBuilder,
    /// The current run, `None` once stopped or killed.
    run: Option<Run>,
    /// Every line it logged on standard error, over all runs.
    log: Arc<Mutex<Vec<String>>>,
    /// Every line it printed on standard output, over all runs (with `keep_stdout`).
    stdout: Arc<Mutex<Vec<String>>>,
    /// Where the latest run's lines start in `log`.
    run_log_from: usize,
    /// The addresses the current run reported listening on.
    addrs: Vec<SocketAddr>,
}

impl Daemon {
    /// Starts a new run with the same command and sockets and waits until it listens; the
    /// previous run must have ended ([`Daemon::stop`], [`Daemon::kill`]).
    pub fn start_again(&mut self) {
        assert!(self.run.is_none(), "the daemon is still running");
        let (mut child, tie) = spawn_tied(self.launch.command()).unwrap_or_else(|error| {
            panic!("cannot start {}: {error}", self.launch.program.display())
        });
        let stderr = child.stderr.take().expect("piped standard error");
        let run_log_from = self.lines().len();
        self.run_log_from = run_log_from;
        let listening = watch_log(stderr, Arc::clone(&self.log));
        if let Some(stdout) = child.stdout.take() {
            // Collected the same way; a `listening on` there is not the log's, so unheard.
            drop(watch_log(stdout, Arc::clone(&self.stdout)));
        }
        self.run = Some(Run { child, _tie: tie });
        let expected = self
            .launch
            .listeners
            .unwrap_or(self.launch.sockets.len().max(1));
        let deadline = Instant::now() + self.launch.start_timeout;
        let mut addrs = Vec::new();
        while addrs.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match listening.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(addr) => addrs.push(addr),
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {
                    if let Some(status) = self.try_exit() {
                        panic!(
                            "{} exited at start ({status}): {}",
                            self.name(),
                            self.log_text()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Standard error closed: the process is ending (or closed it, which a
                    // daemon under test must not do).
                    if let Some(status) = self.wait_exit(Duration::from_secs(5)) {
                        panic!(
                            "{} exited at start ({status}): {}",
                            self.name(),
                            self.log_text()
                        );
                    }
                    self.kill();
                    panic!(
                        "{} closed its standard error at start: {}",
                        self.name(),
                        self.log_text()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.kill();
                    panic!(
                        "{} did not report listening within {:?}: {}",
                        self.name(),
                        self.launch.start_timeout,
                        self.log_text()
                    );
                }
            }
        }
        self.addrs = addrs;
    }

    /// The binary's file name, for messages.
    fn name(&self) -> String {
        self.launch
            .program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The first address the daemon listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the current run reported listening on, in the order it reported them.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The process id of the current run, `None` once it ended.
    pub fn pid(&self) -> Option<u32> {
        self.run.as_ref().map(|run| run.child.id())
    }

    /// Everything the daemon logged so far, over every run.
    pub fn log_text(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits until the daemon has printed `text` on standard output (see
    /// [`DaemonBuilder::keep_stdout`]); all it printed so far, over every run. Panics after
    /// `limit`.
    pub fn wait_for_stdout(&self, text: &str, limit: Duration) -> String {
        self.poll(limit, &format!("never printed {text:?}"), || {
            let printed = self
                .stdout
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join("\n");
            printed.contains(text).then_some(printed)
        })
    }

    /// The log lines, locked.
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `listening on` lines of the latest run so far, with their addresses.
    fn listening_lines(&self) -> Vec<(SocketAddr, String)> {
        self.lines()
            .get(self.run_log_from..)
            .unwrap_or_default()
            .iter()
            .filter_map(|line| {
                let addr = listening_on(line)?.parse().ok()?;
                Some((addr, line.clone()))
            })
            .collect()
    }

    /// Waits until the latest run has reported `count` listening addresses (also ones it logs
    /// after it became ready); all of them so far, in order. Panics with the log after `limit`.
    pub fn wait_for_addrs(&self, count: usize, limit: Duration) -> Vec<SocketAddr> {
        self.poll(
            limit,
            &format!("reported fewer than {count} listening addresses"),
            || {
                let addrs: Vec<SocketAddr> = self
                    .listening_lines()
                    .into_iter()
                    .map(|(addr, _)| addr)
                    .collect();
                (addrs.len() >= count).then_some(addrs)
            },
        )
    }

    /// Waits until the latest run logs `listening on ADDR` on a line that `matches` (a kind of
    /// listener, told apart by the rest of its line); that ADDR. Panics with the log after
    /// `limit`.
    pub fn wait_for_listener(&self, matches: impl Fn(&str) -> bool, limit: Duration) -> SocketAddr {
        self.poll(limit, "reported no such listener", || {
            self.listening_lines()
                .into_iter()
                .find(|(_, line)| matches(line))
                .map(|(addr, _)| addr)
        })
    }

    /// Waits until a line containing `text` has been logged; panics with the log after `limit`.
    pub fn wait_for_log(&self, text: &str, limit: Duration) {
        self.poll(limit, &format!("never logged {text:?}"), || {
            self.log_text().contains(text).then_some(())
        });
    }

    /// Calls `check` every 20 ms until it gives a value; panics saying the daemon `failed`,
    /// with its log, once `limit` has passed.
    fn poll<T>(&self, limit: Duration, failed: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{} {failed} within {limit:?}: {}",
                self.name(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the current run (nothing if it has ended).
    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// The exit status, if the current run has ended (then it is reaped and forgotten).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.run.as_mut()?.child.try_wait().ok().flatten()?;
        self.run = None;
        Some(status)
    }

    /// Waits up to `limit` for the current run to end by itself; its status if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if self.run.is_none() || Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the current run as a service manager does: SIGTERM, then SIGKILL if it has not
    /// ended within the stop timeout. Returns its exit status (`None` if it had to be killed or
    /// had already ended).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.run.as_ref()?;
        self.signal(Signal::SIGTERM);
        if let Some(status) = self.wait_exit(self.launch.stop_timeout) {
            return Some(status);
        }
        self.kill();
        None
    }

    /// Kills the current run with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut run) = self.run.take() {
            let _ = run.child.kill();
            let _ = run.child.wait();
        }
    }

    /// [`Daemon::stop`], then [`Daemon::start_again`].
    pub fn restart(&mut self) -> Option<ExitStatus> {
        let status = self.stop();
        self.start_again();
        status
    }

    /// Closes the harness's copy of the activated sockets, as a service manager does when the
    /// service is gone for good: once the daemon has ended too, connections there are refused.
    pub fn close_sockets(&mut self) {
        self.launch.sockets.clear();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{DaemonBuilder, listening_on, watch_log};

    /// Logs two listeners at once and a third later, then idles until signalled.
    const TWO_THEN_ONE: &str = "echo 'listening on 127.0.0.1:1001 protocol=native' >&2
echo 'listening on 127.0.0.1:1002 protocol=ssh' >&2
sleep 0.2
echo 'listening on 127.0.0.1:1003 (late)' >&2
exec sleep 30";

    #[test]
    fn standard_output_is_kept_on_request() {
        let script =
            "echo 'listening on 127.0.0.1:1001' >&2; echo 'connect to 1001'; exec sleep 30";
        let daemon = DaemonBuilder::new("sh")
            .args(["-c", script])
            .keep_stdout()
            .start();
        let printed = daemon.wait_for_stdout("connect to", Duration::from_secs(10));
        assert_eq!(printed, "connect to 1001");
        assert!(
            !daemon.log_text().contains("connect to"),
            "stdout is not the log"
        );
    }

    #[test]
    fn readiness_counts_listeners_and_later_ones_can_be_waited_for() {
        let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut daemon = DaemonBuilder::new("sh")
            .args(["-c", TWO_THEN_ONE])
            .listeners(2)
            .stop_timeout(Duration::from_secs(5))
            .start();
        assert_eq!(daemon.addrs(), [addr(1001), addr(1002)]);
        let ssh = daemon.wait_for_listener(|line| line.contains("protocol=ssh"), Duration::ZERO);
        assert_eq!(ssh, addr(1002));
        let all = daemon.wait_for_addrs(3, Duration::from_secs(10));
        assert_eq!(all, [addr(1001), addr(1002), addr(1003)]);
        daemon.restart();
        // Only the new run's listeners count: at most its three, never the first run's too.
        let again = daemon.wait_for_addrs(2, Duration::ZERO);
        assert!(again.len() <= 3, "{again:?}");
        assert!(daemon.stop().is_some(), "sleep ends on SIGTERM");
    }

    #[test]
    fn the_log_holds_a_listening_line_once_its_address_is_sent() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let text = "starting\nlistening on 127.0.0.1:2121 mode=async\nlistening on nowhere\n";
        let found = watch_log(std::io::Cursor::new(text), Arc::clone(&log));
        let addr = found
            .recv_timeout(Duration::from_secs(10))
            .expect("an address");
        assert_eq!(addr, "127.0.0.1:2121".parse().unwrap());
        assert!(log.lock().unwrap().iter().any(|line| line.contains("2121")));
        // The line without a parsable address is logged, not sent.
        assert!(found.recv_timeout(Duration::from_secs(10)).is_err());
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[test]
    fn the_address_follows_listening_on() {
        let line = "2026-01-01T00:00:00Z  INFO wharf_ftpd: listening on 127.0.0.1:2121 mode=async";
        assert_eq!(listening_on(line), Some("127.0.0.1:2121"));
        assert_eq!(listening_on("listening on [::1]:21"), Some("[::1]:21"));
        assert_eq!(listening_on("stopped"), None);
    }
}
