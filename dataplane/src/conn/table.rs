//! The per-worker session table: slab + open-addressing index + timing wheel + eviction list.
//!
//! Layout (all allocated in [`SessionTable::new`], never grown):
//! - `slots`: `Vec<Slot<T>>`, one per session of capacity; a slot's generation makes stale
//!   [`SessionId`]s harmless. Slots are cache-line aligned and ordered by use: line 0 holds what
//!   every lookup reads (generation, state, deadline, in key), line 1 the in-direction counters
//!   and the payload (when `T` fits in 40 bytes), line 2 the out key and its counters, the rest
//!   the list links. A packet of an input-only (DR/TUN) session touches 2 lines, any other 3,
//!   and [`SessionTable::prefetch_slot`] loads just those.
//! - `free`: stack of free slot numbers.
//! - `index`: linear-probing table of 8-byte entries `{tag, slot << 2 | has_out << 1 |
//!   direction}` (see [`EntryRef`]), a power of
//!   two with at least `2 * capacity * 4 / 3` entries, so the load stays <= 3/4 even when every
//!   session has two keys. Deletion shifts entries back (no tombstones), so lookups never degrade
//!   with churn. The home bucket comes from the low hash bits, the tag from the high 32 bits; the
//!   full key is compared in the slab only when the tag matches.
//! - `wheel`: [`WHEEL_SLOTS`] list heads, one per [`WHEEL_TICK_MS`] tick; each session is on
//!   exactly one list (intrusive, doubly linked). Refreshing a session only rewrites its deadline
//!   (lazy); the list is changed only if the deadline moves earlier than the tick it is queued at.
//!   When the wheel reaches a session that was refreshed meanwhile, it is re-queued at its new
//!   deadline. Deadlines beyond the wheel's horizon are queued at the horizon and re-queued.
//! - `unest`: intrusive list of non-template sessions that are not ESTABLISHED, oldest first,
//!   for [`FullPolicy::EvictOldestUnestablished`].
//!
//! Time: `now` is milliseconds from any monotonic origin, never decreasing. A session is never
//! expired before its deadline (`now >= deadline`), and is expired at the latest by the first
//! [`SessionTable::expire`] call with `now >= ceil(deadline / WHEEL_TICK_MS) * WHEEL_TICK_MS`,
//! given enough budget: at most one tick (100 ms) late.

use super::hash::FlowHasher;
use super::key::FlowKey;
use super::state::{tcp_next, Direction, State, TcpDir, Timeouts};
use crate::dpdk::mem::{advise_huge_pages, prefetch, prefetch_lines};

/// Granularity of expiry, in ms.
pub const WHEEL_TICK_MS: u64 = 100;
/// Number of wheel slots (a power of two); horizon = `WHEEL_SLOTS * WHEEL_TICK_MS` = 819.2 s.
pub const WHEEL_SLOTS: usize = 8192;
/// Largest supported capacity (slot numbers must fit in 30 bits).
pub const MAX_CAPACITY: usize = 1 << 29;

const WHEEL_MASK: usize = WHEEL_SLOTS - 1;
const NIL: u32 = u32::MAX;

// Session flags.
const F_HAS_OUT: u8 = 1;
const F_TEMPLATE: u8 = 2;
const F_UNEST: u8 = 4;

/// Handle of a session: slot number + generation. A handle of a removed session never matches
/// again (until the 32-bit generation wraps on that slot).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionId {
    slot: u32,
    gen: u32,
}

impl SessionId {
    /// A handle that never refers to a session.
    pub const NONE: SessionId = SessionId { slot: NIL, gen: 0 };

    /// Slot number (0 .. capacity).
    #[inline]
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// Generation of the slot when the handle was issued.
    #[inline]
    pub fn generation(self) -> u32 {
        self.gen
    }
}

/// What to do when a new session finds no free slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FullPolicy {
    /// Refuse the new session (`refused_full` counts it).
    Refuse,
    /// Evict the oldest session that is not ESTABLISHED (and not a template); refuse if none.
    EvictOldestUnestablished,
}

/// Why an insert failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InsertError {
    /// No free slot and the policy found nothing to evict.
    Full,
    /// The in or out key is already in the table (or the two keys are equal).
    Exists,
}

/// Why [`SessionTable::new`] failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CapacityError {
    /// Capacity must be in `1..=MAX_CAPACITY`.
    OutOfRange(usize),
}

/// A successful insert.
#[derive(Debug)]
pub struct Inserted<T> {
    /// The new session.
    pub id: SessionId,
    /// The session evicted to make room (its handle and contents), if any. The caller must
    /// account for it like an expired session (per-destination counters).
    pub evicted: Option<(SessionId, Session<T>)>,
}

/// A state change caused by a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StateChange {
    /// State before the packet.
    pub from: State,
    /// State after the packet.
    pub to: State,
}

