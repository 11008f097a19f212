//! The neighbour (ARP) cache of the control plane, and the ARP frames it sends and reads.
//!
//! **Control plane only**: the daemon's control thread resolves the MAC of every next hop it
//! needs (real servers, gateways from [`route`](crate::route)) and publishes the results in the
//! snapshot; workers never touch this table. It is plain Rust with no clock of its own: every
//! call that depends on time takes `now_ms`, so the state machine is tested with an explicit
//! clock.
//!
//! # The state machine
//!
//! Entries are keyed by `(interface, IPv4 address)`. Only addresses the control plane asked for
//! ([`NeighbourTable::want`]) or configured ([`NeighbourTable::add_static`]) have entries: like
//! Linux, an unsolicited reply creates nothing, but any ARP packet (reply, request, gratuitous)
//! whose sender is already in the table updates it ([`NeighbourTable::learn`]).
//!
//! ```text
//!  want ──> Incomplete ──reply──> Reachable ──(reachable_ms)──> Stale ──reply──> Reachable
//!             │ max_requests                                      │ max_requests
//!             │ unanswered                                        │ unanswered
//!             v                                                   v
//!           Failed <──────────────────────────────────────────────┘
//!             │ one request every failed_retry_ms (doubling up to failed_retry_max_ms)
//!             └──reply──> Reachable
//!  add_static ──> Static (never expires, never changed by learning)
//! ```
//!
//! [`NeighbourTable::lookup`] returns the MAC of `Reachable`, `Stale` (the old MAC is kept while
//! it is re-probed, so traffic keeps flowing) and `Static` entries, and `None` for `Incomplete`
//! and `Failed` ones.
//!
//! **Re-probes are broadcast**, like first resolutions (Linux sends its PROBE unicast to the
//! cached MAC first). Broadcast costs nothing for the handful of entries a load balancer has,
//! and it also finds a neighbour whose address moved to another MAC (a failed-over real server or
//! gateway), which a unicast probe to the old MAC would miss until the entry failed.
//!
//! # Telling the caller what changed
//!
//! The caller republishes the MACs it resolved whenever what `lookup` returns changes. Each
//! mutating call reports that with its `bool` result: [`learn`](NeighbourTable::learn) (first
//! resolution, MAC change, recovery from `Failed`), [`add_static`](NeighbourTable::add_static),
//! [`remove`](NeighbourTable::remove), and [`due_requests`](NeighbourTable::due_requests) (a
//! re-probe that went unanswered: the MAC is gone).
//!
//! # Frames
//!
//! [`arp_request`] and [`gratuitous_arp`] write a 60-byte frame (the Ethernet minimum without
//! FCS, zero-padded), 64 bytes with the 802.1Q tag of a VLAN interface, into a caller's buffer
//! without allocating; [`parse_arp`] reads one. The parser accepts at most one 802.1Q tag, as
//! [`wire::ethernet`](dataplane::wire::ethernet) does, and reports its VLAN id, from which the
//! caller knows the interface (port and VLAN). A second tag (QinQ) is refused.

use dataplane::wire::arp::{self, Operation};
use dataplane::wire::ethernet::{self, ethertype, MacAddr};
use dataplane::wire::WireError;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The timings of the state machine (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighbourTimers {
    /// Between two requests of one resolution or re-probe, and the time the last one is given
    /// to be answered. Default 1 s.
    pub retrans_ms: u64,
    /// Requests sent by a resolution or re-probe before the entry fails. Default 3.
    pub max_requests: u32,
    /// How long a confirmed MAC is trusted before it is re-probed. Default 30 s.
    pub reachable_ms: u64,
    /// Delay before the first retry of a failed entry. Default 10 s.
    pub failed_retry_ms: u64,
    /// The retry delay doubles after each unanswered retry, up to this. Default 10 s (so a
    /// failed entry is retried every 10 s).
    pub failed_retry_max_ms: u64,
}

impl Default for NeighbourTimers {
    fn default() -> Self {
        NeighbourTimers {
            retrans_ms: 1_000,
            max_requests: 3,
            reachable_ms: 30_000,
            failed_retry_ms: 10_000,
            failed_retry_max_ms: 10_000,
        }
    }
}

impl NeighbourTimers {
    /// The delay before retry number `retries` (0-based) of a failed entry.
    fn failed_delay(&self, retries: u32) -> u64 {
        let grown = if retries >= 64 {
            u64::MAX
        } else {
            self.failed_retry_ms.saturating_mul(1u64 << retries)
        };
        grown.min(self.failed_retry_max_ms.max(self.failed_retry_ms))
    }
}

/// The state of one neighbour entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighbourState {
    /// Being resolved: no MAC yet.
    Incomplete {
        /// Requests sent so far.
        requests_sent: u32,
        /// When the next request (or the failure) is due.
        next_request_ms: u64,
    },
    /// Confirmed at `confirmed_ms`.
    Reachable { mac: MacAddr, confirmed_ms: u64 },
    /// Older than `reachable_ms` and being re-probed; `mac` is still used meanwhile.
    Stale {
        mac: MacAddr,
        confirmed_ms: u64,
        /// Re-probe requests sent so far.
        requests_sent: u32,
        /// When the next request (or the failure) is due.
        next_request_ms: u64,
    },
    /// Configured by the operator: never expires, never changed by learning.
    Static { mac: MacAddr },
    /// Unanswered: no MAC. Retried with one request at `next_request_ms`.
    Failed {
        /// Unanswered retries since the entry failed.
        retries: u32,
        next_request_ms: u64,
    },
}

