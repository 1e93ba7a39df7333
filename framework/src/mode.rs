//! The concurrency mode, chosen at run time: Python's mixins made Rust.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a server runs its connections. The handler code is the same in every mode.
///
/// In a config file it is either a name (`mode = "threading"`) or a table with options
/// (`mode = { kind = "threading", max_threads = 64 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Mode {
    /// One connection at a time on the calling thread (Python's plain `TCPServer`).
    Sequential,
    /// An OS thread per connection, each with its own current-thread runtime (`ThreadingMixIn`).
    Threading {
        /// Most handler threads alive at once; the acceptor waits for one to end (default: 256).
        max_threads: usize,
        /// Do not wait for handler threads when the server stops (default: false).
        daemon_threads: bool,
        /// Wait for handler threads, up to the shutdown timeout, when the server stops (default: true).
        block_on_close: bool,
    },
    /// A process per connection (`ForkingMixIn`, Unix only).
    Forking {
        /// Most child processes alive at once; the acceptor waits for one to exit (default: 40).
        max_children: usize,
        /// Wait for children, up to the shutdown timeout, when the server stops (default: true).
        block_on_close: bool,
    },
    /// A tokio task per connection on a multi-thread runtime (the default).
    Async {
        /// Runtime worker threads; `None` means one per core (default: `None`).
        worker_threads: Option<usize>,
    },
}

/// What a config file may hold for a mode: a bare name or a table.
#[derive(Deserialize)]
#[serde(untagged)]
enum ModeSetting {
    Name(String),
    Table(ModeTable),
}

/// The table form of a mode, mirroring `Mode` field for field.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum ModeTable {
    Sequential,
    Threading {
        #[serde(default = "default_max_threads")]
        max_threads: usize,
        #[serde(default)]
        daemon_threads: bool,
        #[serde(default = "default_true")]
        block_on_close: bool,
    },
    Forking {
        #[serde(default = "default_max_children")]
        max_children: usize,
        #[serde(default = "default_true")]
        block_on_close: bool,
    },
    Async {
        #[serde(default)]
        worker_threads: Option<usize>,
    },
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match ModeSetting::deserialize(deserializer)? {
            ModeSetting::Name(name) => name.parse().map_err(serde::de::Error::custom),
            ModeSetting::Table(ModeTable::Sequential) => Ok(Mode::Sequential),
            ModeSetting::Table(ModeTable::Threading {
                max_threads,
                daemon_threads,
                block_on_close,
            }) => Ok(Mode::Threading {
                max_threads,
                daemon_threads,
                block_on_close,
            }),
            ModeSetting::Table(ModeTable::Forking {
                max_children,
                block_on_close,
            }) => Ok(Mode::Forking {
                max_children,
                block_on_close,
            }),
            ModeSetting::Table(ModeTable::Async { worker_threads }) => {
                Ok(Mode::Async { worker_threads })
            }
        }
    }
}

fn default_max_threads() -> usize {
    256
}

fn default_max_children() -> usize {
    40
}

fn default_true() -> bool {
    true
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Async {
            worker_threads: None,
        }
    }
}

impl Mode {
    /// The threading mode with its default options.
    pub fn threading() -> Self {
        Mode::Threading {
            max_threads: default_max_threads(),
            daemon_threads: false,
            block_on_close: true,
        }
    }

    /// The forking mode with its default options.
    pub fn forking() -> Self {
        Mode::Forking {
            max_children: default_max_children(),
            block_on_close: true,
        }
    }

    /// The async mode with its default options.
    pub fn asynchronous() -> Self {
        Mode::default()
    }

    /// The mode's name: `sequential`, `threading`, `forking` or `async`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Threading { .. } => "threading",
            Mode::Forking { .. } => "forking",
            Mode::Async { .. } => "async",
        }
    }

    /// Every mode with its defaults, in a stable order (handy for tests and benchmarks).
    pub fn all() -> [Mode; 4] {
        [
            Mode::Sequential,
            Mode::threading(),
            Mode::forking(),
            Mode::asynchronous(),
        ]
    }

    /// The same mode with its cap on threads or child processes set to `limit` (async and
    /// sequential modes have no such cap and are returned as they are).
    pub fn with_worker_limit(self, limit: usize) -> Self {
        match self {
            Mode::Threading {
                daemon_threads,
                block_on_close,
                ..
            } => Mode::Threading {
                max_threads: limit,
                daemon_threads,
                block_on_close,
            },
            Mode::Forking { block_on_close, .. } => Mode::Forking {
                max_children: limit,
                block_on_close,
            },
            other => other,
        }
    }

    /// The per-mode cap on concurrent connections (threads or children), if the mode has one.
    pub fn worker_limit(&self) -> Option<usize> {
        match self {
            Mode::Sequential => Some(1),
            Mode::Threading { max_threads, .. } => Some(*max_threads),
            Mode::Forking { max_children, .. } => Some(*max_children),
            Mode::Async { .. } => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a mode name that is not one of the four.
#[derive(Debug, thiserror::Error)]
#[error("unknown concurrency mode {0:?}: expected sequential, threading, forking or async")]
pub struct ModeParseError(pub String);

impl FromStr for Mode {
    type Err = ModeParseError;

    /// Parses a mode name (case-insensitive) into that mode with its default options.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sequential" => Ok(Mode::Sequential),
            "threading" => Ok(Mode::threading()),
            "forking" => Ok(Mode::forking()),
            "async" => Ok(Mode::asynchronous()),
            _ => Err(ModeParseError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str() {
        for mode in Mode::all() {
            assert_eq!(mode.name().parse::<Mode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.name());
        }
        assert!("fork".parse::<Mode>().is_err());
    }

    #[derive(Deserialize)]
    struct Config {
        mode: Mode,
    }

    #[test]
    fn deserializes_from_config_with_defaults() {
        let c: Config = toml::from_str("mode = { kind = \"threading\", max_threads = 8 }").unwrap();
        assert_eq!(
            c.mode,
            Mode::Threading {
                max_threads: 8,
                daemon_threads: false,
                block_on_close: true
            }
        );
        let c: Config = toml::from_str("mode = \"forking\"").unwrap();
        assert_eq!(c.mode, Mode::forking());
        let c: Config = toml::from_str("mode = { kind = \"async\" }").unwrap();
        assert_eq!(c.mode, Mode::asynchronous());
        assert!(toml::from_str::<Config>("mode = { kind = \"spawning\" }").is_err());
    }
}
