//! Maglev hashing (Eisenbud et al., NSDI'16, section 3.4; IPVS `ip_vs_mh.c`).
//!
//! Table: M slots (M prime, [`SchedParams::mh_table_size`]). Each dest `i` with identity key
//! `k = DestId::hash_key()` has the preference list `offset + j * skip (mod M)`, with
//! `offset = h1(k) % M` and `skip = h2(k) % (M - 1) + 1`, where `h1`, `h2` are the kernel's
//! `hsiphash` (SipHash-1-3, low 32 bits, of `k` as 4 little-endian bytes) under the two fixed
//! IPVS keys 2654435761 and 2654446892. Dests take turns in dest order; in each round dest `i`
//! claims its next `turns_i` free preferred slots, `turns_i = (w_i / g) >> shift` (at least 1
//! for `w_i > 0`), `g` the gcd of the positive weights and `shift` what keeps the largest
//! `w / g` within 6 bits (IPVS). Weight 0 at build: no slots. The result is the table Linux
//! `ip_vs_mh` builds for the same dests, order, weights and table size.
//!
//! Lookup: slot `h1(fold(src) + port) % M`, port = the source port with `mh-port`, else 0 (the
//! IPVS default: all flows of one client go to one dest). If that slot's dest is quiesced or
//! overloaded at schedule time: no dest, or with `mh-fallback` IPVS's probe sequence
//! `h1(key + ((ihash + j) % M)) % M`, j = 0..M, stopping at an empty slot.
//!
//! The table is built once and shared by all workers through an `Arc`.

use std::sync::Arc;

use super::hash::{addr_fold, hsiphash_u32};
use super::{gcd_weight, Candidate, DestId, FlowHint, SchedError, SchedParams, Scheduler};

/// IPVS `generate_hash_secret`: hash1 (offsets and lookups) and hash2 (skips).
const KEY1: u64 = 2654435761;
const KEY2: u64 = 2654446892;
/// IPVS `IP_VS_MH_TAB_BITS`: turns are shifted to fit this many bits.
const TURN_BITS: u32 = 6;
const EMPTY: u16 = u16::MAX;

/// A Maglev lookup table: slot -> dest index.
#[derive(Debug, PartialEq, Eq)]
pub struct MaglevTable {
    slots: Box<[u16]>,
}

impl MaglevTable {
    /// Builds the table for `dests` (weights as laid out) named by `ids`. `size` must be a
    /// valid [`SchedParams::mh_table_size`] and at least `dests.len()`.
    pub fn new(size: u32, dests: &[Candidate], ids: &[DestId]) -> Result<Self, SchedError> {
        SchedParams {
            mh_table_size: size,
            ..SchedParams::default()
        }
        .validate()?;
        if ids.len() != dests.len() {
            return Err(SchedError::IdsMismatch {
                dests: dests.len(),
                ids: ids.len(),
            });
        }
        if dests.len() > super::MAX_DESTS {
            return Err(SchedError::TooManyDests {
                count: dests.len(),
                max: super::MAX_DESTS,
            });
        }
        if dests.len() > size as usize {
            return Err(SchedError::InvalidParam {
                field: "mh_table_size",
                value: u64::from(size),
                reason: "smaller than the number of destinations",
            });
        }
        let m = size as usize;
        let mut slots = vec![EMPTY; m].into_boxed_slice();
        let g = gcd_weight(dests);
        if g == 0 {
            return Ok(MaglevTable { slots });
        }
        let max = dests.iter().map(|d| d.weight).max().unwrap_or(0) / g;
        let shift = (u32::BITS - max.leading_zeros()).saturating_sub(TURN_BITS);
        struct Setup {
            perm: usize,
            skip: usize,
            turns: u32,
        }
        let mut setup: Vec<Setup> = ids
            .iter()
            .zip(dests)
            .map(|(id, d)| {
                let key = id.hash_key();
                let turns = match (d.weight / g) >> shift {
                    0 => u32::from(d.weight != 0),
                    t => t,
                };
                Setup {
                    perm: hsiphash_u32(key, KEY1) as usize % m,
                    skip: hsiphash_u32(key, KEY2) as usize % (m - 1) + 1,
                    turns,
                }
            })
            .collect();
        let mut taken = vec![false; m];
        let mut n = 0;
        // g > 0, so some dest has turns >= 1 and every round fills at least one slot; each
        // preference list visits every slot (M prime, 0 < skip < M), so the probe ends.
        'fill: loop {
            for (i, s) in setup.iter_mut().enumerate() {
                for _ in 0..s.turns {
                    let mut c = s.perm;
                    while taken[c] {
                        c += s.skip;
                        if c >= m {
                            c -= m;
                        }
                    }
                    s.perm = c;
                    taken[c] = true;
                    slots[c] = i as u16;
                    n += 1;
                    if n == m {
                        break 'fill;
                    }
                }
            }
        }
        Ok(MaglevTable { slots })
    }

    /// M, the number of slots.
    pub fn size(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The dest index owning `slot` (None: out of range, or no dest had a positive weight).
    #[inline]
    pub fn owner(&self, slot: usize) -> Option<usize> {
        match self.slots.get(slot) {
            Some(&i) if i != EMPTY => Some(usize::from(i)),
            _ => None,
        }
    }

    /// Slots owned by each of `n` dests.
    pub fn counts(&self, n: usize) -> Vec<u32> {
        let mut counts = vec![0u32; n];
        for &i in self.slots.iter() {
            if let Some(c) = counts.get_mut(usize::from(i)) {
                *c += 1;
            }
        }
        counts
    }

    /// The slot a flow key hashes to with IPVS `ip_vs_mh_hashkey(.., offset)`.
    #[inline]
    fn slot(&self, key: u32, offset: u32) -> usize {
        hsiphash_u32(key.wrapping_add(offset), KEY1) as usize % self.slots.len()
    }
}

