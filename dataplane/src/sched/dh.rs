//! Destination hashing (IPVS `ip_vs_dh.c`): the flow's destination address hashes to one of 256
//! buckets dealt out one per dest per round. As in IPVS, weights do not shape the table; a
//! quiesced or overloaded bucket owner means no dest (IPVS dh has no fallback).

use super::bucket::{bucket_hash, BucketTable};
use super::hash::addr_fold;
use super::{Candidate, FlowHint, Scheduler};

#[derive(Clone, Debug)]
pub(super) struct DestHash {
    table: BucketTable,
}

impl DestHash {
    pub(super) fn new(dests: &[Candidate]) -> Self {
        DestHash {
            table: BucketTable::new(dests, false),
        }
    }
}

impl Scheduler for DestHash {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn schedule(&mut self, flow: &FlowHint, dests: &[Candidate]) -> Option<usize> {
        self.table.get(bucket_hash(addr_fold(&flow.dst), 0), dests)
    }

    fn box_clone(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{any_flow, make, weights};
    use super::super::SchedulerKind;
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn to(dst: IpAddr, src_last: u8) -> FlowHint {
        FlowHint {
            src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, src_last)),
            dst,
            src_port: 1000 + u16::from(src_last),
            dst_port: 80,
            protocol: 17,
        }
    }

    #[test]
    fn known_buckets() {
        // 3 dests, one bucket each per round: bucket b -> dest b % 3.
        // hash_32(192.168.1.10, 8) = 248 -> 248 % 3 = 2; 10.1.2.3 -> 2 -> 2;
        // 2001:db8::5 -> 198 -> 0.
        let d = weights(&[5, 1, 1]);
        let mut s = make(SchedulerKind::Dh, &d);
        for (dst, want) in [("192.168.1.10", 2), ("10.1.2.3", 2), ("2001:db8::5", 0)] {
            assert_eq!(
                s.schedule(&to(dst.parse().unwrap(), 1), &d),
                Some(want),
                "{dst}"
            );
        }
    }

    #[test]
    fn hashes_destination_only() {
        let d = weights(&[1, 1, 1, 1, 1]);
        let mut s = make(SchedulerKind::Dh, &d);
        let mut seen = [false; 5];
        for i in 0..500u32 {
            let dst = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i * 13));
            let want = s.schedule(&to(dst, 0), &d).unwrap();
            seen[want] = true;
            for src_last in 1..4 {
                assert_eq!(s.schedule(&to(dst, src_last), &d), Some(want));
            }
        }
        assert!(seen.iter().all(|&x| x), "{seen:?}");
        assert_eq!(s.schedule(&any_flow(), &[]), None);
    }

    #[test]
    fn unavailable_owner_gives_none() {
        let mut d = weights(&[1, 1, 1]);
        let mut s = make(SchedulerKind::Dh, &d);
        let f = to("192.168.1.10".parse().unwrap(), 0); // bucket 248 -> dest 2
        assert_eq!(s.schedule(&f, &d), Some(2));
        d[2].weight = 0;
        assert_eq!(s.schedule(&f, &d), None);
        d[2].weight = 1;
        d[2].overloaded = true;
        assert_eq!(s.schedule(&f, &d), None);
    }
}
