//! The Landlock ruleset of one command: what it may read, write, execute and connect to.
//!
//! Landlock can only allow (a rule cannot carve a secret out of an allowed tree), so the system
//! paths are a short allow-list rather than "/etc minus secrets": the trees a shell and common
//! tools live in, and single files of `/etc` that name services and the dynamic loader read.
//! Nothing of the daemon (users file, state directory, host key, TLS key) may lie under them;
//! the daemon checks that at start.

use std::path::Path;

use ::landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

use super::ConfineError;

/// The lowest ABI the daemon confines with: 4 is the first that can deny TCP.
pub const MIN_ABI: i32 = 4;

/// The highest ABI whose rights were reviewed for this ruleset; newer kernels are used at it.
pub const TESTED_ABI: i32 = 7;

/// Trees commands may read and execute (missing ones are skipped; `/bin` and `/lib` are often
/// symlinks into `/usr`).
pub const SYSTEM_TREES: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.conf.d",
    "/etc/ssl/certs",
];

/// Single files of `/etc` commands may read: the loader's cache, names of users and groups (no
/// hashes: those are in `/etc/shadow`, which is not listed), name resolution, time zone.
pub const SYSTEM_FILES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/mime.types",
];

/// Devices commands may read and write.
pub const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// The ABI the kernel reports (0: no Landlock, or disabled at boot).
pub fn kernel_abi() -> i32 {
    // SAFETY: with a null attribute and the VERSION flag the call only returns a number.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    i32::try_from(version.max(0)).unwrap_or(0)
}

/// The crate's ABI for a kernel version, capped at [`TESTED_ABI`].
pub(super) fn abi_for(version: i32) -> ABI {
    ABI::from(version.min(TESTED_ABI))
}

/// What one command's ruleset allows besides the system paths.
pub(super) struct Grants<'a> {
    /// The user's home: read, write, execute, everything.
    pub home: &'a Path,
    /// The command's private temporary directory, if it has one: like the home.
    pub tmp: Option<&'a Path>,
    /// Whether TCP bind and connect are allowed.
    pub network: bool,
}

/// Builds the ruleset for one command, opening every path now, in the daemon, so that the
/// child only has to call `restrict_self`. Every right asked for is enforced or this fails
/// (`HardRequirement`): a partly enforced ruleset is never used.
pub(super) fn ruleset(abi: ABI, grants: &Grants<'_>) -> Result<RulesetCreated, ConfineError> {
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let file_read = read & AccessFs::from_file(abi);
    let device = (AccessFs::from_file(abi) & !BitFlags::from(AccessFs::Execute)) & all;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)?;
    if !grants.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    if !Scope::from_all(abi).is_empty() {
        // Signals and abstract Unix sockets stay inside the command: it cannot signal the
        // daemon or another user's command, even when they share a uid.
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    let mut created = ruleset.create()?;
    created = created.add_rule(PathBeneath::new(open(grants.home)?, all))?;
    if let Some(tmp) = grants.tmp {
        created = created.add_rule(PathBeneath::new(open(tmp)?, all))?;
    }
    for (paths, access) in [
        (SYSTEM_TREES, read),
        (SYSTEM_FILES, file_read),
        (DEVICES, device),
    ] {
        for path in paths {
            // A path this system lacks is simply not granted.
            if let Ok(fd) = PathFd::new(path) {
                created = created.add_rule(PathBeneath::new(fd, access))?;
            }
        }
    }
    Ok(created.no_new_privs(true))
}

/// An `O_PATH` descriptor of a directory to grant.
fn open(path: &Path) -> Result<PathFd, ConfineError> {
    PathFd::new(path).map_err(|source| ConfineError::Grant {
        path: path.to_owned(),
        source,
    })
}

/// Every system path a command may read, for the daemon's start-up check.
pub fn system_paths() -> impl Iterator<Item = &'static str> {
    SYSTEM_TREES
        .iter()
        .chain(SYSTEM_FILES)
        .chain(DEVICES)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abi_is_capped_at_the_tested_one() {
        assert_eq!(abi_for(99), ABI::V7);
        assert_eq!(abi_for(4), ABI::V4);
        assert_eq!(abi_for(0), ABI::Unsupported);
    }

    #[test]
    fn no_secret_of_the_system_is_on_the_allow_list() {
        for secret in [
            "/etc/shadow",
            "/etc/gshadow",
            "/etc/sudoers",
            "/etc/ssh",
            "/root",
        ] {
            assert!(
                system_paths().all(|path| !Path::new(secret).starts_with(path)),
                "{secret}"
            );
        }
    }
}
