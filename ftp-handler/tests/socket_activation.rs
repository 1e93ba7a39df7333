//! Socket activation: a listening socket handed over as descriptor 3 with `LISTEN_FDS=1` and
//! this process's `LISTEN_PID` is served instead of binding `--listen`; with another
//! process's `LISTEN_PID` it is ignored.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::common::ftpd::{BIN, watch_log};
use support::common::users;
use support::raw::Raw;

/// Starts `wharf-ftpd serve` with `listener` as descriptor 3; `own_pid`: `LISTEN_PID` names
/// the daemon (set by the shell that then execs it), else another process.
fn start(
    root: &std::path::Path,
    listener: &TcpListener,
    listen: &str,
    own_pid: bool,
) -> (Stop, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let fd = listener.as_raw_fd();
    let script = if own_pid {
        "export LISTEN_PID=$$; exec \"$0\" \"$@\""
    } else {
        "export LISTEN_PID=1; exec \"$0\" \"$@\""
    };
    let mut command = Command::new("sh");
    command
        .args(["-c", script, BIN, "serve", "--listen", listen])
        .arg("--users")
        .arg(users::users_file(root))
        .arg("--state-dir")
        .arg(users::state_dir(root))
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "ftp")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: dup2 and fcntl are async-signal-safe; descriptor 3 stays open across exec.
    unsafe {
        command.pre_exec(move || {
            let moved = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn wharf-ftpd");
    let log = Arc::new(Mutex::new(Vec::new()));
    let listening = watch_log(child.stderr.take().expect("stderr"), Arc::clone(&log));
    let child = Stop(child);
    let addr = listening
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("did not start: {:?}", log.lock().unwrap()));
    (child, addr, log)
}

fn layout() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    users::write_alice(root.path());
    root
}

/// Stops the daemon when dropped, also when an assertion fails first.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn a_socket_from_the_service_manager_is_served_instead_of_binding() {
    let root = layout();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = listener.local_addr().unwrap();
    // A documentation address no interface has: binding it would fail the start.
    let (child, reported, log) = start(root.path(), &listener, "192.0.2.1:21", true);
    assert_eq!(reported, passed, "{:?}", log.lock().unwrap());
    drop(listener);
    let mut session = Raw::login(passed, "alice", "secret");
    assert_eq!(session.cmd("PWD").code, 257);
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("socket passed by the service manager")),
        "{:?}",
        log.lock().unwrap()
    );
    drop(child);
}

#[test]
fn a_socket_announced_for_another_process_is_ignored() {
    let root = layout();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = listener.local_addr().unwrap();
    let (child, reported, _log) = start(root.path(), &listener, "127.0.0.1:0", false);
    assert_ne!(reported, passed, "bound its own listener");
    assert_eq!(Raw::connect(reported).1.code, 220);
    // Nobody serves the passed socket: a client there waits in its backlog, unanswered.
    let waiting = TcpStream::connect(passed).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        std::io::Read::read(&mut &waiting, &mut byte).is_err(),
        "no greeting"
    );
    drop(child);
}
