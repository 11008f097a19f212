//! The per-lcore poll loop (after DPDK's l3fwd `main_loop`): receive a burst from each of the
//! worker's rx queues, decide each packet with the [`Forwarder`], buffer transmissions per
//! interface and drain them when a buffer is full or on a TSC deadline (what a queue refuses
//! waits in the buffer for the next drain); hand packets owned by
//! another worker to its redirect ring and ARP for the neighbour cache to the control ring;
//! transmit the frames the control plane built (ARP requests, gratuitous ARP: worker 0 only, so
//! a port needs exactly one tx queue per worker); between bursts, expire sessions with a bounded
//! budget, and on their own TSC deadlines take the control plane's commands (snapshot swaps,
//! session requests) and publish counters.
//!
//! Hot-path contract: no allocation, lock or syscall per packet. Bursts, their prepared frames
//! and tx buffers are fixed arrays inside the [`Worker`]; rings are DPDK's lock-free rings.
//! Every received packet ends transmitted, on another worker's or the control ring, or dropped
//! and counted, once, by its final fate: the published counters satisfy
//! `rx == tx + redirected_out + to_control + reassembled + drops` exactly ([`counters`]).

pub mod command;
pub mod counters;
pub mod frag;

pub use command::{Command, Reply, ReplyBody, SessionEntry};
pub use counters::{IoLosses, Kind, SharedCounters, WorkerCounters, PUBLISH_INTERVAL_US};
pub use frag::{reassembly, Fragments};

use crate::dpdk::{lcore, Consumer, Mbuf, MbufBurst, Mempool, Producer, RxQueue, TxQueue};
use crate::forward::{Arrival, Forwarder, Prepared};
use crate::verdict::{DropReason, Verdict};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Packets per rx burst and per tx buffer.
pub const BURST: usize = 32;
/// Sessions examined per loop by expiry.
const EXPIRE_BUDGET: usize = 128;
/// Commands taken per poll of the control plane's rings.
const COMMANDS_PER_POLL: usize = 4;
/// Synced connections installed per poll of the control plane's rings.
const INSTALLS_PER_POLL: usize = 64;
/// How often a busy worker polls the control plane's rings (commands, frames to send): often
/// enough that the control plane never waits on it noticeably, rarely enough that the empty
/// polls cost nothing per packet. An idle worker (a loop that received nothing) polls them
/// every loop.
const CONTROL_POLL_US: u64 = 20;
/// How long a worker's queues must stay empty before it sleeps between polls (when it may).
pub const IDLE_AFTER_US: u64 = 1000;
/// Attempts to hand a tx buffer to the NIC per flush while it takes some; the rest waits for
/// the next flush.
const TX_ATTEMPTS: usize = 4;

/// A worker's queues: one rx and one tx queue per interface, indexed by interface number.
pub struct WorkerIo {
    pub rx: Vec<RxQueue>,
    pub tx: Vec<TxQueue>,
    /// DPDK port id -> interface number, for the control plane's frames (`u16::MAX` for ports
    /// that are not ours).
    pub interface_of_port: Vec<u16>,
}

/// A worker's rings.
pub struct WorkerLinks {
    /// Packets other workers hand to this one.
    pub redirect_in: Consumer<Mbuf>,
    /// Indexed by worker (one entry per worker: the worker polls `redirect_in` only when there
    /// are others); `None` at this worker's own index.
    pub redirect_out: Vec<Option<Producer<Mbuf>>>,
    /// ARP for the control plane (a multi-producer ring shared by the workers).
    pub to_control: Producer<Mbuf>,
    /// Frames the control plane sends (worker 0 only), each with its output port id in
    /// `Mbuf::port`.
    pub from_control: Option<Consumer<Mbuf>>,
    pub commands: Consumer<Box<Command>>,
    pub replies: Producer<Box<Reply>>,
    /// Synced connections to install (the backup sync daemon), when rvsd has the ring.
    pub sync_in: Option<crate::sync::InstallConsumer>,
}

/// Everything one poll-mode worker owns.
#[repr(align(64))]
pub struct Worker {
    index: u16,
    forwarder: Forwarder,
    io: WorkerIo,
    links: WorkerLinks,
    shared: Arc<SharedCounters>,
    counters: WorkerCounters,
    /// Packets lost after their verdict; moved to their drop reasons at publish.
    lost: IoLosses,
    rx_burst: MbufBurst<BURST>,
    /// What `Forwarder::prepare` made of each frame of `rx_burst`, filled in place.
    prepared: [Prepared; BURST],
    tx_buffers: Vec<MbufBurst<BURST>>,
    tsc_per_ms: u64,
    drain_tsc: u64,
    publish_tsc: u64,
    control_tsc: u64,
    /// Requests (commands other than snapshot installs) taken so far; see [`Reply::seq`].
    requests: u64,
    /// Sleep between polls once idle for `IDLE_AFTER_US` (None: never).
    idle_sleep: Option<std::time::Duration>,
    idle_tsc: u64,
    /// None: fragments to services are dropped (`fragment`), fragments of oversize packets
    /// come from the packet's own pool.
    fragments: Option<Fragments>,
}

