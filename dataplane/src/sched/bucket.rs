//! The 256-bucket table shared by sh and dh (IPVS `ip_vs_sh_reassign` / `ip_vs_dh_reassign`).
//!
//! Buckets are dealt out in dest order, round after round, until all 256 are taken. Weighted
//! (sh): each dest takes `weight` consecutive buckets per round, and a dest of weight 0 still
//! takes one (IPVS `++d_count >= weight`), on which new flows find no dest. Unweighted (dh): one
//! bucket per dest per round. The table is 512 bytes and copied into each worker's instance.

use super::hash::hash_32;
use super::Candidate;

pub(super) const TAB_BITS: u32 = 8;
pub(super) const TAB_SIZE: usize = 1 << TAB_BITS;
const EMPTY: u16 = u16::MAX;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BucketTable {
    /// Dest index per bucket, `EMPTY` when the service has no dests.
    buckets: [u16; TAB_SIZE],
}

impl BucketTable {
    /// Deals the buckets out; `dests.len()` must not exceed `super::MAX_DESTS`.
    pub(super) fn new(dests: &[Candidate], weighted: bool) -> Self {
        let mut buckets = [EMPTY; TAB_SIZE];
        if !dests.is_empty() {
            let (mut p, mut d_count) = (0usize, 0u32);
            for b in buckets.iter_mut() {
                *b = p as u16;
                d_count += 1;
                if !weighted || d_count >= dests[p].weight {
                    p = (p + 1) % dests.len();
                    d_count = 0;
                }
            }
        }
        BucketTable { buckets }
    }

    /// The dest index that owns `bucket` (taken modulo the table size).
    #[inline]
    pub(super) fn owner(&self, bucket: u32) -> Option<usize> {
        match self.buckets[bucket as usize & (TAB_SIZE - 1)] {
            EMPTY => None,
            i => Some(usize::from(i)),
        }
    }

    /// IPVS without fallback: the owner of `bucket` if it is available, else None.
    #[inline]
    pub(super) fn get(&self, bucket: u32, dests: &[Candidate]) -> Option<usize> {
        let i = self.owner(bucket)?;
        dests.get(i).filter(|d| d.is_available()).map(|_| i)
    }

    /// IPVS `ip_vs_sh_get_fallback`: the owner of `ihash` if available; otherwise probes bucket
    /// `(roffset + hash(key)) mod 256` for `roffset = ihash, ihash + 1, ...` (mod 256), giving up
    /// at an empty bucket or after 256 probes.
    #[inline]
    pub(super) fn get_fallback(&self, key: u32, dests: &[Candidate]) -> Option<usize> {
        let ihash = bucket_hash(key, 0);
        let i = self.owner(ihash)?;
        if dests.get(i).is_some_and(|d| d.is_available()) {
            return Some(i);
        }
        for offset in 0..TAB_SIZE as u32 {
            let roffset = (offset + ihash) % TAB_SIZE as u32;
            let i = self.owner(bucket_hash(key, roffset))?;
            if dests.get(i).is_some_and(|d| d.is_available()) {
                return Some(i);
            }
        }
        None
    }

    /// Buckets owned by each of `n` dests (tests and diagnostics).
    #[cfg(test)]
    pub(super) fn counts(&self, n: usize) -> Vec<usize> {
        (0..n)
            .map(|i| {
                self.buckets
                    .iter()
                    .filter(|&&b| usize::from(b) == i)
                    .count()
            })
            .collect()
    }
}

/// IPVS `ip_vs_sh_hashkey` / `ip_vs_dh_hashkey`: `(offset + hash_32(key, 8)) & 255`, where the
/// caller's `key` is `fold(addr) + port` (port 0 when ports are not hashed).
#[inline]
pub(super) fn bucket_hash(key: u32, offset: u32) -> u32 {
    offset.wrapping_add(hash_32(key, TAB_BITS)) & (TAB_SIZE as u32 - 1)
}

#[cfg(test)]
mod tests {
    use super::super::tests::weights;
    use super::*;

    #[test]
    fn weighted_deal() {
        // Rounds of 3 + 2 + 1 = 6 buckets: 42 full rounds (252) then A A A B.
        let t = BucketTable::new(&weights(&[3, 2, 1]), true);
        assert_eq!(t.counts(3), [129, 85, 42]);
        assert_eq!(
            (0..8).map(|b| t.owner(b).unwrap()).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 2, 0, 0]
        );
        // Weight 0 still takes one bucket per round (IPVS): rounds of 2 + 1 + 1 = 4.
        let t = BucketTable::new(&weights(&[2, 0, 1]), true);
        assert_eq!(t.counts(3), [128, 64, 64]);
        // A weight of 256 or more fills the table.
        let t = BucketTable::new(&weights(&[300, 1]), true);
        assert_eq!(t.counts(2), [256, 0]);
    }

    #[test]
    fn unweighted_deal() {
        let t = BucketTable::new(&weights(&[3, 2, 1]), false);
        assert_eq!(t.counts(3), [86, 85, 85]);
        assert_eq!(
            (0..5).map(|b| t.owner(b).unwrap()).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1]
        );
    }

    #[test]
    fn empty_table() {
        let t = BucketTable::new(&[], true);
        assert!((0..256).all(|b| t.owner(b).is_none()));
        assert_eq!(t.get_fallback(1234, &[]), None);
    }

    #[test]
    fn fallback_probes_in_ipvs_order() {
        // One bucket per dest, 256 dests: bucket b is owned by dest b.
        let mut d = weights(&[1; 256]);
        let t = BucketTable::new(&d, true);
        let key = 0xc0a8_010a; // hash_32(key, 8) = 248
        assert_eq!(bucket_hash(key, 0), 248);
        assert_eq!(t.get_fallback(key, &d), Some(248));
        // Probes go 248 + 248, 249 + 248, ... (mod 256) = 240, 241, ...
        d[248].overloaded = true;
        assert_eq!(t.get_fallback(key, &d), Some(240));
        d[240].weight = 0;
        assert_eq!(t.get_fallback(key, &d), Some(241));
        d.iter_mut().for_each(|c| c.overloaded = true);
        assert_eq!(t.get_fallback(key, &d), None);
    }
}
