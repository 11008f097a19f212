//! The exception path's decision: a frame the classifier dropped because rvs does not handle
//! it, and that is for the box itself, goes to the kernel interface of the port it came in on
//! instead (through the control ring, as [`Verdict::Local`](crate::verdict::Verdict::Local)).
//! Only dropped frames are judged, after the verdict: an established flow's path is untouched.
//!
//! For the box: unicast to an address of the input port (TCP/UDP to ports that are not
//! services, protocols rvs does not balance such as VRRP or OSPF, ICMP errors and echo replies
//! for the kernel's own traffic), and broadcast or IPv4 multicast (224.0.0.0/4). Each port's
//! rate is shared among the workers (rounded up), one token bucket per port and worker. ARP
//! requests for a port's own addresses take the same path, before rvs would answer them
//! ([`Forwarder::arp_for_kernel`]).

use super::Forwarder;
use crate::conn::Addr;
use crate::verdict::DropReason;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{arp, ipv4};

/// The drops that may be the kernel's frames.
const KERNEL_REASONS: [DropReason; 4] = [
    DropReason::NoService,
    DropReason::NotForUs,
    DropReason::UnsupportedProtocol,
    DropReason::IcmpUnrelated,
];

/// One port's share of its exception rate on one worker.
#[derive(Debug, Clone, Default)]
struct Bucket {
    per_sec: u32,
    tokens: u32,
    stamp_ms: u64,
}

impl Bucket {
    fn allow(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.stamp_ms);
        if elapsed > 0 {
            let refill = elapsed.saturating_mul(u64::from(self.per_sec)) / 1000;
            if refill > 0 {
                // A burst of a tenth of a second at most.
                let cap = (self.per_sec / 10).max(1);
                self.tokens = (u64::from(self.tokens) + refill).min(u64::from(cap)) as u32;
                self.stamp_ms = now_ms;
            }
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The exception path's limits of one worker, by interface number.
#[derive(Debug, Clone, Default)]
pub struct Limits(Vec<Bucket>);

impl Limits {
    /// `rates[i]`: frames per second interface `i`'s kernel interface takes (0: it has none),
    /// shared among `workers`.
    pub fn new(rates: &[u32], workers: u16) -> Limits {
        let share = |r: u32| r.div_ceil(u32::from(workers.max(1)));
        Limits(
            rates
                .iter()
                .map(|&r| Bucket {
                    per_sec: share(r),
                    tokens: (share(r) / 10).max(u32::from(r > 0)),
                    stamp_ms: 0,
                })
                .collect(),
        )
    }
}

impl Forwarder {
    /// Whether `frame`, received on interface `in_if` and dropped for `reason`, goes to the
    /// kernel interface instead. If so it counts as handed to the control plane, not as that
    /// drop; one over the port's rate is dropped as `exception_limit` instead of `reason`.
    #[cold]
    #[inline(never)]
    pub fn for_kernel(&mut self, frame: &[u8], in_if: u16, reason: DropReason, now: u64) -> bool {
        if !KERNEL_REASONS.contains(&reason) || !self.is_for_box(frame, in_if) {
            return false;
        }
        let Some(bucket) = self.exception.0.get_mut(usize::from(in_if)) else {
            return false;
        };
        if bucket.per_sec == 0 {
            return false;
        }
        if bucket.allow(now) {
            self.stats.drops.uncount(reason);
            self.stats.local += 1;
            return true;
        }
        self.stats.drops.uncount(reason);
        self.stats.drops.count(DropReason::ExceptionLimit);
        false
    }

    /// Whether an ARP request received on port `in_if` for one of the port's own addresses goes
    /// to the control plane, which answers it and hands it on to the kernel interface (so the
    /// kernel learns the asker, as from a request it answered). Over the port's exception rate,
    /// and on a port without a kernel interface, the worker answers it itself.
    #[cold]
    #[inline(never)]
    pub(super) fn arp_for_kernel(&mut self, frame: &[u8], l2: usize, in_if: u16, now: u64) -> bool {
        let Some(Ok(request)) = frame
            .get(l2..)
            .map(|a| arp::Packet::new_checked(a).and_then(|p| arp::Repr::parse(&p)))
        else {
            return false;
        };
        let target = request.target_proto_addr;
        let untagged = l2 == ethernet::HEADER_LEN;
        untagged
            && request.operation == arp::Operation::Request
            && request.sender_proto_addr != target
            && self.snapshot.is_local(in_if, &Addr::v4(target.octets()))
            && self
                .exception
                .0
                .get_mut(usize::from(in_if))
                .is_some_and(|b| b.per_sec > 0 && b.allow(now))
    }

    /// An untagged IPv4 frame to an address of port `in_if`, to a broadcast (Ethernet or IP) or
    /// to a multicast group.
    fn is_for_box(&self, frame: &[u8], in_if: u16) -> bool {
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return false;
        };
        if eth.vlan_tci().is_some() || eth.ethertype() != ethertype::IPV4 {
            return false;
        }
        let Ok(ip) = ipv4::Packet::new_checked(&frame[eth.header_len()..]) else {
            return false;
        };
        let dst = ip.dst_addr();
        dst.is_multicast()
            || dst.is_broadcast()
            || eth.dst_addr().is_broadcast()
            || self.snapshot.is_local(in_if, &Addr::v4(dst.octets()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_bursts_a_tenth_of_a_second() {
        let mut b = Limits::new(&[2000], 2).0.remove(0);
        assert_eq!(b.per_sec, 1000);
        let burst = (0..1000).take_while(|_| b.allow(0)).count();
        assert_eq!(burst, 100);
        assert!(!b.allow(0));
        assert_eq!((0..1000).take_while(|_| b.allow(10)).count(), 10);
        assert_eq!((0..1000).take_while(|_| b.allow(10_000)).count(), 100);
    }
}
