//! The per-worker packet engine: classify a frame, find or create its session, and rewrite it
//! with the session's forwarding method. Plain Rust over a [`PacketBuf`]; the DPDK worker loop
//! calls [`Forwarder::process_prepared`] for each received packet with its [`Arrival`] and acts
//! on the [`Verdict`]. Which worker decides a flow is [`owner`]'s business; the rewrite of each
//! forwarding method is [`xmit`]'s.
//!
//! A new session is made in the steps of IPVS's `ip_vs_schedule`: the persistence template
//! (`ip_vs_sched_persist`) or the scheduler picks the server, the forwarding method is bound
//! (out key, [`Binding`], FULLNAT's local port), the session is inserted, then its template.
//!
//! Every packet ends in exactly one verdict; the counters in [`WorkerStats`] add up:
//! `rx == tx + redirected + local + drops.total()`.

mod dests;
mod icmp;
pub mod icmp_limit;
mod kernel;
mod local;
pub mod owner;
mod sync;

pub use owner::{Arrival, FragKey};
pub use sync::{SyncControl, SyncOut, SyncStats};

use crate::buf::PacketBuf;
use crate::conn::{
    tcp_flags, Addr, Direction, FlowKey, FullPolicy, Session, SessionId, SessionTable, State,
    Timeouts,
};
use crate::sched::{Candidate, FlowHint, Scheduler};
use crate::snapshot::{DestConfig, Method, Service, Snapshot};
use crate::verdict::{DropCounters, DropReason, Verdict};
use crate::wire::checksum::proto;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{ipv4, tcp, udp, WireError};
use crate::xmit::{self, fullnat, icmp_error, nat, tunnel, Binding, LocalPorts, NextHop};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// How a worker's engine is set up (fixed for its life).
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    pub worker: u16,
    pub workers: u16,
    /// Session-table capacity (preallocated).
    pub capacity: usize,
    /// Keys the session-table hash; random per worker in production.
    pub seed: [u64; 2],
    pub timeouts: Timeouts,
    pub full_policy: FullPolicy,
    /// Frames per second each interface's kernel interface takes, by interface number (0 or
    /// missing: none); shared among the workers.
    pub exception_rates: Vec<u32>,
}

/// Per-worker packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub rx: u64,
    pub tx: u64,
    pub redirected: u64,
    /// Handed to the control plane ([`Verdict::Local`]).
    pub local: u64,
    pub drops: DropCounters,
    /// Packets answered with an ICMP error built in their place (time exceeded, fragmentation
    /// needed); included in `tx`.
    pub icmp_errors: u64,
    /// Fragments absorbed into a reassembled datagram, all but the one that completed it (which
    /// stands for the datagram and is counted by its fate): a term of the identity.
    pub reassembled: u64,
}

/// Traffic of one real server on one worker (ipvsadm --stats), kept across snapshots by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestStats {
    pub id: u32,
    /// Connections scheduled to it.
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    /// IP bytes (header included), as IPVS counts them.
    pub in_bytes: u64,
    pub out_bytes: u64,
    /// IPVS ActiveConn / InActConn (a gauge, filled in when read).
    pub active_conns: u64,
    pub inactive_conns: u64,
}

/// A worker's mutable view of one service: its scheduler instance and per-dest connection counts.
struct ServiceState {
    scheduler: Box<dyn Scheduler>,
    candidates: Vec<Candidate>,
    /// Indices into `LocalPorts` of this service's FULLNAT local addresses.
    laddr_pools: Vec<usize>,
    next_laddr: usize,
    /// Some dest is NAT or FULLNAT, which decrement the TTL.
    decrements_ttl: bool,
}

pub struct Forwarder {
    workers: u16,
    snapshot: Arc<Snapshot>,
    /// Which worker decides a flow.
    owners: owner::Owners,
    services: Vec<ServiceState>,
    /// Per-real-server positions and traffic, by the slot of the server's id.
    dests: dests::Dests,
    sessions: SessionTable<Binding>,
    lports: LocalPorts,
    stats: WorkerStats,
    ip_ident: u16,
    /// The rate limit of the time-exceeded errors this worker sends.
    icmp_limit: icmp_limit::Limiter,
    /// This worker's share of each port's exception rate.
    exception: kernel::Limits,
    /// The sync sender's ring, when rvsd has one.
    sync_out: Option<SyncOut>,
    sync_stats: SyncStats,
    refresh: sync::Refresh,
}

/// What the classifier learned of a TCP/UDP packet.
#[derive(Clone, Copy)]
struct Flow {
    key: FlowKey,
    /// The session table's hash of `key`.
    hash: u64,
    tcp_flags: u8,
    ttl: u8,
    len: u32,
}

/// A frame parsed by [`Forwarder::prepare`]: `None` if it is not an IPv4 frame (ARP,
/// IPv6, runts: [`Forwarder::process_prepared`] classifies those itself), else the outcome of
/// validating its IPv4 and TCP/UDP headers, with the flow's hash.
#[derive(Clone, Copy)]
pub struct Prepared(Option<Result<Parsed, DropReason>>);

impl Prepared {
    pub const UNPARSED: Prepared = Prepared(None);

    /// The session table's hash of a valid TCP/UDP flow; `None` for anything else.
    pub fn flow_hash(&self) -> Option<u64> {
        match &self.0 {
            Some(Ok(Parsed::Flow(flow))) => Some(flow.hash),
            _ => None,
        }
    }
}

impl Forwarder {
    pub fn new(
        config: &ForwarderConfig,
        snapshot: Arc<Snapshot>,
    ) -> Result<Forwarder, crate::conn::CapacityError> {
        let sessions = SessionTable::new(
            config.capacity,
            config.seed,
            config.timeouts,
            config.full_policy,
        )?;
        let mut fw = Forwarder {
            workers: config.workers.max(1),
            snapshot: snapshot.clone(),
            owners: owner::Owners::new(config.worker, config.workers),
            services: Vec::new(),
            dests: dests::Dests::default(),
            sessions,
            lports: LocalPorts::new(config.worker, config.workers),
            stats: WorkerStats::default(),
            ip_ident: 0,
            icmp_limit: icmp_limit::Limiter::new(config.workers, config.seed[0]),
            exception: kernel::Limits::new(&config.exception_rates, config.workers),
            sync_out: None,
            sync_stats: SyncStats::default(),
            refresh: sync::Refresh::default(),
        };
        fw.set_snapshot(snapshot);
        Ok(fw)
    }

