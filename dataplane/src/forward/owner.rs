//! Flow ownership between workers: which worker holds a flow's session, and how a frame that
//! reached another worker gets there. The DPDK layer spreads frames by RSS (or rte_flow); where
//! that is not enough, a worker redirects the frame to the owner through its redirect ring.
//!
//! - DR and TUN: whoever receives the client's packets owns the session (no replies return).
//! - FULLNAT: the worker that created the session picked the local port from its own slice
//!   ([`local_port_owner`]), so a reply that misses on another worker goes to the port's owner.
//! - NAT: both directions carry the client's address and port, so both are owned by
//!   [`client_owner`]; persistence owns by the client network ([`FlowOwner::ClientNet`]), so
//!   that a template and every connection it places are on one worker.
//!
//! Which [`FlowOwner`] each service has is decided when the table is compiled
//! (`Snapshot::build`); [`Owners`] applies it to packets. A frame makes at most two hops
//! (receiver -> owner -> fallback), counted in its [`Arrival`], which travels with it to the
//! next worker (`Mbuf::set_arrival`).

use crate::conn::{Addr, FlowKey};
use crate::snapshot::{FlowOwner, Snapshot};
use crate::verdict::{DropReason, Verdict};
use std::sync::Arc;

/// How a frame reached the worker deciding it: the interface it came in on, and how often other
/// workers handed it over (0: received from the NIC; at most [`Arrival::MAX_HOPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    in_if: u16,
    hops: u8,
}

impl Arrival {
    /// The most hops a frame makes.
    pub const MAX_HOPS: u8 = 2;

    /// A frame received on interface `in_if` that workers handed over `hops` times (capped at
    /// [`MAX_HOPS`](Self::MAX_HOPS)).
    #[inline]
    pub const fn new(in_if: u16, hops: u8) -> Arrival {
        let hops = if hops > Self::MAX_HOPS {
            Self::MAX_HOPS
        } else {
            hops
        };
        Arrival { in_if, hops }
    }

    /// A frame received from the NIC on interface `in_if`.
    #[inline]
    pub const fn received(in_if: u16) -> Arrival {
        Arrival { in_if, hops: 0 }
    }

    /// The interface the frame came in on (at the first worker).
    #[inline]
    pub const fn in_if(self) -> u16 {
        self.in_if
    }

    /// How often other workers handed the frame over.
    #[inline]
    pub const fn hops(self) -> u8 {
        self.hops
    }

    /// The frame's arrival at the worker this one redirects it to.
    #[inline]
    pub const fn handed_on(self) -> Arrival {
        Arrival::new(self.in_if, self.hops + 1)
    }
}

/// The worker that owns a NAT flow: both directions carry the client's address and port, so
/// every worker computes the same owner from either one (no rte_flow needed).
#[inline]
pub fn client_owner(client: &Addr, client_port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let a = u32::from_be_bytes([client.0[12], client.0[13], client.0[14], client.0[15]]);
    let h = (u64::from(a) << 16 | u64::from(client_port)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % u64::from(workers)) as u16
}

/// What names an IPv4 datagram sent in fragments: every fragment carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragKey {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub protocol: u8,
    pub ident: u16,
}

/// The worker that reassembles the datagram `key` names: fragments reach workers as RSS or a
/// driver's fanout spreads them, and must meet on one; every worker computes the same owner
/// from any fragment, as [`client_owner`] does for a NAT flow.
#[inline]
pub fn fragment_owner(key: &FragKey, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let addrs =
        u64::from(u32::from_be_bytes(key.src)) << 32 | u64::from(u32::from_be_bytes(key.dst));
    // The ident and protocol in the low bits, which the multiplication spreads upwards.
    let rest = u64::from(key.protocol) << 16 | u64::from(key.ident);
    let h = (addrs.rotate_left(24) ^ rest).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % u64::from(workers)) as u16
}

