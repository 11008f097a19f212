//! Round robin (IPVS `ip_vs_rr.c`): the next available dest after the last one picked, wrapping
//! around; the last pick itself is tried last. Weights only gate availability.

use super::{Candidate, FlowHint, Scheduler};

#[derive(Clone, Debug, Default)]
pub(super) struct RoundRobin {
    /// Index of the last dest picked; None = start from the first dest.
    last: Option<usize>,
}

impl RoundRobin {
    pub(super) fn new() -> Self {
        RoundRobin::default()
    }
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        let n = dests.len();
        let start = match self.last {
            Some(l) if l < n => l + 1,
            _ => 0,
        };
        let pick = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| dests[i].is_available())?;
        self.last = Some(pick);
        Some(pick)
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }

    fn has_place(&self) -> bool {
        true
    }

    fn carry_place(&self, moved: &[Option<usize>]) -> Option<Box<dyn Scheduler>> {
        // The last pick, or the nearest server before it that stayed: the round goes on after
        // it, as IPVS's does after a removed server's predecessor.
        let last = self
            .last
            .and_then(|l| moved.get(..=l)?.iter().rev().find_map(|m| *m));
        Some(Box::new(RoundRobin { last }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{any_flow, make, weights};
    use super::super::{Candidate, SchedulerKind};

    fn run(s: &mut dyn super::Scheduler, d: &[Candidate], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| s.schedule(&any_flow(), d)).collect()
    }

    #[test]
    fn cycles_in_order_ignoring_weights() {
        let d = weights(&[5, 1, 3]);
        let mut s = make(SchedulerKind::Rr, &d);
        let got = run(s.as_mut(), &d, 7);
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0].map(Some));
    }

    #[test]
    fn skips_quiesced_and_overloaded_and_continues_from_last() {
        let mut d = weights(&[1, 1, 1, 1]);
        let mut s = make(SchedulerKind::Rr, &d);
        assert_eq!(run(s.as_mut(), &d, 2), [Some(0), Some(1)]);
        d[2].weight = 0; // quiesce C
        assert_eq!(run(s.as_mut(), &d, 4), [3, 0, 1, 3].map(Some));
        d[0].overloaded = true;
        assert_eq!(run(s.as_mut(), &d, 3), [1, 3, 1].map(Some));
        d[2].weight = 1;
        assert_eq!(run(s.as_mut(), &d, 3), [2, 3, 1].map(Some));
        // Only the last pick itself is left: it is chosen again.
        let only = [Candidate::with_weight(0), Candidate::with_weight(2)];
        assert_eq!(run(s.as_mut(), &only, 2), [Some(1), Some(1)]);
    }

    #[test]
    fn carries_its_place_across_its_own_server_changes() {
        let d = weights(&[1, 1, 1, 1]);
        let mut s = make(SchedulerKind::Rr, &d);
        assert_eq!(run(s.as_mut(), &d, 3), [0, 1, 2].map(Some));
        // A server added at the end: the round goes on from C.
        let five = weights(&[1, 1, 1, 1, 1]);
        let mut c = s
            .carry_place(&[Some(0), Some(1), Some(2), Some(3)])
            .unwrap();
        assert_eq!(run(c.as_mut(), &five, 3), [3, 4, 0].map(Some));
        // The last pick (A) leaves, and it was the first: the round restarts at the new first.
        let mut c = c
            .carry_place(&[None, Some(0), Some(1), Some(2), Some(3)])
            .unwrap();
        assert_eq!(run(c.as_mut(), &d, 2), [Some(0), Some(1)]);
        // The last pick (C of A B C D) leaves: D, now third, is next.
        let mut s = make(SchedulerKind::Rr, &d);
        assert_eq!(run(s.as_mut(), &d, 3), [0, 1, 2].map(Some));
        let mut c = s.carry_place(&[Some(0), Some(1), None, Some(2)]).unwrap();
        assert_eq!(run(c.as_mut(), &weights(&[1, 1, 1]), 2), [Some(2), Some(0)]);
        // Only rr carries a place.
        assert!(make(SchedulerKind::Wrr, &d)
            .carry_place(&[Some(0)])
            .is_none());
    }

    #[test]
    fn survives_a_shorter_dest_list() {
        let d = weights(&[1, 1, 1, 1]);
        let mut s = make(SchedulerKind::Rr, &d);
        assert_eq!(run(s.as_mut(), &d, 4), [0, 1, 2, 3].map(Some));
        let short = weights(&[1, 1]);
        assert_eq!(run(s.as_mut(), &short, 3), [0, 1, 0].map(Some));
    }
}