    /// The forwarder hands a record of each new session and state change to `out` while its
    /// flag is set (the master sync daemon).
    pub fn with_sync(mut self, out: SyncOut) -> Forwarder {
        self.sync_out = Some(out);
        self
    }

    /// Installs a new service table between bursts. Existing sessions keep forwarding as they
    /// were bound; per-dest connection counts carry over for dests that remain (matched by id),
    /// and the scheduler state of services the change left as they were.
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        let mut services = Vec::with_capacity(snapshot.services.len());
        for service in snapshot.services.iter() {
            services.push(self.service_state(service));
        }
        self.dests.install(&self.snapshot, &snapshot);
        self.services = services;
        self.owners.replace_table(&self.snapshot, &snapshot);
        self.snapshot = snapshot;
    }

    /// This worker's state of `service` of a table being installed, with what it carries over
    /// from the current table.
    fn service_state(&mut self, service: &Service) -> ServiceState {
        let candidates = service
            .config
            .dests
            .iter()
            .map(|d| self.carried_candidate(d))
            .collect();
        let laddr_pools = service
            .config
            .local_addrs
            .iter()
            .map(|a| self.lports.ensure(*a))
            .collect();
        let (scheduler, next_laddr) = self.carried_scheduler(service);
        ServiceState {
            scheduler,
            candidates,
            laddr_pools,
            next_laddr,
            decrements_ttl: service
                .config
                .dests
                .iter()
                .any(|d| d.method.replies_through_box()),
        }
    }

    /// The candidate of dest `d` of a table being installed: the connection counts (and the
    /// overload, if its thresholds stay) of the same server (by id) in the current table.
    fn carried_candidate(&self, d: &DestConfig) -> Candidate {
        let mut c = Candidate::with_weight(d.weight);
        if let Some((os, oi)) = self.dests.position(d.id) {
            if let Some(old) = self.services.get(os).and_then(|s| s.candidates.get(oi)) {
                c.active_conns = old.active_conns;
                c.inactive_conns = old.inactive_conns;
                // New thresholds judge the server afresh by its connections (IPVS's
                // `__ip_vs_update_dest` clears the flag when the upper threshold is
                // removed or raised; rvs on any change of either threshold).
                let was = self
                    .snapshot
                    .services
                    .get(os)
                    .and_then(|s| s.config.dests.get(oi));
                c.overloaded = old.overloaded
                    && was.is_some_and(|w| {
                        (w.upper_threshold, w.lower_threshold)
                            == (d.upper_threshold, d.lower_threshold)
                    });
            }
        }
        update_overload(&mut c, d, self.workers);
        c
    }

    /// The scheduler and next local address of `service` of a table being installed. A service
    /// the change left exactly as it was keeps its scheduler's place (rr, wrr) and its next
    /// local address, so that frequent changes elsewhere do not keep sending its new
    /// connections to its first servers. A changed service keeps its rr place by server (as
    /// IPVS's rr does); the others start afresh, as IPVS's wrr does when its servers change.
    fn carried_scheduler(&self, service: &Service) -> (Box<dyn Scheduler>, usize) {
        let old = self
            .snapshot
            .position(service.key())
            .and_then(|i| Some((self.snapshot.services.get(i)?, self.services.get(i)?)));
        let kept = old
            .filter(|(o, _)| o.config == service.config)
            .map(|(_, state)| state);
        let scheduler = match (kept, old) {
            // Only a place is carried: shared tables (Maglev's) come with the new snapshot,
            // so that the worker never holds the last reference to an old one.
            (Some(state), _) if state.scheduler.has_place() => state.scheduler.box_clone(),
            (None, Some((o, state))) if o.config.scheduler == service.config.scheduler => {
                let moved: Vec<Option<usize>> = o
                    .config
                    .dests
                    .iter()
                    .map(|d| service.config.dests.iter().position(|n| n.id == d.id))
                    .collect();
                state
                    .scheduler
                    .carry_place(&moved)
                    .unwrap_or_else(|| service.scheduler.box_clone())
            }
            _ => service.scheduler.box_clone(),
        };
        (scheduler, kept.map_or(0, |state| state.next_laddr))
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    pub fn sessions(&self) -> &SessionTable<Binding> {
        &self.sessions
    }

    /// Per-dest (active, inactive) connection counts of service `service` on this worker.
    pub fn dest_conns(&self, service: usize) -> Vec<(u32, u32)> {
        self.services
            .get(service)
            .map(|s| {
                s.candidates
                    .iter()
                    .map(|c| (c.active_conns, c.inactive_conns))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Traffic per real server of the current snapshot, every service's dests in order.
    pub fn dest_stats(&self) -> Vec<DestStats> {
        self.snapshot
            .services
            .iter()
            .zip(&self.services)
            .flat_map(|(config, state)| {
                config
                    .config
                    .dests
                    .iter()
                    .zip(&state.candidates)
                    .map(|(d, c)| DestStats {
                        active_conns: u64::from(c.active_conns),
                        inactive_conns: u64::from(c.inactive_conns),
                        ..self.dests.traffic(d.id)
                    })
            })
            .collect()
    }

    /// Zeroes the per-server traffic counters (ipvsadm -Z): of the servers in `ids`, or all.
    pub fn zero_dest_stats(&mut self, ids: Option<&[u32]>) {
        self.dests.zero(ids);
    }

    /// Replaces the session timeouts (ipvsadm --set); existing deadlines are kept.
    pub fn set_timeouts(&mut self, timeouts: crate::conn::Timeouts) {
        self.sessions.set_timeouts(timeouts);
    }

    /// Expires sessions whose deadline passed (bounded work); returns how many.
    pub fn expire(&mut self, now_ms: u64, budget: usize) -> usize {
        let Forwarder {
            sessions,
            lports,
            services,
            dests,
            snapshot,
            workers,
            ..
        } = self;
        let expired = sessions.expire(now_ms, budget, |_, s| {
            release(lports, services, dests, snapshot, *workers, &s)
        });
        if expired > 0 && sessions.is_empty() {
            dests.sessions_cleared();
        }
        expired
    }

    /// Removes every session (ipvsadm -C keeps them; this is the explicit flush).
    pub fn flush_sessions(&mut self) -> usize {
        let ids: Vec<SessionId> = self.sessions.iter().map(|(id, _)| id).collect();
        for id in &ids {
            if let Some(s) = self.sessions.remove(*id) {
                self.release_session(&s);
            }
        }
        self.dests.sessions_cleared();
        ids.len()
    }

    /// First stage of deciding a frame: parses and validates an IPv4 frame (untagged or with one
    /// 802.1Q tag, whose VLAN `process_prepared` judges), hashes its
    /// flow and prefetches the flow's session index entry. Pure: reads `frame` only. Workers
    /// prepare a whole burst, then [`prefetch_session`](Self::prefetch_session) every packet,
    /// then [`process_prepared`](Self::process_prepared) each, so that the cache misses of a
    /// burst overlap and each frame is parsed once.
    #[inline]
    pub fn prepare(&self, frame: &[u8]) -> Prepared {
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return Prepared::UNPARSED;
        };
        if eth.ethertype() != ethertype::IPV4 {
            return Prepared::UNPARSED;
        }
        let mut parsed = parse_ipv4(&frame[eth.header_len()..]);
        if let Ok(Parsed::Flow(flow)) = &mut parsed {
            flow.hash = self.sessions.prefetch_index(&flow.key);
        }
        Prepared(Some(parsed))
    }

    /// Second stage (after the first stage of the whole burst): prefetches the session that the
    /// prepared frame's index entry leads to.
    #[inline]
    pub fn prefetch_session(&self, prepared: &Prepared) {
        if let Some(Ok(Parsed::Flow(flow))) = &prepared.0 {
            self.sessions.prefetch_slot(flow.hash);
        }
    }

    /// Decides the fate of one frame received from the NIC on interface `in_if` at `now_ms`,
    /// rewriting it in place when it is to be transmitted.
    #[inline]
    pub fn process<B: PacketBuf>(&mut self, buf: &mut B, in_if: u16, now_ms: u64) -> Verdict {
        let prepared = self.prepare(buf.data());
        self.process_prepared(buf, Arrival::received(in_if), now_ms, &prepared)
    }

    /// [`process`](Self::process) of a frame that [`prepare`](Self::prepare) has seen and that
    /// reached this worker as `arrival` says (a frame other workers handed over may go on to its
    /// fallback only, or nowhere: [`owner::Owners::pass_on`]). Contract: `prepared` is what
    /// `prepare` returned for exactly the bytes now in `buf`.
    pub fn process_prepared<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        arrival: Arrival,
        now_ms: u64,
        prepared: &Prepared,
    ) -> Verdict {
        self.stats.rx += 1;
        let verdict = self.classify(buf, arrival, now_ms, prepared);
        match verdict {
            Verdict::Transmit(_) | Verdict::Fragment(_) => self.stats.tx += 1,
            Verdict::Redirect(_) => self.stats.redirected += 1,
            Verdict::Local => self.stats.local += 1,
            Verdict::Drop(reason) => self.stats.drops.count(reason),
            // Counted when its datagram's fate is known.
            Verdict::Reassemble => self.stats.rx -= 1,
        }
        verdict
    }

    /// Counts `frames` received fragments the reassembler dropped (`reason`: refused, timed
    /// out, too big), never counted before (they were [`Verdict::Reassemble`]): rx and a drop
    /// each.
    #[cold]
    pub fn count_fragments(&mut self, reason: DropReason, frames: u64) {
        self.stats.rx += frames;
        self.stats.drops.add(reason, frames);
    }

    /// Moves `frames` just counted as transmitted to drops (`reason`): the worker could not
    /// send the packet they made (no mbuf for its fragments).
    pub fn transmit_failed(&mut self, reason: DropReason, frames: u64) {
        self.stats.tx = self.stats.tx.saturating_sub(frames);
        self.stats.drops.add(reason, frames);
    }

    fn classify<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        arrival: Arrival,
        now: u64,
        prepared: &Prepared,
    ) -> Verdict {
        let in_if = arrival.in_if();
        let (l2, ethertype, tci) = match ethernet::Packet::new_checked(buf.data()) {
            Ok(eth) => {
                let dst = eth.dst_addr();
                let ours = self
                    .snapshot
                    .interfaces
                    .get(usize::from(in_if))
                    .is_some_and(|i| i.mac == dst);
                if !ours && dst.is_unicast() {
                    return Verdict::Drop(DropReason::NotOurMac);
                }
                (eth.header_len(), eth.ethertype(), eth.vlan_tci())
            }
            Err(_) => return Verdict::Drop(DropReason::Truncated),
        };
        // From here on the packet's interface is the port's VLAN sub-interface if tagged.
        let arrival = match tci {
            None => arrival,
            Some(tci) => match self.snapshot.vlan_interface(in_if, tci & 0x0fff) {
                Ok(iface) => Arrival::new(iface, arrival.hops()),
                Err(reason) => return Verdict::Drop(reason),
            },
        };
        match ethertype {
            ethertype::IPV4 => match &prepared.0 {
                Some(parsed) => self.ipv4(buf, l2, arrival, now, parsed),
                None => Verdict::Drop(DropReason::Truncated),
            },
            ethertype::ARP if self.arp_for_kernel(buf.data(), l2, arrival.in_if(), now) => {
                Verdict::Local
            }
            ethertype::ARP => local::arp_reply(&self.snapshot, buf.data_mut(), l2, arrival.in_if()),
            ethertype::IPV6 => Verdict::Drop(DropReason::Ipv6Unsupported),
            _ => Verdict::Drop(DropReason::NotIp),
        }
    }

    fn ipv4<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        arrival: Arrival,
        now: u64,
        parsed: &Result<Parsed, DropReason>,
    ) -> Verdict {
        let flow = match parsed {
            Ok(Parsed::Flow(flow)) => flow,
            Ok(Parsed::Icmp) => return icmp::handle(self, buf, l2, arrival),
            Err(reason) => return self.refused(*reason, &buf.data()[l2..], arrival),
        };
        if let Some((id, dir)) = self.sessions.lookup_hashed(&flow.key, flow.hash) {
            if !(dir == Direction::In && opens_connection(flow) && self.is_reusable(id)) {
                return self.forward_session(buf, l2, arrival.in_if(), id, dir, flow, now);
            }
            // IPVS's conn_reuse_mode: a SYN on a session that has ended (or whose server is
            // gone) is a new connection; the old session goes and the SYN is scheduled.
            if let Some(old) = self.sessions.remove(id) {
                self.release_session(&old);
            }
        }
        if let Some(svc) =
            self.snapshot
                .find_service(flow.key.protocol, &flow.key.dst, flow.key.dst_port)
        {
            return self.new_session(buf, l2, arrival, svc as usize, flow, now);
        }
        self.owners.miss(&self.snapshot, &flow.key, arrival)
    }

    /// An IPv4 packet the classifier refused for `reason` (`ip`: from its header on): dropped,
    /// but a fragment, which [`fragment`](Self::fragment) decides. Apart and cold, so that the
    /// common path keeps its shape.
    #[cold]
    #[inline(never)]
    fn refused(&self, reason: DropReason, ip: &[u8], arrival: Arrival) -> Verdict {
        match reason {
            DropReason::Fragment => self.fragment(ip, arrival),
            reason => Verdict::Drop(reason),
        }
    }

    /// An IPv4 fragment: reassembled on its datagram's owner if it belongs to a service's
    /// traffic, else dropped as before (`fragment`: rvs forwards only what it balances).
    #[inline(always)]
    fn fragment(&self, ip: &[u8], arrival: Arrival) -> Verdict {
        // The classifier validated the header (`parse_ipv4`, which leaves fragments to this).
        let ip = ipv4::Packet::new_unchecked(ip);
        let key = FragKey {
            src: ip.src_addr().octets(),
            dst: ip.dst_addr().octets(),
            protocol: ip.protocol(),
            ident: ip.ident(),
        };
        let (src, dst) = (Addr::v4(key.src), Addr::v4(key.dst));
        if !self.snapshot.is_service_traffic(&src, &dst) {
            return Verdict::Drop(DropReason::Fragment);
        }
        self.owners.fragment(&key, arrival)
    }

    /// Decides a datagram the worker's reassembler completed from `frames` fragments, as one
    /// packet received on `in_if` (free to go to its flow's owner): [`prepare`](Self::prepare)d
    /// like any frame. Each fragment counts once in rx: the one that completed the datagram
    /// stands for it (one rx, one fate), the others count in `reassembled`.
    pub fn process_reassembled<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        in_if: u16,
        now_ms: u64,
        frames: u64,
    ) -> Verdict {
        let prepared = self.prepare(buf.data());
        // One call site of `classify` (inlined there): counted once by `process_prepared`,
        // the other fragments here.
        let verdict = self.process_prepared(buf, Arrival::received(in_if), now_ms, &prepared);
        let verdict = match verdict {
            // A reassembled datagram is no fragment; never loop through the reassembler.
            Verdict::Reassemble => {
                self.count_fragments(DropReason::Fragment, 1);
                Verdict::Drop(DropReason::Fragment)
            }
            v => v,
        };
        let absorbed = frames.saturating_sub(1);
        self.stats.rx += absorbed;
        self.stats.reassembled += absorbed;
        verdict
    }

    /// Whether a new connection may replace session `id`: it has ended (TIME_WAIT, CLOSE) or
    /// its server has left the table.
    fn is_reusable(&self, id: SessionId) -> bool {
        self.sessions.get(id).is_some_and(|s| {
            matches!(s.state(), State::TimeWait | State::Close)
                || self.dests.position(s.payload.dest_id).is_none()
        })
    }

    /// A new flow's first packet to service `svc` (IPVS's `ip_vs_schedule`), decided on the
    /// flow's owner; a TCP segment other than a SYN starts nothing. The persistence template
    /// ([`find_template`](Self::find_template)) or the scheduler picks the server, the
    /// forwarding method is bound ([`bind`](Self::bind)), the session inserted and then bound to
    /// its template; the packet goes on as the session's first.
    fn new_session<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        arrival: Arrival,
        svc: usize,
        flow: &Flow,
        now: u64,
    ) -> Verdict {
        let key = flow.key;
        if !self.snapshot.holds(&key.dst) {
            return Verdict::Drop(DropReason::Standby);
        }
        // Checked before scheduling so that a doomed packet does not move the scheduler on.
        if self.services[svc].decrements_ttl && flow.ttl <= 1 {
            return self.time_exceeded(buf, l2, arrival.in_if(), now);
        }
        let owner = self.snapshot.services[svc].owner;
        let owner = match self.owners.new_flow_owner(owner, &key, arrival) {
            Ok(owner) => owner,
            Err(redirect) => return redirect,
        };
        if key.protocol == proto::TCP && !self.starts_session(flow) {
            return self
                .owners
                .pass_on_client(arrival, owner, &key, DropReason::NoSession);
        }
        let snapshot = self.snapshot.clone();
        let service = &snapshot.services[svc];
        let (template_key, template) = self.find_template(svc, service, &key);
        let chosen = template.map(|(_, idx)| idx);
        let Some(idx) = chosen.or_else(|| self.schedule(svc, service, &key)) else {
            return self
                .owners
                .pass_on_client(arrival, owner, &key, DropReason::NoDestination);
        };
        let (out_key, binding) = match self.bind(buf, arrival.in_if(), svc, service, idx, flow) {
            Ok(bound) => bound,
            Err(DropReason::TtlExpired) => {
                return self.time_exceeded(buf, l2, arrival.in_if(), now);
            }
            Err(reason) => return Verdict::Drop(reason),
        };
        let id = match self.insert_session(key, out_key, binding, now) {
            Ok(id) => id,
            Err(reason) => return Verdict::Drop(reason),
        };
        self.count_connection(svc, idx, &service.config.dests[idx]);
        if let Some(tkey) = template_key {
            let template = template.map(|(tid, _)| tid);
            if let Err(reason) = self.bind_template(tkey, template, binding, service, id, now) {
                return Verdict::Drop(reason);
            }
        }
        self.forward_session(buf, l2, arrival.in_if(), id, Direction::In, flow, now)
    }

    /// Whether TCP segment `flow` without a session starts one: a SYN alone, or with
    /// `sloppy_tcp` any segment but a RST (IPVS's `tcp_conn_schedule`); the new session's state
    /// follows from the segment (an ACK: ESTABLISHED).
    fn starts_session(&self, flow: &Flow) -> bool {
        opens_connection(flow)
            || (self.snapshot.sloppy_tcp() && flow.tcp_flags & tcp_flags::RST == 0)
    }

    /// The persistence template of `key`'s client network for service `svc` (the lookup of
    /// IPVS's `ip_vs_sched_persist`): its key if the service is persistent, and the template and
    /// the index of the server it names if the table holds it. A template whose server is gone
    /// is removed: the flow is scheduled afresh.
    fn find_template(
        &mut self,
        svc: usize,
        service: &Service,
        key: &FlowKey,
    ) -> (Option<FlowKey>, Option<(SessionId, usize)>) {
        let config = &service.config;
        if config.persistence_s.is_none() {
            return (None, None);
        }
        let net = owner::client_net(&key.src, config.persistence_prefix);
        let tkey = FlowKey::template(key.protocol, net, key.dst, service.key().port);
        let Some((tid, _)) = self.sessions.lookup(&tkey) else {
            return (Some(tkey), None);
        };
        let dest = self
            .sessions
            .get(tid)
            .and_then(|t| self.dests.position(t.payload.dest_id));
        match dest {
            Some((s, d)) if s == svc => (Some(tkey), Some((tid, d))),
            _ => {
                self.sessions.remove(tid);
                (Some(tkey), None)
            }
        }
    }

    /// The scheduler's pick among service `svc`'s servers for a flow with `key`: the server's
    /// index, None if the scheduler has none to give.
    fn schedule(&mut self, svc: usize, service: &Service, key: &FlowKey) -> Option<usize> {
        let state = &mut self.services[svc];
        let hint = FlowHint {
            src: key.src.to_ip(),
            dst: key.dst.to_ip(),
            src_port: key.src_port,
            dst_port: key.dst_port,
            protocol: key.protocol,
        };
        let pick = state.scheduler.schedule(&hint, &state.candidates);
        pick.filter(|&i| i < service.config.dests.len())
    }

    /// Binds the forwarding method of server `idx` of service `svc` to a new flow whose first
    /// packet (in `buf`, on interface `in_if`) is `flow` (IPVS's `ip_vs_conn_new` with
    /// `ip_vs_bind_xmit`): the reply key the method needs (NAT, FULLNAT with a local port of
    /// this worker's) and the session's [`Binding`]. Refuses a server without a resolved MAC,
    /// and a packet whose TTL the method would decrement to nothing.
    fn bind<B: PacketBuf>(
        &mut self,
        buf: &B,
        in_if: u16,
        svc: usize,
        service: &Service,
        idx: usize,
        flow: &Flow,
    ) -> Result<(Option<FlowKey>, Binding), DropReason> {
        let (dest, key) = (&service.config.dests[idx], &flow.key);
        if dest.mac == ethernet::MacAddr::ZERO {
            return Err(DropReason::NoNeighbour);
        }
        if dest.method.replies_through_box() && flow.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let rs_port = match service.dest_ports[idx] {
            0 => key.dst_port,
            p => p,
        };
        let out_key = match dest.method {
            Method::Nat => Some(nat::out_key(key, dest.addr, rs_port)),
            Method::FullNat => {
                let (laddr, lport) = self.alloc_local_port(svc)?;
                Some(fullnat::out_key(key, dest.addr, rs_port, laddr, lport))
            }
            Method::Dr | Method::Tunnel => None,
        };
        let binding = Binding {
            method: dest.method,
            dest_id: dest.id,
            client_if: in_if,
            client_mac: ethernet::Packet::new_unchecked(buf.data()).src_addr(),
            dest_if: dest.interface,
            dest_mac: dest.mac,
            dest_addr: dest.addr,
            dest_port: rs_port,
        };
        Ok((out_key, binding))
    }

    /// A FULLNAT local address and port for a new session of service `svc`: the service's local
    /// addresses in turn, each port from this worker's slice.
    fn alloc_local_port(&mut self, svc: usize) -> Result<(Addr, u16), DropReason> {
        let state = &mut self.services[svc];
        let pools = &state.laddr_pools;
        let Some(&pool) = pools.get(state.next_laddr % pools.len().max(1)) else {
            return Err(DropReason::LocalPortsExhausted);
        };
        state.next_laddr = state.next_laddr.wrapping_add(1);
        self.lports
            .alloc(pool)
            .ok_or(DropReason::LocalPortsExhausted)
    }

    /// Inserts a new session, releasing the one a full table evicted for it; on failure gives
    /// back the FULLNAT local port its out key holds.
    fn insert_session(
        &mut self,
        key: FlowKey,
        out_key: Option<FlowKey>,
        binding: Binding,
        now: u64,
    ) -> Result<SessionId, DropReason> {
        match self.sessions.insert(key, out_key, binding, now) {
            Ok(inserted) => {
                if let Some((_, evicted)) = inserted.evicted {
                    self.release_session(&evicted);
                }
                Ok(inserted.id)
            }
            Err(e) => {
                if let Some(k) = out_key.filter(|_| binding.method == Method::FullNat) {
                    self.lports.free(&k.dst, k.dst_port);
                }
                Err(match e {
                    crate::conn::InsertError::Full => DropReason::TableFull,
                    crate::conn::InsertError::Exists => DropReason::SessionConflict,
                })
            }
        }
    }

    /// Counts a new connection to server `idx` (`dest`) of service `svc`: inactive until
    /// established, and perhaps overloading the server.
    fn count_connection(&mut self, svc: usize, idx: usize, dest: &DestConfig) {
        if let Some(st) = self.dests.traffic_mut(dest.id) {
            st.conns += 1;
        }
        let c = &mut self.services[svc].candidates[idx];
        c.inactive_conns += 1;
        update_overload(c, dest, self.workers);
    }

    /// Binds new session `id` to its persistence template (the rest of IPVS's
    /// `ip_vs_sched_persist`): `template` if the table holds it, else a new one with key `tkey`,
    /// bound like the session, for the service's persistence timeout. A template the table
    /// cannot take is left out; one that took the room of the new session takes neither.
    fn bind_template(
        &mut self,
        tkey: FlowKey,
        template: Option<SessionId>,
        binding: Binding,
        service: &Service,
        id: SessionId,
        now: u64,
    ) -> Result<(), DropReason> {
        let tid = match template {
            Some(t) => Some(t),
            None => {
                let persistence_s = service.config.persistence_s.unwrap_or(0);
                let ms = persistence_s.saturating_mul(1000);
                let inserted = self.sessions.insert_template(tkey, binding, ms, now).ok();
                inserted.map(|ins| {
                    if let Some((_, evicted)) = ins.evicted {
                        self.release_session(&evicted);
                    }
                    ins.id
                })
            }
        };
        let Some(tid) = tid else {
            return Ok(());
        };
        if self.sessions.get(id).is_none() {
            // A full table evicted the new connection to make room for its template: neither
            // stays.
            self.sessions.remove(tid);
            return Err(DropReason::TableFull);
        }
        self.sessions.bind_control(id, tid, now);
        Ok(())
    }

    /// Sends a packet of session `id` travelling in `dir`, received on `in_if`, on by the
    /// session's method.
    #[allow(clippy::too_many_arguments)]
    fn forward_session<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        in_if: u16,
        id: SessionId,
        dir: Direction,
        flow: &Flow,
        now: u64,
    ) -> Verdict {
        let Some(s) = self.sessions.get(id) else {
            return Verdict::Drop(DropReason::NoSession);
        };
        // What the rewrite needs, copied out of the slot (not the 40-byte keys).
        let mut binding = s.payload;
        let rewrite = xmit::endpoints(binding.method, dir, s.in_key(), s.out_key());
        if binding.method.replies_through_box() && flow.ttl <= 1 {
            return self.time_exceeded(buf, l2, in_if, now);
        }
        if let Some(change) = self
            .sessions
            .on_packet(id, dir, flow.tcp_flags, flow.len, now)
        {
            if change.activity_changed() {
                self.account_activity(binding.dest_id, change.to.is_established());
            }
            if sync::is_synced_change(change.to) {
                self.sync_session(id);
            }
        }
        if self.sync_out.is_some() && dir == Direction::In {
            self.sync_by_packets(id);
        }
        if let Some(st) = self.dests.traffic_mut(binding.dest_id) {
            let bytes = u64::from(flow.len);
            match dir {
                Direction::In => {
                    st.in_packets += 1;
                    st.in_bytes += bytes;
                }
                Direction::Out => {
                    st.out_packets += 1;
                    st.out_bytes += bytes;
                }
            }
        }
        self.follow_next_hop(&mut binding);
        self.transmit(buf, l2, dir, &binding, &rewrite, flow.len)
    }

    /// Points a session's binding at its server's next hop as the current table has it, so
    /// that the sessions already bound follow a server or gateway whose MAC moved (a failover
    /// the neighbour code saw); a server gone from the table, or unresolved there, keeps the MAC
    /// the session was bound with.
    #[inline]
    pub(super) fn follow_next_hop(&self, binding: &mut Binding) {
        if !self.dests.moved() {
            return;
        }
        if let Some((interface, mac)) = self.dests.next_hop(binding.dest_id) {
            binding.dest_if = interface;
            binding.dest_mac = mac;
        }
    }

    /// Sends a packet of a session on by its method's transmitter (`rewrite`: the NAT/FULLNAT
    /// endpoints of the session in `dir`), out of the interface of its next hop in `dir`.
    /// `len`, the packet's IP total length, over the interface's MTU (TUN: with the tunnel
    /// header) is answered with "fragmentation needed" if DF is set, back out of the interface
    /// the session's packets in `dir` come in on (the request's tag kept), checked before the
    /// rewrite so that the answer quotes the packet as received (IPVS's
    /// `ensure_mtu_is_adequate`), else the packet is rewritten and leaves as fragments
    /// ([`Verdict::Fragment`]).
    pub(super) fn transmit<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        dir: Direction,
        binding: &Binding,
        rewrite: &xmit::Endpoints,
        len: u32,
    ) -> Verdict {
        if binding.method == Method::Tunnel {
            return self.transmit_tunnel(buf, l2, binding, len);
        }
        let (out_if, next_hop) = binding.next_hop(dir);
        let Some(iface) = self.snapshot.interfaces.get(usize::from(out_if)) else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        if len > u32::from(iface.mtu) {
            return self.transmit_oversize(buf, l2, dir, binding, rewrite);
        }
        let hop = NextHop::new(iface, next_hop);
        match self::rewrite(buf, l2, binding.method, rewrite, hop, iface.tag()) {
            Ok(()) => Verdict::Transmit(iface.port),
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// [`transmit`](Self::transmit) of a packet over its output interface's MTU: refused
    /// ([`refuse_oversize`](Self::refuse_oversize)) or rewritten to leave as fragments. Apart
    /// and reached by a tail call, so that the common path keeps nothing live across it.
    #[cold]
    #[inline(never)]
    fn transmit_oversize<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        dir: Direction,
        binding: &Binding,
        endpoints: &xmit::Endpoints,
    ) -> Verdict {
        let (out_if, next_hop) = binding.next_hop(dir);
        let Some(iface) = self.snapshot.interfaces.get(usize::from(out_if)) else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        let (hop, vlan, mtu) = (NextHop::new(iface, next_hop), iface.tag(), iface.mtu);
        if let Some(answer) = self.refuse_oversize(buf, l2, dir, binding, mtu) {
            return answer;
        }
        match rewrite(buf, l2, binding.method, endpoints, hop, vlan) {
            Ok(()) => Verdict::Fragment(out_if),
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// [`transmit`](Self::transmit) by TUN (a session's packets go in): encapsulated from the
    /// output interface's first address; with DF set and too big for the tunnel, answered
    /// "fragmentation needed" (MTU - 20) from the VIP (its destination) out of the client's
    /// interface; else over the MTU (`len`, the inner packet's length, plus the tunnel header),
    /// fragmented.
    #[inline(never)]
    fn transmit_tunnel<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        binding: &Binding,
        len: u32,
    ) -> Verdict {
        let (out_if, next_hop) = binding.next_hop(Direction::In);
        let Some(iface) = self.snapshot.interfaces.get(usize::from(out_if)) else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        let (hop, vlan) = (NextHop::new(iface, next_hop), iface.tag());
        let (port, mtu) = (iface.port, iface.mtu);
        let Some(src) = iface.addrs.iter().find_map(Addr::to_v4) else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        let ident = self.next_ident();
        let dst = xmit::v4(&binding.dest_addr);
        match tunnel::transmit(buf, l2, (src.into(), dst), mtu, ident, hop, vlan) {
            Ok(()) if len + tunnel::OVERHEAD as u32 > u32::from(mtu) => Verdict::Fragment(out_if),
            Ok(()) => Verdict::Transmit(port),
            Err(tunnel::Refusal::Drop(reason)) => Verdict::Drop(reason),
            Err(tunnel::Refusal::FragNeeded(mtu)) => {
                // From the VIP: the packet's destination.
                let vip = ipv4::Packet::new_unchecked(&buf.data()[l2..]).dst_addr();
                self.frag_needed(buf, l2, binding.client_if, vip, mtu, ident)
            }
        }
    }

    /// A packet of `binding` travelling in `dir`, over the output MTU (`mtu`), before its
    /// rewrite: with DF set (and not an ICMP message, which is never answered) the answer
    /// "fragmentation needed" back out of the interface the session's packets in `dir` come
    /// from; an MTU too small to fragment to is `too_big`; None: fragment it.
    #[cold]
    #[inline(never)]
    fn refuse_oversize<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        dir: Direction,
        binding: &Binding,
        mtu: u16,
    ) -> Option<Verdict> {
        let back_if = match dir {
            Direction::In => binding.client_if,
            Direction::Out => binding.dest_if,
        };
        let Ok(ip) = ipv4::Packet::new_checked(&buf.data()[l2..]) else {
            return Some(Verdict::Drop(DropReason::BadIpHeader));
        };
        if usize::from(mtu) < ip.header_len() + 8 {
            return Some(Verdict::Drop(DropReason::TooBig));
        }
        if !ip.dont_frag() || ip.protocol() == proto::ICMP {
            return None;
        }
        let from = self.icmp_source(ip.dst_addr(), back_if);
        let ident = self.next_ident();
        Some(self.frag_needed(buf, l2, back_if, from, mtu, ident))
    }

    /// The source of an ICMP error about a packet to `dst` received on `in_if`: `dst` if the
    /// box owns it (a VIP, a local address, one of its own), else `in_if`'s first address, as
    /// Linux answers (`icmp_send`: the local destination, else the route's source).
    fn icmp_source(&self, dst: Ipv4Addr, in_if: u16) -> Ipv4Addr {
        let a = Addr::v4(dst.octets());
        let table = &self.snapshot;
        let ours = table.is_vip(&a)
            || table.is_laddr(&a)
            || (0..table.interfaces.len() as u16).any(|i| table.is_local(i, &a));
        if ours {
            return dst;
        }
        table
            .interfaces
            .get(usize::from(in_if))
            .and_then(|i| i.addrs.iter().find_map(Addr::to_v4))
            .map_or(dst, Ipv4Addr::from)
    }

    /// The answer to a packet too big for its output interface with DF set: ICMP
    /// "fragmentation needed, next-hop MTU = `mtu`" from `from` back to the packet's source,
    /// out of the interface the packet came in on (`back_if`).
    fn frag_needed<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        back_if: u16,
        from: Ipv4Addr,
        mtu: u16,
        ident: u16,
    ) -> Verdict {
        let Some(iface) = self.snapshot.interfaces.get(usize::from(back_if)) else {
            return Verdict::Drop(DropReason::TooBig);
        };
        match tunnel::frag_needed_reply(buf, l2, from, mtu, iface.mac, ident) {
            Ok(()) => {
                self.stats.icmp_errors += 1;
                Verdict::Transmit(iface.port)
            }
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// NAT's and FULLNAT's answer to a packet received on `in_if` whose TTL they would take to
    /// 0, as Linux's `ip_forward` gives it: ICMP time exceeded in transit, back out of `in_if`
    /// to the sender's MAC, quoting up to [`icmp_error::LINUX_QUOTE`] bytes. The source is, as
    /// in `icmp_send`, the packet's destination if that is the box's (a VIP or a FULLNAT local
    /// address), else the box's first address on `in_if` (a NAT server's reply to a client),
    /// else its first address on any port. A packet Linux would not answer (see
    /// [`icmp_error::answerable`]; not sent to the box's MAC), one the rate limit
    /// ([`icmp_limit`]) silences or one the box has no address for is dropped as
    /// `ttl_expired`.
    #[cold]
    #[inline(never)]
    fn time_exceeded<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        l2: usize,
        in_if: u16,
        now: u64,
    ) -> Verdict {
        let expired = Verdict::Drop(DropReason::TtlExpired);
        let Some(iface) = self.snapshot.interfaces.get(usize::from(in_if)) else {
            return expired;
        };
        let (mac, port) = (iface.mac, iface.port);
        let (sender, dst, tos) = {
            let data = buf.data();
            if !ethernet::Packet::new_unchecked(data)
                .dst_addr()
                .is_unicast()
            {
                return expired;
            }
            let ip = ipv4::Packet::new_unchecked(&data[l2..]);
            (ip.src_addr(), ip.dst_addr(), ip.tos())
        };
        if !icmp_error::answerable(sender, dst) {
            return expired;
        }
        let to_box = Addr::v4(dst.octets());
        let from = if self.snapshot.is_vip(&to_box) || self.snapshot.is_laddr(&to_box) {
            Some(dst.octets())
        } else {
            let own = |i: &crate::snapshot::Interface| i.addrs.iter().find_map(Addr::to_v4);
            own(iface).or_else(|| self.snapshot.interfaces.iter().find_map(own))
        };
        let Some(from) = from else {
            return expired;
        };
        if !self.icmp_limit.allow(sender, now) {
            return expired;
        }
        let header = icmp_error::Header {
            from: from.into(),
            tos: icmp_error::error_tos(tos),
            ident: self.next_ident(),
        };
        let msg = crate::wire::icmp::Repr::ttl_exceeded();
        match icmp_error::reply(buf, l2, msg, header, icmp_error::LINUX_QUOTE, mac) {
            Ok(()) => {
                self.stats.icmp_errors += 1;
                Verdict::Transmit(port)
            }
            Err(_) => expired,
        }
    }

    /// [`release`] of a session this worker removed or evicted.
    fn release_session(&mut self, s: &Session<Binding>) {
        release(
            &mut self.lports,
            &mut self.services,
            &self.dests,
            &self.snapshot,
            self.workers,
            s,
        );
    }

    fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    fn account_activity(&mut self, dest_id: u32, now_active: bool) {
        if let Some((s, d)) = self.dests.position(dest_id) {
            let c = &mut self.services[s].candidates[d];
            if now_active {
                c.inactive_conns = c.inactive_conns.saturating_sub(1);
                c.active_conns += 1;
            } else {
                c.active_conns = c.active_conns.saturating_sub(1);
                c.inactive_conns += 1;
            }
        }
    }
}