/// The worker that owns FULLNAT local port `lport`: worker w owns the ports p with
/// `p % workers == w`, so the owner of a reply is computable from its destination port alone.
#[inline]
pub fn local_port_owner(lport: u16, workers: u16) -> u16 {
    lport % workers.max(1)
}

/// The worker whose table a synced connection goes into, by `table`: a FULLNAT one on its local
/// port's owner; one of a service owned by client port or network on that owner; otherwise (DR
/// and TUN, owned by whichever worker receives them) on its client's NAT owner, where the
/// receiver of a packet that finds no session passes it on.
pub fn synced_owner(table: &Snapshot, conn: &crate::sync::SyncConn, workers: u16) -> u16 {
    if let Some((_, lport)) = conn.local {
        return local_port_owner(lport, workers);
    }
    let owner = table
        .find_service(conn.protocol, &conn.vaddr, conn.vport)
        .and_then(|s| table.services.get(s as usize))
        .map_or(FlowOwner::Receiver, |s| s.owner);
    match owner {
        FlowOwner::ClientNet(prefix) => client_owner(&client_net(&conn.caddr, prefix), 0, workers),
        FlowOwner::ClientPort | FlowOwner::Receiver => {
            client_owner(&conn.caddr, conn.cport, workers)
        }
    }
}

/// Masks an IPv4 client address to a persistence prefix (ipvsadm -M): its client network.
#[inline]
pub fn client_net(addr: &Addr, prefix: u8) -> Addr {
    match addr.to_v4() {
        Some(o) => {
            let bits = u32::from_be_bytes(o)
                & u32::MAX
                    .checked_shl(32 - u32::from(prefix.min(32)))
                    .unwrap_or(0);
            Addr::v4(bits.to_be_bytes())
        }
        None => *addr,
    }
}

/// One worker's part in the ownership rules: its index among `workers`, and the last table
/// whose flow owners differ from a later one's (sessions it placed may still be on the owners
/// it named: the fallback of [`pass_on`](Self::pass_on)).
pub struct Owners {
    worker: u16,
    workers: u16,
    former: Option<Arc<Snapshot>>,
}

impl Owners {
    pub fn new(worker: u16, workers: u16) -> Owners {
        Owners {
            worker,
            workers: workers.max(1),
            former: None,
        }
    }

    /// Notes that `next` replaces `current` (between bursts).
    pub fn replace_table(&mut self, current: &Arc<Snapshot>, next: &Snapshot) {
        if !current.same_flow_owners(next) {
            self.former = Some(current.clone());
        }
    }

    /// The worker whose table would hold the session of a packet with `key` by `table` (the
    /// current one), where else it may be (by the former table), and why this worker drops it if
    /// neither is another worker: FULLNAT replies by their local port (`no_session`); a client's
    /// packet to a VIP without the service by its NAT owner (`no_service`); a NAT server's
    /// reply as its server's services own their clients (`not_for_us`).
    pub fn session_owner(&self, table: &Snapshot, key: &FlowKey) -> (u16, Option<u16>, DropReason) {
        if table.is_laddr(&key.dst) {
            (
                local_port_owner(key.dst_port, self.workers),
                None,
                DropReason::NoSession,
            )
        } else if table.is_vip(&key.dst) {
            (
                self.nat_owner(key),
                Some(self.client_fallback(key)),
                DropReason::NoService,
            )
        } else {
            let by = |table: &Snapshot| {
                self.client_flow_owner(table.nat_reply_owner(&key.src), &key.dst, key.dst_port)
            };
            (
                by(table).unwrap_or(self.worker),
                self.former.as_deref().and_then(by),
                DropReason::NotForUs,
            )
        }
    }

    /// The NAT owner of a client's packet.
    #[inline]
    fn nat_owner(&self, key: &FlowKey) -> u16 {
        client_owner(&key.src, key.src_port, self.workers)
    }

