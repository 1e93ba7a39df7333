//! A latency histogram with bounded memory: exact below 64 ns, then 64 buckets per power of
//! two (at most 1/64 relative error), like an HDR histogram with two significant digits.

use std::time::Duration;

/// Sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 6;
/// Sub-buckets per power of two.
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Values at or above 2^MAX_BITS ns (about 18 minutes) are clamped into the last bucket.
const MAX_BITS: u32 = 40;
/// Number of buckets: the exact range, then one group per power of two up to `MAX_BITS`.
const BUCKETS: usize = (MAX_BITS - SUB_BITS + 1) as usize * SUB_BUCKETS;

/// Counts of latencies in nanoseconds, mergeable across connections.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// How many values fell into each bucket.
    counts: Vec<u64>,
    /// How many values were recorded.
    total: u64,
    /// The largest value recorded, so quantiles never exceed it.
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket a value falls in.
fn bucket_of(value: u64) -> usize {
    let value = value.min((1 << MAX_BITS) - 1);
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let shift = exponent - SUB_BITS;
    let mantissa = (value >> shift) as usize;
    (shift as usize + 1) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)
}

/// The largest value that falls in a bucket.
fn highest_in(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let shift = (bucket / SUB_BUCKETS - 1) as u32;
    let mantissa = (bucket % SUB_BUCKETS + SUB_BUCKETS) as u64;
    (mantissa << shift) + (1 << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value below or at which a fraction `quantile` (0..=1) of the values lie, rounded up
    /// to its bucket's upper edge; `None` when empty.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_nanos(highest_in(bucket).min(self.max)));
            }
        }
        Some(Duration::from_nanos(self.max))
    }

    /// The largest value recorded; `None` when empty.
    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_nanos(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut previous = 0;
        for value in (0..100_000u64).chain([1 << 20, (1 << 30) + 12345, (1 << MAX_BITS) - 1]) {
            let bucket = bucket_of(value);
            assert!(bucket >= previous, "buckets never go down");
            assert!(
                bucket <= previous + 1 || value > 100_000,
                "no bucket is skipped"
            );
            assert!(highest_in(bucket) >= value);
            if bucket > 0 {
                assert!(highest_in(bucket - 1) < value);
            }
            previous = bucket;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let mut histogram = Histogram::new();
        for nanos in 1..=50 {
            histogram.record(Duration::from_nanos(nanos));
        }
        assert_eq!(histogram.quantile(0.5), Some(Duration::from_nanos(25)));
        assert_eq!(histogram.quantile(1.0), Some(Duration::from_nanos(50)));
        assert_eq!(histogram.quantile(0.0), Some(Duration::from_nanos(1)));
    }

    #[test]
    fn quantiles_of_a_uniform_spread_are_within_the_bucket_precision() {
        let mut histogram = Histogram::new();
        for micros in 1..=10_000u64 {
            histogram.record(Duration::from_micros(micros));
        }
        let p50 = histogram.quantile(0.5).unwrap().as_secs_f64() * 1e6;
        let p99 = histogram.quantile(0.99).unwrap().as_secs_f64() * 1e6;
        assert!((p50 - 5_000.0).abs() / 5_000.0 < 1.0 / 64.0, "p50 = {p50}");
        assert!((p99 - 9_900.0).abs() / 9_900.0 < 1.0 / 64.0, "p99 = {p99}");
        assert_eq!(histogram.max(), Some(Duration::from_micros(10_000)));
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_maximum() {
        let mut fast = Histogram::new();
        let mut slow = Histogram::new();
        for _ in 0..99 {
            fast.record(Duration::from_micros(10));
        }
        slow.record(Duration::from_millis(5));
        fast.merge(&slow);
        assert_eq!(fast.len(), 100);
        let p99 = fast.quantile(0.99).unwrap();
        assert!(p99 < Duration::from_micros(11), "p99 = {p99:?}");
        assert_eq!(fast.quantile(1.0), Some(Duration::from_millis(5)));
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles() {
        let histogram = Histogram::new();
        assert!(histogram.is_empty());
        assert_eq!(histogram.quantile(0.5), None);
        assert_eq!(histogram.max(), None);
    }
}
