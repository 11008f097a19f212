//! Least connections (IPVS `ip_vs_lc.c`): the available dest with the least overhead
//! `active * 256 + inactive`; the first one in dest order wins ties. Weights only gate
//! availability.

use super::{Candidate, FlowHint, Scheduler};

/// IPVS `ip_vs_dest_conn_overhead`: active connections weigh 256 times inactive ones.
#[inline]
pub(super) fn conn_overhead(d: &Candidate) -> u64 {
    (u64::from(d.active_conns) << 8) + u64::from(d.inactive_conns)
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LeastConn;

impl Scheduler for LeastConn {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn schedule(&mut self, _flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, d) in dests.iter().enumerate() {
            if !d.is_available() {
                continue;
            }
            let doh = conn_overhead(d);
            match least {
                Some((_, loh)) if doh >= loh => {}
                _ => least = Some((i, doh)),
            }
        }
        least.map(|(i, _)| i)
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(*self)
    }
}

/// One dest of a choice table: (weight, active, inactive, overloaded).
#[cfg(test)]
pub(super) type Row = (u32, u32, u32, bool);

/// Checks `kind` against a table of (dests, expected pick), for lc, wlc, sed and nq.
#[cfg(test)]
pub(super) fn check_choices(kind: super::SchedulerKind, cases: &[(&[Row], Option<usize>)]) {
    for (rows, want) in cases {
        let d: Vec<Candidate> = rows
            .iter()
            .map(
                |&(weight, active_conns, inactive_conns, overloaded)| Candidate {
                    weight,
                    active_conns,
                    inactive_conns,
                    overloaded,
                },
            )
            .collect();
        let mut s = super::tests::make(kind, &d);
        assert_eq!(
            s.schedule(&super::tests::any_flow(), &d),
            *want,
            "{kind} {rows:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::SchedulerKind;
    use super::{check_choices, Row};

    #[test]
    fn choice_table() {
        #[rustfmt::skip]
        let cases: &[(&[Row], Option<usize>)] = &[
            // (weight, active, inactive, overloaded) per dest -> expected pick
            (&[(1, 3, 0, false), (1, 2, 0, false), (1, 4, 0, false)], Some(1)),
            // tie: first wins
            (&[(1, 2, 5, false), (1, 2, 5, false)], Some(0)),
            // one active outweighs 255 inactive
            (&[(1, 1, 0, false), (1, 0, 255, false)], Some(1)),
            (&[(1, 1, 0, false), (1, 0, 256, false)], Some(0)),
            (&[(1, 1, 0, false), (1, 0, 257, false)], Some(0)),
            // weights do not matter beyond zero
            (&[(100, 5, 0, false), (1, 4, 0, false)], Some(1)),
            // quiesced and overloaded are skipped even when idle
            (&[(0, 0, 0, false), (1, 0, 0, true), (1, 9, 9, false)], Some(2)),
            (&[(0, 0, 0, false), (1, 0, 0, true)], None),
            // no overflow at the top of the range
            (&[(1, u32::MAX, u32::MAX, false), (1, u32::MAX, u32::MAX - 1, false)], Some(1)),
        ];
        check_choices(SchedulerKind::Lc, cases);
    }
}
