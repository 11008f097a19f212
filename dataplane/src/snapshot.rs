//! The immutable service table the control plane publishes to every worker (one definition,
//! shared by both sides). A worker holds an `Arc<Snapshot>` and swaps it between bursts; nothing
//! in here changes after [`Snapshot::build`].
//!
//! What a valid service table is, the control plane's service model says (`control::model`,
//! which states every rule once). [`Snapshot::build`] compiles a table and refuses, whole, only
//! what would break what it builds, so a running worker never sees such a snapshot.

use crate::conn::key::{Addr, PROTO_TCP, PROTO_UDP};
use crate::sched::{self, Candidate, DestId, SchedParams, Scheduler, SchedulerKind};
use crate::verdict::DropReason;
use crate::wire::ethernet::MacAddr;
use std::fmt;

/// How a real server is reached (ipvsadm -m / -b / -g / -i). Bound once per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Masquerading: DNAT to the real server, replies SNAT'ed back to VIP:port.
    Nat,
    /// DNAT plus SNAT to a local address/port of the box (DPVS's FNAT, ipvsadm -b).
    FullNat,
    /// Direct routing: rewrite the destination MAC only (ipvsadm -g, the default).
    Dr,
    /// IP-in-IP tunnel to the real server (ipvsadm -i).
    Tunnel,
}

impl Method {
    /// ipvsadm's "Forward" column names.
    pub fn name(self) -> &'static str {
        match self {
            Method::Nat => "Masq",
            Method::FullNat => "FullNat",
            Method::Dr => "Route",
            Method::Tunnel => "Tunnel",
        }
    }

    /// Whether replies come back through the box (and so need an out-direction key).
    pub fn replies_through_box(self) -> bool {
        matches!(self, Method::Nat | Method::FullNat)
    }
}

/// A virtual service: protocol, VIP and port (port 0 = every port, persistent services only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub protocol: u8,
    pub vip: Addr,
    pub port: u16,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            PROTO_TCP => "TCP",
            PROTO_UDP => "UDP",
            _ => "proto",
        };
        match self.vip.to_v4() {
            Some(_) => write!(f, "{proto} {}:{}", self.vip.to_ip(), self.port),
            None => write!(f, "{proto} [{}]:{}", self.vip.to_ip(), self.port),
        }
    }
}

/// Bits of a real-server id that are its slot (see [`DestConfig::id`]); the rest are the slot's
/// generation.
pub const DEST_SLOT_BITS: u32 = 20;
/// Slots of real-server ids. The control plane never hands out slot 0, so at most
/// `DEST_SLOTS - 1` real servers are configured at once.
pub const DEST_SLOTS: u32 = 1 << DEST_SLOT_BITS;

/// The slot of real-server id `id`: the index of the server in the workers' per-server arrays.
#[inline]
pub fn dest_slot(id: u32) -> usize {
    (id & (DEST_SLOTS - 1)) as usize
}

/// One real server of a service, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestConfig {
    /// Stable identity assigned by the control plane: the same real server of the same
    /// service keeps its id across snapshots (workers carry per-server counts by it). An id
    /// is a slot ([`dest_slot`], unique within a snapshot) and the slot's generation above
    /// it: the control plane reuses the slots of removed servers with a new generation, so
    /// the workers' per-server arrays stay as large as the table, and the sessions a removed
    /// server leaves behind never count for the server that gets its slot next.
    pub id: u32,
    pub addr: Addr,
    /// 0 means "the service's port" (ipvsadm: -r RIP without port).
    pub port: u16,
    /// 0 = quiesced: no new sessions, existing ones continue.
    pub weight: u32,
    pub method: Method,
    /// Upper connection threshold (-x); 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold (-y); 0 = none.
    pub lower_threshold: u32,
    /// Next-hop MAC for this server (resolved by the control plane's neighbour code).
    pub mac: MacAddr,
    /// Index into [`Snapshot::interfaces`] of the port the server is reached through.
    pub interface: u16,
}

/// A service as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub sched_params: SchedParams,
    /// Persistence timeout in seconds (ipvsadm -p); None = not persistent.
    pub persistence_s: Option<u32>,
    /// IPv4 persistence netmask length (ipvsadm -M), 32 by default.
    pub persistence_prefix: u8,
    pub dests: Vec<DestConfig>,
    /// FULLNAT local addresses (DPVS laddr); required when any dest uses FULLNAT.
    pub local_addrs: Vec<Addr>,
}