/// Like IPVS, only a SYN without ACK, RST or FIN opens a TCP connection.
fn opens_connection(flow: &Flow) -> bool {
    flow.key.protocol == proto::TCP
        && flow.tcp_flags & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN)
            == tcp_flags::SYN
}

/// Returns what a removed session held: its dest's connection count (and so perhaps its
/// overload) and its FULLNAT port.
fn release(
    lports: &mut LocalPorts,
    services: &mut [ServiceState],
    dests: &dests::Dests,
    snapshot: &Snapshot,
    workers: u16,
    s: &Session<Binding>,
) {
    if s.is_template() {
        return;
    }
    if s.payload.method == Method::FullNat {
        if let Some(k) = s.out_key() {
            lports.free(&k.dst, k.dst_port);
        }
    }
    if let Some((si, di)) = dests.position(s.payload.dest_id) {
        if let Some(c) = services
            .get_mut(si)
            .and_then(|st| st.candidates.get_mut(di))
        {
            if s.state().is_established() {
                c.active_conns = c.active_conns.saturating_sub(1);
            } else {
                c.inactive_conns = c.inactive_conns.saturating_sub(1);
            }
            if let Some(d) = snapshot
                .services
                .get(si)
                .and_then(|sv| sv.config.dests.get(di))
            {
                update_overload(c, d, workers);
            }
        }
    }
}