impl NeighbourState {
    /// A short lowercase name for listings ("incomplete", "reachable", "stale", "static",
    /// "failed").
    pub const fn name(&self) -> &'static str {
        match self {
            NeighbourState::Incomplete { .. } => "incomplete",
            NeighbourState::Reachable { .. } => "reachable",
            NeighbourState::Stale { .. } => "stale",
            NeighbourState::Static { .. } => "static",
            NeighbourState::Failed { .. } => "failed",
        }
    }

    /// The MAC traffic may use: `Some` for reachable, stale and static entries.
    pub const fn mac(&self) -> Option<MacAddr> {
        match *self {
            NeighbourState::Reachable { mac, .. }
            | NeighbourState::Stale { mac, .. }
            | NeighbourState::Static { mac } => Some(mac),
            NeighbourState::Incomplete { .. } | NeighbourState::Failed { .. } => None,
        }
    }
}

/// One row of [`NeighbourTable::entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighbourEntry {
    pub interface: u16,
    pub addr: Ipv4Addr,
    /// [`NeighbourState::name`].
    pub state: &'static str,
    /// [`NeighbourState::mac`].
    pub mac: Option<MacAddr>,
}

/// The neighbour cache (see the [module documentation](self)).
#[derive(Debug, Clone, Default)]
pub struct NeighbourTable {
    timers: NeighbourTimers,
    /// Ordered, so listings are stable (by interface, then address).
    entries: BTreeMap<(u16, Ipv4Addr), NeighbourState>,
}

impl NeighbourTable {
    /// An empty table with the default timers.
    pub fn new() -> NeighbourTable {
        NeighbourTable::default()
    }

    /// An empty table with the given timers.
    pub fn with_timers(timers: NeighbourTimers) -> NeighbourTable {
        NeighbourTable {
            timers,
            entries: BTreeMap::new(),
        }
    }

    /// The timers in use.
    pub fn timers(&self) -> &NeighbourTimers {
        &self.timers
    }

    /// Starts resolving `addr` on `interface`: the first request is due at `now_ms`. Does
    /// nothing when the address already has an entry, whatever its state.
    pub fn want(&mut self, interface: u16, addr: Ipv4Addr, now_ms: u64) {
        self.entries
            .entry((interface, addr))
            .or_insert(NeighbourState::Incomplete {
                requests_sent: 0,
                next_request_ms: now_ms,
            });
    }

    /// Sets a static entry (replacing any entry, static or not). Returns true when the MAC
    /// visible through [`lookup`](Self::lookup) changed.
    pub fn add_static(&mut self, interface: u16, addr: Ipv4Addr, mac: MacAddr) -> bool {
        let old = self
            .entries
            .insert((interface, addr), NeighbourState::Static { mac });
        old.and_then(|s| s.mac()) != Some(mac)
    }

    /// Forgets an entry (the address is no longer needed, or a static entry is deleted). Returns
    /// true when it had a visible MAC.
    pub fn remove(&mut self, interface: u16, addr: Ipv4Addr) -> bool {
        self.entries
            .remove(&(interface, addr))
            .and_then(|s| s.mac())
            .is_some()
    }

    /// Forgets the learned entries that are not in `wanted` (sorted): an address no real server
    /// or route needs any more is no longer probed, and the table stays as large as the
    /// configuration. Static entries stay.
    pub fn forget_unwanted(&mut self, wanted: &[(u16, Ipv4Addr)]) {
        self.entries.retain(|key, state| {
            matches!(state, NeighbourState::Static { .. }) || wanted.binary_search(key).is_ok()
        });
    }

    /// Records that `addr` is at `mac` on `interface`, as seen in the sender fields of an ARP
    /// packet received at `now_ms`. Only updates an existing, non-static entry (unsolicited
    /// packets about other addresses create nothing); a group or all-zero `mac` is ignored.
    /// Returns true when the MAC visible through [`lookup`](Self::lookup) changed: first
    /// resolution, recovery from `Failed`, or a new MAC.
    pub fn learn(&mut self, interface: u16, addr: Ipv4Addr, mac: MacAddr, now_ms: u64) -> bool {
        if mac.is_multicast() || mac == MacAddr::ZERO {
            return false;
        }
        let Some(state) = self.entries.get_mut(&(interface, addr)) else {
            return false;
        };
        if let NeighbourState::Static { .. } = state {
            return false;
        }
        let before = state.mac();
        *state = NeighbourState::Reachable {
            mac,
            confirmed_ms: now_ms,
        };
        before != Some(mac)
    }

