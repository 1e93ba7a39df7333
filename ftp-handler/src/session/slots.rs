//! Session limits that hold in every concurrency mode. In forking mode a session occupies a
//! slot by holding an exclusive `flock` on one of N slot files in the state directory; the
//! kernel releases the lock when the holder closes it or its process exits, so a crashed
//! session never leaks its slot. Where sessions share one process (async, threading,
//! sequential) they are counted in memory instead ([`SlotCounter`]): the count dies with the
//! process just the same, and an idle session then holds no descriptor but its socket.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Name of the slot folder inside the state directory.
const SLOTS_DIR: &str = "sessions";

/// Where this process starts looking for a free slot: just after the last one it claimed, so
/// the n-th concurrent session costs a probe or two instead of n (10,000 sessions would
/// otherwise cost 50 million opens). It is only a starting point, the locks decide; `UNSET`
/// until the process's first claim, which starts at a random index (a forked session
/// process starts afresh, and its siblings should not all probe from slot 0).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(UNSET);
/// `NEXT_SLOT` before the first claim.
const UNSET: usize = usize::MAX;

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The locked slot file.
    _lock: Flock<File>,
}

/// The slots a session holds until it ends.
#[derive(Debug)]
pub(crate) enum Held {
    /// A server-wide and a per-address slot file, locked.
    Files {
        /// The server-wide slot.
        _global: Slot,
        /// The per-address slot.
        _per_ip: Slot,
    },
    /// A place in this process's counts.
    Counted {
        /// Given back on drop.
        _place: CountedSlot,
    },
    /// A logged-in session whose users are in PostgreSQL: the local slots, and its row in the
    /// database that every daemon counts (deleted on drop).
    Leased {
        /// The local slots taken when the connection came.
        _local: Option<Box<Held>>,
        /// The session's row.
        _lease: crate::defence::Lease,
    },
}

/// Sessions counted in memory, for sessions that share one process.
#[derive(Debug, Default)]
pub(crate) struct SlotCounter {
    /// The counts, shared with every counted slot so it can give its place back.
    counts: Arc<Mutex<Counts>>,
}

/// Sessions now, in all and per address.
#[derive(Debug, Default)]
struct Counts {
    /// Every session of the process.
    total: usize,
    /// Sessions per peer address (addresses with none are removed).
    per_ip: HashMap<IpAddr, usize>,
}

/// One session's place in a [`SlotCounter`]; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct CountedSlot {
    /// The counts it is part of.
    counts: Arc<Mutex<Counts>>,
    /// The session's peer address.
    ip: IpAddr,
}

impl SlotCounter {
    /// Counts one more session from `ip`, unless a limit is reached.
    pub(crate) fn claim(
        &self,
        ip: IpAddr,
        max_sessions: usize,
        max_per_ip: usize,
    ) -> Result<Held, SlotRefusal> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= max_sessions {
            return Err(SlotRefusal::ServerFull);
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= max_per_ip {
            return Err(SlotRefusal::AddressFull);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Ok(Held::Counted {
            _place: CountedSlot {
                counts: Arc::clone(&self.counts),
                ip,
            },
        })
    }
}

impl Drop for CountedSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(from_ip) = counts.per_ip.get_mut(&self.ip) {
            *from_ip = from_ip.saturating_sub(1);
            if *from_ip == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
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
) -> io::Result<Result<Held, SlotRefusal>> {
    let start = match NEXT_SLOT.load(Ordering::Relaxed) {
        UNSET => rand::random_range(0..max_sessions.max(1)),
        next => next,
    };
    let Some((global, index)) = claim_one(dir, "all", max_sessions, start)? else {
        return Ok(Err(SlotRefusal::ServerFull));
    };
    NEXT_SLOT.store(index + 1, Ordering::Relaxed);
    // IPv6 text uses ':' which is fine in a Linux file name.
    let Some((per_ip, _)) = claim_one(dir, &format!("ip-{ip}"), max_per_ip, start)? else {
        return Ok(Err(SlotRefusal::AddressFull));
    };
    Ok(Ok(Held::Files {
        _global: global,
        _per_ip: per_ip,
    }))
}

/// Locks the first free file among `prefix.0` .. `prefix.(limit-1)`, looking from `start`
/// (wrapping around); returns the slot and its index.
fn claim_one(
    dir: &Path,
    prefix: &str,
    limit: usize,
    start: usize,
) -> io::Result<Option<(Slot, usize)>> {
    for step in 0..limit {
        let index = (start + step) % limit;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{prefix}.{index}")))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Some((Slot { _lock: lock }, index))),
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

    #[test]
    fn counted_slots_hold_both_limits_and_free_on_drop() {
        let counter = SlotCounter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = counter.claim(a, 3, 2).unwrap();
        let second = counter.claim(a, 3, 2).unwrap();
        assert!(matches!(
            counter.claim(a, 3, 2),
            Err(SlotRefusal::AddressFull)
        ));
        let third = counter.claim(b, 3, 2).unwrap();
        assert!(matches!(
            counter.claim(b, 3, 2),
            Err(SlotRefusal::ServerFull)
        ));
        drop(first);
        assert!(counter.claim(a, 3, 2).is_ok());
        drop((second, third));
        assert_eq!(counter.counts.lock().unwrap().total, 0);
        assert!(counter.counts.lock().unwrap().per_ip.is_empty());
    }

    #[test]
    fn a_scan_wraps_around_from_its_start() {
        let state = tempfile::tempdir().unwrap();
        let dir = slots_dir(state.path()).unwrap();
        let (first, index) = claim_one(&dir, "x", 3, 2).unwrap().unwrap();
        assert_eq!(index, 2);
        let (second, index) = claim_one(&dir, "x", 3, 2).unwrap().unwrap();
        assert_eq!(
            index, 0,
            "after the last slot the scan goes on at the first"
        );
        let (third, index) = claim_one(&dir, "x", 3, 7).unwrap().unwrap();
        assert_eq!(index, 1, "a start past the limit wraps too");
        assert!(claim_one(&dir, "x", 3, 0).unwrap().is_none());
        drop((first, second, third));
    }
}
