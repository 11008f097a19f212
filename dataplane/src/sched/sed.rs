//! Shortest expected delay (IPVS `ip_vs_sed.c`): the available dest with the least
//! `(active + 1) / weight`, compared by cross-multiplying; the first one in dest order wins
//! ties. Inactive connections do not count.

use super::{least_weighted_cost, Candidate, FlowHint, Scheduler};

/// IPVS `ip_vs_sed_dest_overhead` (also nq's): the queue a new flow would join.
#[inline]
pub(super) fn sed_overhead(d: &Candidate) -> u64 {
    u64::from(d.active_conns) + 1
}

#[derive(Clone, Copy, Debug)]
pub(super) struct ShortestExpectedDelay;

impl Scheduler for ShortestExpectedDelay {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        least_weighted_cost(dests, sed_overhead)
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lc::{check_choices, Row};
    use super::super::SchedulerKind;

    #[test]
    fn choice_table() {
        #[rustfmt::skip]
        let cases: &[(&[Row], Option<usize>)] = &[
            // (weight, active, inactive, overloaded) per dest -> expected pick
            // all idle: 1/1 vs 1/5: the heavier one (unlike nq)
            (&[(1, 0, 0, false), (5, 0, 0, false)], Some(1)),
            // 3/1 vs 5/2 = 2.5
            (&[(1, 2, 0, false), (2, 4, 0, false)], Some(1)),
            // 3/1 vs 6/2 = 3: tie, first wins
            (&[(1, 2, 0, false), (2, 5, 0, false)], Some(0)),
            // inactive connections are ignored
            (&[(1, 1, 1000, false), (1, 2, 0, false)], Some(0)),
            // quiesced and overloaded never win
            (&[(0, 0, 0, false), (9, 0, 0, true), (1, 50, 0, false)], Some(2)),
            (&[(0, 0, 0, false), (1, 0, 0, true)], None),
            // active == u32::MAX: +1 does not wrap
            (&[(1, u32::MAX, 0, false), (1, u32::MAX - 1, 0, false)], Some(1)),
        ];
        check_choices(SchedulerKind::Sed, cases);
    }
}
