//! HAProxy in front of test daemons: a TCP balancer on loopback, started from a configuration
//! the test writes, stopped on drop.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Tie, spawn_tied};

/// How long HAProxy may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running HAProxy.
pub struct Haproxy {
    /// The haproxy process (in the foreground, `-db`).
    child: Child,
    /// Kills it if the test process goes first.
    _tie: Tie,
    /// Holds the configuration file.
    _dir: tempfile::TempDir,
}

/// The haproxy binary: `haproxy` on the PATH, or Debian's `/usr/sbin/haproxy`.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.exists())
}

impl Haproxy {
    /// Starts HAProxy with `config` (the `global` and `defaults` sections are added first) and
    /// waits until `ready` accepts connections.
    pub fn start(config: &str, ready: std::net::SocketAddr) -> Haproxy {
        let binary = binary().expect("haproxy not found: scripts/test installs Debian's haproxy");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("haproxy.cfg");
        let full = format!(
            "global\n    maxconn 4096\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    \
             timeout client 120s\n    timeout server 120s\n\n{config}"
        );
        std::fs::write(&path, full).expect("write haproxy.cfg");
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("run haproxy -c");
        assert!(
            check.status.success(),
            "haproxy refused the configuration: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let mut command = Command::new(&binary);
        command
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (child, tie) = spawn_tied(command).expect("start haproxy");
        let mut haproxy = Haproxy {
            child,
            _tie: tie,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&ready, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen on {ready}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        haproxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
