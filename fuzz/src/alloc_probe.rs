//! The process's allocator, wrapped to record the largest single allocation made while a probe
//! is armed, so a target can check that hostile bytes never make a reader allocate past its
//! limit.
//!
//! One probe at a time: the recording is process-wide (the fuzzer runs one input at a time, and
//! the corpus replay runs the targets one after another).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The system allocator, recording the largest request while [`ARMED`] is set.
struct Probe;

/// Whether allocations are being recorded.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The largest allocation or reallocation, in bytes, since the probe was armed.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static GLOBAL: Probe = Probe;

impl Probe {
    fn record(size: usize) {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; recording only touches atomics.
unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(new_size);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `work` with the probe armed; returns its result and the largest allocation it made.
pub fn largest_allocation<T>(work: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
    let result = work();
    ARMED.store(false, Ordering::Relaxed);
    (result, LARGEST.load(Ordering::Relaxed))
}
