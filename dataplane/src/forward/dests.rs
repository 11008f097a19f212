//! A worker's per-real-server state, indexed by the slot of the server's id
//! ([`snapshot::dest_slot`]): where the server sits in the current snapshot and its current
//! next hop, and its traffic (ipvsadm --stats). A packet counts with one indexed load; installing a snapshot costs
//! O(servers of the old and new snapshots), whatever ids were handed out before, and the arrays
//! grow only to the highest slot (the control plane reuses slots, see [`DestConfig::id`]).
//!
//! Every entry records the full id of the server it describes. A session keeps the id it was
//! created with. Once its server is gone, the session's end changes no server's connection
//! counts, and its packets count for nobody listed: in the server's old entry until the slot
//! has a new server (a server back in the table starts from zero), then nowhere.
//!
//! [`DestConfig::id`]: crate::snapshot::DestConfig::id

use super::DestStats;
use crate::snapshot::{dest_slot, Snapshot};
use crate::wire::ethernet::MacAddr;

/// Where a real server sits in the current snapshot, and its next hop: the table's, or while
/// the table has none (unresolved), the last one it had.
#[derive(Debug, Clone, Copy)]
struct Position {
    id: u32,
    service: u32,
    dest: u32,
    interface: u16,
    mac: MacAddr,
    /// Written by the install under way (entries of servers that left are cleared after it).
    current: bool,
}

/// The id of fresh entries. It matches no session: every session's id was installed (and its
/// entry set) before the session was created.
const UNUSED: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Dests {
    /// Slot -> the server of the current snapshot that has the slot.
    positions: Vec<Option<Position>>,
    /// Slot -> the traffic of server `DestStats::id` (the current holder of the slot, or the
    /// last one: entries of removed servers are kept, never listed, until the slot is reused).
    traffic: Vec<DestStats>,
    /// Some server kept across an install got another next hop: sessions bound before must
    /// look theirs up ([`next_hop`](Self::next_hop)). Until then they need not (it costs ~2 ns
    /// a packet); cleared when the session table is empty.
    moved: bool,
}

impl Dests {
    /// (service, dest) indices of server `id` in the current snapshot; None if it is not there.
    #[inline]
    pub(super) fn position(&self, id: u32) -> Option<(usize, usize)> {
        match self.positions.get(dest_slot(id)) {
            Some(Some(p)) if p.id == id => Some((p.service as usize, p.dest as usize)),
            _ => None,
        }
    }

    /// Whether a server's next hop has moved since the sessions were cleared.
    #[inline]
    pub(super) fn moved(&self) -> bool {
        self.moved
    }

    /// The sessions are all gone: none is bound to an old next hop.
    pub(super) fn sessions_cleared(&mut self) {
        self.moved = false;
    }

    /// Interface and MAC of server `id`'s next hop (the last one it had while unresolved); None
    /// if it is not in the table or has never been resolved.
    #[inline]
    pub(super) fn next_hop(&self, id: u32) -> Option<(u16, MacAddr)> {
        match self.positions.get(dest_slot(id)) {
            Some(Some(p)) if p.id == id && p.mac != MacAddr::ZERO => Some((p.interface, p.mac)),
            _ => None,
        }
    }

    /// The traffic counters of server `id`; None once its slot belongs to another server.
    #[inline]
    pub(super) fn traffic_mut(&mut self, id: u32) -> Option<&mut DestStats> {
        self.traffic.get_mut(dest_slot(id)).filter(|st| st.id == id)
    }

    /// The traffic of server `id`, zero if it has none recorded.
    pub(super) fn traffic(&self, id: u32) -> DestStats {
        match self.traffic.get(dest_slot(id)) {
            Some(st) if st.id == id => *st,
            _ => DestStats {
                id,
                ..DestStats::default()
            },
        }
    }

    /// Zeroes the traffic counters of the servers `ids`, or of all.
    pub(super) fn zero(&mut self, ids: Option<&[u32]>) {
        let zero = |st: &mut DestStats| {
            *st = DestStats {
                id: st.id,
                ..DestStats::default()
            }
        };
        match ids {
            None => self.traffic.iter_mut().for_each(zero),
            Some(ids) => {
                for &id in ids {
                    if let Some(st) = self.traffic_mut(id) {
                        zero(st);
                    }
                }
            }
        }
    }

    /// Moves from snapshot `old` to `new`: a server of both keeps its counters, a server new
    /// to the table starts from zero, the servers of `old` lose their positions and those of
    /// `new` get theirs. Allocates only when a slot beyond the arrays appears.
    pub(super) fn install(&mut self, old: &Snapshot, new: &Snapshot) {
        for p in positions(old) {
            if let Some(Some(entry)) = self.positions.get_mut(dest_slot(p.id)) {
                entry.current = false;
            }
        }
        for mut p in positions(new) {
            let slot = dest_slot(p.id);
            if slot >= self.positions.len() {
                self.positions.resize(slot + 1, None);
                self.traffic.resize(
                    slot + 1,
                    DestStats {
                        id: UNUSED,
                        ..DestStats::default()
                    },
                );
            }
            match self.positions[slot] {
                Some(was) if was.id == p.id => {
                    if p.mac == MacAddr::ZERO {
                        // Unresolved for now: the last next hop sessions may be bound to.
                        (p.interface, p.mac) = (was.interface, was.mac);
                    } else {
                        self.moved |= was.mac != MacAddr::ZERO
                            && (was.interface, was.mac) != (p.interface, p.mac);
                    }
                }
                _ => {
                    self.traffic[slot] = DestStats {
                        id: p.id,
                        ..DestStats::default()
                    }
                }
            }
            self.positions[slot] = Some(p);
        }
        for p in positions(old) {
            if let Some(entry) = self.positions.get_mut(dest_slot(p.id)) {
                if entry.is_some_and(|e| !e.current) {
                    *entry = None;
                }
            }
        }
    }

