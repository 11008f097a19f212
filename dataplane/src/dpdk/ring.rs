//! Lock-free DPDK rings as typed channels of owned items.
//!
//! [`channel`] makes one ring and returns its two ends. The consumer end is unique (single
//! consumer). The producer end is unique for a single-producer ring and clonable for a
//! multi-producer one, so the safe API cannot race two producers on an SP ring.

use super::error::{Error, Result};
use super::mbuf::{Mbuf, MbufBurst};
use super::Eal;
use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

/// Owned values that travel through a ring as one pointer.
///
/// # Safety
/// `from_ptr(into_ptr(x))` must give back `x`, and `into_ptr` must never return null.
pub unsafe trait RingItem: Send + Sized {
    fn into_ptr(self) -> *mut c_void;
    /// # Safety
    /// `p` must come from `into_ptr` of the same type and be used once.
    unsafe fn from_ptr(p: *mut c_void) -> Self;
}

// SAFETY: an Mbuf is a non-null owned pointer; the ring carries it without touching it.
unsafe impl RingItem for Mbuf {
    fn into_ptr(self) -> *mut c_void {
        self.into_raw().cast()
    }
    unsafe fn from_ptr(p: *mut c_void) -> Self {
        // SAFETY: p came from `into_ptr`, so it is a non-null owned mbuf.
        unsafe { Mbuf::from_raw(p.cast()) }.expect("ring items are never null")
    }
}

// SAFETY: Box::into_raw is non-null and from_raw restores the same box.
unsafe impl<T: Send> RingItem for Box<T> {
    fn into_ptr(self) -> *mut c_void {
        Box::into_raw(self).cast()
    }
    unsafe fn from_ptr(p: *mut c_void) -> Self {
        // SAFETY: p came from Box::into_raw of a Box<T>, handed over once.
        unsafe { Box::from_raw(p.cast()) }
    }
}

/// How many threads may enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producers {
    Single,
    Multi,
}

pub(crate) struct RingInner<T: RingItem> {
    raw: NonNull<dpdk_sys::rte_ring>,
    producers: Producers,
    _items: PhantomData<T>,
}

// SAFETY: the ring is a thread-safe DPDK object; which ends may be used concurrently is
// enforced by Producer/Consumer (not Sync, clonable only for Multi).
unsafe impl<T: RingItem> Send for RingInner<T> {}
// SAFETY: as above.
unsafe impl<T: RingItem> Sync for RingInner<T> {}

impl<T: RingItem> RingInner<T> {
    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_ring {
        self.raw.as_ptr()
    }
}

impl<T: RingItem> Drop for RingInner<T> {
    fn drop(&mut self) {
        // Both ends are gone: drain what is left so owned items are freed, then free the ring.
        let mut p: *mut c_void = std::ptr::null_mut();
        loop {
            // SAFETY: no other handle exists (we are the last Arc), so this is the only consumer.
            let n = unsafe {
                dpdk_sys::rte_ring_dequeue_burst(self.raw.as_ptr(), &mut p, 1, std::ptr::null_mut())
            };
            if n == 0 {
                break;
            }
            // SAFETY: every pointer in the ring came from T::into_ptr.
            drop(unsafe { T::from_ptr(p) });
        }
        // SAFETY: the ring is empty and no handle refers to it any more.
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) }
    }
}

/// The enqueue end.
pub struct Producer<T: RingItem> {
    ring: Arc<RingInner<T>>,
}

/// The dequeue end (unique).
pub struct Consumer<T: RingItem> {
    ring: Arc<RingInner<T>>,
}