impl Worker {
    /// `drain_us`: the longest a packet waits in a tx buffer while its queue accepts packets.
    /// `tsc_hz` from `lcore::tsc_hz`.
    pub fn new(
        index: u16,
        forwarder: Forwarder,
        io: WorkerIo,
        links: WorkerLinks,
        shared: Arc<SharedCounters>,
        tsc_hz: u64,
        drain_us: u64,
    ) -> Worker {
        let tx_buffers = io.tx.iter().map(|_| MbufBurst::new()).collect();
        let tsc_per_us = (tsc_hz / 1_000_000).max(1);
        Worker {
            index,
            forwarder,
            io,
            links,
            shared,
            counters: WorkerCounters::default(),
            lost: IoLosses::default(),
            rx_burst: MbufBurst::new(),
            prepared: [Prepared::UNPARSED; BURST],
            tx_buffers,
            tsc_per_ms: tsc_per_us * 1000,
            drain_tsc: tsc_per_us * drain_us.max(1),
            publish_tsc: tsc_per_us * PUBLISH_INTERVAL_US,
            control_tsc: tsc_per_us * CONTROL_POLL_US,
            requests: 0,
            idle_sleep: None,
            idle_tsc: tsc_per_us * IDLE_AFTER_US,
            fragments: None,
        }
    }

    /// The worker sleeps `us` between polls once its queues were empty for `IDLE_AFTER_US`
    /// (0: never; a sleep is a syscall, only ever made while no packet arrives).
    pub fn with_idle_sleep(mut self, us: u32) -> Worker {
        self.idle_sleep = (us > 0).then(|| std::time::Duration::from_micros(u64::from(us)));
        self
    }

    /// The worker with IPv4 reassembly (fragments to services) and its fragments' pool.
    pub fn with_fragments(mut self, fragments: Fragments) -> Worker {
        self.fragments = Some(fragments);
        self
    }

    /// Polls until `stop` is set, then drains the tx buffers (what the queues still refuse is
    /// dropped and counted) and publishes final counters.
    /// Returns the queues so the owner can give them back to their ports.
    pub fn run(mut self, stop: &AtomicBool) -> WorkerIo {
        let mut drain_at = 0;
        let mut publish_at = 0;
        let mut control_at = 0;
        let mut busy_at = lcore::tsc();
        while !stop.load(Ordering::Relaxed) {
            let now_tsc = lcore::tsc();
            let now_ms = now_tsc / self.tsc_per_ms;
            let received = self.poll_traffic(now_ms);
            if received > 0 {
                busy_at = now_tsc;
            }
            if received == 0 || now_tsc >= control_at {
                self.poll_control(now_ms);
                control_at = now_tsc + self.control_tsc;
            }
            if let Some(pause) = self.idle_sleep {
                if now_tsc - busy_at >= self.idle_tsc
                    && self.tx_buffers.iter().all(|b| b.is_empty())
                {
                    std::thread::sleep(pause);
                }
            }
            if now_tsc >= drain_at {
                self.flush_all();
                drain_at = now_tsc + self.drain_tsc;
            }
            if now_tsc >= publish_at {
                self.publish();
                publish_at = now_tsc + self.publish_tsc;
            }
        }
        self.flush_all();
        for buffer in &mut self.tx_buffers {
            // A packet sent in fragments counts once, by its last (see `frag::is_counted`).
            self.lost.tx_full += buffer.iter().filter(|m| frag::is_counted(m)).count() as u64;
            buffer.free_all();
        }
        if let Some(f) = &mut self.fragments {
            frag::drop_held(&mut self.forwarder, f);
        }
        self.publish();
        self.io
    }

    /// One loop iteration without the deadlines: traffic and the control plane's rings (used
    /// by tests).
    pub fn poll_once(&mut self, now_ms: u64) {
        self.poll_traffic(now_ms);
        self.poll_control(now_ms);
    }

