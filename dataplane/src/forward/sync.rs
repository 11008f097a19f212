//! Connection sync on a worker: the record of a session for the sync sender (as IPVS's master:
//! at the 3rd client packet of a connection and every 50th after, and at the state changes
//! that end it; never for other packets; and again every refresh period for the long-lived
//! ones), and the install of a synced one, as IPVS's backup does
//! (`ip_vs_proc_conn`: the record's method, state and timeout, bound to its server).

use super::Forwarder;
use crate::conn::{Addr, Direction, FlowKey, Session, SessionId, State, PROTO_TCP, PROTO_UDP};
use crate::snapshot::Method;
use crate::sync::{flags, RecordProducer, SyncConn, SyncInstall};
use crate::xmit::{fullnat, nat, Binding};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Slots of the session table the refresh examines per loop.
const REFRESH_SLOTS: usize = 256;

/// What the control thread tells every worker about the master sync daemon.
#[derive(Debug, Default)]
pub struct SyncControl {
    /// The master runs: hand records over.
    pub on: AtomicBool,
    /// Every this many milliseconds, hand the records of established TCP and of UDP sessions
    /// over again (0: never).
    pub refresh_ms: AtomicU32,
}

/// A worker's end of the sync sender's ring, and the master's settings.
pub struct SyncOut {
    pub ring: RecordProducer,
    pub control: Arc<SyncControl>,
}

/// Where the refresh sweep of a worker's table is.
#[derive(Debug, Default)]
pub(super) struct Refresh {
    /// The next slot to examine; 0: a sweep starts at `next_sweep`.
    cursor: usize,
    next_sweep: u64,
}

/// What a worker did with sync records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Records handed to the sync sender.
    pub sent: u64,
    /// Records its full ring lost.
    pub lost: u64,
    /// Synced connections installed.
    pub installed: u64,
    /// Synced connections refused (no such service or server, a bad state, a full table).
    pub refused: u64,
}

impl Forwarder {
    /// Hands session `id`'s record to the sync sender while the master daemon runs; a full
    /// ring loses the record (counted), never the packet.
    pub(super) fn sync_session(&mut self, id: SessionId) {
        let Some(out) = &mut self.sync_out else {
            return;
        };
        if !out.control.on.load(Ordering::Relaxed) {
            return;
        }
        let Some(rec) = self.sessions.get(id).and_then(record) else {
            return;
        };
        match out.ring.push(rec) {
            Ok(()) => {
                self.sync_stats.sent += 1;
                prefetch_next_slot(&mut out.ring);
            }
            Err(_) => self.sync_stats.lost += 1,
        }
    }

    /// Hands session `id`'s record over if its client's packets so far make it due
    /// ([`by_packets`]), while the master daemon runs. After the packet was counted.
    pub(super) fn sync_by_packets(&mut self, id: SessionId) {
        if !self
            .sync_out
            .as_ref()
            .is_some_and(|out| out.control.on.load(Ordering::Relaxed))
        {
            return;
        }
        let due = self
            .sessions
            .get(id)
            .is_some_and(|s| by_packets(s.state(), s.counters().packets_in));
        if due {
            self.sync_session(id);
        }
    }

    /// One step of the refresh sweep (from the worker's loop, a bounded number of slots): the
    /// records of the established TCP and the UDP sessions go to the sender again, a whole
    /// table every refresh period, so that a backup started later learns them too.
    pub fn sync_refresh(&mut self, now: u64) {
        let Some(out) = &mut self.sync_out else {
            return;
        };
        let period = u64::from(out.control.refresh_ms.load(Ordering::Relaxed));
        if period == 0 || !out.control.on.load(Ordering::Relaxed) {
            return;
        }
        let r = &mut self.refresh;
        if r.cursor == 0 {
            if now < r.next_sweep {
                return;
            }
            r.next_sweep = now + period;
        }
        let end = r.cursor + REFRESH_SLOTS;
        let long_lived =
            |s: &&Session<Binding>| s.state().is_established() || s.state() == State::Udp;
        for (_, s) in self.sessions.iter_slots(r.cursor..end) {
            let Some(rec) = Some(s).filter(long_lived).and_then(record) else {
                continue;
            };
            match out.ring.push(rec) {
                Ok(()) => self.sync_stats.sent += 1,
                Err(_) => self.sync_stats.lost += 1,
            }
        }
        r.cursor = if end >= self.sessions.capacity() {
            0
        } else {
            end
        };
    }

