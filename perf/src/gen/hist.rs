//! A fixed-size log-linear latency histogram (HdrHistogram-like): exact below 128, then 64
//! buckets per power of two, so any recorded value is reported within 1/64 (1.6 %). Recording is
//! a few instructions and never allocates; the buckets are one boxed array made at start-up.

const LINEAR: u64 = 128;
const SUB_BITS: u32 = 6; // 64 buckets per octave
const SUB: u64 = 1 << SUB_BITS;
/// Octaves 2^7 .. 2^63.
pub const BUCKETS: usize = LINEAR as usize + (64 - 7) * SUB as usize;

pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 7
        let mantissa = (v >> (e - SUB_BITS)) - SUB; // 0..64
        (LINEAR + u64::from(e - 7) * SUB + mantissa) as usize
    }

    /// The smallest value that falls in bucket `i`.
    fn lower(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let e = (i - LINEAR) / SUB + 7;
        let mantissa = (i - LINEAR) % SUB;
        (SUB + mantissa) << (e - u64::from(SUB_BITS))
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.max = 0;
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding the `ceil(q * n)`-th
    /// smallest sample (exact below 128), capped at the maximum. None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let lo = Self::lower(i);
                let hi = if i + 1 < BUCKETS {
                    Self::lower(i + 1)
                } else {
                    u64::MAX
                };
                let mid = lo + (hi - lo) / 2;
                return Some(if hi - lo <= 1 { lo } else { mid.min(self.max) });
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        for i in 1..BUCKETS {
            assert!(Histogram::lower(i) > Histogram::lower(i - 1), "bucket {i}");
            assert_eq!(Histogram::index(Histogram::lower(i)), i);
            assert_eq!(Histogram::index(Histogram::lower(i) - 1), i - 1);
        }
        assert_eq!(Histogram::index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in [5, 5, 7, 100] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(5));
        assert_eq!(h.quantile(0.75), Some(7));
        assert_eq!(h.quantile(1.0), Some(100));
    }

    #[test]
    fn percentiles_of_a_uniform_range_within_two_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for (q, want) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.count(), 100_000);
    }

    #[test]
    fn tail_is_seen() {
        let mut h = Histogram::new();
        for _ in 0..998 {
            h.record(1000);
        }
        h.record(1_000_000);
        h.record(2_000_000);
        let p50 = h.quantile(0.5).unwrap();
        assert!((985..=1016).contains(&p50), "{p50}");
        let p999 = h.quantile(0.999).unwrap();
        assert!(p999 > 900_000, "{p999}");
        assert_eq!(Histogram::new().quantile(0.5), None);
    }
}