/// IPVS's overload flag (`ip_vs_bind_dest`, `ip_vs_unbind_dest`), re-evaluated whenever a
/// dest's connection count changes: a dest with an upper threshold is overloaded once its
/// connections reach it, and stays so until they drop below its lower threshold or, without one,
/// below 3/4 of the upper one. Computed in u64: thresholds go up to `i32::MAX`. Each of
/// `workers` counts only its own connections, so each holds its share of the thresholds,
/// rounded up (as DPVS does): `-x 100` on two workers gives the server at most 50 from each.
fn update_overload(c: &mut Candidate, d: &DestConfig, workers: u16) {
    if d.upper_threshold == 0 {
        c.overloaded = false;
        return;
    }
    let total = u64::from(c.active_conns) + u64::from(c.inactive_conns);
    let share = |t: u32| u64::from(t).div_ceil(u64::from(workers.max(1)));
    let (upper, lower) = (share(d.upper_threshold), share(d.lower_threshold));
    c.overloaded = if total >= upper {
        true
    } else if lower != 0 {
        c.overloaded && total >= lower
    } else {
        c.overloaded && total * 4 >= upper * 3
    };
}

#[derive(Clone, Copy)]
enum Parsed {
    Flow(Flow),
    Icmp,
}

/// Rewrites a packet by its session's method (not TUN, which encapsulates) to `to` and
/// addresses it to `hop`, tagged `vlan` (0: untagged).
#[inline(always)]
fn rewrite<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    method: Method,
    to: &xmit::Endpoints,
    hop: NextHop,
    vlan: u16,
) -> Result<(), DropReason> {
    match method {
        Method::Dr | Method::Tunnel => xmit::dr::transmit(buf, l2, hop, vlan),
        Method::Nat => nat::transmit(buf, l2, to, hop, vlan),
        Method::FullNat => fullnat::transmit(buf, l2, to, hop, vlan),
    }
}