    /// Decides a burst from each rx queue and from the redirect ring (when there are other
    /// workers to fill it), then expires sessions with a bounded budget. Returns the number of
    /// packets received.
    fn poll_traffic(&mut self, now_ms: u64) -> usize {
        let mut received = 0;
        for i in 0..self.io.rx.len() {
            let n = self.io.rx[i].rx_burst(&mut self.rx_burst);
            if n > 0 {
                received += n;
                self.decide_burst(Some(i as u16), now_ms);
            }
        }
        if self.links.redirect_out.len() > 1 {
            let handed = self.links.redirect_in.pop_burst(&mut self.rx_burst);
            if handed > 0 {
                received += handed;
                self.counters.redirected_in += handed as u64;
                self.decide_burst(None, now_ms);
            }
        }
        self.forwarder.expire(now_ms, EXPIRE_BUDGET);
        self.forwarder.sync_refresh(now_ms);
        if let Some(f) = &mut self.fragments {
            let timed_out = f.table.expire(now_ms);
            if timed_out > 0 {
                self.forwarder
                    .count_fragments(DropReason::FragTimeout, u64::from(timed_out));
            }
        }
        received
    }

    /// Sends the control plane's frames and takes its commands.
    fn poll_control(&mut self, now_ms: u64) {
        self.transmit_from_control();
        for _ in 0..COMMANDS_PER_POLL {
            match self.links.commands.pop() {
                Some(cmd) => self.command(*cmd, now_ms),
                None => break,
            }
        }
        if let Some(ring) = &mut self.links.sync_in {
            for _ in 0..INSTALLS_PER_POLL {
                let Ok(rec) = ring.pop() else { break };
                self.forwarder.install_synced(&rec, now_ms);
            }
        }
    }

    /// Decides every packet of `rx_burst`; `in_if` None: the redirect ring's burst, handed over by
    /// other workers, each with its [`Arrival`] in its mbuf (recorded there by the worker that
    /// handed it on).
    /// In three passes: parse and hash every frame and prefetch its session index entry, then
    /// prefetch the sessions those entries lead to, then decide each packet; so the cache misses
    /// of the burst overlap instead of being paid one packet at a time, and each frame is parsed
    /// once. Overwrites `prepared[..len]` (entries past the burst are stale and never read) and
    /// leaves `rx_burst` empty.
    fn decide_burst(&mut self, in_if: Option<u16>, now_ms: u64) {
        // Borrowed apart so that the burst is decided where it lies (no copy of the burst or
        // of the prepared frames).
        let Worker {
            forwarder,
            io,
            links,
            lost,
            rx_burst,
            prepared,
            tx_buffers,
            fragments,
            ..
        } = self;
        let WorkerIo { rx, tx: queues, .. } = io;
        let n = rx_burst.len();
        for (p, m) in prepared.iter_mut().zip(rx_burst.iter()) {
            *p = forwarder.prepare(m.data());
        }
        for p in &prepared[..n] {
            forwarder.prefetch_session(p);
        }
        let mut sink = Sink {
            tx: Tx {
                buffers: tx_buffers,
                queues,
                tx_full: &mut lost.tx_full,
            },
            links,
            rx,
            redirect_full: &mut lost.redirect_full,
            control_full: &mut lost.control_full,
            fragments: fragments.as_mut(),
            now_ms,
        };
        for (mut m, p) in rx_burst.drain().zip(prepared.iter()) {
            let arrival = match in_if {
                Some(i) => Arrival::received(i),
                None => m.arrival(),
            };
            let verdict = forwarder.process_prepared(&mut m, arrival, now_ms, p);
            sink.deliver(forwarder, m, arrival, verdict);
        }
    }

    /// Sends the control plane's frames out of the port recorded in each, straight to the
    /// queue (one attempt, bypassing the tx buffers, so that these hold received packets only
    /// and what they lose counts in `tx_full` exactly); a refused frame is freed and counted
    /// (`from_control_lost`). Rare frames (ARP), whose senders retry.
    fn transmit_from_control(&mut self) {
        let Some(ring) = self.links.from_control.as_mut() else {
            return;
        };
        if ring.pop_burst(&mut self.rx_burst) == 0 {
            return;
        }
        let mut one = MbufBurst::<1>::new();
        for m in self.rx_burst.drain() {
            self.counters.from_control += 1;
            let queue = self
                .io
                .interface_of_port
                .get(usize::from(m.port()))
                .and_then(|&out| self.io.tx.get_mut(usize::from(out)));
            let sent = match queue {
                Some(q) => one.push(m).is_ok() && q.tx_burst(&mut one) == 1,
                None => false,
            };
            if !sent {
                self.counters.from_control_lost += 1;
                one.free_all();
            }
        }
    }

