//! Socket activation: a listening socket handed over as descriptor 3 with `LISTEN_FDS=1` and
//! this process's `LISTEN_PID` is served instead of binding `--listen`; with another
//! process's `LISTEN_PID` it is ignored.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use support::common::ftpd::{BIN, FtpdProcess};
use support::common::users;
use support::raw::Raw;
use wharf_testkit::daemon::DaemonBuilder;

/// Starts `wharf-ftpd serve --listen LISTEN` with `listener` as descriptor 3; `own_pid`:
/// `LISTEN_PID` names the daemon, else another process.
fn start(
    root: &std::path::Path,
    listener: TcpListener,
    listen: &str,
    own_pid: bool,
) -> FtpdProcess {
    let daemon = DaemonBuilder::new(BIN)
        .args(["serve", "--listen", listen])
        .arg("--users")
        .arg(users::users_file(root))
        .arg("--state-dir")
        .arg(users::state_dir(root))
        .env("RUST_LOG", "info")
        .activated_socket("ftp", listener);
    if own_pid {
        daemon.start()
    } else {
        daemon.foreign_listen_pid().start()
    }
}

fn layout() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    users::write_alice(root.path());
    root
}

#[test]
fn a_socket_from_the_service_manager_is_served_instead_of_binding() {
    let root = layout();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = listener.local_addr().unwrap();
    // A documentation address no interface has: binding it would fail the start.
    let mut daemon = start(root.path(), listener, "192.0.2.1:21", true);
    assert_eq!(daemon.addr(), passed, "{}", daemon.log_text());
    // The daemon serves its own copy of the socket, not the one this test still holds.
    daemon.close_sockets();
    let mut session = Raw::login(passed, "alice", "secret");
    assert_eq!(session.cmd("PWD").code, 257);
    assert!(
        daemon
            .log_text()
            .contains("socket passed by the service manager"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_socket_announced_for_another_process_is_ignored() {
    let root = layout();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let passed = listener.local_addr().unwrap();
    let daemon = start(root.path(), listener, "127.0.0.1:0", false);
    let reported: SocketAddr = daemon.addr();
    assert_ne!(reported, passed, "bound its own listener");
    assert_eq!(Raw::connect(reported).1.code, 220);
    // Nobody serves the passed socket (the harness still holds it open): a client there
    // waits in its backlog, unanswered.
    let waiting = TcpStream::connect(passed).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        std::io::Read::read(&mut &waiting, &mut byte).is_err(),
        "no greeting"
    );
}