    /// Where a client's flow to a VIP may have its session when its owner has none: at its
    /// owner by the former table, else at its NAT owner (a service that has lost its NAT
    /// servers, or the VIP its service).
    fn client_fallback(&self, key: &FlowKey) -> u16 {
        self.former
            .as_ref()
            .and_then(|former| {
                let svc = former.find_service(key.protocol, &key.dst, key.dst_port)?;
                let owner = former.services.get(svc as usize)?.owner;
                self.client_flow_owner(owner, &key.src, key.src_port)
            })
            .unwrap_or_else(|| self.nat_owner(key))
    }

    /// The worker that holds the sessions of `client`'s flows to a service owned by `owner`;
    /// None if that is whichever worker receives them.
    #[inline]
    fn client_flow_owner(&self, owner: FlowOwner, client: &Addr, client_port: u16) -> Option<u16> {
        match owner {
            FlowOwner::Receiver => None,
            FlowOwner::ClientPort => Some(client_owner(client, client_port, self.workers)),
            FlowOwner::ClientNet(prefix) => {
                Some(client_owner(&client_net(client, prefix), 0, self.workers))
            }
        }
    }

    /// Where a client's new flow to service `owner` is decided: `Ok(owner)`, the worker that
    /// holds its session (this one, or another when this one was handed the frame: a worker
    /// whose table differs decides it), or the redirect to it. A NAT session lives on its
    /// owner, where the server's replies are steered, and a persistent one where its client
    /// network's template is: every packet of the flow goes there, the SYN and all that follow.
    #[inline]
    pub fn new_flow_owner(
        &self,
        owner: FlowOwner,
        key: &FlowKey,
        arrival: Arrival,
    ) -> Result<u16, Verdict> {
        let owner = self
            .client_flow_owner(owner, &key.src, key.src_port)
            .unwrap_or(self.worker);
        if owner != self.worker && arrival.hops() == 0 {
            return Err(Verdict::Redirect(owner));
        }
        Ok(owner)
    }

    /// A client's packet to service flows owned by `owner` that this worker cannot start a
    /// session for (`reason`): [`pass_on`](Self::pass_on) with the client's fallback.
    #[inline]
    pub fn pass_on_client(
        &self,
        arrival: Arrival,
        owner: u16,
        key: &FlowKey,
        reason: DropReason,
    ) -> Verdict {
        self.pass_on(arrival, owner, Some(self.client_fallback(key)), reason)
    }

    /// A packet this worker has no session for and cannot start one for (`reason`). With
    /// several workers its session may live on its `owner` (a reply steered elsewhere, a
    /// client's packet RSS gave this worker): it goes there, once. The owner passes one it
    /// cannot decide either to `fallback` (where an earlier table placed its session), once.
    /// A worker handed a packet it does not own, or handed it twice, decides it: a packet makes
    /// at most two hops, however the workers' tables differ while changes install (the fallback
    /// of an owner by one table may be the owner by another, whose fallback is the first), and
    /// only packets dropped otherwise pay for them.
    pub fn pass_on(
        &self,
        arrival: Arrival,
        owner: u16,
        fallback: Option<u16>,
        reason: DropReason,
    ) -> Verdict {
        let hops = arrival.hops();
        match fallback {
            _ if owner != self.worker && hops == 0 => Verdict::Redirect(owner),
            Some(f) if owner == self.worker && f != self.worker && hops < Arrival::MAX_HOPS => {
                Verdict::Redirect(f)
            }
            _ => Verdict::Drop(reason),
        }
    }

    /// A fragment of a service's datagram `key`: reassembled on the datagram's owner. One
    /// received elsewhere goes there, once; one handed over is kept (the owner by the hash is
    /// the same on every worker, so it is this one).
    #[inline]
    pub fn fragment(&self, key: &FragKey, arrival: Arrival) -> Verdict {
        let owner = fragment_owner(key, self.workers);
        if owner != self.worker && arrival.hops() == 0 {
            Verdict::Redirect(owner)
        } else {
            Verdict::Reassemble
        }
    }

