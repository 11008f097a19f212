//! Per-worker session table: flows, TCP state, timeouts, expiry, persistence, full-table policy.
//!
//! Each worker owns one [`SessionTable`] outright (it is `Send`, not shared; no locks). A session
//! has two [`FlowKey`]s, both in the same index, so either direction of a flow is found with one
//! lookup that also says which key matched ([`Direction`]):
//! - in key: the client's packet as it arrives (`client:cport -> VIP:vport`);
//! - out key: the real server's reply as it arrives (NAT: `RS:rport -> client:cport`; FULLNAT:
//!   `RS:rport -> local addr:lport`); absent for DR/TUN, whose replies bypass the box. A
//!   session without an out key is "input-only" and uses IPVS's input-only TCP table.
//!
//! Parts: [`key`] (FlowKey, Addr), [`hash`] (keyed hash, per-table random seed), [`state`]
//! (IPVS TCP state machine, [`Timeouts`]), [`table`] (slab, index, timing wheel, eviction).
//!
//! Hot path per established packet: [`SessionTable::lookup`] (one keyed hash, a linear probe
//! over 8-byte entries, one key compare in the slab) then [`SessionTable::on_packet`] (counters,
//! state, deadline; no list operation unless the deadline moves earlier or the session enters or
//! leaves ESTABLISHED). No allocation after [`SessionTable::new`]; no syscalls; `now` is
//! milliseconds supplied by the caller.
//!
//! Expiry: a hashed timing wheel of [`WHEEL_SLOTS`] ticks of [`WHEEL_TICK_MS`] ms, processed by
//! [`SessionTable::expire`] with a work budget; a session never expires before its deadline and
//! at most one tick after it. Full table: [`FullPolicy`].
//!
//! Persistence templates (IPVS persistent services) live in the same table under a distinct key
//! ([`FlowKey::template`], protocol 0) with their own timeout ([`SessionTable::insert_template`]);
//! the payload `T` holds the chosen real server. A connection scheduled through a template is
//! bound to it with [`SessionTable::bind_control`], which refreshes the template; a template
//! does not expire while bound connections live (re-armed for its timeout, like IPVS).
//!
//! Memory per session (x86-64): the slab slot is `172 + size_of::<T>()` bytes rounded up to a
//! whole number of 64-byte cache lines (two keys 76, deadline/wheel/eviction links/template
//! control 48, counters 32, state/flags and generation), plus 4 bytes of free list and 2.67 ..
//! 5.33 index entries of 8 bytes (21 .. 43 bytes) depending on how the capacity rounds to a
//! power of two. With the forwarder's 40-byte payload: slot 256 (4 lines), ~287 bytes per
//! session at 10M capacity, so 10M sessions take ~2.9 GB.
//! [`SessionTable::bytes_per_session`] reports the exact figure for a table. The slot is
//! aligned and ordered so that a packet reads 2 of its lines (input-only DR/TUN sessions) or 3
//! (sessions with an out key) and the prefetch loads only those: at 10M sessions the worker
//! forwarded 1.32x more DR packets than with the packed 208-byte slot (5.5 vs 4.15 Mpps,
//! rvs-bench sessions, runs back to back), which is worth the 23 % more memory.
//!
//! Measured cost (release, shared VM; indicative, `cargo bench -p dataplane --bench sessions`
//! gives the figures): keyed hash ~2 ns; lookup ~9 ns with a cache-resident table (1K
//! sessions). At 10M sessions a lookup costs an index miss and a slab miss, each in a different
//! page (a TLB miss on this VM): ~75 ns per key when a burst's lookups are staged with
//! prefetches ([`SessionTable::prefetch_index`] / [`SessionTable::prefetch_slot`], as the
//! workers do for every burst) so that the misses of the burst overlap (56 ns at 1M, 18 ns at
//! 1K).

pub mod hash;
pub mod key;
pub mod state;
pub mod table;

pub use hash::FlowHasher;
pub use key::{Addr, FlowKey, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_TEMPLATE, PROTO_UDP};
pub use state::{tcp_flags, tcp_next, Direction, State, TcpDir, Timeouts};
pub use table::{
    CapacityError, Counters, FullPolicy, InsertError, Inserted, Session, SessionId, SessionTable,
    StateChange, TableStats, MAX_CAPACITY, WHEEL_SLOTS, WHEEL_TICK_MS,
};

#[cfg(test)]
mod tests;