/// Creates a ring holding up to `capacity` items (any size >= 1; rounded up internally).
/// `name` must be unique in the process and at most 28 bytes.
pub fn channel<T: RingItem>(
    _eal: &Eal,
    name: &str,
    capacity: u32,
    producers: Producers,
    socket: i32,
) -> Result<(Producer<T>, Consumer<T>)> {
    if name.is_empty() || name.len() > 28 {
        return Err(Error::invalid(
            "ring name",
            format!("{name:?} must be 1..=28 bytes"),
        ));
    }
    if capacity == 0 || capacity > (1 << 28) {
        return Err(Error::invalid(
            "ring capacity",
            format!("{capacity} is out of 1..=2^28"),
        ));
    }
    let cname =
        CString::new(name).map_err(|_| Error::invalid("ring name", "contains a NUL byte"))?;
    let mut flags = dpdk_sys::RING_F_SC_DEQ | dpdk_sys::RING_F_EXACT_SZ;
    if producers == Producers::Single {
        flags |= dpdk_sys::RING_F_SP_ENQ;
    }
    // SAFETY: valid C string; EAL initialised (token).
    let raw = unsafe { dpdk_sys::rte_ring_create(cname.as_ptr(), capacity, socket, flags) };
    let raw = NonNull::new(raw).ok_or_else(|| Error::from_errno("rte_ring_create"))?;
    let ring = Arc::new(RingInner {
        raw,
        producers,
        _items: PhantomData,
    });
    Ok((Producer { ring: ring.clone() }, Consumer { ring }))
}

impl<T: RingItem> Producer<T> {
    /// Another producer end, only for multi-producer rings.
    pub fn try_clone(&self) -> Option<Producer<T>> {
        (self.ring.producers == Producers::Multi).then(|| Producer {
            ring: self.ring.clone(),
        })
    }

    /// Enqueues one item, or gives it back when the ring is full.
    #[inline]
    pub fn push(&mut self, item: T) -> std::result::Result<(), T> {
        let p = item.into_ptr();
        // SAFETY: p is one valid pointer; this end is the only SP producer or the ring is MP.
        let n = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(self.ring.as_ptr(), &p, 1, std::ptr::null_mut())
        };
        if n == 1 {
            Ok(())
        } else {
            // SAFETY: not enqueued, so we still own it.
            Err(unsafe { T::from_ptr(p) })
        }
    }

    pub(crate) fn inner(&self) -> &Arc<RingInner<T>> {
        &self.ring
    }
}

impl Producer<Mbuf> {
    /// Enqueues as many mbufs as fit from the front of `burst`; returns how many. The rest stay
    /// in the burst (moved to its front).
    #[inline]
    pub fn push_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let len = burst.len() as u32;
        // SAFETY: burst's first len slots are owned mbuf pointers; the ring takes the first n.
        let n = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.ring.as_ptr(),
                burst.filled_ptr().cast(),
                len,
                std::ptr::null_mut(),
            )
        } as usize;
        burst.forget_front(n);
        n
    }
}

impl<T: RingItem> Consumer<T> {
    /// Dequeues one item if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: this is the unique consumer end; p receives at most one pointer.
        let n = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(self.ring.as_ptr(), &mut p, 1, std::ptr::null_mut())
        };
        // SAFETY: the pointer came from T::into_ptr and is now ours.
        (n == 1).then(|| unsafe { T::from_ptr(p) })
    }

    /// Items waiting.
    pub fn len(&self) -> u32 {
        // SAFETY: valid ring.
        unsafe { dpdk_sys::rte_ring_count(self.ring.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn inner(&self) -> &Arc<RingInner<T>> {
        &self.ring
    }
}

impl Consumer<Mbuf> {
    /// Dequeues up to the burst's free room; returns how many were added.
    #[inline]
    pub fn pop_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let room = burst.room() as u32;
        // SAFETY: unique consumer; DPDK writes at most `room` owned mbufs into free slots.
        let n = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(
                self.ring.as_ptr(),
                burst.spare_slots_ptr().cast(),
                room,
                std::ptr::null_mut(),
            )
        } as usize;
        // SAFETY: DPDK wrote n valid mbufs taken from the ring, now owned by the burst.
        unsafe { burst.assume_filled(n) };
        n
    }
}
