//! Weighted round robin (IPVS `ip_vs_wrr.c`): interleaved passes over the dest list with a
//! current weight `cw` that starts at `mw` (max weight - (gcd - 1)) and drops by `di` (gcd of
//! the positive weights) after each pass; a pass picks, one per call, every available dest whose
//! weight is `>= cw`. Weights 4, 3, 2 give A A B A B C A B C.
//!
//! `mw` and `di` come from the weights at build; the weights read per call are the live ones.
//! The pass loop is IPVS's, including its stop rules when nothing is available, except that runs
//! of passes that cannot pick anything (cw above every available weight) are skipped
//! arithmetically, so a call costs O(dests) whatever the weights.

use super::{gcd_weight, Candidate, FlowHint, Scheduler};

#[derive(Clone, Debug)]
pub(super) struct WeightedRoundRobin {
    /// Last dest picked; None = the list head (next pass starts at the first dest).
    cl: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Max weight - (di - 1); 0 when no dest has a positive weight.
    mw: i64,
    /// Decreasing interval: gcd of the positive weights (1 if none).
    di: i64,
}

impl WeightedRoundRobin {
    pub(super) fn new(dests: &[Candidate]) -> Self {
        let di = i64::from(gcd_weight(dests).max(1));
        let max = dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0);
        let mw = max - (di - 1);
        WeightedRoundRobin {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        let last = self.cl;
        let mut dest = self.cl;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        // Highest live available weight, computed when first needed.
        let mut top: Option<i64> = None;
        loop {
            let start = dest.map_or(0, |i| i + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                dest = Some(i);
                if !d.overloaded && i64::from(d.weight) >= self.cw {
                    self.cl = dest;
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = dest;
                    return None;
                }
            }
            // At the list head. Skip the passes with cw > max(top, di): they pick nothing, and
            // neither reach cw <= 0 nor set last_pass, so IPVS would only decrement cw there.
            dest = None;
            let top = *top.get_or_insert_with(|| {
                dests
                    .iter()
                    .filter(|d| d.is_available())
                    .map(|d| i64::from(d.weight))
                    .max()
                    .unwrap_or(0)
            });
            let floor = top.max(self.di);
            if self.cw - self.di > floor {
                let k = (self.cw - floor + self.di - 1) / self.di;
                self.cw -= k * self.di;
            } else {
                self.cw -= self.di;
            }
            if self.cw <= 0 {
                self.cw = self.mw;
                // Stop if the last pass (w >= 1) already ran, or it ran from the first dest.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The w >= 1 pass so far covered only the dests after `last`.
                stop = last;
            }
        }
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }

    fn has_place(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{any_flow, weights};
    use super::super::{Candidate, Scheduler};
    use super::WeightedRoundRobin;
    use proptest::prelude::*;

    fn run(s: &mut dyn Scheduler, d: &[Candidate], n: usize) -> String {
        (0..n)
            .map(|_| match s.schedule(&any_flow(), d) {
                Some(i) => char::from(b'A' + i as u8),
                None => '-',
            })
            .collect()
    }

    #[test]
    fn ipvs_sequence_4_3_2() {
        // cw=4: A | cw=3: A B | cw=2: A B C | cw=1: A B C, then again.
        let d = weights(&[4, 3, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 18), "AABABCABCAABABCABC");
    }

    #[test]
    fn gcd_steps() {
        // di = 2, mw = 4 - 1 = 3: cw=3: A | cw=1: A B.
        let d = weights(&[4, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 9), "AABAABAAB");
        // di = 50, mw = 100 - 49 = 51: cw=51: A C | cw=1: A B C.
        let d = weights(&[100, 50, 100]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 10), "ACABCACABC");
    }

