//! Owned packet buffers and fixed-size bursts of them.
//!
//! An [`Mbuf`] owns one DPDK mbuf (refcount 1, never shared) and frees it on drop. Packet bytes
//! are reached at `buf_addr + data_off` for `data_len` bytes (the first segment).

use super::Mempool;
use crate::forward::Arrival;
use std::ptr::NonNull;

/// The bits of the `port` field that hold an [`Arrival`]'s interface; its hops are above them.
const ARRIVAL_IF_BITS: u32 = 14;
const ARRIVAL_IF_MASK: u16 = (1 << ARRIVAL_IF_BITS) - 1;
const _: () = assert!(u16::MAX >> ARRIVAL_IF_BITS >= Arrival::MAX_HOPS as u16);

/// An owned DPDK packet buffer. Dropping it returns it to its pool.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<dpdk_sys::rte_mbuf>,
}

// The burst arrays below hand `[Option<Mbuf>; N]` to C as `*mut *mut rte_mbuf`. This relies on
// the guaranteed null-pointer optimisation for Option of a repr(transparent) NonNull wrapper.
const _: () =
    assert!(std::mem::size_of::<Option<Mbuf>>() == std::mem::size_of::<*mut dpdk_sys::rte_mbuf>());

// SAFETY: an Mbuf is uniquely owned (refcnt 1) and DPDK allows freeing an mbuf from any thread.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// # Safety
    /// `raw` must be null or a valid mbuf with refcnt 1 that nobody else will touch or free.
    #[inline]
    pub(crate) unsafe fn from_raw(raw: *mut dpdk_sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(raw).map(|raw| Mbuf { raw })
    }

    /// Gives up ownership (to a driver or ring).
    #[inline]
    pub(crate) fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    #[inline]
    fn hdr(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for our whole lifetime.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn hdr_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively (refcnt 1, unshared; `&mut self`).
        unsafe { self.raw.as_mut() }
    }

    /// The packet bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.hdr();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer (DPDK
        // invariant maintained by every mbuf operation), and we own the mbuf.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(m.data_off.into()),
                m.data_len.into(),
            )
        }
    }

    /// The packet bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.hdr();
        let (addr, off, len) = (
            m.buf_addr.cast::<u8>(),
            usize::from(m.data_off),
            usize::from(m.data_len),
        );
        // SAFETY: as in `data`; `&mut self` guarantees exclusive access (refcnt 1, unshared).
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) }
    }

    /// Length of the whole packet (all segments).
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.hdr().pkt_len
    }

    /// Length of the first segment.
    #[inline]
    pub fn data_len(&self) -> u16 {
        self.hdr().data_len
    }

    /// Segments in the packet's chain.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// The bytes of each segment of the chain, in order.
    pub(crate) fn segment_data(&self) -> impl Iterator<Item = &[u8]> {
        let mut seg: *const dpdk_sys::rte_mbuf = self.raw.as_ptr();
        std::iter::from_fn(move || {
            // SAFETY: `seg` is null or a segment of the chain we own, valid while `self` is
            // borrowed; its data lies at buf_addr + data_off for data_len bytes.
            unsafe {
                let m = seg.as_ref()?;
                seg = m.next;
                Some(std::slice::from_raw_parts(
                    m.buf_addr.cast::<u8>().add(m.data_off.into()),
                    m.data_len.into(),
                ))
            }
        })
    }

    /// True when the whole packet is in the first segment (what `data()` shows).
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.hdr().nb_segs == 1
    }

    /// Input port recorded by the driver (not every driver records it: net_ring does not).
    #[inline]
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    /// Records the input port, e.g. before handing the packet to another thread.
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.hdr_mut().port = port;
    }

    /// Records how the frame reached its worker, for the worker it is handed to through a
    /// redirect ring, which reads it with [`arrival`](Self::arrival): the hop count travels with
    /// the frame, in the mbuf. Stored in the `port` field, which then names no DPDK port: the
    /// interface in its low 14 bits (interfaces are far fewer), the hops above.
    #[inline]
    pub fn set_arrival(&mut self, arrival: Arrival) {
        debug_assert!(arrival.in_if() <= ARRIVAL_IF_MASK);
        let hops = u16::from(arrival.hops()) << ARRIVAL_IF_BITS;
        self.hdr_mut().port = arrival.in_if() & ARRIVAL_IF_MASK | hops;
    }

    /// The arrival that [`set_arrival`](Self::set_arrival) recorded; meaningful only on a frame
    /// taken from a redirect ring.
    #[inline]
    pub fn arrival(&self) -> Arrival {
        let port = self.hdr().port;
        Arrival::new(port & ARRIVAL_IF_MASK, (port >> ARRIVAL_IF_BITS) as u8)
    }

    /// The pool this mbuf came from (every pool lives for the process).
    #[inline]
    pub fn pool(&self) -> Option<Mempool> {
        // SAFETY: an mbuf's `pool` is the valid, never freed pool it was allocated from.
        unsafe { Mempool::from_raw(self.hdr().pool) }
    }

    /// RSS hash computed by the NIC (0 when the device does not provide one).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reading a plain u32 from a union of plain integers is always defined.
        unsafe { self.hdr().__bindgen_anon_2.hash.rss }
    }

    #[inline]
    pub fn headroom(&self) -> u16 {
        // SAFETY: valid owned mbuf.
        unsafe { dpdk_sys::rte_pktmbuf_headroom(self.raw.as_ptr()) }
    }

    #[inline]
    pub fn tailroom(&self) -> u16 {
        // SAFETY: valid owned mbuf.
        unsafe { dpdk_sys::rte_pktmbuf_tailroom(self.raw.as_ptr()) }
    }

    /// Grows the packet at the front by `n` bytes (e.g. for an outer header); returns the new
    /// front bytes (uninitialised content), or None without change if the headroom is short.
    #[inline]
    pub fn prepend(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: valid owned mbuf; DPDK checks the headroom and returns NULL if short.
        let p = unsafe { dpdk_sys::rte_pktmbuf_prepend(self.raw.as_ptr(), n) };
        if p.is_null() {
            return None;
        }
        Some(&mut self.data_mut()[..usize::from(n)])
    }

    /// Removes `n` bytes from the front; false without change if the segment is shorter.
    #[inline]
    pub fn adj(&mut self, n: u16) -> bool {
        // SAFETY: valid owned mbuf; DPDK checks the length and returns NULL if short.
        !unsafe { dpdk_sys::rte_pktmbuf_adj(self.raw.as_ptr(), n) }.is_null()
    }

    /// Grows the packet at the end by `n` bytes; returns those bytes, or None if the tailroom
    /// is short or the packet is chained (its end is not in the segment [`data`](Self::data)
    /// views).
    #[inline]
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        if !self.is_contiguous() {
            return None;
        }
        // SAFETY: valid owned mbuf; DPDK checks the tailroom and returns NULL if short.
        let p = unsafe { dpdk_sys::rte_pktmbuf_append(self.raw.as_ptr(), n) };
        if p.is_null() {
            return None;
        }
        let data = self.data_mut();
        let len = data.len();
        Some(&mut data[len - usize::from(n)..])
    }

    /// Removes `n` bytes from the end; false without change if the last segment is shorter.
    #[inline]
    pub fn trim(&mut self, n: u16) -> bool {
        // SAFETY: valid owned mbuf; DPDK returns -1 without change if too short.
        unsafe { dpdk_sys::rte_pktmbuf_trim(self.raw.as_ptr(), n) == 0 }
    }

    /// Replaces the packet content with `bytes` (single segment). False if it does not fit.
    pub fn set_data(&mut self, bytes: &[u8]) -> bool {
        let cur = self.data_len();
        let Ok(want) = u16::try_from(bytes.len()) else {
            return false;
        };
        if want > cur && want - cur > self.tailroom() || !self.is_contiguous() {
            return false;
        }
        if want > cur {
            self.append(want - cur);
        } else {
            self.trim(cur - want);
        }
        self.data_mut().copy_from_slice(bytes);
        true
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain); it is not used after this.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// A fixed array of up to N owned mbufs, filled from the front: rx bursts, tx buffers, ring
/// bursts. Lives inside its owner (e.g. a worker), so no allocation per burst.
pub struct MbufBurst<const N: usize> {
    slots: [Option<Mbuf>; N],
    len: usize, // invariant: slots[..len] are Some, slots[len..] are None
}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MbufBurst<N> {
    pub fn new() -> Self {
        MbufBurst {
            slots: std::array::from_fn(|_| None),
            len: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots left.
    #[inline]
    pub fn room(&self) -> usize {
        N - self.len
    }

    /// Adds an mbuf at the end; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        // slots[len] is None (the invariant): nothing to drop, so none is checked for.
        debug_assert!(self.slots[self.len].is_none());
        std::mem::forget(self.slots[self.len].replace(m));
        self.len += 1;
        Ok(())
    }

    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &Mbuf> {
        self.slots[..self.len].iter().flatten()
    }

    #[inline]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Mbuf> {
        self.slots[..self.len].iter_mut().flatten()
    }

    /// Takes every mbuf out, in order, leaving the burst empty. Mbufs the iterator does not
    /// yield (it was dropped early) are freed.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let len = std::mem::replace(&mut self.len, 0);
        Drain {
            slots: self.slots[..len].iter_mut(),
        }
    }

    /// Frees every mbuf (one bulk call) and empties the burst.
    pub fn free_all(&mut self) {
        let n = self.len as u32;
        // SAFETY: slots[..len] are owned mbufs laid out as *mut rte_mbuf; after the call they
        // are DPDK's again, so we forget them below.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.slots.as_mut_ptr().cast(), n) };
        self.forget_front(self.len);
    }

    /// Pointer to the first free slot, for DPDK calls that fill the burst.
    #[inline]
    pub(crate) fn spare_slots_ptr(&mut self) -> *mut *mut dpdk_sys::rte_mbuf {
        self.slots[self.len..].as_mut_ptr().cast()
    }

    /// Pointer to the first filled slot, for DPDK calls that consume from the front.
    #[inline]
    pub(crate) fn filled_ptr(&mut self) -> *mut *mut dpdk_sys::rte_mbuf {
        self.slots.as_mut_ptr().cast()
    }

    /// Records that DPDK wrote `n` owned mbufs into the slots after the current length.
    ///
    /// # Safety
    /// Those `n` slots must now hold valid, uniquely owned, non-null mbufs; `n <= room()`.
    #[inline]
    pub(crate) unsafe fn assume_filled(&mut self, n: usize) {
        debug_assert!(n <= self.room());
        self.len += n;
    }

    /// Records that DPDK took ownership of the first `n` mbufs; shifts the rest to the front.
    #[inline]
    pub(crate) fn forget_front(&mut self, n: usize) {
        let n = n.min(self.len);
        for slot in &mut self.slots[..n] {
            std::mem::forget(slot.take());
        }
        self.slots[..self.len].rotate_left(n);
        self.len -= n;
    }
}

/// Iterator returned by [`MbufBurst::drain`].
pub struct Drain<'a> {
    slots: std::slice::IterMut<'a, Option<Mbuf>>,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        self.slots.next().and_then(Option::take)
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        self.slots.by_ref().for_each(|slot| drop(slot.take()));
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        if !self.is_empty() {
            self.free_all();
        }
    }
}