    /// What this worker did with sync records.
    pub fn sync_stats(&self) -> &SyncStats {
        &self.sync_stats
    }

    /// Installs a synced connection (replacing the session of the same flow, if any): bound to
    /// the server of the current table that the record names, in the record's method, state
    /// and timeout. False (and counted) if the table has no such service or server, the record
    /// makes no session here (state, protocol, method), or the table refuses it.
    pub fn install_synced(&mut self, rec: &SyncInstall, now: u64) -> bool {
        let done = self.try_install(rec, now).is_some();
        if done {
            self.sync_stats.installed += 1;
        } else {
            self.sync_stats.refused += 1;
        }
        done
    }

    fn try_install(&mut self, rec: &SyncInstall, now: u64) -> Option<()> {
        let c = &rec.conn;
        let state = state_of(c)?;
        let method = method_of(c)?;
        let snapshot = self.snapshot.clone();
        let svc = snapshot.find_service(c.protocol, &c.vaddr, c.vport)? as usize;
        let service = &snapshot.services[svc];
        let idx = (0..service.config.dests.len()).find(|&i| {
            let d = &service.config.dests[i];
            d.addr == c.daddr && service.dest_ports[i] == c.dport
        })?;
        let dest = &service.config.dests[idx];
        let in_key = FlowKey::new(c.protocol, c.caddr, c.cport, c.vaddr, c.vport);
        if let Some((id, _)) = self.sessions.lookup(&in_key) {
            if let Some(old) = self.sessions.remove(id) {
                self.release_session(&old);
            }
        }
        let out_key = match (method, c.local) {
            (Method::Nat, _) => Some(nat::out_key(&in_key, c.daddr, c.dport)),
            (Method::FullNat, Some((laddr, lport))) => {
                if !self.lports.take(&laddr, lport) {
                    self.free_local_port(c.protocol, laddr, lport);
                    if !self.lports.take(&laddr, lport) {
                        return None;
                    }
                }
                Some(fullnat::out_key(&in_key, c.daddr, c.dport, laddr, lport))
            }
            _ => None,
        };
        let binding = Binding {
            method,
            dest_id: dest.id,
            client_if: rec.client_if,
            client_mac: rec.client_mac,
            dest_if: dest.interface,
            dest_mac: dest.mac,
            dest_addr: c.daddr,
            dest_port: c.dport,
        };
        let timeout_ms = c.timeout_s.saturating_mul(1000);
        let inserted = self
            .sessions
            .insert_with_state(in_key, out_key, state, timeout_ms, binding, now);
        let Ok(inserted) = inserted else {
            if let Some(k) = out_key.filter(|_| method == Method::FullNat) {
                self.lports.free(&k.dst, k.dst_port);
            }
            return None;
        };
        if let Some((_, evicted)) = inserted.evicted {
            self.release_session(&evicted);
        }
        self.count_connection(svc, idx, dest);
        if state.is_established() {
            self.account_activity(dest.id, true);
        }
        Some(())
    }
}

impl Forwarder {
    /// Removes the sessions that hold FULLNAT local port `laddr:lport` (the master's record
    /// wins over what this box made of that port while it was master, such as connections in
    /// TIME_WAIT): one per real server of the services with that local address at most, found
    /// by their out keys.
    fn free_local_port(&mut self, protocol: u8, laddr: Addr, lport: u16) {
        let snapshot = self.snapshot.clone();
        let services = snapshot
            .services
            .iter()
            .filter(|s| s.config.key.protocol == protocol && s.config.local_addrs.contains(&laddr));
        for s in services {
            for (d, &port) in s.config.dests.iter().zip(&s.dest_ports) {
                let key = FlowKey::new(protocol, d.addr, port, laddr, lport);
                if let Some((id, Direction::Out)) = self.sessions.lookup(&key) {
                    if let Some(old) = self.sessions.remove(id) {
                        self.release_session(&old);
                    }
                }
            }
        }
    }
}