#[derive(Clone, Debug)]
pub(super) struct Maglev {
    table: Arc<MaglevTable>,
    port: bool,
    fallback: bool,
}

impl Maglev {
    pub(super) fn new(
        params: &SchedParams,
        dests: &[Candidate],
        ids: &[DestId],
    ) -> Result<Self, SchedError> {
        Ok(Maglev {
            table: Arc::new(MaglevTable::new(params.mh_table_size, dests, ids)?),
            port: params.mh_port,
            fallback: params.mh_fallback,
        })
    }
}

impl Scheduler for Maglev {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn schedule(&mut self, flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        let t = &*self.table;
        let port = if self.port { flow.src_port } else { 0 };
        let key = addr_fold(&flow.src).wrapping_add(u32::from(port));
        let usable = |i: usize| dests.get(i).is_some_and(|d| d.is_available());
        let ihash = t.slot(key, 0);
        let i = t.owner(ihash)?;
        if usable(i) {
            return Some(i);
        }
        if !self.fallback {
            return None;
        }
        let m = t.slots.len();
        for offset in 0..m {
            let roffset = ((offset + ihash) % m) as u32;
            let i = t.owner(t.slot(key, roffset))?;
            if usable(i) {
                return Some(i);
            }
        }
        None
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{flow_from, ids, weights};
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn table(m: u32, ws: &[u32], ids: &[DestId]) -> MaglevTable {
        MaglevTable::new(m, &weights(ws), ids).unwrap()
    }

    fn layout(t: &MaglevTable) -> Vec<Option<usize>> {
        (0..t.size() as usize).map(|s| t.owner(s)).collect()
    }

    // Expected layouts below come from an independent Python implementation (SipHash checked
    // against the reference vectors and CPython's own SipHash-1-3) of IPVS ip_vs_mh.c.

    #[test]
    fn exact_layout_m13() {
        let id = ids(3); // 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80
                         // offsets/skips (M=13): A 1/4, B 9/4, C 0/9.
        let t = table(13, &[1, 1, 1], &id);
        let want = [2, 0, 2, 0, 1, 0, 2, 1, 0, 1, 2, 0, 1].map(Some);
        assert_eq!(layout(&t), want);
        assert_eq!(t.counts(3), [5, 4, 4]);

        // Weight change to 3,2,1: rounds of 6 slots, 13 = 2 * 6 + 1 -> 7, 4, 2.
        let t = table(13, &[3, 2, 1], &id);
        assert_eq!(
            layout(&t),
            [1, 0, 0, 0, 1, 0, 2, 1, 0, 0, 2, 1, 0].map(Some)
        );
        assert_eq!(t.counts(3), [7, 4, 2]);

        // B removed (new order A, C): of the 9 slots A and C owned, only slot 11 moves.
        let t = table(13, &[1, 1], &[id[0], id[2]]);
        assert_eq!(
            layout(&t),
            [1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0].map(Some)
        );
        assert_eq!(t.counts(2), [7, 6]);

        // B quiesced by weight 0 at build: no slots for it.
        let t = table(13, &[1, 0, 1], &id);
        assert_eq!(t.counts(3), [7, 0, 6]);
    }

    #[test]
    fn exact_counts_m251() {
        let id = ids(3);
        // Equal weights: rounds of 3, 251 = 83 * 3 + 2.
        assert_eq!(table(251, &[1, 1, 1], &id).counts(3), [84, 84, 83]);
        assert_eq!(table(251, &[7, 7, 7], &id).counts(3), [84, 84, 83]); // gcd 7
                                                                         // 3,2,1: 251 = 41 * 6 + 5 -> 41*3+3, 41*2+2, 41.
        assert_eq!(table(251, &[3, 2, 1], &id).counts(3), [126, 84, 41]);
        // 200,1: gcd 1, max 200 needs 8 bits -> shift 2: turns 50 and 0 -> 1; 251 = 4 * 51 + 47.
        assert_eq!(table(251, &[200, 1], &id[..2]).counts(2), [247, 4]);
        assert_eq!(table(251, &[0, 0, 0], &id).counts(3), [0, 0, 0]);
    }

    #[test]
    fn lookup_is_ipvs_hash_of_source() {
        // Table as in exact_layout_m13: [C A C A B A C B A B C A B].
        let d = weights(&[1, 1, 1]);
        let p = SchedParams {
            mh_table_size: 13,
            ..SchedParams::default()
        };
        let mut s = Maglev::new(&p, &d, &ids(3)).unwrap();
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "2001:db8::99".parse().unwrap();
        // Slot = hsiphash(fold(src) + port, KEY1) % 13; the port is 0 unless mh-port.
        assert_eq!(s.table.slot(0x0a01_0203, 0), 5);
        assert_eq!(s.schedule(&flow_from(v4, 5556), &d), Some(0)); // slot 5
        assert_eq!(s.schedule(&flow_from(v6, 5556), &d), Some(0)); // slot 11
        let mut s = Maglev::new(&SchedParams { mh_port: true, ..p }, &d, &ids(3)).unwrap();
        assert_eq!(s.schedule(&flow_from(v4, 5555), &d), Some(0)); // slot 1
        assert_eq!(s.schedule(&flow_from(v4, 5556), &d), Some(1)); // slot 7
        assert_eq!(s.schedule(&flow_from(v4, 0), &d), Some(0)); // slot 5
    }

    #[test]
    fn quiesced_or_overloaded_owner() {
        let mut d = weights(&[1, 1, 1]);
        let id = ids(3);
        let p = SchedParams {
            mh_table_size: 251,
            ..SchedParams::default()
        };
        let mut s = Maglev::new(&p, &d, &id).unwrap();
        let mut fb = Maglev::new(
            &SchedParams {
                mh_fallback: true,
                ..p
            },
            &d,
            &id,
        )
        .unwrap();
        let flows: Vec<FlowHint> = (0..300u32)
            .map(|i| flow_from(IpAddr::V4(Ipv4Addr::from(0xcb00_7100 + i)), 0))
            .collect();
        let before: Vec<_> = flows.iter().map(|f| s.schedule(f, &d).unwrap()).collect();
        d[1].overloaded = true;
        for (f, &b) in flows.iter().zip(&before) {
            let got = s.schedule(f, &d);
            let alt = fb.schedule(f, &d);
            if b == 1 {
                assert_eq!(got, None);
                assert!(matches!(alt, Some(0 | 2)), "{alt:?}");
            } else {
                assert_eq!((got, alt), (Some(b), Some(b)));
            }
        }
        d[1].overloaded = false;
        d[1].weight = 0; // quiesced at runtime: table unchanged, flows to B get no dest
        assert!(flows
            .iter()
            .zip(&before)
            .all(|(f, &b)| s.schedule(f, &d) == (b != 1).then_some(b)));
        d.iter_mut().for_each(|c| c.weight = 0);
        assert!(flows.iter().all(|f| fb.schedule(f, &d).is_none()));
    }

    #[test]
    fn table_is_shared_not_copied() {
        let p = SchedParams {
            mh_table_size: 251,
            ..SchedParams::default()
        };
        let s = Maglev::new(&p, &weights(&[1, 1]), &ids(2)).unwrap();
        let c = s.clone();
        assert!(Arc::ptr_eq(&s.table, &c.table));
        assert_eq!(Arc::strong_count(&s.table), 2);
    }

    #[test]
    fn ipv6_identities() {
        let id: Vec<DestId> = ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
            .iter()
            .map(|a| DestId::new(a.parse().unwrap(), 443))
            .collect();
        let t = table(251, &[1, 1, 1], &id);
        assert_eq!(t.counts(3), [84, 84, 83]);
        // 2001:db8::1 port 443: offset 46 and skip 231 at M=251, so A's first slot is 46.
        assert_eq!(t.owner(46), Some(0));
    }

    /// `n` distinct IPv4 identities from seeds.
    fn distinct_ids(seeds: &[(u32, u16)]) -> Vec<DestId> {
        let mut seen = std::collections::HashSet::new();
        seeds
            .iter()
            .map(|&(a, p)| DestId::new(IpAddr::V4(Ipv4Addr::from(a)), p))
            .filter(|id| seen.insert(id.hash_key()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Equal weights: every dest owns floor(M/N) or ceil(M/N) slots (so within 1% of M/N).
        #[test]
        fn equal_weights_split_evenly(seeds in prop::collection::vec((any::<u32>(), any::<u16>()), 1..40)) {
            let id = distinct_ids(&seeds);
            let n = id.len();
            let m = 4093; // > 100 * N
            let t = table(m, &vec![5; n], &id);
            let counts = t.counts(n);
            let fair = f64::from(m) / n as f64;
            for &c in &counts {
                prop_assert!((f64::from(c) - fair).abs() <= 1.0, "{:?}", counts);
                prop_assert!((f64::from(c) - fair).abs() <= 0.01 * fair, "{:?}", counts);
            }
            prop_assert_eq!(counts.iter().sum::<u32>(), m);
        }

        /// Weighted: each dest owns within turns_i slots of M * turns_i / sum(turns).
        #[test]
        fn weighted_split_is_proportional(
            seeds in prop::collection::vec((any::<u32>(), any::<u16>(), 0u32..64), 1..12),
        ) {
            let mut seen = std::collections::HashSet::new();
            let (id, ws): (Vec<DestId>, Vec<u32>) = seeds
                .iter()
                .map(|&(a, p, w)| (DestId::new(IpAddr::V4(Ipv4Addr::from(a)), p), w))
                .filter(|(id, _)| seen.insert(id.hash_key()))
                .unzip();
            let t = table(4093, &ws, &id);
            let counts = t.counts(id.len());
            let g = super::super::gcd_weight(&weights(&ws));
            if g == 0 {
                prop_assert!(counts.iter().all(|&c| c == 0));
                return Ok(());
            }
            let total: u32 = ws.iter().map(|w| w / g).sum();
            for (&c, &w) in counts.iter().zip(&ws) {
                let turns = w / g;
                let exact = 4093.0 * f64::from(turns) / f64::from(total);
                prop_assert!((f64::from(c) - exact).abs() <= f64::from(turns), "{:?} {:?}", counts, ws);
            }
        }

        /// Removing one of N dests: the removed dest's slots move, and few others do. (Maglev
        /// does not guarantee minimal disruption: at M = 65537 the share of other slots that
        /// move averages 0.25%, and was at most 3.1% over 15000 random trials.)
        #[test]
        fn removal_keeps_most_owners(
            seeds in prop::collection::vec((any::<u32>(), any::<u16>()), 2..24),
            pick in any::<prop::sample::Index>(),
        ) {
            let id = distinct_ids(&seeds);
            prop_assume!(id.len() >= 2);
            let r = pick.index(id.len());
            let (other, total) = removal_churn(&id, r);
            prop_assert!(other <= 0.04, "other slots moved: {}", other);
            prop_assert!(total <= 1.0 / id.len() as f64 + 0.04, "slots moved: {}", total);
        }
    }

    /// Removes dest `r` of `id` (equal weights, M = 65537) and returns the fractions of all
    /// slots that (other) were not `r`'s and changed owner, (total) changed owner at all.
    fn removal_churn(id: &[DestId], r: usize) -> (f64, f64) {
        let m = 65537;
        let n = id.len();
        let before = table(m, &vec![1; n], id);
        let mut rest = id.to_vec();
        rest.remove(r);
        let after = table(m, &vec![1; n - 1], &rest);
        let (mut other, mut total) = (0u32, 0u32);
        for s in 0..m as usize {
            let b = before.owner(s).unwrap();
            let a = after.owner(s).unwrap();
            if b == r {
                total += 1;
            } else if a != if b < r { b } else { b - 1 } {
                other += 1;
                total += 1;
            }
        }
        (
            f64::from(other) / f64::from(m),
            f64::from(total) / f64::from(m),
        )
    }

    #[test]
    fn removal_churn_is_small_on_average() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let trials = 40;
        let mut sum = 0.0;
        for _ in 0..trials {
            let n = 2 + (next() % 20) as usize;
            let seeds: Vec<(u32, u16)> = (0..n).map(|_| (next() as u32, next() as u16)).collect();
            let id = distinct_ids(&seeds);
            let r = (next() % id.len() as u64) as usize;
            let (other, total) = removal_churn(&id, r);
            assert!(
                total >= 1.0 / id.len() as f64 - 1e-4,
                "the removed dest's slots all move"
            );
            sum += other;
        }
        let mean = sum / f64::from(trials);
        assert!(mean < 0.006, "mean share of other slots moved: {mean}");
    }
}
