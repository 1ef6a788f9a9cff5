//! Collector statistics: bytes and objects allocated and freed, collections
//! by kind, and a histogram of pauses (the time the mutator waited for each
//! collector step or full collection).

use std::fmt;
use std::time::Duration;

/// Kinds of collection work, as counted in [`Stats::collections`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionKind {
    /// A cycle completed by incremental steps.
    Incremental,
    /// A full, non-incremental collection (`collect`).
    Full,
    /// A generational minor collection.
    Minor,
    /// A generational major collection.
    Major,
    /// A shared collection (of a space's global objects).
    Shared,
}

/// Number of collections of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collections {
    /// Completed incremental cycles.
    pub incremental: u64,
    /// Full collections.
    pub full: u64,
    /// Generational minor collections.
    pub minor: u64,
    /// Generational major collections.
    pub major: u64,
    /// Shared collections (counted in the space's statistics).
    pub shared: u64,
}

/// Statistics of one heap.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Bytes allocated in total (objects and reported extra memory).
    pub bytes_allocated: u64,
    /// Bytes freed in total.
    pub bytes_freed: u64,
    /// Objects allocated in total.
    pub objects_allocated: u64,
    /// Objects freed in total.
    pub objects_freed: u64,
    /// Objects marked shared.
    pub objects_shared: u64,
    /// Objects marked frozen.
    pub objects_frozen: u64,
    /// Collections by kind.
    pub collections: Collections,
    /// Every pause, in a log-linear histogram.
    pub pauses: PauseHistogram,
}

impl Stats {
    /// Adds `other`'s figures to these (to sum the heaps of a runtime).
    pub fn merge(&mut self, other: &Stats) {
        self.bytes_allocated += other.bytes_allocated;
        self.bytes_freed += other.bytes_freed;
        self.objects_allocated += other.objects_allocated;
        self.objects_freed += other.objects_freed;
        self.objects_shared += other.objects_shared;
        self.objects_frozen += other.objects_frozen;
        let (c, o) = (&mut self.collections, &other.collections);
        c.incremental += o.incremental;
        c.full += o.full;
        c.shared += o.shared;
        c.minor += o.minor;
        c.major += o.major;
        self.pauses.merge(&other.pauses);
    }

    pub(crate) fn count(&mut self, kind: CollectionKind) {
        let c = &mut self.collections;
        match kind {
            CollectionKind::Incremental => c.incremental += 1,
            CollectionKind::Full => c.full += 1,
            CollectionKind::Minor => c.minor += 1,
            CollectionKind::Major => c.major += 1,
            CollectionKind::Shared => c.shared += 1,
        }
    }
}

/// Sub-buckets per power of two: quantiles are exact to within 1/8 (12.5%).
const SUB: usize = 8;
const BUCKETS: usize = 64 * SUB;

/// A histogram of pause durations in nanoseconds, log-linear (8 buckets per
/// power of two), with the exact maximum. The buckets (4 KiB) are allocated
/// at the first pause, so the many heaps that never collect cost nothing.
#[derive(Clone, Default)]
pub struct PauseHistogram {
    counts: Option<Box<[u64; BUCKETS]>>,
    total: u64,
    max_ns: u64,
    sum_ns: u128,
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let octave = 63 - ns.leading_zeros() as usize; // >= 3
    let sub = ((ns >> (octave - 3)) as usize) & (SUB - 1);
    (octave - 2) * SUB + sub
}

/// The largest value that falls in `bucket`.
fn bucket_top(bucket: usize) -> u64 {
    if bucket < SUB {
        return bucket as u64;
    }
    let octave = bucket / SUB + 2;
    let sub = (bucket % SUB) as u64;
    ((SUB as u64 + sub + 1) << (octave - 3)) - 1
}

impl PauseHistogram {
    /// Records one pause.
    pub fn record(&mut self, pause: Duration) {
        let ns = u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX);
        self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]))[bucket_of(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += u128::from(ns);
    }

    /// Number of pauses recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The longest pause.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The mean pause.
    pub fn mean(&self) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum_ns / u128::from(self.total)) as u64)
    }

    /// The pause below which a fraction `q` (0..=1) of pauses fall, to within
    /// 12.5% (never above the maximum).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().flat_map(|c| c.iter()).enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(bucket_top(bucket).min(self.max_ns));
            }
        }
        self.max()
    }

    /// Adds another histogram's pauses to this one.
    pub fn merge(&mut self, other: &PauseHistogram) {
        if let Some(theirs) = &other.counts {
            let ours = self.counts.get_or_insert_with(|| Box::new([0; BUCKETS]));
            for (a, b) in ours.iter_mut().zip(theirs.iter()) {
                *a += b;
            }
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
    }
}

impl fmt::Debug for PauseHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pauses: p50 {:?}, p99 {:?}, max {:?}",
            self.total,
            self.quantile(0.5),
            self.quantile(0.99),
            self.max()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in 0..100_000u64 {
            let b = bucket_of(ns);
            assert!(b >= last, "bucket order at {ns}");
            assert!(bucket_top(b) >= ns, "top of bucket {b} below {ns}");
            assert!(bucket_top(b) as f64 <= ns as f64 * 1.125 + 1.0, "bucket {b} too wide at {ns}");
            last = b;
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_follow_the_samples() {
        let mut h = PauseHistogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_nanos() as f64;
        assert!((50_000.0..=50_000.0 * 1.125).contains(&p50), "p50 {p50}");
        let p99 = h.quantile(0.99).as_nanos() as f64;
        assert!((99_000.0..=100_000.0).contains(&p99), "p99 {p99}");
        assert_eq!(h.max(), Duration::from_micros(100));
        assert_eq!(h.count(), 100);
    }
}