    fn flush_all(&mut self) {
        let mut tx = Tx {
            buffers: &mut self.tx_buffers,
            queues: &mut self.io.tx,
            tx_full: &mut self.lost.tx_full,
        };
        for out in 0..tx.buffers.len() {
            tx.flush(out);
        }
    }

    fn command(&mut self, cmd: Command, now_ms: u64) {
        if !matches!(cmd, Command::InstallSnapshot(_)) {
            self.requests += 1;
        }
        let body = match cmd {
            Command::InstallSnapshot(snapshot) => {
                let generation = snapshot.generation;
                self.forwarder.set_snapshot(snapshot);
                self.counters.generation = generation;
                ReplyBody::SnapshotInstalled { generation }
            }
            Command::ListSessions { cursor, max } => {
                let (entries, next) = command::list_sessions(&self.forwarder, cursor, max, now_ms);
                ReplyBody::Sessions { entries, next }
            }
            Command::FlushSessions => ReplyBody::Flushed {
                sessions: self.forwarder.flush_sessions(),
            },
            Command::SetTimeouts(t) => {
                self.forwarder.set_timeouts(t);
                ReplyBody::TimeoutsSet
            }
            Command::DestStats => ReplyBody::DestStats(self.forwarder.dest_stats()),
            Command::ZeroStats(ids) => {
                self.forwarder.zero_dest_stats(ids.as_deref());
                ReplyBody::StatsZeroed
            }
        };
        let reply = Box::new(Reply {
            worker: self.index,
            seq: self.requests,
            body,
        });
        // The control plane sizes the reply ring for its outstanding requests; if it is full
        // anyway the reply is lost and the requester times out.
        let _ = self.links.replies.push(reply);
    }

    fn publish(&mut self) {
        let t = self.forwarder.sessions();
        let c = &mut self.counters;
        c.set_traffic(self.forwarder.stats(), &self.lost);
        debug_assert_eq!(
            c.rx,
            c.tx + c.redirected_out + c.to_control + c.reassembled + c.dropped()
        );
        c.sessions = t.len() as u64;
        c.sessions_created = t.stats().created;
        c.sessions_expired = t.stats().expired;
        c.capacity = t.capacity() as u64;
        c.generation = self.forwarder.snapshot().generation;
        let sync = self.forwarder.sync_stats();
        c.sync_sent = sync.sent;
        c.sync_lost = sync.lost;
        c.sync_installed = sync.installed;
        c.sync_refused = sync.refused;
        self.shared.publish(c);
    }
}

/// Where a worker's decided packets go (its tx buffers, the other workers' and the control
/// plane's rings), borrowed apart from the rest of it.
struct Sink<'a> {
    tx: Tx<'a>,
    links: &'a mut WorkerLinks,
    rx: &'a [RxQueue],
    redirect_full: &'a mut u64,
    control_full: &'a mut u64,
    fragments: Option<&'a mut Fragments>,
    now_ms: u64,
}

