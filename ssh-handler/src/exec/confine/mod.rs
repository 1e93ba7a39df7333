//! Confinement of remote commands: what a command may touch, as whom it runs, how much it may
//! use, and that nothing of it outlives it.
//!
//! - `identity`: the unprivileged uid/gid a command runs as when the daemon is root;
//! - `limits`: rlimits (CPU, address space, processes, open files, file size);
//! - `landlock`: the ruleset (home and private `/tmp` read-write, a system allow-list read and
//!   execute, TCP denied unless allowed, signals scoped);
//! - `tmpdir`: the private temporary directory, mounted over `/tmp`;
//! - `child`: the code between fork and exec: the subreaper supervisor that ends the whole
//!   process tree, and the command's own set-up (limits, identity, no_new_privs, Landlock).
//!
//! [`Confinement::prepare`] does all the fallible, allocating work in the daemon; the child
//! only applies what was prepared.

mod child;
mod identity;
mod landlock;
mod limits;
mod tmpdir;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wharf_users::users_file::CommandSettings;
use wharf_users::{AuthError, Authenticator, UserRecord};

pub use self::identity::Identity;
pub use self::landlock::{MIN_ABI, TESTED_ABI, kernel_abi, system_paths};
pub use self::limits::ResourceLimits;
pub use self::tmpdir::PrivateTmp;

use self::child::ChildPlan;
use self::identity::IdentityPolicy;

/// The daemon's settings that decide how commands are confined.
#[derive(Debug, Clone)]
pub struct ConfinementConfig {
    /// Account commands run as when the daemon is root and the user has no `uid`.
    pub command_user: String,
    /// Whether commands may run as uid 0 or gid 0.
    pub allow_root_commands: bool,
    /// Run commands without Landlock (each logs a warning) instead of refusing them.
    pub unconfined_commands: bool,
    /// Resource limits of users without overrides.
    pub limits: ResourceLimits,
    /// The daemon's own files (users file, state directory, keys): never reachable by commands.
    pub protected: Vec<PathBuf>,
    /// The Landlock ABI to confine with: what the kernel reports (or less, in tests).
    pub landlock_abi: i32,
    /// Where the private temporary directories are created.
    pub tmp_base: PathBuf,
}

/// Why a command cannot be confined, or the daemon cannot start confining.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// `command_user` cannot be used.
    #[error("cannot run commands as {name:?}: {reason}")]
    CommandUser {
        /// The account name.
        name: String,
        /// Why not.
        reason: String,
    },
    /// A file of the daemon lies under a path every command may read.
    #[error(
        "{} lies under {system}, which every command may read; move it elsewhere",
        path.display()
    )]
    ProtectedUnderSystemPath {
        /// The daemon's file or directory.
        path: PathBuf,
        /// The system path of the allow-list.
        system: &'static str,
    },
    /// The kernel cannot confine commands and `--unconfined-commands` was not given.
    #[error(
        "commands are refused: this kernel cannot confine them (Landlock ABI {abi}, at least \
         {MIN_ABI} is needed); the administrator may start wharf-sshd with --unconfined-commands"
    )]
    Unavailable {
        /// The ABI found.
        abi: i32,
    },
    /// The user's commands would run as root.
    #[error(
        "user {user}'s commands would run as root (uid or gid 0), which allow_root_commands forbids"
    )]
    RootIdentity {
        /// The user.
        user: String,
    },
    /// The home cannot be granted without granting more.
    #[error("home {} cannot be confined: {reason}", home.display())]
    Home {
        /// The home directory.
        home: PathBuf,
        /// What it would expose, or why it cannot be resolved.
        reason: String,
    },
    /// The users file could not be read for the user's command settings.
    #[error("cannot read the command settings: {0}")]
    Users(#[from] AuthError),
    /// The Landlock ruleset could not be built.
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(#[from] ::landlock::RulesetError),
    /// A directory to grant could not be opened.
    #[error("cannot open {} for the Landlock ruleset: {source}", path.display())]
    Grant {
        /// The directory.
        path: PathBuf,
        /// The reason.
        #[source]
        source: ::landlock::PathFdError,
    },
    /// The private temporary directory could not be made.
    #[error("cannot create the command's temporary directory: {0}")]
    TmpDir(#[source] std::io::Error),
}

/// How commands are confined, fixed at start; cheap to clone.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// The shared state.
    inner: Arc<Inner>,
}

/// What [`Confinement`] shares.
struct Inner {
    /// The ABI to confine with; `None` when the kernel cannot.
    abi: Option<::landlock::ABI>,
    /// The ABI found, for messages.
    found_abi: i32,
    /// Run without Landlock rather than refuse.
    unconfined: bool,
    /// Which uid/gid commands get.
    identity: IdentityPolicy,
    /// Default resource limits.
    limits: ResourceLimits,
    /// The daemon's files, canonical, never granted.
    protected: Vec<PathBuf>,
    /// The users file, for per-user settings and other users' homes.
    users: Option<Authenticator>,
    /// Where private temporary directories go; `None` when they cannot be mounted (not root).
    tmp_base: Option<PathBuf>,
}

impl std::fmt::Debug for Inner {
    /// Everything but the authenticator, which has nothing to show.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Confinement")
            .field("abi", &self.abi)
            .field("found_abi", &self.found_abi)
            .field("unconfined", &self.unconfined)
            .field("identity", &self.identity)
            .field("limits", &self.limits)
            .field("protected", &self.protected)
            .field("tmp_base", &self.tmp_base)
            .finish_non_exhaustive()
    }
}