/// One interface of the box: a port, or a VLAN sub-interface of one (DPVS's `dpip vlan`: the
/// port's MAC, its own addresses, frames tagged with its VLAN id). Ports come first in
/// [`Snapshot::interfaces`], each at its own index, so a port's number is its interface's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub mac: MacAddr,
    /// The box's own addresses on this interface (ARP, ICMP echo, tunnel source).
    pub addrs: Vec<Addr>,
    pub mtu: u16,
    /// The port whose queues the interface sends and receives on: its own index for a port.
    pub port: u16,
    /// The 802.1Q VLAN id (1..=4094) of a sub-interface; None for a port (untagged frames and
    /// VLAN 0, priority tagged).
    pub vlan: Option<u16>,
}

impl Interface {
    /// The 802.1Q VLAN id frames leave this interface with; 0: untagged.
    #[inline]
    pub fn tag(&self) -> u16 {
        self.vlan.unwrap_or(0)
    }
}

/// Which worker holds the sessions of a service's flows, where the worker RSS (or rte_flow)
/// gives a packet is not enough; a packet that reaches another worker is redirected there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowOwner {
    /// The worker that receives the client's packets (DR, TUN: replies bypass the box;
    /// FULLNAT: replies come back to the local port's worker).
    Receiver,
    /// By the client's address and port, which a NAT server's replies carry too
    /// ([`crate::forward::owner::client_owner`]).
    ClientPort,
    /// By the client's address masked to this prefix length: persistence, whose template must
    /// be on the worker of every connection of the client network. NAT services that share a
    /// real server address with a persistent one own by it too (the narrowest prefix among
    /// them), since a reply names its server, not its service.
    ClientNet(u8),
}

/// A compiled service: config plus what the hot path needs precomputed.
pub struct Service {
    pub config: ServiceConfig,
    /// Dest ports resolved (0 replaced by the service port).
    pub dest_ports: Vec<u16>,
    pub owner: FlowOwner,
    /// Template scheduler; each worker clones its own instance (shared tables stay shared).
    pub scheduler: Box<dyn Scheduler>,
}

impl Service {
    pub fn key(&self) -> &ServiceKey {
        &self.config.key
    }
}

/// The whole published table, shared by all workers through an `Arc`.
pub struct Snapshot {
    pub generation: u64,
    pub services: Vec<Service>,
    pub interfaces: Vec<Interface>,
    index: ServiceIndex,
    /// Every FULLNAT local address, sorted (looked up for packets that miss every session).
    local_addrs: Vec<Addr>,
    /// NAT real server addresses whose replies are owned by the client network (services
    /// owned by [`FlowOwner::ClientNet`]) with its prefix length, sorted by address.
    nat_server_nets: Vec<(Addr, u8)>,
    /// Every NAT real server address, sorted (their replies' fragments are reassembled).
    nat_servers: Vec<Addr>,
    /// Per port with VLANs (by port number): the interface of each VLAN id, [`NO_VLAN`] where
    /// the id is not configured.
    vlans: Vec<Option<Box<[u16; 4096]>>>,
    /// VRRP: the floating addresses (VIPs, local addresses, others) this box does not hold now,
    /// sorted. A VIP here takes no new flow; none of them is answered by ARP.
    standby: Vec<Addr>,
    /// VRRP: floating addresses other than VIPs and local addresses that the box holds now (the
    /// NAT servers' gateway), sorted: answered by ARP.
    held_extra: Vec<Addr>,
    /// IPVS's `sloppy_tcp`: a TCP segment other than a SYN (not a RST) without a session is
    /// scheduled like a SYN, so a flow moved here from another box goes on.
    sloppy_tcp: bool,
}

/// An unconfigured VLAN id in a port's table.
const NO_VLAN: u16 = u16::MAX;

// Workers share one snapshot across threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Snapshot>();
};