impl StateChange {
    /// True if the session moved between active (ESTABLISHED) and inactive.
    #[inline]
    pub fn activity_changed(&self) -> bool {
        self.from.is_established() != self.to.is_established()
    }
}

/// Per-session packet and byte counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counters {
    /// Packets that matched the in key.
    pub packets_in: u64,
    /// Packets that matched the out key.
    pub packets_out: u64,
    /// Bytes of packets that matched the in key.
    pub bytes_in: u64,
    /// Bytes of packets that matched the out key.
    pub bytes_out: u64,
}

/// Table-wide counters (monotonic, per worker).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TableStats {
    /// Sessions and templates inserted.
    pub created: u64,
    /// Sessions removed by [`SessionTable::expire`].
    pub expired: u64,
    /// Sessions evicted to make room for a new one.
    pub evicted: u64,
    /// Inserts refused because the table was full.
    pub refused_full: u64,
    /// Sessions removed by [`SessionTable::remove`] or [`SessionTable::flush`].
    pub removed: u64,
    /// Work units spent in `expire` (sessions examined + wheel ticks advanced).
    pub expire_work: u64,
}

/// One session (or persistence template). Fields the table relies on are private; the
/// forwarding data is the public `payload`. `repr(C)`: the fields are in the order a packet
/// needs them (see the module doc; the `layout` test pins the lines).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Session<T> {
    // Line 0 (with the slot's generation): lookup, state and deadline.
    state: State,
    flags: u8,
    /// Current timeout (ms); for templates, the persistence timeout.
    timeout: u32,
    /// The session expires when `now >= deadline` (ms).
    deadline: u64,
    /// Key of client packets.
    in_key: FlowKey,
    // Line 1: in-direction accounting and the forwarding data.
    /// Wheel tick the session is queued at.
    queued: u64,
    packets_in: u64,
    bytes_in: u64,
    /// What the forwarding code stores per session.
    pub payload: T,
    // Line 2: the reply direction.
    /// Key of real-server replies (unused unless `F_HAS_OUT`).
    out_key: FlowKey,
    packets_out: u64,
    bytes_out: u64,
    /// Template controlling this connection ([`SessionId::NONE`] if none).
    control: SessionId,
    // Then: list links, touched only when a session is queued, re-queued or changes class.
    wprev: u32,
    wnext: u32,
    uprev: u32,
    unext: u32,
    /// Templates: number of live connections bound to it.
    n_control: u32,
}

impl<T> Session<T> {
    /// Key of client packets.
    #[inline]
    pub fn in_key(&self) -> &FlowKey {
        &self.in_key
    }

    /// Key of real-server replies; `None` for input-only (DR/TUN) sessions and templates.
    #[inline]
    pub fn out_key(&self) -> Option<&FlowKey> {
        if self.flags & F_HAS_OUT != 0 {
            Some(&self.out_key)
        } else {
            None
        }
    }

    /// Protocol state.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// Deadline (ms, same clock as `now`).
    #[inline]
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Current timeout in ms.
    #[inline]
    pub fn timeout_ms(&self) -> u32 {
        self.timeout
    }

    /// Packet and byte counters.
    #[inline]
    pub fn counters(&self) -> Counters {
        Counters {
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
        }
    }

    /// The key of direction `dir`.
    #[inline]
    fn key(&self, dir: Direction) -> &FlowKey {
        match dir {
            Direction::In => &self.in_key,
            Direction::Out => &self.out_key,
        }
    }

    /// True for persistence templates.
    #[inline]
    pub fn is_template(&self) -> bool {
        self.flags & F_TEMPLATE != 0
    }

    /// True when replies are not seen (no out key): the TCP input-only table applies.
    #[inline]
    pub fn is_input_only(&self) -> bool {
        self.flags & F_HAS_OUT == 0
    }

    /// The template this connection is bound to, if any.
    #[inline]
    pub fn controlled_by(&self) -> Option<SessionId> {
        if self.control.slot == NIL {
            None
        } else {
            Some(self.control)
        }
    }

    /// Templates: number of live connections bound to it.
    #[inline]
    pub fn n_controlled(&self) -> u32 {
        self.n_control
    }
}

/// A slab slot: cache-line aligned, so that the lines of a session are known.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Slot<T> {
    gen: u32,
    s: Option<Session<T>>,
}

/// Cache lines of a slot that a packet of an input-only session needs (in key, payload).
const LINES_INPUT_ONLY: usize = 2;
/// Cache lines of a slot that a packet of a session with an out key needs (both keys).
const LINES_WITH_OUT: usize = 3;

/// What an index entry refers to: `slot << 2 | has_out << 1 | direction` (`NIL`: nothing).
/// `has_out` lets a burst prefetch just the lines the packet will need before the slot is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct EntryRef(u32);

