//! Weighted least connections (IPVS `ip_vs_wlc.c`): the available dest with the least
//! `overhead / weight`, overhead = `active * 256 + inactive`, compared by cross-multiplying;
//! the first one in dest order wins ties.

use super::lc::conn_overhead;
use super::{least_weighted_cost, Candidate, FlowHint, Scheduler};

#[derive(Clone, Copy, Debug)]
pub(super) struct WeightedLeastConn;

impl Scheduler for WeightedLeastConn {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        least_weighted_cost(dests, conn_overhead)
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
            // all idle: first available
            (&[(1, 0, 0, false), (5, 0, 0, false)], Some(0)),
            // 256*2/1 = 512 vs 256*3/2 = 384
            (&[(1, 2, 0, false), (2, 3, 0, false)], Some(1)),
            // 256*2/1 = 512 vs 256*4/2 = 512: tie, first wins
            (&[(1, 2, 0, false), (2, 4, 0, false)], Some(0)),
            // 256/1 = 256 vs (256*2+1)/2 = 256.5
            (&[(1, 1, 0, false), (2, 2, 1, false)], Some(0)),
            // inactive count decides between equal actives
            (&[(3, 3, 7, false), (3, 3, 6, false), (3, 3, 8, false)], Some(1)),
            // heavier weight takes more load before losing
            (&[(1, 1, 0, false), (4, 3, 0, false)], Some(1)),
            (&[(1, 1, 0, false), (4, 4, 1, false)], Some(0)),
            // quiesced (idle) and overloaded (idle) never win
            (&[(0, 0, 0, false), (1, 0, 0, true), (1, 100, 0, false)], Some(2)),
            (&[(0, 0, 0, false), (2, 0, 0, true)], None),
            // large values do not wrap
            (&[(u32::MAX, u32::MAX, 0, false), (1, 1, 0, false)], Some(0)),
            (&[(u32::MAX - 1, u32::MAX, 0, false), (1, 1, 0, false)], Some(1)),
        ];
        check_choices(SchedulerKind::Wlc, cases);
    }
}
