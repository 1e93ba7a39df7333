//! `wharf-ftpd` processes: [`serve`] starts `serve` on `127.0.0.1:0` as a testkit daemon
//! (its log collected, its address read from the log, stopped with SIGTERM then SIGKILL on
//! drop), [`demo`] starts `demo` the same way; [`spawn_serve`] hands the raw process to tests
//! that read its standard error themselves.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `wharf-ftpd serve` or `demo` (the testkit daemon fixture).
pub use wharf_testkit::daemon::Daemon as FtpdProcess;
use wharf_testkit::daemon::DaemonBuilder;
// Re-exported for the tests; each test crate uses a subset.
#[allow(unused_imports)]
pub use wharf_testkit::daemon::listening_on;

/// The daemon binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_wharf-ftpd");

/// Starts `wharf-ftpd serve` on `127.0.0.1:0` in `mode` with the given users file and state
/// directory, extra `serve` flags and environment; waits until it listens.
pub fn serve(
    mode: &str,
    users_file: &Path,
    state_dir: &Path,
    flags: &[&str],
    env: &[(&str, &str)],
) -> FtpdProcess {
    let mut daemon = DaemonBuilder::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--mode", mode])
        .arg("--users")
        .arg(users_file)
        .arg("--state-dir")
        .arg(state_dir)
        .args(flags)
        .env("RUST_LOG", "info")
        .env("WHARF_FTPD__LIMITS__FAILED_LOGIN_DELAY", "50ms");
    for (key, value) in env {
        daemon = daemon.env(key, value);
    }
    daemon.start()
}

/// Starts `wharf-ftpd demo` on `127.0.0.1:0` with its standard output kept (the banner that
/// says how to connect); stopped with SIGTERM on drop, which removes its temporary root.
pub fn demo() -> FtpdProcess {
    DaemonBuilder::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .keep_stdout()
        .start()
}

/// Starts `wharf-ftpd [global flags] serve` on `127.0.0.1:0` over the users file and state
/// directory, its standard error piped back to the test (which reads it, or closes it).
pub fn spawn_serve(
    global: &[&str],
    users_file: &Path,
    state_dir: &Path,
    flags: &[&str],
) -> (Child, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut child = Command::new(BIN)
        .args(global)
        .args(["serve", "--listen", "127.0.0.1:0", "--users"])
        .arg(users_file)
        .arg("--state-dir")
        .arg(state_dir)
        .args(flags)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wharf-ftpd");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, lines)
}
