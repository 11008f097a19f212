//! Packet-buffer pools. A pool lives for the whole process: an appliance sizes its pools at
//! start-up and never frees them, which is what lets an `Mbuf` never outlive its pool.

use super::error::{Error, Result};
use super::mbuf::{Mbuf, MbufBurst};
use super::Eal;
use std::ffi::CString;
use std::ptr::NonNull;

/// A handle to a pktmbuf pool; cheap to copy and share between threads.
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (default ring handler) and the
// pool is never freed, so the pointer stays valid on every thread.
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations used here are thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Default data room: 2048 bytes of packet data plus DPDK's headroom.
    pub fn default_data_room() -> u16 {
        // SAFETY: returns a constant.
        unsafe { dpdk_sys::rvs_mbuf_default_buf_size() }
    }

    /// Creates a pool of `count` mbufs (`count` = 2^k - 1 is optimal), with a per-lcore cache.
    /// `name` must be unique in the process and at most 25 bytes.
    pub fn create(
        _eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool> {
        if name.is_empty() || name.len() > 25 {
            return Err(Error::invalid(
                "mempool name",
                format!("{name:?} must be 1..=25 bytes"),
            ));
        }
        let cname = CString::new(name)
            .map_err(|_| Error::invalid("mempool name", "contains a NUL byte"))?;
        // SAFETY: cname is a valid C string for the call; EAL is initialised (token).
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, socket)
        };
        NonNull::new(raw)
            .map(|raw| Mempool { raw })
            .ok_or_else(|| Error::from_errno("rte_pktmbuf_pool_create"))
    }

    /// # Safety
    /// `raw` must be null or a valid pktmbuf pool that is never freed.
    pub(crate) unsafe fn from_raw(raw: *mut dpdk_sys::rte_mempool) -> Option<Mempool> {
        NonNull::new(raw).map(|raw| Mempool { raw })
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// One mbuf, reset (empty data, default headroom), or None if the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the process; the returned mbuf (if any) is ours.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a non-null mbuf freshly allocated with refcnt 1 belongs to us alone.
        unsafe { Mbuf::from_raw(m) }
    }

    /// Appends exactly `n` fresh mbufs to `burst` in one call, or none (returns false) if the
    /// pool cannot supply them all or the burst has no room.
    pub fn alloc_bulk<const N: usize>(&self, burst: &mut MbufBurst<N>, n: usize) -> bool {
        if n > burst.room() {
            return false;
        }
        let Ok(count) = u32::try_from(n) else {
            return false;
        };
        let slots = burst.spare_slots_ptr();
        // SAFETY: `slots` points at `room() >= n` writable pointer-sized slots (Option<Mbuf> has
        // the layout of *mut rte_mbuf); on success DPDK writes n valid mbufs, on failure none.
        let ret = unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(self.raw.as_ptr(), slots, count) };
        if ret != 0 {
            return false;
        }
        // SAFETY: DPDK filled the n slots after the current length with owned mbufs.
        unsafe { burst.assume_filled(n) };
        true
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: valid pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }
}
