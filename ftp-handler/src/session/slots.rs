//! Session limits that hold in every concurrency mode: a session occupies a slot by holding an
//! exclusive `flock` on one of N slot files in the state directory. The kernel releases the lock
//! when the holder closes it or its process exits, so forked sessions, threads and tasks all
//! count alike and a crashed session never leaks its slot.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Name of the slot folder inside the state directory.
const SLOTS_DIR: &str = "sessions";

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The locked slot file.
    _lock: Flock<File>,
}

/// Why a session may not start.
#[derive(Debug)]
pub(crate) enum SlotRefusal {
    /// Every server-wide slot is taken.
    ServerFull,
    /// Every slot of the peer's address is taken.
    AddressFull,
}

/// The slot folder under `state_dir`, created if missing.
pub(crate) fn slots_dir(state_dir: &Path) -> io::Result<PathBuf> {
    let dir = state_dir.join(SLOTS_DIR);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Claims one server-wide slot and one slot for `ip`; both are held for the session's life.
pub(crate) fn claim(
    dir: &Path,
    ip: IpAddr,
    max_sessions: usize,
    max_per_ip: usize,
) -> io::Result<Result<(Slot, Slot), SlotRefusal>> {
    let Some(global) = claim_one(dir, "all", max_sessions)? else {
        return Ok(Err(SlotRefusal::ServerFull));
    };
    // IPv6 text uses ':' which is fine in a Linux file name.
    let Some(per_ip) = claim_one(dir, &format!("ip-{ip}"), max_per_ip)? else {
        return Ok(Err(SlotRefusal::AddressFull));
    };
    Ok(Ok((global, per_ip)))
}

/// Locks the first free file among `prefix.0` .. `prefix.(limit-1)`.
fn claim_one(dir: &Path, prefix: &str, limit: usize) -> io::Result<Option<Slot>> {
    for index in 0..limit {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{prefix}.{index}")))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Some(Slot { _lock: lock })),
            Err((_, Errno::EWOULDBLOCK)) => continue,
            Err((_, errno)) => return Err(io::Error::from(errno)),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_limits_hold_and_free_on_drop() {
        let state = tempfile::tempdir().unwrap();
        let dir = slots_dir(state.path()).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = claim(&dir, a, 3, 2).unwrap().unwrap();
        let second = claim(&dir, a, 3, 2).unwrap().unwrap();
        assert!(matches!(
            claim(&dir, a, 3, 2).unwrap(),
            Err(SlotRefusal::AddressFull)
        ));
        let third = claim(&dir, b, 3, 2).unwrap().unwrap();
        assert!(matches!(
            claim(&dir, b, 3, 2).unwrap(),
            Err(SlotRefusal::ServerFull)
        ));
        drop(first);
        assert!(claim(&dir, a, 3, 2).unwrap().is_ok());
        drop((second, third));
    }
}
