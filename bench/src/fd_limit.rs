//! Raising the open-file limit: 1000 client sockets, plus the server's, exceed the usual
//! soft limit of 1024, and 10,000 FTP sessions exceed many hard limits. Servers started
//! afterwards inherit the raised limit.

use std::io;

/// The soft and hard `RLIMIT_NOFILE` after raising the soft limit as far as the hard one allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The limit in force now.
    pub soft: u64,
    /// The ceiling an unprivileged process may raise it to.
    pub hard: u64,
}

/// The most descriptors asked for, whatever the hard limit says.
const CEILING: libc::rlim_t = 1 << 20;

/// Raises the soft open-file limit to the hard limit (only upwards) and returns both.
pub fn raise_to_hard_limit() -> io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // An unlimited hard limit is still capped by the kernel's nr_open (2^20 by default).
    let target = limit.rlim_max.min(CEILING);
    if limit.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(FdLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// Raises the soft open-file limit to at least `wanted` descriptors (capped at the kernel's
/// 2^20), raising the hard limit too where the process may (root); servers started afterwards
/// inherit both. Never lowers a limit. Returns the limits in force afterwards.
pub fn raise_to(wanted: u64) -> io::Result<FdLimit> {
    let current = raise_to_hard_limit()?;
    let wanted = wanted.min(CEILING);
    if current.soft >= wanted {
        return Ok(current);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: wanted.max(current.hard),
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        // Not privileged: the hard limit stands, and so does the soft limit raised to it.
        return Ok(current);
    }
    Ok(FdLimit {
        soft: raised.rlim_cur,
        hard: raised.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        let limit = raise_to_hard_limit().unwrap();
        assert!(limit.soft >= limit.hard.min(CEILING), "{limit:?}");
    }

    #[test]
    fn raising_never_lowers_the_limits() {
        let before = raise_to_hard_limit().unwrap();
        let after = raise_to(16).unwrap();
        assert_eq!(after, before);
    }
}
