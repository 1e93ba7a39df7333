//! Resource limits of one command: the daemon's defaults, a user's overrides, the rlimits set.

use wharf_users::users_file::CommandSettings;

/// The rlimits every process of a command starts with (soft and hard alike, so it cannot raise
/// them). Each applies per process, except `processes`, which the kernel counts per uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// CPU seconds of each process (`RLIMIT_CPU`); past it the kernel kills it with SIGXCPU/SIGKILL.
    pub cpu_seconds: u64,
    /// Bytes of virtual memory of each process (`RLIMIT_AS`); past it allocations fail.
    pub address_space: u64,
    /// Processes (and threads) the command's uid may have (`RLIMIT_NPROC`); past it fork fails.
    pub processes: u64,
    /// File descriptors of each process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file a process may write (`RLIMIT_FSIZE`); past it writes fail with SIGXFSZ.
    pub file_size: u64,
}

impl Default for ResourceLimits {
    /// 60 CPU seconds, 2 GiB of address space, 128 processes, 1024 open files, 1 GiB files.
    fn default() -> Self {
        ResourceLimits {
            cpu_seconds: 60,
            // Enough for a shell, coreutils and Python; a 4 GiB allocation fails.
            address_space: 2 << 30,
            processes: 128,
            open_files: 1024,
            file_size: 1 << 30,
        }
    }
}

/// One rlimit to set in the child: the resource and its value (soft = hard).
pub(super) type Rlimit = (libc::__rlimit_resource_t, libc::rlim_t);

impl ResourceLimits {
    /// These defaults with the overrides `settings` holds.
    pub fn for_user(&self, settings: &CommandSettings) -> ResourceLimits {
        ResourceLimits {
            cpu_seconds: settings.limit_cpu_seconds.unwrap_or(self.cpu_seconds),
            address_space: settings.limit_address_space.unwrap_or(self.address_space),
            processes: settings.limit_processes.unwrap_or(self.processes),
            open_files: settings.limit_open_files.unwrap_or(self.open_files),
            file_size: settings.limit_file_size.unwrap_or(self.file_size),
        }
    }

    /// The rlimits to set, each lowered to the daemon's own hard limit: without
    /// `CAP_SYS_RESOURCE` (an unprivileged daemon, or a container) a higher one is refused, and
    /// the daemon's limit already binds its children. No core dumps land in a home.
    pub(super) fn rlimits(&self) -> Vec<Rlimit> {
        [
            (libc::RLIMIT_CPU, self.cpu_seconds),
            (libc::RLIMIT_AS, self.address_space),
            (libc::RLIMIT_NPROC, self.processes),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_FSIZE, self.file_size),
            (libc::RLIMIT_CORE, 0),
        ]
        .into_iter()
        .map(|(resource, wanted)| (resource, wanted.min(current_hard_limit(resource))))
        .collect()
    }
}

/// The daemon's hard limit of `resource` (infinity when it cannot be read).
fn current_hard_limit(resource: libc::__rlimit_resource_t) -> libc::rlim_t {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return libc::RLIM_INFINITY;
    }
    current.rlim_max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_overrides_replace_only_the_limits_they_name() {
        let defaults = ResourceLimits::default();
        let mut settings = CommandSettings::default();
        settings.limit_processes = Some(7);
        settings.limit_file_size = Some(4096);
        let limits = defaults.for_user(&settings);
        assert_eq!(limits.processes, 7);
        assert_eq!(limits.file_size, 4096);
        assert_eq!(limits.cpu_seconds, defaults.cpu_seconds);
        assert_eq!(limits.address_space, defaults.address_space);
        assert_eq!(limits.open_files, defaults.open_files);
    }

    #[test]
    fn rlimits_never_exceed_the_daemons_hard_limits_and_forbid_core_dumps() {
        let limits = ResourceLimits {
            open_files: u64::MAX,
            ..ResourceLimits::default()
        };
        let rlimits = limits.rlimits();
        let nofile = rlimits
            .iter()
            .find(|(resource, _)| *resource == libc::RLIMIT_NOFILE)
            .map(|(_, value)| *value);
        assert_eq!(nofile, Some(current_hard_limit(libc::RLIMIT_NOFILE)));
        assert!(rlimits.contains(&(libc::RLIMIT_CORE, 0)));
        assert!(rlimits.contains(&(libc::RLIMIT_NPROC, 128)));
    }
}
