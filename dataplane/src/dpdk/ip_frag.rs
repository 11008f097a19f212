//! IPv4 reassembly with DPDK's librte_ip_frag: one [`FragTable`] per worker (the table is not
//! thread-safe), owned by it with its death row.
//!
//! DPDK's rules (22.11): a datagram of at most 8 fragments (`RTE_LIBRTE_IP_FRAG_MAX_FRAG`) is
//! reassembled; a duplicated first or last fragment, one too many, or fragments whose lengths do
//! not add up (overlap, duplicate) drop the whole datagram; a full table refuses a new datagram
//! (it reuses only expired entries). The key is (src, dst, ident). Refused and expired
//! fragments go to the death row, which is freed after every call, so it never overflows.
//!
//! A completed datagram is copied into one mbuf of a pool with a data room large enough for it
//! (the worker's reassembly pool), so that the packet core sees it whole.

use super::error::{Error, Result};
use super::{Eal, Mbuf, Mempool};
use std::ptr::NonNull;

/// Fragments per datagram DPDK reassembles at most.
pub const MAX_FRAGMENTS: u32 = dpdk_sys::RTE_LIBRTE_IP_FRAG_MAX_FRAG;
/// Table entries per hash bucket (a power of two).
const BUCKET_ENTRIES: u32 = 4;

/// What one fragment did to the table.
#[derive(Debug, Default)]
pub struct Pushed {
    /// The completed datagram in one contiguous mbuf, and how many fragments it was made of
    /// (`Err(frames)`: completed but too large for the reassembly pool's mbufs, or that pool
    /// was empty; the fragments are freed).
    pub datagram: Option<core::result::Result<(Mbuf, u32), u32>>,
    /// Fragments dropped with this one's datagram (itself included): refused, overlap.
    pub refused: u32,
    /// Fragments of other datagrams that timed out and were dropped to make room.
    pub timed_out: u32,
}

/// A worker's reassembly table.
pub struct FragTable {
    table: NonNull<dpdk_sys::rte_ip_frag_tbl>,
    death_row: Box<dpdk_sys::rte_ip_frag_death_row>,
    /// Holds the completed datagrams.
    pool: Mempool,
}

// SAFETY: the table and its held mbufs are used by one thread at a time (the owning worker;
// `&mut self` on every call); DPDK frees mbufs from any thread.
unsafe impl Send for FragTable {}

impl FragTable {
    /// A table of at most `max_datagrams` datagrams in reassembly (rounded up to a multiple of
    /// 4), each given `timeout_ms` from its first fragment; completed datagrams are copied into
    /// mbufs of `pool`.
    pub fn new(
        _eal: &Eal,
        max_datagrams: u32,
        timeout_ms: u64,
        pool: Mempool,
        socket: i32,
    ) -> Result<FragTable> {
        let buckets = max_datagrams
            .div_ceil(BUCKET_ENTRIES)
            .max(1)
            .next_power_of_two();
        // SAFETY: plain values; DPDK allocates and returns NULL on failure.
        let raw = unsafe {
            dpdk_sys::rte_ip_frag_table_create(
                buckets,
                BUCKET_ENTRIES,
                buckets * BUCKET_ENTRIES,
                timeout_ms,
                socket,
            )
        };
        let table =
            NonNull::new(raw).ok_or_else(|| Error::from_errno("rte_ip_frag_table_create"))?;
        Ok(FragTable {
            table,
            death_row: Box::default(),
            pool,
        })
    }

    /// Hands fragment `m` (a single-segment frame: `l2` bytes of Ethernet header, an IPv4
    /// header of `l3` bytes, validated by the caller) to the table at time `now_ms`.
    pub fn push(&mut self, m: Mbuf, l2: u16, l3: u16, now_ms: u64) -> Pushed {
        let raw = m.into_raw();
        let before = self.death_row.cnt as usize;
        // SAFETY: `raw` is a valid single-segment mbuf we owned, now given to the table (which
        // holds it, returns it in a chain, or puts it on the death row); its data holds the
        // Ethernet and IPv4 headers (`l2`, `l3` checked by the caller), so `ip` points at the
        // IPv4 header; the death row has room for the at most 9 entries a call adds because
        // it is emptied after every call.
        let chain = unsafe {
            dpdk_sys::rvs_mbuf_set_l2_l3_len(raw, l2, l3);
            let m = &*raw;
            let ip = m
                .buf_addr
                .cast::<u8>()
                .add(usize::from(m.data_off) + usize::from(l2));
            dpdk_sys::rte_ipv4_frag_reassemble_packet(
                self.table.as_ptr(),
                &mut *self.death_row,
                raw,
                now_ms,
                ip.cast(),
            )
        };
        let added = &self.death_row.row[before..self.death_row.cnt as usize];
        let dropped = added.len() as u32;
        let mut pushed = if added.contains(&raw) {
            Pushed {
                refused: dropped,
                ..Pushed::default()
            }
        } else {
            Pushed {
                timed_out: dropped,
                ..Pushed::default()
            }
        };
        self.free_death_row();
        if !chain.is_null() {
            pushed.datagram = Some(self.linearize(chain));
        }
        pushed
    }

    /// Drops the datagrams whose time ran out by `now_ms`; returns how many fragments they held.
    pub fn expire(&mut self, now_ms: u64) -> u32 {
        let before = self.death_row.cnt;
        // SAFETY: valid table and death row; DPDK stops before the death row overflows.
        unsafe {
            dpdk_sys::rte_ip_frag_table_del_expired_entries(
                self.table.as_ptr(),
                &mut *self.death_row,
                now_ms,
            )
        };
        let dropped = self.death_row.cnt - before;
        self.free_death_row();
        dropped
    }

    fn free_death_row(&mut self) {
        if self.death_row.cnt > 0 {
            // SAFETY: the death row holds only mbufs the table gave up; DPDK frees them and
            // resets the count.
            unsafe { dpdk_sys::rte_ip_frag_free_death_row(&mut *self.death_row, 0) };
        }
    }

    /// Copies the reassembled `chain` (owned: the table gave it back) into one mbuf of the
    /// pool, then frees the chain. `Err(frames)`: no mbuf large enough.
    fn linearize(&self, chain: *mut dpdk_sys::rte_mbuf) -> core::result::Result<(Mbuf, u32), u32> {
        // SAFETY: DPDK returned the chain to us, one owned mbuf heading its segments.
        let Some(head) = (unsafe { Mbuf::from_raw(chain) }) else {
            return Err(0);
        };
        let frames = u32::from(head.segments());
        let len = head.pkt_len();
        let Some(mut out) = self.pool.alloc() else {
            return Err(frames);
        };
        let Some(dst) = u16::try_from(len).ok().and_then(|n| out.append(n)) else {
            return Err(frames);
        };
        let mut at = 0;
        for segment in head.segment_data() {
            let end = at + segment.len();
            if end > dst.len() {
                return Err(frames);
            }
            dst[at..end].copy_from_slice(segment);
            at = end;
        }
        // Head of the chain: freed, segments included, on drop.
        Ok((out, frames))
    }
}

impl Drop for FragTable {
    fn drop(&mut self) {
        self.free_death_row();
        // SAFETY: the table is ours and no longer used; DPDK frees the mbufs it still holds.
        unsafe { dpdk_sys::rte_ip_frag_table_destroy(self.table.as_ptr()) };
    }
}