impl Sink<'_> {
    /// Acts on `verdict`, the forwarder's decision on `m` (which reached this worker as
    /// `arrival`): every packet ends sent, handed on, or dropped here.
    #[inline]
    fn deliver(&mut self, fw: &mut Forwarder, mut m: Mbuf, arrival: Arrival, verdict: Verdict) {
        match verdict {
            Verdict::Transmit(out) => self.tx.send(out, m),
            Verdict::Redirect(w) => {
                m.set_arrival(arrival.handed_on());
                let ring = self
                    .links
                    .redirect_out
                    .get_mut(usize::from(w))
                    .and_then(Option::as_mut);
                let handed = match ring {
                    Some(r) => r.push(m).is_ok(),
                    None => false,
                };
                if !handed {
                    *self.redirect_full += 1;
                }
            }
            Verdict::Local => self.hand_to_control(m, arrival),
            Verdict::Fragment(out_if) => self.send_fragments(fw, out_if, &m),
            Verdict::Reassemble => self.reassemble(fw, m, arrival),
            Verdict::Drop(reason) => self.dropped(fw, m, arrival, reason),
        }
    }

    /// Hands `m` to the control thread (which reads its input port id: not every driver sets
    /// it); a full ring counts in `control_full`.
    fn hand_to_control(&mut self, mut m: Mbuf, arrival: Arrival) {
        if let Some(q) = self.rx.get(usize::from(arrival.in_if())) {
            m.set_port(q.port().0);
        }
        if self.links.to_control.push(m).is_err() {
            *self.control_full += 1;
        }
    }

    /// A frame the forwarder dropped for `reason`: freed, or, if it is the kernel's, handed to
    /// the control thread for its port's kernel interface ([`Forwarder::for_kernel`]).
    #[cold]
    #[inline(never)]
    fn dropped(&mut self, fw: &mut Forwarder, m: Mbuf, arrival: Arrival, reason: DropReason) {
        if fw.for_kernel(m.data(), arrival.in_if(), reason, self.now_ms) {
            self.hand_to_control(m, arrival);
        }
    }

    /// Sends `m` (decided [`Verdict::Fragment`]) out of the port of interface `out_if` in
    /// fragments of the interface's MTU; a packet that cannot be fragmented (no mbuf, no room)
    /// leaves its `tx` for the drop reason, one lost to a full tx buffer counts in `tx_full`
    /// once ([`Tx::send_fragments`]).
    #[cold]
    #[inline(never)]
    fn send_fragments(&mut self, fw: &mut Forwarder, out_if: u16, m: &Mbuf) {
        let Some(iface) = fw.snapshot().interfaces.get(usize::from(out_if)) else {
            // As a packet for an unknown port: lost after its verdict.
            *self.tx.tx_full += 1;
            return;
        };
        let (port, mtu) = (iface.port, iface.mtu);
        let pool = self.fragments.as_ref().map(|f| f.pool).or_else(|| m.pool());
        if let Err(reason) = self.tx.send_fragments(port, mtu, m, pool) {
            fw.transmit_failed(reason, 1);
        }
    }

    /// Hands fragment `m` to the reassembler ([`frag::reassemble`]) and sends on the datagram
    /// it completes, if any, as the forwarder decided it.
    #[cold]
    fn reassemble(&mut self, fw: &mut Forwarder, m: Mbuf, arrival: Arrival) {
        let Some(frags) = self.fragments.as_deref_mut() else {
            fw.count_fragments(DropReason::Fragment, 1);
            return;
        };
        if let Some((datagram, verdict)) = frag::reassemble(fw, frags, m, arrival, self.now_ms) {
            self.deliver(fw, datagram, Arrival::received(arrival.in_if()), verdict);
        }
    }
}

/// A worker's transmit side, borrowed apart from the rest of it: a buffer per interface in
/// front of that interface's tx queue.
struct Tx<'a> {
    buffers: &'a mut [MbufBurst<BURST>],
    queues: &'a mut [TxQueue],
    /// The worker's count of received packets lost because their queue refused them.
    tx_full: &'a mut u64,
}

impl Tx<'_> {
    /// Buffers `m` for interface `out`, handing the buffer to the queue when it fills. A packet
    /// that finds the buffer still full after a flush (the queue refuses everything) is
    /// dropped and counted (`tx_full`): tail drop, the buffered packets keep their turn.
    #[inline]
    fn send(&mut self, out: u16, m: Mbuf) {
        let o = usize::from(out);
        let Some(buffer) = self.buffers.get_mut(o) else {
            *self.tx_full += 1;
            return;
        };
        if let Err(m) = buffer.push(m) {
            self.flush(o);
            if self.buffers[o].push(m).is_err() {
                *self.tx_full += 1;
                return;
            }
        }
        if self.buffers[o].room() == 0 {
            self.flush(o);
        }
    }

    /// Sends the frame in `m` out of port `out` as IPv4 fragments of at most `mtu` bytes
    /// written into fresh mbufs of `pool` ([`frag::fragment`]), each with `m`'s Ethernet
    /// header. The packet counts once: all fragments but the last are marked uncounted
    /// ([`frag::is_counted`]); the first one this buffer drops counts the packet in `tx_full`
    /// and the rest are not sent (the datagram is lost).
    #[cold]
    fn send_fragments(
        &mut self,
        out: u16,
        mtu: u16,
        m: &Mbuf,
        pool: Option<Mempool>,
    ) -> Result<(), DropReason> {
        let pool = pool.ok_or(DropReason::FragFailed)?;
        frag::fragment(m, mtu, &pool, |f| {
            let before = *self.tx_full;
            self.send(out, f);
            *self.tx_full == before
        })
    }

    /// Hands interface `out`'s buffer to its queue: up to a few attempts while the queue keeps
    /// taking some, one while it takes none. What the queue refuses stays buffered, in order,
    /// until the next flush (the buffer filling again, or the drain deadline), so a consumer
    /// that stalls for a moment costs no packet as long as the buffer can hold what arrives
    /// meanwhile.
    fn flush(&mut self, out: usize) {
        let (Some(buffer), Some(queue)) = (self.buffers.get_mut(out), self.queues.get_mut(out))
        else {
            return;
        };
        for _ in 0..TX_ATTEMPTS {
            if buffer.is_empty() || queue.tx_burst(buffer) == 0 {
                return;
            }
        }
    }
}