    /// The MAC to send to for `addr` on `interface`: `Some` for reachable, stale (being
    /// re-probed) and static entries.
    pub fn lookup(&self, interface: u16, addr: Ipv4Addr) -> Option<MacAddr> {
        self.entries.get(&(interface, addr)).and_then(|s| s.mac())
    }

    /// The full state of an entry.
    pub fn state(&self, interface: u16, addr: Ipv4Addr) -> Option<NeighbourState> {
        self.entries.get(&(interface, addr)).copied()
    }

    /// Advances every entry to `now_ms` and appends to `out` (which it does not clear) the
    /// `(interface, address)` pairs to send a broadcast ARP request for now:
    /// - `Incomplete`: a request every `retrans_ms`, `max_requests` in all; `retrans_ms` after
    ///   the last one the entry becomes `Failed`.
    /// - `Reachable` confirmed `reachable_ms` ago or more: becomes `Stale` (keeping its MAC) and
    ///   is re-probed like a resolution; when the re-probe goes unanswered it becomes `Failed`
    ///   and loses its MAC.
    /// - `Failed`: one request at `next_request_ms`; the next one `failed_retry_ms` later,
    ///   doubling after each unanswered retry up to `failed_retry_max_ms`.
    ///
    /// Delays are counted from `now_ms`, so a late call does not cause a burst. Returns true when
    /// an entry lost its MAC (the visible set changed).
    pub fn due_requests(&mut self, now_ms: u64, out: &mut Vec<(u16, Ipv4Addr)>) -> bool {
        let t = self.timers;
        let mut changed = false;
        for (&key, state) in self.entries.iter_mut() {
            match *state {
                NeighbourState::Incomplete {
                    requests_sent,
                    next_request_ms,
                } if now_ms >= next_request_ms => {
                    if requests_sent < t.max_requests {
                        out.push(key);
                        *state = NeighbourState::Incomplete {
                            requests_sent: requests_sent + 1,
                            next_request_ms: now_ms.saturating_add(t.retrans_ms),
                        };
                    } else {
                        *state = NeighbourState::Failed {
                            retries: 0,
                            next_request_ms: now_ms.saturating_add(t.failed_delay(0)),
                        };
                    }
                }
                NeighbourState::Reachable { mac, confirmed_ms }
                    if now_ms >= confirmed_ms.saturating_add(t.reachable_ms) =>
                {
                    if t.max_requests > 0 {
                        out.push(key);
                        *state = NeighbourState::Stale {
                            mac,
                            confirmed_ms,
                            requests_sent: 1,
                            next_request_ms: now_ms.saturating_add(t.retrans_ms),
                        };
                    } else {
                        *state = NeighbourState::Failed {
                            retries: 0,
                            next_request_ms: now_ms.saturating_add(t.failed_delay(0)),
                        };
                        changed = true;
                    }
                }
                NeighbourState::Stale {
                    mac,
                    confirmed_ms,
                    requests_sent,
                    next_request_ms,
                } if now_ms >= next_request_ms => {
                    if requests_sent < t.max_requests {
                        out.push(key);
                        *state = NeighbourState::Stale {
                            mac,
                            confirmed_ms,
                            requests_sent: requests_sent + 1,
                            next_request_ms: now_ms.saturating_add(t.retrans_ms),
                        };
                    } else {
                        *state = NeighbourState::Failed {
                            retries: 0,
                            next_request_ms: now_ms.saturating_add(t.failed_delay(0)),
                        };
                        changed = true;
                    }
                }
                NeighbourState::Failed {
                    retries,
                    next_request_ms,
                } if now_ms >= next_request_ms => {
                    out.push(key);
                    let retries = retries.saturating_add(1);
                    *state = NeighbourState::Failed {
                        retries,
                        next_request_ms: now_ms.saturating_add(t.failed_delay(retries)),
                    };
                }
                _ => {}
            }
        }
        changed
    }

    /// Every entry, ordered by interface then address, for listings.
    pub fn entries(&self) -> impl Iterator<Item = NeighbourEntry> + '_ {
        self.entries
            .iter()
            .map(|(&(interface, addr), s)| NeighbourEntry {
                interface,
                addr,
                state: s.name(),
                mac: s.mac(),
            })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Length of the untagged frames [`arp_request`] and [`gratuitous_arp`] write: the minimum
/// Ethernet frame without FCS (14 + 28 bytes, zero-padded to 60).
pub const ARP_FRAME_LEN: usize = 60;
/// Length of the tagged ones: 802.1Q's minimum (the tag's 4 bytes more).
pub const TAGGED_ARP_FRAME_LEN: usize = ARP_FRAME_LEN + 4;

/// Writes a broadcast ARP frame carrying `repr`, tagged with `vlan` if any, into
/// `buf[..60]` (`buf[..64]` tagged).
fn emit_frame(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    vlan: Option<u16>,
    repr: &arp::Repr,
) -> Result<usize, WireError> {
    let len = match vlan {
        None => ARP_FRAME_LEN,
        Some(_) => TAGGED_ARP_FRAME_LEN,
    };
    if buf.len() < len {
        return Err(WireError::Truncated);
    }
    let frame = &mut buf[..len];
    let eth = ethernet::Repr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan_id: vlan,
        ethertype: ethertype::ARP,
    };
    eth.emit(&mut ethernet::Packet::new_unchecked(&mut frame[..]))?;
    let l2 = eth.buffer_len();
    repr.emit(&mut arp::Packet::new_unchecked(&mut frame[l2..]))?;
    frame[l2 + repr.buffer_len()..].fill(0);
    Ok(len)
}