/// Why [`Snapshot::build`] refused a table: what would break what it builds. Every variant
/// names the offending item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Two real servers' ids have the same slot ([`dest_slot`]), or are equal.
    DuplicateDestSlot {
        id: u32,
        other: u32,
    },
    /// More real servers than there are id slots ([`DEST_SLOTS`] - 1); the control plane's
    /// id allocation returns it (`build` checks slots, not counts).
    TooManyDests,
    UnknownInterface {
        service: ServiceKey,
        interface: u16,
    },
    /// A port not at its own index, or a VLAN sub-interface whose port is no port, whose id is
    /// outside 1..=4094, or which repeats an id of its port.
    BadInterface(u16),
    /// The packet path parses TCP and UDP only.
    UnsupportedProtocol(ServiceKey),
    Scheduler {
        service: ServiceKey,
        error: sched::SchedError,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SnapshotError::*;
        match self {
            TooManyDests => write!(
                f,
                "dests: more than {} real servers in the table",
                DEST_SLOTS - 1
            ),
            DuplicateDestSlot { id, other } => write!(
                f,
                "dests.id {id} has the slot of dests.id {other} (slot {})",
                dest_slot(*id)
            ),
            UnknownInterface { service, interface } => {
                write!(
                    f,
                    "service {service}: dests.interface {interface} does not exist"
                )
            }
            BadInterface(i) => write!(
                f,
                "interfaces[{i}]: a port must be at its own index, a VLAN on a port, with an id \
                 in 1..=4094 unique on it"
            ),
            UnsupportedProtocol(k) => write!(f, "service {k}: protocol must be TCP or UDP"),
            Scheduler { service, error } => write!(f, "service {service}: {error}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// Sets each service's [`FlowOwner`] and returns the NAT server addresses owned by client
/// network. A persistent service is owned by its client network. NAT services linked by a
/// shared NAT server address must agree, as a reply names only the server: if any of them is
/// persistent, all are owned by the narrowest persistence prefix among the linked ones (a
/// coarser network keeps every finer one on one worker). The rest: NAT by client address and
/// port, else the receiver.
fn assign_flow_owners(services: &mut [Service]) -> Vec<(Addr, u8)> {
    use std::collections::hash_map::Entry;
    let nat_addrs = |s: &Service| -> Vec<Addr> {
        s.config
            .dests
            .iter()
            .filter(|d| d.method == Method::Nat)
            .map(|d| d.addr)
            .collect()
    };
    let mut prefix: Vec<Option<u8>> = services
        .iter()
        .map(|s| s.config.persistence_s.map(|_| s.config.persistence_prefix))
        .collect();
    // Narrow the linked NAT services' prefixes until they agree (prefixes and entries are
    // only ever added or lowered, so this ends).
    let mut nets: std::collections::HashMap<Addr, u8> = std::collections::HashMap::new();
    loop {
        let mut changed = false;
        for (s, p) in services.iter().zip(prefix.iter_mut()) {
            let addrs = nat_addrs(s);
            let linked = addrs.iter().filter_map(|a| nets.get(a).copied()).min();
            let narrowest = match (*p, linked) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if narrowest != *p {
                *p = narrowest;
                changed = true;
            }
            if let Some(n) = narrowest {
                for a in addrs {
                    match nets.entry(a) {
                        Entry::Vacant(v) => {
                            v.insert(n);
                            changed = true;
                        }
                        Entry::Occupied(mut o) if n < *o.get() => {
                            o.insert(n);
                            changed = true;
                        }
                        Entry::Occupied(_) => {}
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (s, p) in services.iter_mut().zip(prefix) {
        s.owner = match p {
            Some(n) => FlowOwner::ClientNet(n),
            None if s.config.dests.iter().any(|d| d.method == Method::Nat) => FlowOwner::ClientPort,
            None => FlowOwner::Receiver,
        };
    }
    let mut nets: Vec<(Addr, u8)> = nets.into_iter().collect();
    nets.sort();
    nets
}

/// The VLAN table of each port (see `Snapshot::vlans`), after checking that ports are at their
/// own index and that every VLAN sub-interface is on a port, with an id in 1..=4094 unique there.
#[allow(clippy::type_complexity)]
fn vlan_tables(interfaces: &[Interface]) -> Result<Vec<Option<Box<[u16; 4096]>>>, SnapshotError> {
    let mut tables: Vec<Option<Box<[u16; 4096]>>> = vec![None; interfaces.len()];
    for (i, iface) in interfaces.iter().enumerate() {
        let bad = SnapshotError::BadInterface(i as u16);
        let Some(vid) = iface.vlan else {
            if usize::from(iface.port) != i {
                return Err(bad);
            }
            continue;
        };
        let port = usize::from(iface.port);
        let is_port = interfaces.get(port).is_some_and(|p| p.vlan.is_none());
        if !is_port || !(1..=4094).contains(&vid) {
            return Err(bad);
        }
        let table = tables[port].get_or_insert_with(|| Box::new([NO_VLAN; 4096]));
        let slot = &mut table[usize::from(vid)];
        if *slot != NO_VLAN {
            return Err(bad);
        }
        *slot = i as u16;
    }
    Ok(tables)
}

/// One service of [`Snapshot::build`], its owner still [`FlowOwner::Receiver`]. `slots`
/// holds the real-server id of each slot taken so far.
fn compile_service(
    config: ServiceConfig,
    interfaces: usize,
    slots: &mut std::collections::HashMap<usize, u32>,
) -> Result<Service, SnapshotError> {
    let key = config.key;
    if key.protocol != PROTO_TCP && key.protocol != PROTO_UDP {
        return Err(SnapshotError::UnsupportedProtocol(key));
    }
    for d in &config.dests {
        if let Some(&other) = slots.get(&dest_slot(d.id)) {
            return Err(SnapshotError::DuplicateDestSlot { id: d.id, other });
        }
        slots.insert(dest_slot(d.id), d.id);
        if usize::from(d.interface) >= interfaces {
            return Err(SnapshotError::UnknownInterface {
                service: key,
                interface: d.interface,
            });
        }
    }
    let dest_ports: Vec<u16> = config
        .dests
        .iter()
        .map(|d| if d.port == 0 { key.port } else { d.port })
        .collect();
    let candidates: Vec<Candidate> = config
        .dests
        .iter()
        .map(|d| Candidate::with_weight(d.weight))
        .collect();
    let ids: Vec<DestId> = config
        .dests
        .iter()
        .zip(&dest_ports)
        .map(|(d, &p)| DestId::new(d.addr.to_ip(), p))
        .collect();
    let scheduler = sched::build(config.scheduler, &config.sched_params, &candidates, &ids)
        .map_err(|error| SnapshotError::Scheduler {
            service: key,
            error,
        })?;
    Ok(Service {
        config,
        dest_ports,
        owner: FlowOwner::Receiver,
        scheduler,
    })
}

impl Snapshot {
    /// Compiles a table that satisfies the service model: each service's scheduler (tables
    /// such as Maglev's are built here, off the hot path), the flow owners and the lookup
    /// tables. Refuses a protocol other than TCP and UDP, real-server ids that share a slot,
    /// an interface that is not in `interfaces`, a scheduler that cannot be built, and
    /// interfaces that are not ports first and then VLANs on them ([`Interface`]).
    pub fn build(
        generation: u64,
        interfaces: Vec<Interface>,
        configs: Vec<ServiceConfig>,
    ) -> Result<Snapshot, SnapshotError> {
        let vlans = vlan_tables(&interfaces)?;
        let mut slots = std::collections::HashMap::new();
        let mut services = Vec::with_capacity(configs.len());
        for config in configs {
            services.push(compile_service(config, interfaces.len(), &mut slots)?);
        }
        let nat_server_nets = assign_flow_owners(&mut services);
        let index = ServiceIndex::new(services.iter().map(|s| s.config.key));
        let mut local_addrs: Vec<Addr> = services
            .iter()
            .flat_map(|s| s.config.local_addrs.iter().copied())
            .collect();
        local_addrs.sort();
        local_addrs.dedup();
        let mut nat_servers: Vec<Addr> = services
            .iter()
            .flat_map(|s| s.config.dests.iter())
            .filter(|d| d.method == Method::Nat)
            .map(|d| d.addr)
            .collect();
        nat_servers.sort();
        nat_servers.dedup();
        Ok(Snapshot {
            generation,
            services,
            interfaces,
            index,
            local_addrs,
            nat_server_nets,
            nat_servers,
            vlans,
            standby: Vec::new(),
            held_extra: Vec::new(),
            sloppy_tcp: false,
        })
    }

    /// The table with VRRP's view: `standby`, the floating addresses the box does not hold;
    /// `held_extra`, the floating addresses besides VIPs and local addresses that it holds.
    pub fn with_vrrp(mut self, mut standby: Vec<Addr>, mut held_extra: Vec<Addr>) -> Snapshot {
        standby.sort();
        held_extra.sort();
        self.standby = standby;
        self.held_extra = held_extra;
        self
    }

    /// The table with IPVS's `sloppy_tcp` set to `on`.
    pub fn with_sloppy_tcp(mut self, on: bool) -> Snapshot {
        self.sloppy_tcp = on;
        self
    }

    /// IPVS's `sloppy_tcp`: whether a TCP segment other than a SYN may start a session.
    #[inline]
    pub fn sloppy_tcp(&self) -> bool {
        self.sloppy_tcp
    }

    /// Whether the box holds `addr` now (always, without VRRP).
    #[inline]
    pub fn holds(&self, addr: &Addr) -> bool {
        self.standby.is_empty() || self.standby.binary_search(addr).is_err()
    }

    /// Whether `addr` is a floating address the box holds besides its VIPs and local addresses.
    pub fn is_held_extra(&self, addr: &Addr) -> bool {
        self.held_extra.binary_search(addr).is_ok()
    }

    /// The interface a frame received on port `port` with 802.1Q VLAN id `vid` belongs to: the
    /// port's own for VLAN 0 (priority tagged, as Linux takes it), else its sub-interface of
    /// that id. Refused: `TaggedFrame` on a port without VLANs (or not a port), `UnknownVlan`
    /// for an id the port does not have.
    #[inline]
    pub fn vlan_interface(&self, port: u16, vid: u16) -> Result<u16, DropReason> {
        if vid == 0 {
            return Ok(port);
        }
        let Some(Some(table)) = self.vlans.get(usize::from(port)) else {
            return Err(DropReason::TaggedFrame);
        };
        match table[usize::from(vid & 0x0fff)] {
            NO_VLAN => Err(DropReason::UnknownVlan),
            i => Ok(i),
        }
    }

    /// Whether `later` places the flows this table places on the same workers: the flows of
    /// each of this table's services have the same [`FlowOwner`] there (by the service that
    /// takes them: a port-0 one, or none, which counts as [`FlowOwner::Receiver`]), so do
    /// those of each of `later`'s services that this table gave a service (a port-0 one),
    /// and NAT servers' replies are owned alike.
    pub fn same_flow_owners(&self, later: &Snapshot) -> bool {
        let owner = |table: &Snapshot, key: &ServiceKey| {
            let i = table.find_service(key.protocol, &key.vip, key.port)?;
            Some(table.services[i as usize].owner)
        };
        self.nat_server_nets == later.nat_server_nets
            && self
                .services
                .iter()
                .all(|s| owner(later, s.key()).unwrap_or(FlowOwner::Receiver) == s.owner)
            && later
                .services
                .iter()
                .all(|s| !matches!(owner(self, s.key()), Some(o) if o != s.owner))
    }

    /// How the owner of a NAT server's reply is found from the reply: by the client network
    /// when `server` serves a [`FlowOwner::ClientNet`] service, else by the client's address
    /// and port.
    pub fn nat_reply_owner(&self, server: &Addr) -> FlowOwner {
        match self
            .nat_server_nets
            .binary_search_by(|(a, _)| a.cmp(server))
        {
            Ok(i) => FlowOwner::ClientNet(self.nat_server_nets[i].1),
            Err(_) => FlowOwner::ClientPort,
        }
    }

    /// The service for a packet's (protocol, destination, port): an exact match, else the
    /// port-0 (all ports) service of that VIP.
    #[inline]
    pub fn find_service(&self, protocol: u8, vip: &Addr, port: u16) -> Option<u32> {
        self.index
            .find(&ServiceKey {
                protocol,
                vip: *vip,
                port,
            })
            .or_else(|| {
                self.index.find(&ServiceKey {
                    protocol,
                    vip: *vip,
                    port: 0,
                })
            })
    }

    /// The position of the service with exactly this key (no port-0 fallback).
    pub fn position(&self, key: &ServiceKey) -> Option<usize> {
        self.index.find(key).map(|n| n as usize)
    }

    /// Whether `addr` is a VIP of any service (for ARP and ICMP echo).
    pub fn is_vip(&self, addr: &Addr) -> bool {
        self.index.is_vip(addr)
    }

    /// Whether `addr` is one of the box's own addresses on `interface`.
    pub fn is_local(&self, interface: u16, addr: &Addr) -> bool {
        self.interfaces
            .get(usize::from(interface))
            .is_some_and(|i| i.addrs.contains(addr))
    }

    /// Whether a packet from `src` to `dst` belongs to a service's traffic (for fragments, which
    /// carry no ports): to a VIP or a FULLNAT local address, or from a NAT real server.
    pub fn is_service_traffic(&self, src: &Addr, dst: &Addr) -> bool {
        self.is_vip(dst) || self.is_laddr(dst) || self.nat_servers.binary_search(src).is_ok()
    }

    /// Whether `addr` is a FULLNAT local address of any service.
    pub fn is_laddr(&self, addr: &Addr) -> bool {
        self.local_addrs.binary_search(addr).is_ok()
    }
}

/// Open-addressing index from service key to service number, sized at build time (load <= 1/2)
/// so a lookup probes few slots. Keys are operator-chosen, so a fixed hash is fine: packets can
/// only look up, never insert.
struct ServiceIndex {
    slots: Vec<Option<(ServiceKey, u32)>>,
    vips: Vec<Addr>,
    mask: usize,
}

impl ServiceIndex {
    fn new(keys: impl Iterator<Item = ServiceKey>) -> Self {
        let keys: Vec<ServiceKey> = keys.collect();
        let size = (keys.len() * 2).next_power_of_two().max(8);
        let mut index = ServiceIndex {
            slots: vec![None; size],
            vips: Vec::new(),
            mask: size - 1,
        };
        for (n, key) in keys.into_iter().enumerate() {
            let mut i = Self::hash(&key) & index.mask;
            while index.slots[i].is_some() {
                i = (i + 1) & index.mask;
            }
            index.slots[i] = Some((key, n as u32));
            if !index.vips.contains(&key.vip) {
                index.vips.push(key.vip);
            }
        }
        index.vips.sort();
        index
    }

    #[inline]
    fn hash(key: &ServiceKey) -> usize {
        let a = u64::from_le_bytes(key.vip.0[..8].try_into().unwrap_or_default());
        let b = u64::from_le_bytes(key.vip.0[8..].try_into().unwrap_or_default());
        let h = (a ^ b.rotate_left(17) ^ (u64::from(key.port) << 8 | u64::from(key.protocol)))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize
    }

    #[inline]
    fn find(&self, key: &ServiceKey) -> Option<u32> {
        let mut i = Self::hash(key) & self.mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some((k, n)) if k == key => return Some(*n),
                Some(_) => i = (i + 1) & self.mask,
            }
        }
    }

    fn is_vip(&self, addr: &Addr) -> bool {
        self.vips.binary_search(addr).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
        Addr::v4([a, b, c, d])
    }

    pub(crate) fn dest(addr: Addr, port: u16, method: Method) -> DestConfig {
        DestConfig {
            // Distinct slots for the tests' ports (< 4096) and addresses.
            id: u32::from(port) << 8 | u32::from(addr.0[15]),
            addr,
            port,
            weight: 1,
            method,
            upper_threshold: 0,
            lower_threshold: 0,
            mac: MacAddr([2, 0, 0, 0, 0, 9]),
            interface: 0,
        }
    }

    fn service(port: u16, dests: Vec<DestConfig>) -> ServiceConfig {
        ServiceConfig {
            key: ServiceKey {
                protocol: PROTO_TCP,
                vip: v4(10, 0, 0, 100),
                port,
            },
            scheduler: SchedulerKind::Rr,
            sched_params: SchedParams::default(),
            persistence_s: None,
            persistence_prefix: 32,
            dests,
            local_addrs: vec![v4(10, 0, 1, 1)],
        }
    }

    fn iface() -> Vec<Interface> {
        vec![Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec![v4(10, 0, 0, 1)],
            mtu: 1500,
            port: 0,
            vlan: None,
        }]
    }

    #[test]
    fn flow_owners_follow_persistence_across_shared_nat_servers() {
        let (x, y, z) = (v4(10, 0, 2, 1), v4(10, 0, 2, 2), v4(10, 0, 2, 3));
        let persistent = |port, prefix, dests| ServiceConfig {
            persistence_s: Some(300),
            persistence_prefix: prefix,
            ..service(port, dests)
        };
        // In table order: a NAT service linked through y to one linked through x to a
        // persistent /28 service listed last, which another persistent /24 one joins through
        // y; an unlinked NAT service; DR, FULLNAT and a persistent DR service sharing x by DR.
        let s = Snapshot::build(
            1,
            iface(),
            vec![
                service(1, vec![dest(y, 1, Method::Nat)]),
                service(2, vec![dest(x, 2, Method::Nat), dest(y, 2, Method::Nat)]),
                persistent(3, 28, vec![dest(x, 3, Method::Nat), dest(z, 3, Method::Dr)]),
                persistent(4, 24, vec![dest(y, 4, Method::Nat)]),
                service(5, vec![dest(z, 5, Method::Nat)]),
                service(6, vec![dest(x, 6, Method::Dr)]),
                service(7, vec![dest(x, 7, Method::FullNat)]),
                persistent(8, 16, vec![dest(x, 8, Method::Dr)]),
            ],
        )
        .unwrap();
        let owners: Vec<FlowOwner> = s.services.iter().map(|s| s.owner).collect();
        use FlowOwner::*;
        assert_eq!(
            owners,
            [
                ClientNet(24),
                ClientNet(24),
                ClientNet(24),
                ClientNet(24),
                ClientPort,
                Receiver,
                Receiver,
                ClientNet(16),
            ]
        );
        assert_eq!(s.nat_reply_owner(&x), ClientNet(24));
        assert_eq!(s.nat_reply_owner(&y), ClientNet(24));
        assert_eq!(
            s.nat_reply_owner(&z),
            ClientPort,
            "z is NAT only for service 5"
        );
    }

    #[test]
    fn a_service_that_takes_flows_from_a_port_zero_one_changes_their_owners() {
        let x = v4(10, 0, 2, 1);
        let all = ServiceConfig {
            persistence_s: Some(300),
            ..service(0, vec![dest(x, 0, Method::Dr)])
        };
        let http = service(80, vec![dest(x, 80, Method::Dr)]);
        let build = |g, services| Snapshot::build(g, iface(), services).unwrap();
        let before = build(1, vec![all.clone()]);
        let after = build(2, vec![all.clone(), http]);
        // Port 80's flows were the persistent service's (by client network), now the receiver's.
        assert!(!before.same_flow_owners(&after));
        assert!(!after.same_flow_owners(&before));
        // A service on a VIP the table did not have took no flows from any other.
        let mut elsewhere = service(80, vec![dest(x, 1, Method::Nat)]);
        elsewhere.key.vip = v4(10, 0, 0, 101);
        assert!(before.same_flow_owners(&build(3, vec![all, elsewhere])));
    }

    #[test]
    fn finds_services_by_exact_key_then_port_zero() {
        let mut all = service(0, vec![dest(v4(10, 0, 2, 1), 0, Method::Dr)]);
        all.persistence_s = Some(300);
        all.key.vip = v4(10, 0, 0, 200);
        let s = Snapshot::build(
            7,
            iface(),
            vec![
                service(80, vec![dest(v4(10, 0, 2, 1), 8080, Method::Nat)]),
                service(443, vec![]),
                all,
            ],
        )
        .unwrap();
        assert_eq!(s.find_service(PROTO_TCP, &v4(10, 0, 0, 100), 80), Some(0));
        assert_eq!(s.find_service(PROTO_TCP, &v4(10, 0, 0, 100), 443), Some(1));
        assert_eq!(s.find_service(PROTO_TCP, &v4(10, 0, 0, 100), 22), None);
        assert_eq!(s.find_service(PROTO_UDP, &v4(10, 0, 0, 100), 80), None);
        assert_eq!(
            s.find_service(PROTO_TCP, &v4(10, 0, 0, 200), 12345),
            Some(2)
        );
        assert!(s.is_vip(&v4(10, 0, 0, 200)) && !s.is_vip(&v4(10, 0, 0, 1)));
        assert!(s.is_local(0, &v4(10, 0, 0, 1)) && !s.is_local(1, &v4(10, 0, 0, 1)));
        assert!(s.is_laddr(&v4(10, 0, 1, 1)) && !s.is_laddr(&v4(10, 0, 0, 100)));
        assert_eq!(s.services[0].dest_ports, vec![8080]);
        assert_eq!(
            s.services[2].dest_ports,
            vec![0],
            "port-0 service keeps the packet's port"
        );
    }

    #[test]
    fn many_services_all_found() {
        let configs: Vec<_> = (1..=200u16).map(|p| service(p, vec![])).collect();
        let s = Snapshot::build(1, iface(), configs).unwrap();
        for p in 1..=200u16 {
            assert_eq!(
                s.find_service(PROTO_TCP, &v4(10, 0, 0, 100), p),
                Some(u32::from(p) - 1)
            );
        }
        assert_eq!(s.find_service(PROTO_TCP, &v4(10, 0, 0, 100), 201), None);
    }

    /// The rules of a valid table are the service model's (control's `model` tests them);
    /// `build` refuses what would break what it builds.
    #[test]
    fn refuses_tables_it_cannot_build_naming_the_problem() {
        let cases: Vec<(Vec<ServiceConfig>, &str)> = vec![
            (
                vec![ServiceConfig {
                    key: ServiceKey {
                        protocol: 1,
                        ..service(80, vec![]).key
                    },
                    ..service(80, vec![])
                }],
                "service proto 10.0.0.100:80: protocol must be TCP or UDP",
            ),
            (
                vec![service(
                    80,
                    vec![DestConfig {
                        interface: 3,
                        ..dest(v4(10, 0, 2, 1), 0, Method::Dr)
                    }],
                )],
                "dests.interface 3 does not exist",
            ),
            (
                vec![ServiceConfig {
                    scheduler: SchedulerKind::Mh,
                    sched_params: SchedParams {
                        mh_table_size: 100,
                        ..SchedParams::default()
                    },
                    ..service(80, vec![dest(v4(10, 0, 2, 1), 0, Method::Dr)])
                }],
                "mh_table_size",
            ),
            (
                vec![service(
                    80,
                    vec![
                        DestConfig {
                            id: 5,
                            ..dest(v4(10, 0, 2, 1), 0, Method::Dr)
                        },
                        DestConfig {
                            id: 5 | 1 << DEST_SLOT_BITS,
                            ..dest(v4(10, 0, 2, 2), 0, Method::Dr)
                        },
                    ],
                )],
                "dests.id 1048581 has the slot of dests.id 5 (slot 5)",
            ),
        ];
        for (configs, want) in cases {
            let err = Snapshot::build(1, iface(), configs).err().expect(want);
            assert!(
                err.to_string().contains(want),
                "{err} should contain {want:?}"
            );
        }
    }

    #[test]
    fn vlans_resolve_per_port_and_bad_interfaces_are_refused() {
        let vlan = |port, id| Interface {
            port,
            vlan: Some(id),
            ..iface()[0].clone()
        };
        let port1 = Interface {
            port: 1,
            ..iface()[0].clone()
        };
        let ifaces = vec![
            iface()[0].clone(),
            port1.clone(),
            vlan(0, 100),
            vlan(0, 4094),
        ];
        let s = Snapshot::build(1, ifaces, vec![]).unwrap();
        assert_eq!(s.vlan_interface(0, 100), Ok(2));
        assert_eq!(s.vlan_interface(0, 4094), Ok(3));
        assert_eq!(s.vlan_interface(0, 0), Ok(0), "VLAN 0 is the port");
        assert_eq!(s.vlan_interface(1, 0), Ok(1));
        assert_eq!(s.vlan_interface(0, 101), Err(DropReason::UnknownVlan));
        assert_eq!(s.vlan_interface(1, 100), Err(DropReason::TaggedFrame));
        assert_eq!(s.vlan_interface(2, 100), Err(DropReason::TaggedFrame));
        assert_eq!(s.vlan_interface(9, 100), Err(DropReason::TaggedFrame));
        let bad = [
            vec![port1.clone()],
            vec![iface()[0].clone(), vlan(0, 0)],
            vec![iface()[0].clone(), vlan(0, 4095)],
            vec![iface()[0].clone(), vlan(0, 7), vlan(0, 7)],
            vec![iface()[0].clone(), vlan(0, 7), vlan(1, 8)],
            vec![iface()[0].clone(), vlan(3, 7)],
        ];
        for ifaces in bad {
            let last = ifaces.len() as u16 - 1;
            let err = Snapshot::build(1, ifaces.clone(), vec![]).err();
            assert_eq!(err, Some(SnapshotError::BadInterface(last)), "{ifaces:?}");
        }
    }
}
