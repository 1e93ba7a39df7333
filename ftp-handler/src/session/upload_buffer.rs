//! Upload read buffers: they start at 256 KiB and grow for a sender that keeps them full, within
//! a budget shared by the whole process, so that many uploads at once do not each hold
//! megabytes.
//!
//! Measured on loopback (docs/benchmarks.md): one 1 GiB STOR went from about 1,500 MiB/s with
//! 256 KiB pieces to about 2,900 with 2 MiB ones, while 300 uploads at once that each grew to
//! 2 MiB were 20% slower than with 256 KiB (every fresh buffer page is a page fault).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Size of every upload buffer at first.
pub(crate) const FIRST: usize = 256 * 1024;

/// Largest upload buffer.
pub(crate) const MAX: usize = 2 * 1024 * 1024;

/// Bytes that grown buffers may hold together beyond [`FIRST`] each: room for four fast
/// uploads with both of their buffers at [`MAX`].
const GROWTH_LIMIT: usize = 16 * 1024 * 1024;

/// The process's budget for grown upload buffers.
static GROWTH: GrowthBudget = GrowthBudget::new(GROWTH_LIMIT);

/// Bytes granted to grown buffers, against a limit.
#[derive(Debug)]
pub(crate) struct GrowthBudget {
    /// Bytes granted and not yet given back.
    granted: AtomicUsize,
    /// Most bytes granted at once.
    limit: usize,
}

impl GrowthBudget {
    /// An empty budget of `limit` bytes.
    pub(crate) const fn new(limit: usize) -> GrowthBudget {
        GrowthBudget {
            granted: AtomicUsize::new(0),
            limit,
        }
    }

    /// Grants `bytes` if they fit under the limit.
    fn take(&self, bytes: usize) -> bool {
        self.granted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |granted| {
                granted
                    .checked_add(bytes)
                    .filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` granted earlier.
    fn give_back(&self, bytes: usize) {
        self.granted.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes granted now.
    #[cfg(test)]
    pub(crate) fn granted(&self) -> usize {
        self.granted.load(Ordering::Acquire)
    }
}

/// One buffer an upload reads into; what it holds beyond [`FIRST`] counts against a budget
/// until it is dropped.
#[derive(Debug)]
pub(crate) struct UploadBuffer {
    /// The bytes.
    bytes: Vec<u8>,
    /// Bytes taken from `budget` for this buffer.
    granted: usize,
    /// Where `granted` came from.
    budget: &'static GrowthBudget,
}

impl UploadBuffer {
    /// A buffer of [`FIRST`] bytes.
    pub(crate) fn first() -> UploadBuffer {
        UploadBuffer::unbudgeted(vec![0u8; FIRST])
    }

    /// Wraps bytes that need no budget (a decoded TYPE A chunk).
    pub(crate) fn unbudgeted(bytes: Vec<u8>) -> UploadBuffer {
        UploadBuffer {
            bytes,
            granted: 0,
            budget: &GROWTH,
        }
    }

    /// The buffer for the read after one that received `count` bytes into `current`: twice
    /// as big if that read filled it (up to [`MAX`], if `budget` has room), else the same
    /// size. `spare` is reused when it is big enough.
    pub(crate) fn after(
        current: &UploadBuffer,
        count: usize,
        spare: Option<UploadBuffer>,
        budget: &'static GrowthBudget,
    ) -> UploadBuffer {
        let wanted = if count == current.len() {
            (current.len() * 2).min(MAX)
        } else {
            current.len()
        };
        match spare {
            Some(spare) if spare.len() >= wanted => spare,
            spare => UploadBuffer::sized(wanted, budget)
                .or(spare)
                .unwrap_or_else(UploadBuffer::first),
        }
    }

    /// The buffer for the read after `current` (see [`UploadBuffer::after`]), on the
    /// process's budget.
    pub(crate) fn next(
        current: &UploadBuffer,
        count: usize,
        spare: Option<UploadBuffer>,
    ) -> UploadBuffer {
        UploadBuffer::after(current, count, spare, &GROWTH)
    }

    /// A buffer of `size` bytes, if `budget` grants what it holds beyond [`FIRST`].
    fn sized(size: usize, budget: &'static GrowthBudget) -> Option<UploadBuffer> {
        let extra = size.saturating_sub(FIRST);
        (extra == 0 || budget.take(extra)).then(|| UploadBuffer {
            bytes: vec![0u8; size],
            granted: extra,
            budget,
        })
    }
}

impl Deref for UploadBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for UploadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl crate::storage::ChunkBuffer for UploadBuffer {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Drop for UploadBuffer {
    fn drop(&mut self) {
        if self.granted > 0 {
            self.budget.give_back(self.granted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A budget of its own for one test.
    fn budget(limit: usize) -> &'static GrowthBudget {
        Box::leak(Box::new(GrowthBudget::new(limit)))
    }

    #[test]
    fn a_full_read_doubles_the_next_buffer_up_to_the_largest() {
        let budget = budget(GROWTH_LIMIT);
        let mut current = UploadBuffer::first();
        let mut sizes = Vec::new();
        for _ in 0..5 {
            let full = current.len();
            current = UploadBuffer::after(&current, full, None, budget);
            sizes.push(current.len());
        }
        assert_eq!(sizes, [FIRST * 2, FIRST * 4, MAX, MAX, MAX]);
        assert_eq!(budget.granted(), MAX - FIRST);
        drop(current);
        assert_eq!(budget.granted(), 0, "a dropped buffer gives its bytes back");
    }

    #[test]
    fn a_partial_read_keeps_the_size_and_reuses_the_spare() {
        let budget = budget(GROWTH_LIMIT);
        let current = UploadBuffer::first();
        let mut spare = UploadBuffer::first();
        spare[0] = 7;
        let next = UploadBuffer::after(&current, FIRST - 1, Some(spare), budget);
        assert_eq!((next.len(), next[0]), (FIRST, 7), "the spare came back");
        assert_eq!(budget.granted(), 0);
    }

    #[test]
    fn growth_stops_at_the_budget_and_resumes_when_buffers_go() {
        // Room for one buffer grown to twice the first size, not for two.
        let budget = budget(FIRST);
        let first = UploadBuffer::after(&UploadBuffer::first(), FIRST, None, budget);
        assert_eq!(first.len(), FIRST * 2);
        let second = UploadBuffer::after(&UploadBuffer::first(), FIRST, None, budget);
        assert_eq!(second.len(), FIRST, "over budget: the first size");
        // Over budget with a small spare: the spare is used rather than a new buffer.
        let mut spare = UploadBuffer::first();
        spare[0] = 9;
        let reused = UploadBuffer::after(&second, FIRST, Some(spare), budget);
        assert_eq!((reused.len(), reused[0]), (FIRST, 9));
        assert_eq!(budget.granted(), FIRST);
        drop(first);
        let third = UploadBuffer::after(&second, FIRST, None, budget);
        assert_eq!(third.len(), FIRST * 2, "the budget had room again");
    }
}
