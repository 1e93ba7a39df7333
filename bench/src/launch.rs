//! Starting a server as a child process in its own process group, learning its address from
//! its `listening on ADDR` line (or knowing it in advance), and stopping it with every process
//! it forked.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a stopped server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A failure to start a server.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server did not print `listening on ADDR` in time.
    #[error("{program} did not print \"listening on ADDR\" within {timeout:?}")]
    NoAnnouncement {
        /// The program.
        program: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The announced address was not a socket address.
    #[error("{program} announced an unreadable address: {line:?}")]
    BadAddress {
        /// The program.
        program: String,
        /// What it printed.
        line: String,
    },
}

/// A server running as our child, stopped (with its process group) when dropped.
#[derive(Debug)]
pub struct RunningServer {
    /// The server process.
    child: Child,
    /// The address it announced.
    addr: SocketAddr,
}

impl RunningServer {
    /// Starts `command` in a new process group and waits up to `timeout` for its address.
    pub fn start(mut command: Command, timeout: Duration) -> Result<Self, LaunchError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own group, so stopping it reaches forked children too.
            .process_group(0)
            .spawn()
            .map_err(|source| LaunchError::Spawn {
                program: program.clone(),
                source,
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(LaunchError::NoAnnouncement { program, timeout });
        };
        let (lines, announced) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading after the first line so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Once the address is known nobody listens: the rest is drained silently.
                let _ = lines.send(line);
            }
        });
        let mut server = RunningServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = announced.recv_timeout(left) else {
                return Err(LaunchError::NoAnnouncement { program, timeout });
            };
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                server.addr = addr.parse().map_err(|_| LaunchError::BadAddress {
                    program: program.clone(),
                    line: line.clone(),
                })?;
                return Ok(server);
            }
        }
    }

    /// Starts `command` in a new process group, its output appended to `log`, without waiting:
    /// for servers that announce nothing, listening on `addr` (known in advance).
    pub fn spawn(mut command: Command, addr: SocketAddr, log: &Path) -> Result<Self, LaunchError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let spawn_error = |source| LaunchError::Spawn {
            program: program.clone(),
            source,
        };
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(spawn_error)?;
        let err = out.try_clone().map_err(spawn_error)?;
        die_with_parent(&mut command);
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        Ok(RunningServer { child, addr })
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (the root of its process tree).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: SIGTERM to its process group, SIGKILL after a grace period.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        let group = Pid::from_raw(pid);
        // Session processes that left the group (setsid) are found through the tree instead.
        let tree: Vec<u32> = crate::cpu::process_tree(self.child.id())
            .map(|tree| tree.into_iter().map(|(pid, _)| pid).collect())
            .unwrap_or_default();
        let _ = killpg(group, Signal::SIGTERM);
        for pid in tree
            .into_iter()
            .skip(1)
            .filter_map(|pid| i32::try_from(pid).ok())
        {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Forked children may outlive their parent: kill whatever is left of the group.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Makes the child receive SIGTERM when the benchmark dies (Ctrl-C, a crash), so no server
/// outlives the run that started it.
fn die_with_parent(command: &mut Command) {
    // SAFETY: the hook makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}
