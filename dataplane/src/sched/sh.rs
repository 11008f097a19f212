//! Source hashing (IPVS `ip_vs_sh.c`): the flow's source address (plus its source port with
//! `sh-port`) hashes to one of 256 buckets dealt out by weight (see `bucket`). If that bucket's
//! dest is quiesced or overloaded the flow gets no dest (IPVS default); with `sh-fallback`
//! further buckets are probed as IPVS does.

use super::bucket::BucketTable;
use super::hash::addr_fold;
use super::{Candidate, FlowHint, SchedParams, Scheduler};

#[derive(Clone, Debug)]
pub(super) struct SourceHash {
    table: BucketTable,
    port: bool,
    fallback: bool,
}

impl SourceHash {
    pub(super) fn new(params: &SchedParams, dests: &[Candidate]) -> Self {
        SourceHash {
            table: BucketTable::new(dests, true),
            port: params.sh_port,
            fallback: params.sh_fallback,
        }
    }
}

impl Scheduler for SourceHash {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn schedule(&mut self, flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        let port = if self.port { flow.src_port } else { 0 };
        let key = addr_fold(&flow.src).wrapping_add(u32::from(port));
        if self.fallback {
            self.table.get_fallback(key, dests)
        } else {
            self.table.get(super::bucket::bucket_hash(key, 0), dests)
        }
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{flow_from, ids, weights};
    use super::super::{build, SchedParams, SchedulerKind};
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn sh(params: SchedParams, d: &[Candidate]) -> Box<dyn Scheduler> {
        build(SchedulerKind::Sh, &params, d, &ids(d.len())).unwrap()
    }

    fn src(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xc633_0000 + i)) // 198.51.0.0 + i
    }

    #[test]
    fn known_buckets() {
        // hash_32(192.168.1.10, 8) = 248; weights 3,2,1 deal bucket 248 (= 41*6 + 2) to A,
        // 249 (41*6 + 3) to B. hash_32(192.168.1.10 + 1234, 8) = 81 = 13*6 + 3 -> B.
        let d = weights(&[3, 2, 1]);
        let a: IpAddr = "192.168.1.10".parse().unwrap();
        let mut s = sh(SchedParams::default(), &d);
        assert_eq!(s.schedule(&flow_from(a, 1234), &d), Some(0));
        assert_eq!(s.schedule(&flow_from(a, 9), &d), Some(0)); // port ignored by default
        let mut s = sh(
            SchedParams {
                sh_port: true,
                ..SchedParams::default()
            },
            &d,
        );
        assert_eq!(s.schedule(&flow_from(a, 1234), &d), Some(1));
        // 10.1.2.3 -> bucket 2 -> A.
        let b: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(s.schedule(&flow_from(b, 0), &d), Some(0));
    }

    #[test]
    fn deterministic_across_instances_and_ports() {
        let d = weights(&[1, 2, 3, 4]);
        let mut a = sh(SchedParams::default(), &d);
        let mut b = a.clone();
        let mut c = sh(SchedParams::default(), &d);
        for i in 0..2000 {
            let want = a.schedule(&flow_from(src(i), 1), &d);
            assert!(want.is_some());
            assert_eq!(b.schedule(&flow_from(src(i), 2), &d), want);
            assert_eq!(c.schedule(&flow_from(src(i), i as u16), &d), want);
        }
    }

    #[test]
    fn sources_spread_by_weight() {
        // Weights 1,2,3,4 own 26,52,78,100 of 256 buckets (rounds of 10: 25 full rounds, then
        // A B B C C C); many scattered sources should split in about those shares.
        let d = weights(&[1, 2, 3, 4]);
        let mut s = sh(SchedParams::default(), &d);
        let mut counts = [0u32; 4];
        for i in 0..100_000 {
            counts[s.schedule(&flow_from(src(i * 7919), 0), &d).unwrap()] += 1;
        }
        for (c, owned) in counts.iter().zip([26, 52, 78, 100]) {
            let share = f64::from(*c) / 100_000.0;
            assert!(
                (share - f64::from(owned) / 256.0).abs() < 0.01,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn unavailable_bucket_gives_none_without_fallback() {
        let mut d = weights(&[1, 1]);
        let mut s = sh(SchedParams::default(), &d);
        let mut fb = sh(
            SchedParams {
                sh_fallback: true,
                ..SchedParams::default()
            },
            &d,
        );
        // Find a source that lands on dest 1.
        let f = (0..)
            .map(|i| flow_from(src(i), 0))
            .find(|f| s.schedule(f, &d) == Some(1))
            .unwrap();
        d[1].overloaded = true;
        assert_eq!(s.schedule(&f, &d), None);
        assert_eq!(fb.schedule(&f, &d), Some(0));
        d[1].overloaded = false;
        d[1].weight = 0; // quiesced at runtime
        assert_eq!(s.schedule(&f, &d), None);
        assert_eq!(fb.schedule(&f, &d), Some(0));
        d[1].weight = 1;
        assert_eq!(s.schedule(&f, &d), Some(1));
        assert_eq!(fb.schedule(&f, &d), Some(1));
    }
}