/// Validates an IPv4 packet (header, checksum, options, fragments) and its TCP/UDP header.
fn parse_ipv4(bytes: &[u8]) -> Result<Parsed, DropReason> {
    let ip = ipv4::Packet::new_checked(bytes).map_err(|e| match e {
        WireError::Truncated => DropReason::Truncated,
        _ => DropReason::BadIpHeader,
    })?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadIpChecksum);
    }
    if ip.has_options() {
        check_options(ip.options())?;
    }
    if ip.is_fragment() {
        // Header valid: `Forwarder::fragment` decides whether it is reassembled.
        return Err(DropReason::Fragment);
    }
    let (src, dst) = (
        Addr::v4(ip.src_addr().octets()),
        Addr::v4(ip.dst_addr().octets()),
    );
    let (protocol, ttl, len) = (ip.protocol(), ip.ttl(), u32::from(ip.total_len()));
    let (src_port, dst_port, flags) = match protocol {
        proto::TCP => {
            let seg =
                tcp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::BadL4Header)?;
            (seg.src_port(), seg.dst_port(), seg.flags())
        }
        proto::UDP => {
            let d = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::BadL4Header)?;
            (d.src_port(), d.dst_port(), 0)
        }
        proto::ICMP => return Ok(Parsed::Icmp),
        _ => return Err(DropReason::UnsupportedProtocol),
    };
    Ok(Parsed::Flow(Flow {
        key: FlowKey::new(protocol, src, src_port, dst, dst_port),
        // Filled in by `Forwarder::prepare`.
        hash: 0,
        tcp_flags: flags,
        ttl,
        len,
    }))
}