/// One command's confinement, prepared in the daemon, applied in the child.
pub(crate) struct Prepared {
    /// What the child does.
    plan: ChildPlan,
    /// The private `/tmp`, removed when dropped (after the command ended).
    tmp: Option<PrivateTmp>,
    /// The identity, for the log.
    pub(crate) identity: Option<Identity>,
    /// Whether Landlock applies, for the log.
    pub(crate) landlocked: bool,
}

impl Confinement {
    /// Checks the configuration against this system; `users` gives per-user settings.
    pub fn new(
        config: ConfinementConfig,
        users: Option<Authenticator>,
    ) -> Result<Self, ConfineError> {
        let identity = IdentityPolicy::resolve(&config.command_user, config.allow_root_commands)?;
        let protected: Vec<PathBuf> = config.protected.iter().map(|path| resolve(path)).collect();
        for path in &protected {
            if let Some(system) =
                system_paths().find(|system| inside(path, &resolve(Path::new(system))))
            {
                return Err(ConfineError::ProtectedUnderSystemPath {
                    path: path.clone(),
                    system,
                });
            }
        }
        let abi = (config.landlock_abi >= MIN_ABI).then(|| landlock::abi_for(config.landlock_abi));
        let mounts_tmp =
            matches!(identity, IdentityPolicy::Switch { .. }) && Path::new("/tmp").is_dir();
        Ok(Confinement {
            inner: Arc::new(Inner {
                abi,
                found_abi: config.landlock_abi,
                unconfined: config.unconfined_commands,
                identity,
                limits: config.limits,
                protected,
                users,
                tmp_base: mounts_tmp.then(|| resolve(&config.tmp_base)),
            }),
        })
    }

    /// Whether commands run under Landlock (false: refused, or unconfined when allowed).
    pub fn landlock_available(&self) -> bool {
        self.inner.abi.is_some()
    }

    /// Whether commands run without Landlock because `--unconfined-commands` was given.
    pub fn unconfined(&self) -> bool {
        self.inner.unconfined
    }

    /// The Landlock ABI the kernel reported (or the test switch pretended).
    pub fn found_abi(&self) -> i32 {
        self.inner.found_abi
    }

    /// The identity commands keep when the daemon cannot switch (it is not root).
    pub fn kept_identity(&self) -> Option<Identity> {
        self.inner.identity.kept()
    }