impl EntryRef {
    #[inline]
    fn new(slot: u32, dir: Direction, has_out: bool) -> EntryRef {
        let d = match dir {
            Direction::In => 0,
            Direction::Out => 1,
        };
        EntryRef(slot << 2 | u32::from(has_out) << 1 | d)
    }

    /// The refs of a session's in key and (if `has_out`) out key.
    #[inline]
    fn pair(slot: u32, has_out: bool) -> (EntryRef, EntryRef) {
        (
            EntryRef::new(slot, Direction::In, has_out),
            EntryRef::new(slot, Direction::Out, true),
        )
    }

    #[inline]
    fn slot(self) -> u32 {
        self.0 >> 2
    }

    #[inline]
    fn dir(self) -> Direction {
        if self.0 & 1 == 0 {
            Direction::In
        } else {
            Direction::Out
        }
    }

    #[inline]
    fn lines(self) -> usize {
        if self.0 & 2 == 0 {
            LINES_INPUT_ONLY
        } else {
            LINES_WITH_OUT
        }
    }
}

/// Index entry: `r == NIL` is empty, else an [`EntryRef`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    tag: u32,
    r: EntryRef,
}

const NO_REF: EntryRef = EntryRef(NIL);
const EMPTY: Entry = Entry { tag: 0, r: NO_REF };

#[inline]
fn deadline_tick(deadline: u64) -> u64 {
    deadline.div_ceil(WHEEL_TICK_MS)
}

/// The per-worker session table. Owned by one thread; no interior locking.
pub struct SessionTable<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    index: Vec<Entry>,
    mask: usize,
    hasher: FlowHasher,
    wheel: Vec<u32>,
    /// Next wheel tick to process; every queued session has `cursor <= queued < cursor + SLOTS`.
    cursor: u64,
    unest_head: u32,
    unest_tail: u32,
    len: usize,
    timeouts: Timeouts,
    policy: FullPolicy,
    stats: TableStats,
}