    /// A packet with `key` that matches no session and no service in `table`: another
    /// worker's, or not ours. One to an address of the box is dropped as `no_service`.
    pub fn miss(&self, table: &Snapshot, key: &FlowKey, arrival: Arrival) -> Verdict {
        let (owner, fallback, reason) = self.session_owner(table, key);
        if reason == DropReason::NotForUs
            && (0..table.interfaces.len() as u16).any(|i| table.is_local(i, &key.dst))
        {
            return Verdict::Drop(DropReason::NoService);
        }
        self.pass_on(arrival, owner, fallback, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_owner_is_stable_and_spreads() {
        let mut per = [0u32; 4];
        for i in 0..4000u16 {
            let o = client_owner(&Addr::v4([10, 0, (i >> 8) as u8, i as u8]), 1024 + i, 4);
            assert_eq!(
                o,
                client_owner(&Addr::v4([10, 0, (i >> 8) as u8, i as u8]), 1024 + i, 4)
            );
            per[usize::from(o)] += 1;
        }
        assert!(per.iter().all(|&n| (800..1200).contains(&n)), "{per:?}");
        assert_eq!(client_owner(&Addr::v4([1, 2, 3, 4]), 5, 1), 0);
    }

    #[test]
    fn a_frame_goes_to_its_owner_then_its_fallback_then_nowhere() {
        let me = Owners::new(0, 2);
        let reason = DropReason::NoSession;
        let at = |hops| Arrival::new(0, hops);
        // Another worker's: handed there once, by the worker that received it only.
        assert_eq!(me.pass_on(at(0), 1, Some(0), reason), Verdict::Redirect(1));
        assert_eq!(me.pass_on(at(1), 1, Some(0), reason), Verdict::Drop(reason));
        // Ours, but placed elsewhere by an earlier table: on to the fallback, unless handed twice.
        assert_eq!(me.pass_on(at(0), 0, Some(1), reason), Verdict::Redirect(1));
        assert_eq!(me.pass_on(at(1), 0, Some(1), reason), Verdict::Redirect(1));
        assert_eq!(me.pass_on(at(2), 0, Some(1), reason), Verdict::Drop(reason));
        // Ours with no fallback elsewhere: decided here.
        assert_eq!(me.pass_on(at(0), 0, Some(0), reason), Verdict::Drop(reason));
        assert_eq!(me.pass_on(at(0), 0, None, reason), Verdict::Drop(reason));
    }

    #[test]
    fn fragments_of_a_datagram_meet_on_one_worker() {
        let key = |ident| FragKey {
            src: [192, 0, 2, 10],
            dst: [10, 0, 0, 100],
            protocol: 17,
            ident,
        };
        let owners: Vec<u16> = (0..64).map(|i| fragment_owner(&key(i), 4)).collect();
        assert!((0..4).all(|w| owners.contains(&w)), "spread: {owners:?}");
        let k = key(7);
        let owner = fragment_owner(&k, 4);
        for w in 0..4 {
            let here = Owners::new(w, 4);
            let first = here.fragment(&k, Arrival::received(0));
            if w == owner {
                assert_eq!(first, Verdict::Reassemble);
            } else {
                assert_eq!(first, Verdict::Redirect(owner));
            }
            let handed = here.fragment(&k, Arrival::received(0).handed_on());
            assert_eq!(handed, Verdict::Reassemble);
        }
        assert_eq!(fragment_owner(&k, 1), 0);
    }

    #[test]
    fn an_arrival_counts_at_most_two_hops() {
        let a = Arrival::received(3);
        assert_eq!((a.in_if(), a.hops()), (3, 0));
        assert_eq!(a.handed_on(), Arrival::new(3, 1));
        assert_eq!(a.handed_on().handed_on().handed_on(), Arrival::new(3, 2));
        assert_eq!(Arrival::new(1, 9).hops(), Arrival::MAX_HOPS);
    }
}