    /// Slots the arrays cover (for tests of their growth).
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.positions.len()
    }
}

/// The position of every server of `snapshot`.
fn positions(snapshot: &Snapshot) -> impl Iterator<Item = Position> + '_ {
    snapshot
        .services
        .iter()
        .enumerate()
        .flat_map(|(si, service)| {
            service
                .config
                .dests
                .iter()
                .enumerate()
                .map(move |(di, d)| Position {
                    id: d.id,
                    service: si as u32,
                    dest: di as u32,
                    interface: d.interface,
                    mac: d.mac,
                    current: true,
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{Addr, PROTO_TCP};
    use crate::sched::{SchedParams, SchedulerKind};
    use crate::snapshot::{
        DestConfig, Interface, Method, ServiceConfig, ServiceKey, DEST_SLOT_BITS,
    };
    use crate::wire::ethernet::MacAddr;

    /// A one-service table whose servers have `ids`.
    fn table(generation: u64, ids: &[u32]) -> Snapshot {
        let dests = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| DestConfig {
                id,
                addr: Addr::v4([10, 0, 2, 1 + i as u8]),
                port: 80,
                weight: 1,
                method: Method::Dr,
                upper_threshold: 0,
                lower_threshold: 0,
                mac: MacAddr([2, 0, 0, 0, 2, 1 + i as u8]),
                interface: 0,
            })
            .collect();
        let service = ServiceConfig {
            key: ServiceKey {
                protocol: PROTO_TCP,
                vip: Addr::v4([10, 0, 0, 100]),
                port: 80,
            },
            scheduler: SchedulerKind::Rr,
            sched_params: SchedParams::default(),
            persistence_s: None,
            persistence_prefix: 32,
            dests,
            local_addrs: vec![],
        };
        let iface = Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec![Addr::v4([10, 0, 0, 1])],
            mtu: 1500,
            port: 0,
            vlan: None,
        };
        Snapshot::build(generation, vec![iface], vec![service]).expect("valid table")
    }

    #[test]
    fn the_arrays_grow_with_the_slots_not_with_the_ids() {
        let mut dests = Dests::default();
        let mut old = table(1, &[1, 2]);
        dests.install(&old, &old);
        // Server 2's slot handed to a new server again and again (each time a new generation).
        for generation in 1..4096 {
            let new = table(
                u64::from(generation) + 1,
                &[1, 2 | generation << DEST_SLOT_BITS],
            );
            dests.install(&old, &new);
            old = new;
        }
        assert_eq!(dests.slots(), 3, "slots 0, 1 and 2");
        let last = 2 | 4095 << DEST_SLOT_BITS;
        assert_eq!(dests.position(last), Some((0, 1)));
        assert_eq!(dests.position(2), None, "an earlier holder of the slot");
        assert!(dests.traffic_mut(2).is_none());
        assert!(dests.traffic_mut(last).is_some());
        assert_eq!(dests.position(1), Some((0, 0)), "the other server stays");
    }

    /// Sessions look their server's next hop up only once one has moved: not for a first
    /// resolution (no session can be bound to an unresolved server), nor for a spell
    /// unresolved (the last next hop stands) that ends on the same MAC, but for a new MAC,
    /// with or without a spell unresolved between; until the sessions go.
    #[test]
    fn next_hops_move_only_from_a_mac_sessions_may_be_bound_to() {
        let with_mac = |generation: u64, mac: MacAddr| {
            let t = table(generation, &[1]);
            let mut config = t.services[0].config.clone();
            config.dests[0].mac = mac;
            Snapshot::build(generation, t.interfaces.clone(), vec![config]).unwrap()
        };
        let (a, b) = (MacAddr([2, 0, 0, 0, 9, 1]), MacAddr([2, 0, 0, 0, 9, 2]));
        let mut dests = Dests::default();
        let mut old = with_mac(1, MacAddr::ZERO);
        dests.install(&old, &old);
        assert_eq!(dests.next_hop(1), None, "never resolved");
        let mut step = |dests: &mut Dests, generation: u64, mac: MacAddr| {
            let new = with_mac(generation, mac);
            dests.install(&old, &new);
            old = new;
        };
        step(&mut dests, 2, a);
        assert!(!dests.moved(), "first resolution");
        step(&mut dests, 3, MacAddr::ZERO);
        assert_eq!(dests.next_hop(1), Some((0, a)), "unresolved: the last one");
        step(&mut dests, 4, a);
        assert!(!dests.moved(), "back on the same MAC");
        step(&mut dests, 5, MacAddr::ZERO);
        step(&mut dests, 6, b);
        assert!(dests.moved(), "a, unresolved, then b");
        assert_eq!(dests.next_hop(1), Some((0, b)));
        dests.sessions_cleared();
        step(&mut dests, 7, a);
        assert!(dests.moved(), "b to a");
    }
}