/// Writes a broadcast "who-has `target_ip` tell `src_ip`" from `src_mac`, on VLAN `vlan` if
/// any, into `buf` and returns its length ([`ARP_FRAME_LEN`], [`TAGGED_ARP_FRAME_LEN`] tagged);
/// the target hardware address is zero (RFC 826 leaves it unset; Linux sends zero).
/// `Err(Truncated)` if `buf` is shorter. Only that many bytes of `buf` are written.
pub fn arp_request(
    buf: &mut [u8],
    src_mac: MacAddr,
    vlan: Option<u16>,
    src_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Result<usize, WireError> {
    let repr = arp::Repr {
        operation: Operation::Request,
        sender_hw_addr: src_mac,
        sender_proto_addr: src_ip,
        target_hw_addr: MacAddr::ZERO,
        target_proto_addr: target_ip,
    };
    emit_frame(buf, src_mac, MacAddr::BROADCAST, vlan, &repr)
}

/// Writes a gratuitous ARP announcing that `ip` is at `mac` (on VLAN `vlan` if any) into `buf`
/// and returns its length (as [`arp_request`]'s): a broadcast request whose sender and target protocol addresses are both
/// `ip`, as `arping -U` and the Linux kernel send (RFC 5227 "ARP announcement"). The target
/// hardware address is zero, as the kernel and RFC 5227 have it (`arping` puts the broadcast
/// address there; receivers ignore the field). `Err(Truncated)` if `buf` is too short.
pub fn gratuitous_arp(
    buf: &mut [u8],
    mac: MacAddr,
    vlan: Option<u16>,
    ip: Ipv4Addr,
) -> Result<usize, WireError> {
    arp_request(buf, mac, vlan, ip, ip)
}

/// Writes the reply from `mac` to the ARP request `request` into `buf` (as [`arp_request`]'s):
/// `request.target_ip` is at `mac`, sent to the asker on the request's VLAN.
pub fn arp_reply(buf: &mut [u8], mac: MacAddr, request: &ArpInfo) -> Result<usize, WireError> {
    let repr = arp::Repr {
        operation: Operation::Reply,
        sender_hw_addr: mac,
        sender_proto_addr: request.target_ip,
        target_hw_addr: request.sender_mac,
        target_proto_addr: request.sender_ip,
    };
    emit_frame(buf, mac, request.sender_mac, request.vlan_id, &repr)
}

/// What the control plane needs from a received ARP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpInfo {
    pub operation: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
    /// The VLAN id when the frame carried one 802.1Q tag.
    pub vlan_id: Option<u16>,
}