/// Takes the ring's next slot into this core's cache for writing, so that the next record's
/// stores do not wait for the sender's core, which read the slot's lines last.
fn prefetch_next_slot(ring: &mut RecordProducer) {
    if let Ok(mut chunk) = ring.write_chunk_uninit(1) {
        if let Some(slot) = chunk.as_mut_slices().0.first() {
            crate::dpdk::mem::prefetch_for_write(slot);
        }
    }
}

/// IPVS's `sync_threshold` and `sync_period` (their defaults, 3 and 50): an established TCP
/// connection or a UDP one is synced at its 3rd packet from the client, and again every 50.
pub const SYNC_THRESHOLD: u64 = 3;
pub const SYNC_PERIOD: u64 = 50;

/// The TCP states a change into is synced at once, as IPVS's `ip_vs_sync_conn_needed`: a
/// connection's end. Its start is synced by its packet count ([`by_packets`]): not the
/// handshake (a client whose SYN the old master took sends it again), nor a connection that
/// ends before its third packet (its end is synced instead).
#[inline]
pub(super) fn is_synced_change(state: State) -> bool {
    matches!(
        state,
        State::FinWait | State::Close | State::CloseWait | State::TimeWait
    )
}

/// Whether a session in `state` that has received `packets_in` packets from its client is
/// synced now (IPVS's `sync_threshold` rule).
#[inline]
pub(super) fn by_packets(state: State, packets_in: u64) -> bool {
    matches!(state, State::Established | State::Udp) && packets_in % SYNC_PERIOD == SYNC_THRESHOLD
}

/// The sync record of a session: TCP and UDP connections (IPVS syncs no ICMP; templates are
/// not synced: a backup's persistent client gets a template with its next connection).
fn record(s: &Session<Binding>) -> Option<SyncConn> {
    let k = s.in_key();
    if s.is_template() || !matches!(k.protocol, PROTO_TCP | PROTO_UDP) {
        return None;
    }
    let b = &s.payload;
    let method = match b.method {
        Method::Nat | Method::FullNat => flags::MASQ,
        Method::Dr => flags::DROUTE,
        Method::Tunnel => flags::TUNNEL,
    };
    let state = s.state();
    let inactive = if state.is_established() {
        0
    } else {
        flags::INACTIVE
    };
    let local = match (b.method, s.out_key()) {
        (Method::FullNat, Some(o)) => Some((o.dst, o.dst_port)),
        _ => None,
    };
    Some(SyncConn {
        protocol: k.protocol,
        flags: method | inactive,
        state: if state.is_tcp() { state as u16 } else { 0 },
        caddr: k.src,
        cport: k.src_port,
        vaddr: k.dst,
        vport: k.dst_port,
        daddr: b.dest_addr,
        dport: b.dest_port,
        fwmark: 0,
        timeout_s: s.timeout_ms().div_ceil(1000),
        local,
    })
}

/// The session state a record stands for (TCP: IPVS's number; UDP: its one state).
fn state_of(c: &SyncConn) -> Option<State> {
    const TCP: [State; 11] = [
        State::None,
        State::Established,
        State::SynSent,
        State::SynRecv,
        State::FinWait,
        State::TimeWait,
        State::Close,
        State::CloseWait,
        State::LastAck,
        State::Listen,
        State::SynAck,
    ];
    match c.protocol {
        PROTO_TCP => TCP.get(usize::from(c.state)).copied(),
        PROTO_UDP if c.state == 0 => Some(State::Udp),
        _ => None,
    }
}

/// The method a record names: MASQ is NAT, or FULLNAT with a local address; LOCALNODE and
/// templates make no session here.
fn method_of(c: &SyncConn) -> Option<Method> {
    if c.flags & flags::TEMPLATE != 0 {
        return None;
    }
    match (c.flags & flags::FWD_MASK, c.local) {
        (flags::MASQ, None) => Some(Method::Nat),
        (flags::MASQ, Some(_)) => Some(Method::FullNat),
        (flags::DROUTE, _) => Some(Method::Dr),
        (flags::TUNNEL, _) => Some(Method::Tunnel),
        _ => None,
    }
}
