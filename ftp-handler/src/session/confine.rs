//! Landlock for sessions that have a process each (forking mode), in two steps:
//!
//! 1. At the start of the session process, while it has one thread, before it reads anything
//!    from the client: every thread it will ever run may reach only the homes of the users known
//!    then, the state directory and the transfer log's directory. Not the users file (read into
//!    memory just before), the TLS key, the system's files, or anything else.
//! 2. Once its user has logged in, before the next command is read: the session's own thread
//!    (the one that reads commands and walks paths) and every thread started after it, down to
//!    that user's home, the state directory and the log directory. Threads started during the
//!    login (password hashing, a blocking-pool worker) keep step 1.
//!
//! Defence in depth under the storage jail. Sessions sharing the daemon's process (async,
//! threading, sequential modes) are confined as a whole instead ([`confine_daemon`]): to every
//! home, the state and log directories, and reading the directories of the users file, the
//! configuration file and the TLS certificate and key (a reload reads them again).
//!
//! Every ruleset also lets the process read the few files name resolution needs
//! ([`RESOLVER_FILES`]): an S3 endpoint or a PostgreSQL server may be given by name, and each
//! new connection to it resolves the name again. (Webhooks are posted by the hook process,
//! which is not confined.)

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};

/// The newest Landlock ABI whose rights were reviewed for these rulesets.
const TESTED_ABI: ABI = ABI::V7;

/// Test-only: `:`-separated paths a session process tries to open after each step, each result
/// logged, so a test reads the kernel's answer from inside the session process.
pub(crate) const PROBE_VAR: &str = "WHARF_FTPD_TEST_LANDLOCK_PROBE";

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every right is enforced.
    Full,
    /// Part of them (the kernel has an older Landlock).
    Partial,
    /// None: the kernel has no Landlock; only the storage jail holds.
    Unavailable,
}

/// Why a step failed; the session is then closed (fail closed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfineError {
    /// A path to grant could not be opened.
    #[error("cannot open {} to grant it: {source}", path.display())]
    Grant {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: landlock::PathFdError,
    },
    /// The kernel refused the ruleset.
    #[error("Landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// Confines the calling thread, and every thread it starts later, to full access beneath
/// `trees`; a tree that does not exist (a home not made yet) is left out.
pub(crate) fn confine_to(trees: &[&Path]) -> Result<Outcome, ConfineError> {
    confine_with(trees, &[])
}

/// Like [`confine_to`], with read-only access beneath `readable` too.
pub(crate) fn confine_with(trees: &[&Path], readable: &[&Path]) -> Result<Outcome, ConfineError> {
    let all = AccessFs::from_all(TESTED_ABI);
    let read = AccessFs::from_read(TESTED_ABI) & !landlock::BitFlags::from(AccessFs::Execute);
    let mut created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?
        .create()?;
    for tree in readable {
        if let Ok(fd) = PathFd::new(tree) {
            created = created.add_rule(PathBeneath::new(fd, read))?;
        }
    }
    for file in RESOLVER_FILES {
        // Opened through a symbolic link (systemd-resolved's `resolv.conf`), the rule is on
        // the link's target, which is what a read of the name reaches.
        if let Ok(fd) = PathFd::new(file) {
            created = created.add_rule(PathBeneath::new(fd, AccessFs::ReadFile))?;
        }
    }
    for tree in trees {
        match PathFd::new(tree) {
            Ok(fd) => created = created.add_rule(PathBeneath::new(fd, all))?,
            Err(source) if tree.exists() => {
                return Err(ConfineError::Grant {
                    path: tree.to_path_buf(),
                    source,
                });
            }
            Err(_) => {}
        }
    }
    let status = created.restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Outcome::Full,
        RulesetStatus::PartiallyEnforced => Outcome::Partial,
        RulesetStatus::NotEnforced => Outcome::Unavailable,
    })
}

/// The files host name resolution reads (glibc's `getaddrinfo`, called for every new
/// connection to an S3 endpoint or a PostgreSQL server given by name): without
/// them a confined process resolves no name at all. World-readable and holding nothing
/// secret; granted file by file (those that exist), never their directory.
const RESOLVER_FILES: [&str; 5] = [
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];

/// Confines the whole daemon (before its runtime and threads start) for modes whose sessions
/// share its process: full access to `homes` (the directories holding them), the state directory and
/// the transfer log's directory; reading (not writing) the directory of each of `read_files`:
/// the users file, which sessions re-read when it changes, and what a reload reads again (the
/// configuration file, the certificate and key, which may be replaced by a new file).
pub(crate) fn confine_daemon(
    homes: &[&Path],
    state_dir: &Path,
    xferlog: Option<&Path>,
    read_files: &[&Path],
) -> Result<Outcome, ConfineError> {
    let mut trees: Vec<&Path> = homes.to_vec();
    trees.push(state_dir);
    if let Some(dir) = xferlog.and_then(Path::parent) {
        trees.push(dir);
    }
    let readable: Vec<&Path> = read_files
        .iter()
        .map(|file| {
            file.parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        })
        .collect();
    confine_with(&trees, &readable)
}

/// Test-only: logs whether each path in [`PROBE_VAR`] can be opened now, by this thread.
pub(crate) fn probe(step: &str) {
    let Ok(paths) = std::env::var(PROBE_VAR) else {
        return;
    };
    for path in paths.split(':').filter(|path| !path.is_empty()) {
        let result = match std::fs::File::open(path) {
            Ok(_) => "opened".to_string(),
            Err(error) => format!("refused ({error})"),
        };
        tracing::warn!(step, path, "landlock probe (test only): {result}");
    }
}