/// Source and record route options are dropped, the others pass untouched. Cold and apart:
/// the common path pays one test of the IHL.
#[cold]
#[inline(never)]
fn check_options(options: &[u8]) -> Result<(), DropReason> {
    match ipv4::Options::parse(options) {
        Err(_) => Err(DropReason::BadIpHeader),
        Ok(o) if o.source_route => Err(DropReason::SourceRoute),
        Ok(o) if o.record_route => Err(DropReason::RecordRoute),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(upper_threshold: u32, lower_threshold: u32) -> DestConfig {
        DestConfig {
            id: 1,
            addr: Addr::v4([10, 0, 1, 11]),
            port: 80,
            weight: 1,
            method: Method::Dr,
            upper_threshold,
            lower_threshold,
            mac: ethernet::MacAddr([2, 0, 0, 0, 1, 0x11]),
            interface: 0,
        }
    }

    /// The overload flag after the dest's connections go through `totals`, in order.
    fn overload_through(d: &DestConfig, workers: u16, totals: &[u32]) -> Vec<bool> {
        let mut c = Candidate::with_weight(1);
        totals
            .iter()
            .map(|&t| {
                (c.active_conns, c.inactive_conns) = (t / 2, t - t / 2);
                update_overload(&mut c, d, workers);
                c.overloaded
            })
            .collect()
    }

    #[test]
    fn overload_hysteresis_is_ipvs() {
        // No upper threshold: never overloaded.
        assert_eq!(overload_through(&dest(0, 0), 1, &[0, 9, 1000]), [false; 3]);
        // Upper 5, no lower: set at 5, cleared below 15/4 (at 3, not 2).
        assert_eq!(
            overload_through(&dest(5, 0), 1, &[4, 5, 6, 4, 3, 4]),
            [false, true, true, true, false, false]
        );
        // Upper 8, lower 2: cleared below 2 only.
        assert_eq!(
            overload_through(&dest(8, 2), 1, &[8, 5, 2, 1, 5]),
            [true, true, true, false, false]
        );
        // The largest thresholds (i32::MAX) and counts do not overflow.
        let big = i32::MAX as u32;
        assert_eq!(
            overload_through(
                &dest(big, 0),
                1,
                &[big, big - big / 4, u32::MAX, big - big / 4 - 1]
            ),
            [true, true, true, false]
        );
    }

    #[test]
    fn each_worker_holds_its_share_of_the_thresholds() {
        // -x 5 on two workers: 3 each (rounded up), cleared below 9/4 (at 2).
        assert_eq!(
            overload_through(&dest(5, 0), 2, &[2, 3, 4, 3, 2, 3]),
            [false, true, true, true, false, true]
        );
        // -x 8 -y 4 on three workers: 3 and 2 each.
        assert_eq!(
            overload_through(&dest(8, 4), 3, &[3, 2, 1, 2]),
            [true, true, false, false]
        );
        // A threshold smaller than the worker count still allows one connection each.
        assert_eq!(overload_through(&dest(1, 0), 4, &[0, 1]), [false, true]);
    }
}