impl<T> SessionTable<T> {
    /// A table for `capacity` sessions (templates included), hashing with `seed` (random in
    /// production), using `timeouts` and `policy`. All memory is allocated here.
    pub fn new(
        capacity: usize,
        seed: [u64; 2],
        timeouts: Timeouts,
        policy: FullPolicy,
    ) -> Result<Self, CapacityError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(CapacityError::OutOfRange(capacity));
        }
        let index_len = Self::index_len(capacity);
        // Huge pages before the first touch: at millions of sessions a lookup would otherwise
        // pay a TLB miss for the index entry and another for the slot.
        let mut slots = Vec::with_capacity(capacity);
        advise_huge_pages(&mut slots);
        slots.resize_with(capacity, || Slot { gen: 0, s: None });
        let mut index = Vec::with_capacity(index_len);
        advise_huge_pages(&mut index);
        index.resize(index_len, EMPTY);
        Ok(SessionTable {
            slots,
            free: (0..capacity as u32).rev().collect(),
            index,
            mask: index_len - 1,
            hasher: FlowHasher::new(seed),
            wheel: vec![NIL; WHEEL_SLOTS],
            cursor: 0,
            unest_head: NIL,
            unest_tail: NIL,
            len: 0,
            timeouts,
            policy,
            stats: TableStats::default(),
        })
    }

    fn index_len(capacity: usize) -> usize {
        (capacity * 2 * 4 / 3 + 1).next_power_of_two().max(16)
    }

    /// Number of sessions (templates included).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there is no session.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of sessions.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Table-wide counters.
    #[inline]
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Current timeouts.
    #[inline]
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Replace the timeouts. Like IPVS, a session picks up the new value at its next packet.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// The table's keyed hash of `key` (exposed for tests and for steering decisions).
    #[inline]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash(key)
    }

    /// Bytes of memory per session of capacity: slab slot + free-list entry + index entries
    /// (the index has 2.67 .. 5.33 entries of 8 bytes per session, depending on rounding to a
    /// power of two). Excludes the fixed 32 KiB wheel.
    pub fn bytes_per_session(&self) -> usize {
        let cap = self.capacity().max(1);
        core::mem::size_of::<Slot<T>>()
            + core::mem::size_of::<u32>()
            + (self.index.len() * core::mem::size_of::<Entry>()).div_ceil(cap)
    }

    /// Bytes a table of `capacity` allocates (what [`memory_bytes`](Self::memory_bytes) of a
    /// new one returns), without allocating it.
    pub fn footprint(capacity: usize) -> usize {
        capacity * (core::mem::size_of::<Slot<T>>() + core::mem::size_of::<u32>())
            + Self::index_len(capacity) * core::mem::size_of::<Entry>()
            + WHEEL_SLOTS * core::mem::size_of::<u32>()
    }

    /// Total bytes allocated by the table.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<Slot<T>>()
            + self.free.capacity() * core::mem::size_of::<u32>()
            + self.index.len() * core::mem::size_of::<Entry>()
            + self.wheel.len() * core::mem::size_of::<u32>()
    }

    /// Size of one slab slot for this `T` (the session proper).
    pub const fn slot_size() -> usize {
        core::mem::size_of::<Slot<T>>()
    }

    // ----- lookup -----------------------------------------------------------------------------

    /// Find the session owning `key` and which of its keys matched. One hash, one probe
    /// sequence, one key comparison in the slab per tag hit.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(SessionId, Direction)> {
        self.lookup_hashed(key, self.hasher.hash(key))
    }

    /// [`lookup`](Self::lookup) with `h` = [`hash`](Self::hash)`(key)` computed earlier. A
    /// wrong `h` gives a miss, never a wrong session.
    #[inline]
    pub fn lookup_hashed(&self, key: &FlowKey, h: u64) -> Option<(SessionId, Direction)> {
        let tag = (h >> 32) as u32;
        let mut i = h as usize & self.mask;
        // The index is never full, so the loop ends at an empty entry; the bound is a backstop.
        for _ in 0..=self.mask {
            let e = *self.index.get(i)?;
            if e.r == NO_REF {
                return None;
            }
            if e.tag == tag {
                let (slot, dir) = (e.r.slot(), e.r.dir());
                if let Some(Slot { gen, s: Some(s) }) = self.slots.get(slot as usize) {
                    if s.key(dir) == key {
                        return Some((SessionId { slot, gen: *gen }, dir));
                    }
                }
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// First stage of looking up a burst: hashes `key` and prefetches its home index entry.
    /// Returns the hash for [`prefetch_slot`](Self::prefetch_slot) and
    /// [`lookup_hashed`](Self::lookup_hashed).
    #[inline]
    pub fn prefetch_index(&self, key: &FlowKey) -> u64 {
        let h = self.hasher.hash(key);
        if let Some(e) = self.index.get(h as usize & self.mask) {
            prefetch(e);
        }
        h
    }

    /// Second stage: prefetches the lines of the session that the home index entry of `h`
    /// points to which a packet will read, when its tag matches (reads that entry: call it
    /// after the first stage of the whole burst).
    #[inline]
    pub fn prefetch_slot(&self, h: u64) {
        let Some(e) = self.index.get(h as usize & self.mask) else {
            return;
        };
        if e.r != NO_REF && e.tag == (h >> 32) as u32 {
            if let Some(slot) = self.slots.get(e.r.slot() as usize) {
                prefetch_lines(slot, e.r.lines());
            }
        }
    }

    /// `out[i] = lookup(&keys[i])` for every `i < min(keys.len(), out.len())`, in groups of 16
    /// keys and in stages (hash and prefetch every home index entry, prefetch the sessions they
    /// point to, then resolve) so that the cache misses of different keys overlap: the way to
    /// look up a received burst in a table larger than the caches.
    pub fn lookup_burst(&self, keys: &[FlowKey], out: &mut [Option<(SessionId, Direction)>]) {
        const G: usize = 16;
        let n = keys.len().min(out.len());
        let (keys, out) = (&keys[..n], &mut out[..n]);
        for (keys, out) in keys.chunks(G).zip(out.chunks_mut(G)) {
            let mut hs = [0u64; G];
            for (h, k) in hs.iter_mut().zip(keys) {
                *h = self.prefetch_index(k);
            }
            for h in &hs[..keys.len()] {
                self.prefetch_slot(*h);
            }
            for ((o, k), h) in out.iter_mut().zip(keys).zip(&hs) {
                *o = self.lookup_hashed(k, *h);
            }
        }
    }

    /// The session of `id`, if it still exists.
    #[inline]
    pub fn get(&self, id: SessionId) -> Option<&Session<T>> {
        match self.slots.get(id.slot as usize) {
            Some(Slot { gen, s: Some(s) }) if *gen == id.gen => Some(s),
            _ => None,
        }
    }

    /// The session of `id`, mutably (only `payload` is writable), if it still exists.
    #[inline]
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session<T>> {
        match self.slots.get_mut(id.slot as usize) {
            Some(Slot { gen, s: Some(s) }) if *gen == id.gen => Some(s),
            _ => None,
        }
    }

    /// All sessions, in slot order (control-plane listing; O(capacity)).
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session<T>)> + '_ {
        self.iter_from(0)
    }

    /// Sessions in slot order from slot `first` on (a listing resumes at the slot after the
    /// last one it returned).
    pub fn iter_from(&self, first: usize) -> impl Iterator<Item = (SessionId, &Session<T>)> + '_ {
        self.iter_slots(first..self.slots.len())
    }

    /// Sessions in the slots of `range` (clamped to the table), in slot order: work bounded by
    /// the range, however few sessions it holds.
    pub fn iter_slots(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (SessionId, &Session<T>)> + '_ {
        let end = range.end.min(self.slots.len());
        let first = range.start.min(end);
        self.slots[first..end]
            .iter()
            .enumerate()
            .filter_map(move |(i, sl)| {
                let i = i + first;
                sl.s.as_ref().map(|s| {
                    (
                        SessionId {
                            slot: i as u32,
                            gen: sl.gen,
                        },
                        s,
                    )
                })
            })
    }

    // ----- insert / packet / remove -----------------------------------------------------------

    /// Insert a session: `in_key` for client packets, `out_key` for replies (`None` for DR/TUN,
    /// which makes it input-only). The initial state follows `in_key.protocol` (TCP: NONE, UDP,
    /// ICMP, other); the deadline is `now` + that state's timeout. Does not count a packet: call
    /// [`on_packet`](Self::on_packet) for the packet that created the session.
    pub fn insert(
        &mut self,
        in_key: FlowKey,
        out_key: Option<FlowKey>,
        payload: T,
        now: u64,
    ) -> Result<Inserted<T>, InsertError> {
        let state = State::initial(in_key.protocol);
        let timeout = self.timeouts.for_state(state);
        self.insert_inner(in_key, out_key, state, timeout, payload, now)
    }

    /// Insert a session in `state` with `timeout_ms` (a synced connection), as [`insert`](Self::insert)
    /// otherwise.
    pub fn insert_with_state(
        &mut self,
        in_key: FlowKey,
        out_key: Option<FlowKey>,
        state: State,
        timeout_ms: u32,
        payload: T,
        now: u64,
    ) -> Result<Inserted<T>, InsertError> {
        self.insert_inner(in_key, out_key, state, timeout_ms.max(1), payload, now)
    }

    /// Insert a persistence template `key` (see [`FlowKey::template`]) with its own
    /// `timeout_ms` (the service's persistence timeout). Templates are never evicted, and do not
    /// expire while connections are bound to them ([`bind_control`](Self::bind_control)).
    pub fn insert_template(
        &mut self,
        key: FlowKey,
        payload: T,
        timeout_ms: u32,
        now: u64,
    ) -> Result<Inserted<T>, InsertError> {
        self.insert_inner(key, None, State::Template, timeout_ms.max(1), payload, now)
    }

    fn insert_inner(
        &mut self,
        in_key: FlowKey,
        out_key: Option<FlowKey>,
        state: State,
        timeout: u32,
        payload: T,
        now: u64,
    ) -> Result<Inserted<T>, InsertError> {
        if out_key == Some(in_key)
            || self.lookup(&in_key).is_some()
            || out_key.is_some_and(|k| self.lookup(&k).is_some())
        {
            return Err(InsertError::Exists);
        }
        let mut evicted = None;
        if self.free.is_empty() {
            if self.policy == FullPolicy::EvictOldestUnestablished && self.unest_head != NIL {
                evicted = self.remove_slot(self.unest_head);
                if evicted.is_some() {
                    self.stats.evicted += 1;
                }
            }
            if self.free.is_empty() {
                self.stats.refused_full += 1;
                return Err(InsertError::Full);
            }
        }
        let Some(slot) = self.free.pop() else {
            return Err(InsertError::Full);
        };
        if self.len == 0 {
            // Nothing is queued: the wheel may jump to the present.
            self.cursor = self.cursor.max(now / WHEEL_TICK_MS);
        }
        let template = state == State::Template;
        let mut flags = if template { F_TEMPLATE } else { 0 };
        if out_key.is_some() {
            flags |= F_HAS_OUT;
        }
        let deadline = now.saturating_add(timeout as u64);
        let session = Session {
            state,
            flags,
            timeout,
            deadline,
            in_key,
            queued: 0,
            packets_in: 0,
            bytes_in: 0,
            payload,
            out_key: out_key.unwrap_or_default(),
            packets_out: 0,
            bytes_out: 0,
            control: SessionId::NONE,
            wprev: NIL,
            wnext: NIL,
            uprev: NIL,
            unext: NIL,
            n_control: 0,
        };
        let gen = match self.slots.get_mut(slot as usize) {
            Some(sl) => {
                sl.s = Some(session);
                sl.gen
            }
            None => return Err(InsertError::Full),
        };
        self.len += 1;
        self.stats.created += 1;
        let (in_ref, out_ref) = EntryRef::pair(slot, out_key.is_some());
        self.index_insert(&in_key, in_ref);
        if let Some(k) = out_key {
            self.index_insert(&k, out_ref);
        }
        self.wheel_link(slot, deadline_tick(deadline));
        if !template && !state.is_established() {
            self.unest_push_back(slot);
        }
        Ok(Inserted {
            id: SessionId { slot, gen },
            evicted,
        })
    }

    /// Account a packet of `len` bytes matching `id` in direction `dir`: counters, TCP state
    /// (`tcp_flags` is the TCP header's flags byte; ignored for other protocols) and deadline
    /// (`now` + the timeout of the new state). Returns the state change, if any; a stale `id`
    /// is ignored (`None`).
    #[inline]
    pub fn on_packet(
        &mut self,
        id: SessionId,
        dir: Direction,
        tcp_flags: u8,
        len: u32,
        now: u64,
    ) -> Option<StateChange> {
        let timeouts = &self.timeouts;
        let s = match self.slots.get_mut(id.slot as usize) {
            Some(Slot { gen, s: Some(s) }) if *gen == id.gen => s,
            _ => return None,
        };
        let tdir = match dir {
            Direction::In => {
                s.packets_in = s.packets_in.wrapping_add(1);
                s.bytes_in = s.bytes_in.wrapping_add(len as u64);
                if s.flags & F_HAS_OUT != 0 {
                    TcpDir::Input
                } else {
                    TcpDir::InputOnly
                }
            }
            Direction::Out => {
                s.packets_out = s.packets_out.wrapping_add(1);
                s.bytes_out = s.bytes_out.wrapping_add(len as u64);
                TcpDir::Output
            }
        };
        let from = s.state;
        let change = if from.is_tcp() {
            let to = tcp_next(from, tdir, tcp_flags);
            s.state = to;
            s.timeout = timeouts.for_state(to);
            (to != from).then_some(StateChange { from, to })
        } else {
            if from != State::Template {
                s.timeout = timeouts.for_state(from);
            }
            None
        };
        s.deadline = now.saturating_add(s.timeout as u64);
        let tick = deadline_tick(s.deadline);
        let requeue = tick < s.queued;
        let unest = s.flags & F_UNEST != 0;
        let template = s.flags & F_TEMPLATE != 0;
        if requeue {
            self.wheel_unlink(id.slot);
            self.wheel_link(id.slot, tick);
        }
        if let Some(ch) = change {
            let want_unest = !template && !ch.to.is_established();
            if want_unest && !unest {
                self.unest_push_back(id.slot);
            } else if !want_unest && unest {
                self.unest_unlink(id.slot);
            }
        }
        change
    }

    /// Push the deadline of `id` to `now` + its current timeout (e.g. a template used again).
    /// Returns false for a stale id.
    pub fn refresh(&mut self, id: SessionId, now: u64) -> bool {
        match self.get_mut(id) {
            Some(s) => {
                // Later deadline: the wheel re-queues lazily.
                s.deadline = s.deadline.max(now.saturating_add(s.timeout as u64));
                true
            }
            None => false,
        }
    }

    /// Bind connection `conn` to persistence template `template` (IPVS "control"): the template
    /// is refreshed and will not expire while `conn` lives. Returns false if either id is stale,
    /// `template` is not a template, `conn` is one, or `conn` is already bound.
    pub fn bind_control(&mut self, conn: SessionId, template: SessionId, now: u64) -> bool {
        match (self.get(conn), self.get(template)) {
            (Some(c), Some(t)) if !c.is_template() && t.is_template() && c.control.slot == NIL => {}
            _ => return false,
        }
        if let Some(c) = self.get_mut(conn) {
            c.control = template;
        }
        if let Some(t) = self.get_mut(template) {
            t.n_control = t.n_control.saturating_add(1);
        }
        self.refresh(template, now)
    }

    /// Remove a session (both keys) and return it. `None` if `id` is stale.
    pub fn remove(&mut self, id: SessionId) -> Option<Session<T>> {
        self.get(id)?;
        let (_, s) = self.remove_slot(id.slot)?;
        self.stats.removed += 1;
        Some(s)
    }

    /// Remove every session; returns how many. O(capacity + index), off the hot path.
    /// Outstanding ids become stale.
    pub fn flush(&mut self) -> usize {
        let n = self.len;
        for sl in self.slots.iter_mut() {
            if sl.s.take().is_some() {
                sl.gen = sl.gen.wrapping_add(1);
            }
        }
        self.index.fill(EMPTY);
        self.wheel.fill(NIL);
        self.free.clear();
        self.free.extend((0..self.slots.len() as u32).rev());
        self.unest_head = NIL;
        self.unest_tail = NIL;
        self.len = 0;
        self.stats.removed += n as u64;
        n
    }

    /// Expire sessions whose deadline is `<= now` (at wheel-tick granularity), doing at most
    /// `budget` units of work (one per session examined, one per wheel tick advanced), so the
    /// cost per call is bounded and independent of table size. Each expired session is passed
    /// to `on_expired` (so the worker can fix per-destination counters). Templates with bound
    /// connections are re-armed instead. Returns the number expired.
    pub fn expire<F: FnMut(SessionId, Session<T>)>(
        &mut self,
        now: u64,
        budget: usize,
        mut on_expired: F,
    ) -> usize {
        let now_tick = now / WHEEL_TICK_MS;
        if self.len == 0 {
            self.cursor = self.cursor.max(now_tick.saturating_add(1));
            return 0;
        }
        let mut work = 0usize;
        let mut expired = 0usize;
        while self.cursor <= now_tick && work < budget {
            work += 1;
            let w = self.cursor as usize & WHEEL_MASK;
            let head = self.wheel[w];
            if head == NIL {
                self.cursor += 1;
                continue;
            }
            let Some(s) = self.sess_mut(head) else {
                // Corrupt list: drop it rather than loop.
                self.wheel[w] = NIL;
                continue;
            };
            if s.deadline <= now && s.n_control > 0 {
                // A template still controlling connections: re-arm (IPVS "expire later").
                s.deadline = now.saturating_add(s.timeout as u64);
            }
            if s.deadline > now {
                // Refreshed since it was queued: re-queue at its deadline (a later tick).
                let tick = deadline_tick(s.deadline);
                self.wheel_unlink(head);
                self.wheel_link(head, tick);
            } else if let Some((id, s)) = self.remove_slot(head) {
                expired += 1;
                on_expired(id, s);
            } else {
                self.wheel[w] = NIL;
            }
        }
        self.stats.expired += expired as u64;
        self.stats.expire_work += work as u64;
        expired
    }

    // ----- internals --------------------------------------------------------------------------

    #[inline]
    fn sess(&self, slot: u32) -> Option<&Session<T>> {
        self.slots.get(slot as usize)?.s.as_ref()
    }

    #[inline]
    fn sess_mut(&mut self, slot: u32) -> Option<&mut Session<T>> {
        self.slots.get_mut(slot as usize)?.s.as_mut()
    }

    /// Unlink `slot` from every structure, free it and return its handle and contents.
    fn remove_slot(&mut self, slot: u32) -> Option<(SessionId, Session<T>)> {
        let s = self.sess(slot)?;
        let (in_key, out_key) = (s.in_key, s.out_key().copied());
        let (unest, control) = (s.flags & F_UNEST != 0, s.control);
        let (in_ref, out_ref) = EntryRef::pair(slot, out_key.is_some());
        self.index_remove(&in_key, in_ref);
        if let Some(k) = out_key {
            self.index_remove(&k, out_ref);
        }
        self.wheel_unlink(slot);
        if unest {
            self.unest_unlink(slot);
        }
        if control.slot != NIL {
            if let Some(t) = self.get_mut(control) {
                t.n_control = t.n_control.saturating_sub(1);
            }
        }
        let sl = self.slots.get_mut(slot as usize)?;
        let s = sl.s.take()?;
        let id = SessionId { slot, gen: sl.gen };
        sl.gen = sl.gen.wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some((id, s))
    }

    fn index_insert(&mut self, key: &FlowKey, r: EntryRef) {
        let h = self.hasher.hash(key);
        let mut i = h as usize & self.mask;
        for _ in 0..=self.mask {
            if let Some(e) = self.index.get_mut(i) {
                if e.r == NO_REF {
                    *e = Entry {
                        tag: (h >> 32) as u32,
                        r,
                    };
                    return;
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Home bucket of the entry referring to `r`, from the key stored in the slab.
    fn home_of(&self, r: EntryRef) -> Option<usize> {
        let s = self.sess(r.slot())?;
        Some(self.hasher.hash(s.key(r.dir())) as usize & self.mask)
    }

    /// Delete the entry `r` of `key` with backward-shift (keeps probe sequences tombstone-free).
    fn index_remove(&mut self, key: &FlowKey, r: EntryRef) {
        let mask = self.mask;
        let mut hole = self.hasher.hash(key) as usize & mask;
        let mut found = false;
        for _ in 0..=mask {
            match self.index.get(hole) {
                Some(e) if e.r == r => {
                    found = true;
                    break;
                }
                Some(e) if e.r == NO_REF => return,
                _ => hole = (hole + 1) & mask,
            }
        }
        if !found {
            return;
        }
        let mut j = (hole + 1) & mask;
        for _ in 0..mask {
            let Some(&e) = self.index.get(j) else { break };
            if e.r == NO_REF {
                break;
            }
            // Move `e` into the hole if the hole lies on its probe path (home ..= j, cyclic).
            let home = self.home_of(e.r).unwrap_or(j);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                if let Some(h) = self.index.get_mut(hole) {
                    *h = e;
                }
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if let Some(h) = self.index.get_mut(hole) {
            *h = EMPTY;
        }
    }

    /// Queue `slot` at wheel tick `tick`, clamped into `[cursor, cursor + SLOTS - 1]`.
    fn wheel_link(&mut self, slot: u32, tick: u64) {
        let hi = self.cursor.saturating_add(WHEEL_SLOTS as u64 - 1);
        let q = tick.max(self.cursor).min(hi);
        let w = q as usize & WHEEL_MASK;
        let head = self.wheel[w];
        match self.sess_mut(slot) {
            Some(s) => {
                s.queued = q;
                s.wprev = NIL;
                s.wnext = head;
            }
            None => return,
        }
        if let Some(h) = self.sess_mut(head) {
            h.wprev = slot;
        }
        self.wheel[w] = slot;
    }

    fn wheel_unlink(&mut self, slot: u32) {
        let Some(s) = self.sess_mut(slot) else { return };
        let (prev, next, q) = (s.wprev, s.wnext, s.queued);
        s.wprev = NIL;
        s.wnext = NIL;
        if prev == NIL {
            let w = q as usize & WHEEL_MASK;
            if self.wheel[w] == slot {
                self.wheel[w] = next;
            }
        } else if let Some(p) = self.sess_mut(prev) {
            p.wnext = next;
        }
        if let Some(n) = self.sess_mut(next) {
            n.wprev = prev;
        }
    }

    fn unest_push_back(&mut self, slot: u32) {
        let tail = self.unest_tail;
        match self.sess_mut(slot) {
            Some(s) => {
                s.flags |= F_UNEST;
                s.uprev = tail;
                s.unext = NIL;
            }
            None => return,
        }
        match self.sess_mut(tail) {
            Some(t) => t.unext = slot,
            None => self.unest_head = slot,
        }
        self.unest_tail = slot;
    }

    fn unest_unlink(&mut self, slot: u32) {
        let Some(s) = self.sess_mut(slot) else { return };
        let (prev, next) = (s.uprev, s.unext);
        s.flags &= !F_UNEST;
        s.uprev = NIL;
        s.unext = NIL;
        match self.sess_mut(prev) {
            Some(p) => p.unext = next,
            None => self.unest_head = next,
        }
        match self.sess_mut(next) {
            Some(n) => n.uprev = prev,
            None => self.unest_tail = prev,
        }
    }
}

#[cfg(test)]
mod layout {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    /// The forwarder's payload is 40 bytes; the lines below are what `prefetch_slot` assumes.
    type Payload = [u32; 10];

    fn end_in_slot(field_offset: usize, field_size: usize) -> usize {
        offset_of!(Slot<Payload>, s) + field_offset + field_size
    }

    #[test]
    fn a_packet_needs_two_lines_of_an_input_only_session_and_three_of_any_other() {
        type S = Session<Payload>;
        assert_eq!(align_of::<Slot<Payload>>(), 64);
        assert_eq!(
            size_of::<Slot<Payload>>(),
            256,
            "4 lines for a 40-byte payload"
        );
        assert_eq!(offset_of!(Slot<Payload>, gen), 0);
        // Line 0: what every lookup and every packet reads.
        for (off, size) in [
            (offset_of!(S, state), 1),
            (offset_of!(S, flags), 1),
            (offset_of!(S, timeout), 4),
            (offset_of!(S, deadline), 8),
            (offset_of!(S, in_key), size_of::<FlowKey>()),
        ] {
            assert!(
                end_in_slot(off, size) <= 64,
                "line 0 ends at {off} + {size}"
            );
        }
        // Line 1: in-direction accounting and the payload.
        for (off, size) in [
            (offset_of!(S, queued), 8),
            (offset_of!(S, packets_in), 8),
            (offset_of!(S, bytes_in), 8),
            (offset_of!(S, payload), size_of::<Payload>()),
        ] {
            assert!(end_in_slot(off, size) <= 64 * LINES_INPUT_ONLY);
        }
        // Line 2: the reply direction.
        for (off, size) in [
            (offset_of!(S, out_key), size_of::<FlowKey>()),
            (offset_of!(S, packets_out), 8),
            (offset_of!(S, bytes_out), 8),
            (offset_of!(S, control), size_of::<SessionId>()),
        ] {
            assert!(end_in_slot(off, size) <= 64 * LINES_WITH_OUT);
        }
    }

    #[test]
    fn entry_refs_keep_slot_direction_and_line_count_apart_from_nil() {
        let last = (MAX_CAPACITY - 1) as u32;
        for (slot, dir, has_out) in [
            (0, Direction::In, false),
            (last, Direction::In, false),
            (last, Direction::Out, true),
            (12345, Direction::In, true),
        ] {
            let r = EntryRef::new(slot, dir, has_out);
            assert_ne!(r, NO_REF);
            assert_eq!((r.slot(), r.dir()), (slot, dir));
            let lines = if has_out {
                LINES_WITH_OUT
            } else {
                LINES_INPUT_ONLY
            };
            assert_eq!(r.lines(), lines);
        }
    }
}
