//! Counters that every concurrency mode shares, and an HTTP exporter for them (feature
//! `metrics`).
//!
//! - [`SharedCounters`]: numbered `u64` slots in a `MAP_SHARED` anonymous mapping made before
//!   the server forks, so a forked session process adds to the same memory the exporter reads.
//!   In the other modes the sessions are threads or tasks of the same process and share it
//!   anyway. The framework gives slots numbers only; what each slot means is the handler's.
//! - [`SlotHistogram`]: a histogram laid over consecutive slots (bucket counts and a sum).
//! - [`Exporter`]: `/metrics`, `/healthz` and `/readyz` over HTTP/1.1 on a listener of its own,
//!   served by a process forked before the server starts, so a forking parent stays free of
//!   threads and of tokio.

mod exporter;

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

pub use exporter::{Exporter, ExporterProcess, Readiness, Render};

/// Numbered counter slots shared by this process and every process it forks afterwards.
pub struct SharedCounters {
    /// The start of the mapping: `len` atomics.
    slots: NonNull<AtomicU64>,
    /// How many slots the mapping holds.
    len: usize,
}

// SAFETY: the mapping is only ever accessed through atomics, from any thread.
unsafe impl Send for SharedCounters {}
// SAFETY: as above; `&SharedCounters` hands out nothing but atomic operations.
unsafe impl Sync for SharedCounters {}

impl std::fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounters")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl SharedCounters {
    /// `len` slots, all zero; make them before the server forks (before `serve_forever`).
    pub fn new(len: usize) -> io::Result<Self> {
        let len = len.max(1);
        let bytes = len
            .checked_mul(std::mem::size_of::<AtomicU64>())
            .ok_or_else(|| io::Error::other("too many counter slots"))?;
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Anonymous mappings are zero-filled and page-aligned, so every slot is a valid, aligned
        // `AtomicU64` holding 0.
        let slots = NonNull::new(mapped.cast::<AtomicU64>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(SharedCounters { slots, len })
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no slots (never: at least one is made).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot `index`; out of range panics (slot numbers are the handler's constants).
    fn slot(&self, index: usize) -> &AtomicU64 {
        assert!(index < self.len, "counter slot {index} out of {}", self.len);
        // SAFETY: in bounds (checked above) of a live mapping of `len` atomics.
        unsafe { &*self.slots.as_ptr().add(index) }
    }

    /// Adds `amount` to slot `index`.
    pub fn add(&self, index: usize, amount: u64) {
        self.slot(index).fetch_add(amount, Ordering::Relaxed);
    }

    /// Subtracts `amount` from slot `index` (a gauge going down).
    pub fn sub(&self, index: usize, amount: u64) {
        self.slot(index).fetch_sub(amount, Ordering::Relaxed);
    }

    /// Sets slot `index` to `value` (a gauge measured, not counted).
    pub fn set(&self, index: usize, value: u64) {
        self.slot(index).store(value, Ordering::Relaxed);
    }

    /// The value of slot `index` now.
    pub fn get(&self, index: usize) -> u64 {
        self.slot(index).load(Ordering::Relaxed)
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `new`, which nothing uses any more.
        unsafe {
            libc::munmap(
                self.slots.as_ptr().cast(),
                self.len * std::mem::size_of::<AtomicU64>(),
            )
        };
    }
}

/// A histogram stored in `bounds.len() + 2` consecutive slots from `first`: one count per
/// bucket (not cumulative, the last one for values above every bound), then the sum of the
/// observed values in millionths.
#[derive(Debug, Clone, Copy)]
pub struct SlotHistogram {
    /// The first slot it uses.
    first: usize,
    /// Upper bounds of the buckets, ascending.
    bounds: &'static [f64],
}

/// A histogram as read at one moment, in the form exporters write it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The sum of every observed value.
    pub sum: f64,
    /// How many values were observed.
    pub count: u64,
    /// `(upper bound, count)` per bucket, each counting only the values above the bound
    /// before it (not cumulative, as `prometheus-client`'s encoder takes them), ending with
    /// `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl SlotHistogram {
    /// A histogram with the given ascending `bounds`, in slots from `first` on.
    pub const fn new(first: usize, bounds: &'static [f64]) -> Self {
        SlotHistogram { first, bounds }
    }

    /// How many slots it takes.
    pub const fn slots(bounds: &[f64]) -> usize {
        bounds.len() + 2
    }

    /// Records one observed `value` (negative values count as 0).
    pub fn observe(&self, counters: &SharedCounters, value: f64) {
        let value = value.max(0.0);
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        counters.add(self.first + bucket, 1);
        // Millionths: whole microseconds for a histogram of seconds.
        counters.add(
            self.first + self.bounds.len() + 1,
            (value * 1e6).round() as u64,
        );
    }

    /// The buckets, count and sum now.
    pub fn snapshot(&self, counters: &SharedCounters) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
            .map(|(index, bound)| (bound, counters.get(self.first + index)))
            .collect();
        HistogramSnapshot {
            sum: counters.get(self.first + self.bounds.len() + 1) as f64 / 1e6,
            count: buckets.iter().map(|(_, count)| count).sum(),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_adds_to_the_parents_slots() {
        let counters = SharedCounters::new(4).unwrap();
        counters.add(2, 5);
        // SAFETY: the child only does atomic adds and `_exit`s.
        match unsafe { libc::fork() } {
            0 => {
                counters.add(2, 7);
                counters.sub(1, 1);
                unsafe { libc::_exit(0) };
            }
            -1 => panic!("fork failed"),
            pid => {
                let mut status = 0;
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        }
        assert_eq!(counters.get(2), 12);
        assert_eq!(counters.get(1) as i64, -1);
        assert_eq!(counters.get(0), 0);
    }

    #[test]
    fn histogram_buckets_count_their_own_values_and_end_with_infinity() {
        const BOUNDS: [f64; 2] = [0.1, 1.0];
        let counters = SharedCounters::new(SlotHistogram::slots(&BOUNDS) + 1).unwrap();
        let histogram = SlotHistogram::new(1, &BOUNDS);
        for value in [0.05, 0.5, 0.75, 3.0] {
            histogram.observe(&counters, value);
        }
        let snapshot = histogram.snapshot(&counters);
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum - 4.3).abs() < 1e-9);
        assert_eq!(
            snapshot.buckets,
            vec![(0.1, 1), (1.0, 2), (f64::INFINITY, 1)]
        );
        assert_eq!(counters.get(0), 0, "the slot before it is untouched");
    }
}
