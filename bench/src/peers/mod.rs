//! The echo servers the benchmark measures, and how to start each one.
//!
//! - [`bare`]: the bare tokio loop (the floor), also the `bare-tokio-echo` binary.
//! - [`wharf`]: Wharf's echo handler in any mode, also the `bench-wharf-echo` binary.
//! - Python's `socketserver` servers live in `bench/python/socketserver_echo.py`.
//!
//! The bench binary starts the first two by running itself with a `serve-bare` or
//! `serve-wharf` first argument, so a plain `cargo run --bin wharf-echo-bench` needs no other
//! binary built; the code served is the same as the stand-alone binaries'.

pub mod bare;
pub mod wharf;

use std::path::PathBuf;
use std::process::Command;

/// The first argument that makes the bench binary serve as the bare tokio server.
pub const SERVE_BARE: &str = "serve-bare";
/// The first argument that makes the bench binary serve as the Wharf echo server.
pub const SERVE_WHARF: &str = "serve-wharf";

/// Threads the Wharf threading server may run: Python's `ThreadingTCPServer` has no cap, so
/// Wharf's (256 by default) is lifted above the largest connection count measured.
pub const WHARF_MAX_THREADS: usize = 1024;
/// Children of both forking servers: the default of Python's `ForkingMixIn` and of Wharf.
pub const FORKING_MAX_CHILDREN: usize = 40;

/// One server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Bare tokio: `TcpListener` and a task per connection.
    BareTokio,
    /// Wharf in async mode (a task per connection).
    WharfAsync,
    /// Wharf in threading mode (a thread per connection).
    WharfThreading,
    /// Wharf in forking mode (a process per connection).
    WharfForking,
    /// Wharf in sequential mode (one connection at a time).
    WharfSequential,
    /// Python's `socketserver.ThreadingTCPServer`.
    PythonThreading,
    /// Python's `socketserver.ForkingTCPServer`.
    PythonForking,
}

/// Where the programs that run the servers are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The bench binary itself (serves bare tokio and Wharf).
    pub bench: PathBuf,
    /// The Python interpreter.
    pub python: PathBuf,
    /// `socketserver_echo.py`.
    pub python_script: PathBuf,
}

impl Peer {
    /// Every server, in the order the benchmark runs and prints them.
    pub const ALL: [Peer; 7] = [
        Peer::BareTokio,
        Peer::WharfAsync,
        Peer::WharfThreading,
        Peer::WharfForking,
        Peer::WharfSequential,
        Peer::PythonThreading,
        Peer::PythonForking,
    ];

    /// The name used on the command line and in the JSON record.
    pub fn id(self) -> &'static str {
        match self {
            Peer::BareTokio => "bare-tokio",
            Peer::WharfAsync => "wharf-async",
            Peer::WharfThreading => "wharf-threading",
            Peer::WharfForking => "wharf-forking",
            Peer::WharfSequential => "wharf-sequential",
            Peer::PythonThreading => "python-threading",
            Peer::PythonForking => "python-forking",
        }
    }

    /// The server with this id.
    pub fn from_id(id: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|peer| peer.id() == id)
    }

    /// Most connections the server serves at once, when its mode caps them; connections past
    /// the cap wait in the listen backlog (and show as not served).
    pub fn concurrency_cap(self) -> Option<usize> {
        match self {
            Peer::WharfSequential => Some(1),
            Peer::WharfForking | Peer::PythonForking => Some(FORKING_MAX_CHILDREN),
            Peer::WharfThreading => Some(WHARF_MAX_THREADS),
            Peer::BareTokio | Peer::WharfAsync | Peer::PythonThreading => None,
        }
    }

    /// Whether the server is measured at `connections`: sequential mode serves one connection
    /// at a time by design, so it runs only at 1 and 10 connections.
    pub fn measured_at(self, connections: usize) -> bool {
        self != Peer::WharfSequential || connections <= 10
    }

    /// The command that starts this server on 127.0.0.1 with a port chosen by the system.
    pub fn command(self, programs: &Programs) -> Command {
        let listen = ["--listen", "127.0.0.1:0"];
        let wharf = |mode: &str| {
            let mut command = Command::new(&programs.bench);
            command.arg(SERVE_WHARF).args(listen).args(["--mode", mode]);
            command
        };
        let python = |kind: &str| {
            let mut command = Command::new(&programs.python);
            command
                .arg(&programs.python_script)
                .args(["--kind", kind])
                .args(listen);
            command
        };
        match self {
            Peer::BareTokio => {
                let mut command = Command::new(&programs.bench);
                command.arg(SERVE_BARE).args(listen);
                command
            }
            Peer::WharfAsync => wharf("async"),
            Peer::WharfThreading => {
                let mut command = wharf("threading");
                command.args(["--max-threads", &WHARF_MAX_THREADS.to_string()]);
                command
            }
            Peer::WharfForking => {
                let mut command = wharf("forking");
                command.args(["--max-children", &FORKING_MAX_CHILDREN.to_string()]);
                command
            }
            Peer::WharfSequential => wharf("sequential"),
            Peer::PythonThreading => python("threading"),
            Peer::PythonForking => {
                let mut command = python("forking");
                command.args(["--max-children", &FORKING_MAX_CHILDREN.to_string()]);
                command
            }
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for peer in Peer::ALL {
            assert_eq!(Peer::from_id(peer.id()), Some(peer));
        }
        assert_eq!(Peer::from_id("nginx"), None);
    }

    #[test]
    fn sequential_runs_only_at_small_connection_counts() {
        assert!(Peer::WharfSequential.measured_at(10));
        assert!(!Peer::WharfSequential.measured_at(100));
        assert!(Peer::WharfAsync.measured_at(1000));
    }
}
