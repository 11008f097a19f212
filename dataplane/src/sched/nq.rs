//! Never queue (IPVS `ip_vs_nq.c`): the first available dest with no active connection, if
//! any; otherwise as sed, the least `(active + 1) / weight`, first one wins ties.

use super::sed::sed_overhead;
use super::{weighted_less, Candidate, FlowHint, Scheduler};

#[derive(Clone, Copy, Debug)]
pub(super) struct NeverQueue;

impl Scheduler for NeverQueue {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        let mut least: Option<(usize, u64, u32)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() {
                continue;
            }
            if d.active_conns == 0 {
                return Some(i);
            }
            let doh = sed_overhead(d);
            match least {
                Some((_, loh, lw)) if !weighted_less(doh, d.weight, loh, lw) => {}
                _ => least = Some((i, doh, d.weight)),
            }
        }
        least.map(|(i, _, _)| i)
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
            // all idle: the first, whatever the weights (unlike sed)
            (&[(1, 0, 0, false), (5, 0, 0, false)], Some(0)),
            // an idle dest wins at once, even if sed prefers another
            (&[(100, 1, 0, false), (1, 0, 0, false)], Some(1)),
            // idle means no active; inactive ones do not count
            (&[(100, 1, 0, false), (1, 0, 500, false)], Some(1)),
            // nobody idle: as sed, 3/1 vs 5/2
            (&[(1, 2, 0, false), (2, 4, 0, false)], Some(1)),
            (&[(1, 2, 0, false), (2, 5, 0, false)], Some(0)),
            // idle but quiesced or overloaded: skipped
            (&[(0, 0, 0, false), (1, 0, 0, true), (3, 7, 0, false)], Some(2)),
            (&[(0, 0, 0, false), (1, 0, 0, true)], None),
        ];
        check_choices(SchedulerKind::Nq, cases);
    }
}