    #[test]
    fn after_dest_goes_to_weight_zero() {
        let mut d = weights(&[4, 3, 2]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 4), "AABA");
        // Rebuilt on the weight change, as the control plane does: C never again.
        d[2].weight = 0;
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 14), "AABABABAABABAB");
        // Weight read live without a rebuild: C (weight 0) is still never picked.
        let mut s = WeightedRoundRobin::new(&weights(&[4, 3, 2]));
        assert_eq!(run(&mut s, &d, 7), "AABABAB");
    }

    #[test]
    fn overloaded_dests_are_skipped() {
        let mut d = weights(&[4, 3, 2]);
        d[0].overloaded = true;
        let mut s = WeightedRoundRobin::new(&d);
        // cw=4: nothing | cw=3: B | cw=2: B C | cw=1: B C.
        assert_eq!(run(&mut s, &d, 10), "BBCBCBBCBC");
        d.iter_mut().for_each(|c| c.overloaded = true);
        assert_eq!(run(&mut s, &d, 3), "---");
    }

    #[test]
    fn all_zero_weights() {
        let d = weights(&[0, 0]);
        let mut s = WeightedRoundRobin::new(&d);
        assert_eq!(run(&mut s, &d, 3), "---");
    }

    /// Line-by-line transcription of IPVS `ip_vs_wrr_schedule`, without the pass skipping.
    #[derive(Clone, Debug)]
    struct Reference {
        cl: Option<usize>,
        cw: i64,
        mw: i64,
        di: i64,
    }

    impl Reference {
        fn schedule(&mut self, dests: &[Candidate]) -> Option<usize> {
            let mut dest = self.cl;
            if self.mw == 0 {
                self.cl = dest;
                return None;
            }
            let last = dest;
            let (mut stop, mut last_pass, mut restarted) = (None, false, false);
            loop {
                let mut i = dest.map_or(0, |i| i + 1);
                while i < dests.len() {
                    dest = Some(i);
                    if !dests[i].overloaded && i64::from(dests[i].weight) >= self.cw {
                        self.cl = dest;
                        return dest;
                    }
                    if dest == stop {
                        self.cl = dest;
                        return None;
                    }
                    i += 1;
                }
                dest = None;
                self.cw -= self.di;
                if self.cw <= 0 {
                    self.cw = self.mw;
                    if last_pass || last.is_none() {
                        self.cl = dest;
                        return None;
                    }
                    restarted = true;
                }
                last_pass = self.cw <= self.di;
                if last_pass && restarted && last.is_some() {
                    stop = last;
                }
            }
        }
    }

    proptest! {
        /// Same picks and same state as the plain IPVS loop, through live weight and overload
        /// changes.
        #[test]
        fn matches_ipvs_transcription(
            built in prop::collection::vec(0u32..40, 0..6),
            steps in prop::collection::vec((any::<u8>(), any::<bool>(), 0u32..40, 1usize..6), 1..40),
        ) {
            let mut d = weights(&built);
            let mut fast = WeightedRoundRobin::new(&d);
            let mut slow = Reference { cl: fast.cl, cw: fast.cw, mw: fast.mw, di: fast.di };
            for (sel, flip, w, picks) in steps {
                if !d.is_empty() {
                    let i = usize::from(sel) % d.len();
                    if flip { d[i].overloaded = !d[i].overloaded } else { d[i].weight = w }
                }
                for _ in 0..picks {
                    let got = fast.schedule(&any_flow(), &d);
                    prop_assert_eq!(got, slow.schedule(&d));
                    prop_assert_eq!((fast.cl, fast.cw), (slow.cl, slow.cw));
                    if let Some(i) = got {
                        prop_assert!(d[i].is_available());
                    }
                }
            }
        }

        /// Over a whole cycle of mw/di passes each dest is picked weight/gcd times.
        #[test]
        fn picks_are_proportional(ws in prop::collection::vec(1u32..12, 1..6)) {
            let d = weights(&ws);
            let mut s = WeightedRoundRobin::new(&d);
            let g = i64::from(super::super::gcd_weight(&d));
            let total: i64 = ws.iter().map(|&w| i64::from(w) / g).sum();
            let mut counts = vec![0i64; ws.len()];
            for _ in 0..total * 3 {
                counts[s.schedule(&any_flow(), &d).unwrap()] += 1;
            }
            for (c, &w) in counts.iter().zip(&ws) {
                prop_assert_eq!(*c, 3 * i64::from(w) / g);
            }
        }
    }
}