    /// Prepares everything `user`'s command needs: settings, identity, checks, ruleset, `/tmp`.
    pub(crate) fn prepare(&self, user: &UserRecord) -> Result<Prepared, ConfineError> {
        let inner = &self.inner;
        let settings = match &inner.users {
            Some(users) => users.users()?.command_settings(&user.name),
            None => CommandSettings::default(),
        };
        let abi = match (inner.abi, inner.unconfined) {
            (_, true) => None,
            (Some(abi), false) => Some(abi),
            (None, false) => {
                return Err(ConfineError::Unavailable {
                    abi: inner.found_abi,
                });
            }
        };
        let identity = inner.identity.for_user(&user.name, &settings)?;
        // A key-prefix home (object storage) is no directory: never resolved from our cwd.
        if !user.home.is_absolute() {
            return Err(ConfineError::Home {
                home: user.home.clone(),
                reason: "not an absolute path (a key prefix is for FTP object storage)".to_owned(),
            });
        }
        let home = std::fs::canonicalize(&user.home).map_err(|error| ConfineError::Home {
            home: user.home.clone(),
            reason: error.to_string(),
        })?;
        if abi.is_some() {
            self.check_home(&user.name, &home)?;
        }
        let tmp = match (&inner.tmp_base, identity) {
            // Mounted over /tmp, the directory would hide a home that lies under /tmp.
            (Some(base), Some(owner)) if !home.starts_with("/tmp") => {
                Some(PrivateTmp::create(base, owner).map_err(ConfineError::TmpDir)?)
            }
            _ => None,
        };
        let ruleset = match abi {
            Some(abi) => {
                let grants = landlock::Grants {
                    home: &home,
                    tmp: tmp.as_ref().map(PrivateTmp::path),
                    network: settings.allow_network,
                };
                Some(landlock::ruleset(abi, &grants)?)
            }
            None => None,
        };
        let tmp_source = match &tmp {
            Some(tmp) => Some(tmp.mount_source().map_err(ConfineError::TmpDir)?),
            None => None,
        };
        let plan = ChildPlan {
            daemon_pid: libc::pid_t::try_from(std::process::id()).unwrap_or(0),
            identity,
            rlimits: inner.limits.for_user(&settings).rlimits(),
            tmp_source,
            ruleset,
        };
        Ok(Prepared {
            plan,
            tmp,
            identity,
            landlocked: abi.is_some(),
        })
    }

    /// Refuses a home whose grant would also grant a file of the daemon, a system tree, or
    /// another user's home (Landlock grants whole trees).
    fn check_home(&self, name: &str, home: &Path) -> Result<(), ConfineError> {
        let refuse = |reason: String| ConfineError::Home {
            home: home.to_owned(),
            reason,
        };
        for path in &self.inner.protected {
            if inside(path, home) || inside(home, path) {
                return Err(refuse(format!(
                    "it overlaps the daemon's {}",
                    path.display()
                )));
            }
        }
        if let Some(system) =
            system_paths().find(|system| inside(&resolve(Path::new(system)), home))
        {
            return Err(refuse(format!("it contains the system path {system}")));
        }
        if let Some(users) = &self.inner.users {
            for other in users.users()?.iter().filter(|other| other.name != name) {
                if let Ok(other_home) = std::fs::canonicalize(&other.home)
                    && inside(&other_home, home)
                {
                    return Err(refuse(format!(
                        "it contains the home of user {}",
                        other.name
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Prepared {
    /// Installs the child's part in `command`; returns the private `/tmp` to drop once the
    /// command ended.
    pub(crate) fn install(self, command: &mut tokio::process::Command) -> Option<PrivateTmp> {
        let mut plan = self.plan;
        // SAFETY: ChildPlan::run only makes async-signal-safe system calls and allocates
        // nothing (see the `child` module).
        unsafe {
            command.pre_exec(move || plan.run());
        }
        self.tmp
    }
}

/// `path` made absolute with symlinks resolved; for a path that does not exist yet (a host key
/// before its first start), its parent resolved and its name appended.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => resolve(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_owned()),
    }
}

/// Whether `path` is `tree` or lies below it (both resolved).
fn inside(path: &Path, tree: &Path) -> bool {
    path.starts_with(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_symlinks_even_before_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let resolved = resolve(&dir.path().join("link/not-yet"));
        assert_eq!(resolved, resolve(&real).join("not-yet"));
        assert!(inside(&resolved, &resolve(&real)));
        assert!(!inside(&resolve(&real), &resolved));
    }
}