/// Reads an Ethernet frame carrying Ethernet/IPv4 ARP (untagged or with one 802.1Q tag); `None`
/// for anything else (other EtherType, two tags, truncated, other hardware or protocol type).
/// Padding after the ARP packet is ignored. The caller feeds the sender fields to
/// [`NeighbourTable::learn`], whatever the operation.
pub fn parse_arp(frame: &[u8]) -> Option<ArpInfo> {
    let eth = ethernet::Packet::new_checked(frame).ok()?;
    if eth.ethertype() != ethertype::ARP {
        return None;
    }
    let vlan_id = eth.vlan_id();
    let packet = arp::Packet::new_checked(eth.into_payload()).ok()?;
    let repr = arp::Repr::parse(&packet).ok()?;
    Some(ArpInfo {
        operation: repr.operation,
        sender_mac: repr.sender_hw_addr,
        sender_ip: repr.sender_proto_addr,
        target_ip: repr.target_proto_addr,
        vlan_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IF0: u16 = 0;
    const IF1_OTHER: u16 = 1;
    const M1: MacAddr = MacAddr([0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01]);
    const M2: MacAddr = MacAddr([0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02]);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// Runs `due_requests` and returns what it asked for and whether the visible set changed.
    fn due(t: &mut NeighbourTable, now: u64) -> (Vec<(u16, Ipv4Addr)>, bool) {
        let mut out = Vec::new();
        let changed = t.due_requests(now, &mut out);
        (out, changed)
    }

    #[test]
    fn default_timers() {
        let t = NeighbourTimers::default();
        assert_eq!(
            (
                t.retrans_ms,
                t.max_requests,
                t.reachable_ms,
                t.failed_retry_ms,
                t.failed_retry_max_ms
            ),
            (1_000, 3, 30_000, 10_000, 10_000)
        );
        assert_eq!(NeighbourTable::new().timers(), &t);
    }

    #[test]
    fn resolution() {
        let a = ip("10.0.0.5");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 100);
        assert_eq!(t.lookup(IF0, a), None);
        assert_eq!(due(&mut t, 100), (vec![(IF0, a)], false));
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Incomplete {
                requests_sent: 1,
                next_request_ms: 1_100
            })
        );
        assert_eq!(due(&mut t, 500), (vec![], false));
        assert!(t.learn(IF0, a, M1, 700), "first resolution is a change");
        assert_eq!(t.lookup(IF0, a), Some(M1));
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Reachable {
                mac: M1,
                confirmed_ms: 700
            })
        );
        assert_eq!(due(&mut t, 1_100), (vec![], false));
        assert_eq!(t.lookup(IF1_OTHER, a), None, "keyed by interface too");
    }

    #[test]
    fn unwanted_learned_entries_are_forgotten_statics_stay() {
        let (a, b, s) = (ip("10.0.0.5"), ip("10.0.0.6"), ip("10.0.0.7"));
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        t.want(IF0, b, 0);
        t.learn(IF0, b, M1, 10);
        t.add_static(IF0, s, M1);
        t.forget_unwanted(&[(IF0, a)]);
        assert_eq!(t.state(IF0, b), None, "no longer needed");
        assert_eq!(t.lookup(IF0, s), Some(M1), "static");
        assert_eq!(t.len(), 2);
        assert_eq!(
            due(&mut t, 0).0,
            vec![(IF0, a)],
            "only what is wanted is probed"
        );
    }

    #[test]
    fn want_is_idempotent() {
        let a = ip("10.0.0.5");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        t.want(IF0, a, 0);
        assert_eq!(due(&mut t, 0).0, vec![(IF0, a)]);
        t.want(IF0, a, 200);
        assert_eq!(due(&mut t, 200).0, vec![], "want did not restart the timer");
        assert_eq!(t.len(), 1);
        // Wanting a resolved address keeps its MAC.
        t.learn(IF0, a, M1, 300);
        t.want(IF0, a, 400);
        assert_eq!(t.lookup(IF0, a), Some(M1));
    }

    #[test]
    fn retries_then_failure_then_periodic_retry() {
        let a = ip("10.0.0.6");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        let mut sent = Vec::new();
        for now in (0..=3_000).step_by(100) {
            let (out, changed) = due(&mut t, now);
            assert!(!changed, "never had a MAC: not a visible change");
            if !out.is_empty() {
                sent.push(now);
            }
        }
        assert_eq!(sent, [0, 1_000, 2_000], "three requests, one second apart");
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Failed {
                retries: 0,
                next_request_ms: 13_000
            })
        );
        assert_eq!(t.lookup(IF0, a), None);
        assert_eq!(due(&mut t, 12_999).0, vec![]);
        assert_eq!(due(&mut t, 13_000).0, vec![(IF0, a)]);
        assert_eq!(due(&mut t, 22_999).0, vec![]);
        assert_eq!(due(&mut t, 23_000).0, vec![(IF0, a)]);
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Failed {
                retries: 2,
                next_request_ms: 33_000
            })
        );
        // A late answer to a retry resolves it.
        assert!(t.learn(IF0, a, M1, 23_400));
        assert_eq!(t.lookup(IF0, a), Some(M1));
        assert_eq!(t.entries().next().unwrap().state, "reachable");
    }

    #[test]
    fn failed_retry_backs_off() {
        let a = ip("10.0.0.6");
        let mut t = NeighbourTable::with_timers(NeighbourTimers {
            failed_retry_max_ms: 40_000,
            ..NeighbourTimers::default()
        });
        t.want(IF0, a, 0);
        let mut sent = Vec::new();
        for now in (0..=200_000).step_by(500) {
            if !due(&mut t, now).0.is_empty() {
                sent.push(now);
            }
        }
        // Failed at 3 s; retries 10, 20, 40, 40, 40 s apart.
        assert_eq!(
            sent,
            [0, 1_000, 2_000, 13_000, 33_000, 73_000, 113_000, 153_000, 193_000]
        );
        assert_eq!(t.timers().failed_delay(200), 40_000, "no overflow");
    }

    #[test]
    fn reprobe_keeps_the_mac_and_is_confirmed() {
        let a = ip("10.0.0.7");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        due(&mut t, 0);
        assert!(t.learn(IF0, a, M1, 0));
        assert_eq!(due(&mut t, 29_999), (vec![], false));
        assert_eq!(due(&mut t, 30_000), (vec![(IF0, a)], false));
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Stale {
                mac: M1,
                confirmed_ms: 0,
                requests_sent: 1,
                next_request_ms: 31_000
            })
        );
        assert_eq!(t.lookup(IF0, a), Some(M1), "MAC kept while re-probing");
        assert_eq!(t.entries().next().unwrap().state, "stale");
        assert_eq!(due(&mut t, 31_000), (vec![(IF0, a)], false));
        assert!(!t.learn(IF0, a, M1, 31_200), "same MAC: no change");
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Reachable {
                mac: M1,
                confirmed_ms: 31_200
            })
        );
        assert_eq!(due(&mut t, 61_199).0, vec![]);
        assert_eq!(due(&mut t, 61_200).0, vec![(IF0, a)]);
    }

    #[test]
    fn unanswered_reprobe_fails_and_reports_the_change() {
        let a = ip("10.0.0.8");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        due(&mut t, 0);
        t.learn(IF0, a, M1, 0);
        assert_eq!(due(&mut t, 30_000), (vec![(IF0, a)], false));
        assert_eq!(due(&mut t, 31_000), (vec![(IF0, a)], false));
        assert_eq!(due(&mut t, 32_000), (vec![(IF0, a)], false));
        assert_eq!(t.lookup(IF0, a), Some(M1));
        assert_eq!(due(&mut t, 32_999), (vec![], false));
        assert_eq!(due(&mut t, 33_000), (vec![], true), "MAC lost: reported");
        assert_eq!(t.lookup(IF0, a), None);
        assert_eq!(
            t.state(IF0, a),
            Some(NeighbourState::Failed {
                retries: 0,
                next_request_ms: 43_000
            })
        );
        assert_eq!(due(&mut t, 40_000), (vec![], false), "reported once");
        assert!(t.learn(IF0, a, M1, 43_100), "recovery is a change");
    }

    #[test]
    fn mac_change_is_reported() {
        let a = ip("10.0.0.9");
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        assert!(t.learn(IF0, a, M1, 10));
        assert!(!t.learn(IF0, a, M1, 20));
        assert!(t.learn(IF0, a, M2, 30), "new MAC (e.g. gratuitous ARP)");
        assert_eq!(t.lookup(IF0, a), Some(M2));
        // While stale, too.
        due(&mut t, 30_030);
        assert_eq!(t.state(IF0, a).unwrap().name(), "stale");
        assert!(t.learn(IF0, a, M1, 30_100));
        assert_eq!(t.lookup(IF0, a), Some(M1));
    }

    #[test]
    fn static_is_never_overwritten_nor_expired() {
        let a = ip("10.0.0.10");
        let mut t = NeighbourTable::new();
        assert!(t.add_static(IF0, a, M1));
        assert!(!t.learn(IF0, a, M2, 5));
        assert_eq!(t.lookup(IF0, a), Some(M1));
        t.want(IF0, a, 5);
        assert_eq!(t.state(IF0, a), Some(NeighbourState::Static { mac: M1 }));
        for now in [0, 1_000, 30_000, 100_000, u64::MAX] {
            assert_eq!(due(&mut t, now), (vec![], false));
        }
        assert_eq!(t.lookup(IF0, a), Some(M1));
        assert!(!t.add_static(IF0, a, M1), "same MAC again: no change");
        assert!(t.add_static(IF0, a, M2), "the operator may change it");
        assert_eq!(t.lookup(IF0, a), Some(M2));
        // A static entry replaces a learned one.
        let b = ip("10.0.0.11");
        t.want(IF0, b, 0);
        t.learn(IF0, b, M1, 0);
        assert!(!t.add_static(IF0, b, M1));
        assert_eq!(t.state(IF0, b), Some(NeighbourState::Static { mac: M1 }));
    }

    #[test]
    fn unsolicited_and_bogus_replies_are_ignored() {
        let a = ip("10.0.0.12");
        let mut t = NeighbourTable::new();
        assert!(!t.learn(IF0, a, M1, 0));
        assert_eq!(t.lookup(IF0, a), None);
        assert!(t.is_empty(), "no entry created");
        t.want(IF0, a, 0);
        assert!(!t.learn(IF1_OTHER, a, M1, 0), "other interface");
        for bogus in [
            MacAddr::BROADCAST,
            MacAddr::ZERO,
            MacAddr([0x01, 0, 0x5e, 0, 0, 1]),
        ] {
            assert!(!t.learn(IF0, a, bogus, 0));
        }
        assert_eq!(t.lookup(IF0, a), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn remove_reports_visible_loss() {
        let (a, b) = (ip("10.0.0.13"), ip("10.0.0.14"));
        let mut t = NeighbourTable::new();
        t.want(IF0, a, 0);
        t.want(IF0, b, 0);
        t.learn(IF0, b, M2, 0);
        assert!(!t.remove(IF0, a), "had no MAC");
        assert!(t.remove(IF0, b));
        assert!(!t.remove(IF0, b), "already gone");
        assert!(t.is_empty());
    }

    #[test]
    fn listing() {
        let mut t = NeighbourTable::new();
        t.want(1, ip("10.0.1.1"), 0);
        t.want(0, ip("10.0.0.2"), 0);
        t.want(0, ip("10.0.0.1"), 0);
        t.add_static(0, ip("10.0.0.3"), M2);
        t.learn(0, ip("10.0.0.2"), M1, 0);
        let rows: Vec<NeighbourEntry> = t.entries().collect();
        assert_eq!(
            rows,
            [
                NeighbourEntry {
                    interface: 0,
                    addr: ip("10.0.0.1"),
                    state: "incomplete",
                    mac: None
                },
                NeighbourEntry {
                    interface: 0,
                    addr: ip("10.0.0.2"),
                    state: "reachable",
                    mac: Some(M1)
                },
                NeighbourEntry {
                    interface: 0,
                    addr: ip("10.0.0.3"),
                    state: "static",
                    mac: Some(M2)
                },
                NeighbourEntry {
                    interface: 1,
                    addr: ip("10.0.1.1"),
                    state: "incomplete",
                    mac: None
                },
            ]
        );
        let (out, _) = due(&mut t, 0);
        assert_eq!(out, [(0, ip("10.0.0.1")), (1, ip("10.0.1.1"))]);
        for now in [1_000, 2_000, 3_000] {
            due(&mut t, now);
        }
        let states: Vec<&str> = t.entries().map(|e| e.state).collect();
        assert_eq!(states, ["failed", "reachable", "static", "failed"]);
    }

    // who-has 10.0.0.1 tell 10.0.0.2, from 52:54:00:12:34:56: RFC 826 layout after a broadcast
    // Ethernet header, zero target hardware address, 18 bytes of padding.
    const REQUEST: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // src
        0x08, 0x06, // EtherType ARP
        0x00, 0x01, // htype Ethernet
        0x08, 0x00, // ptype IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // sha
        0x0a, 0x00, 0x00, 0x02, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        0x0a, 0x00, 0x00, 0x01, // tpa
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    // 192.0.2.10 is at 02:00:5e:00:01:0a, announced.
    const GRATUITOUS: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst: broadcast
        0x02, 0x00, 0x5e, 0x00, 0x01, 0x0a, // src
        0x08, 0x06, // EtherType ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet/IPv4
        0x00, 0x01, // request
        0x02, 0x00, 0x5e, 0x00, 0x01, 0x0a, // sha
        0xc0, 0x00, 0x02, 0x0a, // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha
        0xc0, 0x00, 0x02, 0x0a, // tpa = spa
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    const SRC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn golden_request() {
        let mut buf = [0xeeu8; 64];
        let n = arp_request(&mut buf, SRC, None, ip("10.0.0.2"), ip("10.0.0.1")).unwrap();
        assert_eq!(n, 60);
        assert_eq!(buf[..n], REQUEST);
        assert_eq!(buf[60..], [0xee; 4], "nothing written past the frame");
    }

    #[test]
    fn golden_tagged_request_and_announcement() {
        // The untagged frames with the tag of VLAN 100 after the MACs, padded to 64.
        let tagged = |frame: &[u8]| {
            let mut v = [&frame[..12], &[0x81, 0x00, 0x00, 0x64], &frame[12..]].concat();
            v.resize(64, 0);
            v
        };
        let mut buf = [0xeeu8; 66];
        let n = arp_request(&mut buf, SRC, Some(100), ip("10.0.0.2"), ip("10.0.0.1")).unwrap();
        assert_eq!(n, TAGGED_ARP_FRAME_LEN);
        assert_eq!(buf[..n], tagged(&REQUEST)[..]);
        assert_eq!(buf[64..], [0xee; 2], "nothing written past the frame");
        let info = parse_arp(&buf[..n]).unwrap();
        assert_eq!((info.vlan_id, info.target_ip), (Some(100), ip("10.0.0.1")));
        let mac = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x01, 0x0a]);
        let n = gratuitous_arp(&mut buf, mac, Some(100), ip("192.0.2.10")).unwrap();
        assert_eq!(buf[..n], tagged(&GRATUITOUS)[..]);
        assert_eq!(
            arp_request(&mut [0; 63], SRC, Some(100), ip("10.0.0.2"), ip("10.0.0.1")),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn golden_gratuitous() {
        let mut buf = [0xeeu8; 60];
        let mac = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x01, 0x0a]);
        let n = gratuitous_arp(&mut buf, mac, None, ip("192.0.2.10")).unwrap();
        assert_eq!(n, ARP_FRAME_LEN);
        assert_eq!(buf, GRATUITOUS);
        assert!(arp::Packet::new_checked(&buf[14..])
            .unwrap()
            .is_gratuitous());
    }

    #[test]
    fn short_buffers_are_refused() {
        let mut buf = [0u8; 59];
        assert_eq!(
            arp_request(&mut buf, SRC, None, ip("10.0.0.2"), ip("10.0.0.1")),
            Err(WireError::Truncated)
        );
        assert_eq!(
            gratuitous_arp(&mut buf, SRC, None, ip("10.0.0.2")),
            Err(WireError::Truncated)
        );
        assert_eq!(buf, [0u8; 59], "nothing written");
    }

    /// Independent check of the Ethernet layer with etherparse (0.16 has no ARP parser: the ARP
    /// body is checked against the RFC 826 layout by hand, using etherparse's constants).
    #[test]
    fn frames_match_etherparse() {
        for golden in [&REQUEST, &GRATUITOUS] {
            let (eth, rest) = etherparse::Ethernet2Header::from_slice(golden).unwrap();
            assert_eq!(eth.destination, [0xff; 6]);
            assert_eq!(eth.source, golden[6..12]);
            assert_eq!(eth.ether_type, etherparse::EtherType::ARP);
            assert_eq!(rest.len(), 46);
            assert_eq!(
                u16::from_be_bytes([rest[0], rest[1]]),
                etherparse::ArpHardwareId::ETHER.0
            );
            assert_eq!(
                u16::from_be_bytes([rest[2], rest[3]]),
                etherparse::EtherType::IPV4.0
            );
            assert_eq!((rest[4], rest[5]), (6, 4));
            assert_eq!(u16::from_be_bytes([rest[6], rest[7]]), 1, "request");
            assert_eq!(rest[8..14], eth.source, "sender MAC = frame source");
            assert_eq!(rest[28..], [0u8; 18]);
            let sliced = etherparse::SlicedPacket::from_ethernet(golden).unwrap();
            assert!(sliced.net.is_none(), "not IP");
        }
    }

    #[test]
    fn parse_untagged() {
        assert_eq!(
            parse_arp(&REQUEST),
            Some(ArpInfo {
                operation: Operation::Request,
                sender_mac: SRC,
                sender_ip: ip("10.0.0.2"),
                target_ip: ip("10.0.0.1"),
                vlan_id: None,
            })
        );
        // Without padding, too (42 bytes).
        assert_eq!(parse_arp(&REQUEST[..42]).unwrap().target_ip, ip("10.0.0.1"));
        for len in [0, 13, 14, 41] {
            assert_eq!(parse_arp(&REQUEST[..len]), None, "truncated at {len}");
        }
    }

    #[test]
    fn parse_tagged_and_refusals() {
        // Build a tagged reply with etherparse headers around a hand-written ARP reply.
        let eth = etherparse::Ethernet2Header {
            source: M2.0,
            destination: SRC.0,
            ether_type: etherparse::EtherType::VLAN_TAGGED_FRAME,
        };
        let vlan = etherparse::SingleVlanHeader {
            pcp: etherparse::VlanPcp::ZERO,
            drop_eligible_indicator: false,
            vlan_id: etherparse::VlanId::try_new(100).unwrap(),
            ether_type: etherparse::EtherType::ARP,
        };
        let body: [u8; 28] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // reply
            0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02, 0x0a, 0x00, 0x00, 0x01, // M2 is 10.0.0.1
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x02,
        ];
        let mut frame = Vec::new();
        frame.extend_from_slice(&eth.to_bytes());
        frame.extend_from_slice(&vlan.to_bytes());
        frame.extend_from_slice(&body);
        assert_eq!(
            parse_arp(&frame),
            Some(ArpInfo {
                operation: Operation::Reply,
                sender_mac: M2,
                sender_ip: ip("10.0.0.1"),
                target_ip: ip("10.0.0.2"),
                vlan_id: Some(100),
            })
        );
        // QinQ: a second tag is refused.
        let mut qinq = frame[..16].to_vec();
        qinq.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
        qinq.extend_from_slice(&body);
        assert_eq!(parse_arp(&qinq), None);
        // Not ARP, and ARP for something other than Ethernet/IPv4.
        let mut ip4 = REQUEST;
        ip4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_arp(&ip4), None);
        let mut v6 = REQUEST;
        v6[16..18].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse_arp(&v6), None);
    }

    /// The whole loop: resolve, send a request, a neighbour answers it, learn from the answer.
    #[test]
    fn request_reply_learn_roundtrip() {
        let (ours, theirs) = (ip("10.0.0.2"), ip("10.0.0.1"));
        let mut t = NeighbourTable::new();
        t.want(IF0, theirs, 0);
        let mut out = Vec::new();
        t.due_requests(0, &mut out);
        let mut buf = [0u8; ARP_FRAME_LEN];
        let (iface, target) = out[0];
        arp_request(&mut buf, SRC, None, ours, target).unwrap();
        // The neighbour turns the request into its reply, as the packet path does.
        let req = arp::Repr::parse(&arp::Packet::new_checked(&buf[14..]).unwrap()).unwrap();
        req.reply(M1)
            .emit(&mut arp::Packet::new_unchecked(&mut buf[14..]))
            .unwrap();
        let info = parse_arp(&buf).unwrap();
        assert_eq!(info.operation, Operation::Reply);
        assert_eq!(info.target_ip, ours);
        assert!(t.learn(iface, info.sender_ip, info.sender_mac, 5));
        assert_eq!(t.lookup(IF0, theirs), Some(M1));
    }

    #[test]
    fn an_arp_reply_answers_the_asker_byte_for_byte() {
        let request = ArpInfo {
            operation: Operation::Request,
            sender_mac: M1,
            sender_ip: ip("10.0.0.254"),
            target_ip: ip("10.0.0.1"),
            vlan_id: None,
        };
        let mut buf = [0u8; 64];
        let len = arp_reply(&mut buf, M2, &request).unwrap();
        #[rustfmt::skip]
        let want: [u8; ARP_FRAME_LEN] = [
            0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01, 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // Ethernet/IPv4 reply
            0x52, 0x54, 0x00, 0xaa, 0xbb, 0x02, 10, 0, 0, 1, // M2 is 10.0.0.1
            0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01, 10, 0, 0, 254, // to M1, 10.0.0.254
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
        ];
        assert_eq!(&buf[..len], &want[..]);
    }
}
