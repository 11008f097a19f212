//! What the packet path needs of a packet buffer: its bytes, and room to grow at the front
//! (tunnel headers, VLAN tags) or shrink at either end. DPDK's `Mbuf` implements it for the workers;
//! [`HeapBuf`] implements it over a `Vec` for tests, fuzzing and benchmarks.

use crate::dpdk::Mbuf;

pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet by `n` bytes at the front (content unspecified); false, unchanged, if
    /// there is not enough headroom.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end; false, unchanged, if the packet is shorter.
    fn trim(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front (they become headroom); false, unchanged, if the
    /// packet is shorter.
    fn adj(&mut self, n: usize) -> bool;
}

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        u16::try_from(n).is_ok_and(|n| Mbuf::prepend(self, n).is_some())
    }
    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        u16::try_from(n).is_ok_and(|n| Mbuf::trim(self, n))
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        u16::try_from(n).is_ok_and(|n| Mbuf::adj(self, n))
    }
}

/// A packet in a heap buffer with DPDK's default 128 bytes of headroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapBuf {
    bytes: Vec<u8>,
    start: usize,
}

impl HeapBuf {
    pub const HEADROOM: usize = 128;

    pub fn new(frame: &[u8]) -> Self {
        let mut bytes = vec![0; Self::HEADROOM];
        bytes.extend_from_slice(frame);
        HeapBuf {
            bytes,
            start: Self::HEADROOM,
        }
    }

    /// Replaces the content, restoring the full headroom (reuse without allocating).
    pub fn reset(&mut self, frame: &[u8]) {
        self.bytes.truncate(Self::HEADROOM);
        self.bytes.extend_from_slice(frame);
        self.start = Self::HEADROOM;
    }
}

impl PacketBuf for HeapBuf {
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..]
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.bytes.len() - self.start {
            return false;
        }
        self.bytes.truncate(self.bytes.len() - n);
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.bytes.len() - self.start {
            return false;
        }
        self.start += n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_buf_grows_at_front_and_shrinks_at_end() {
        let mut b = HeapBuf::new(b"abcdef");
        assert!(b.prepend(2));
        b.data_mut()[..2].copy_from_slice(b"xy");
        assert!(b.trim(3));
        assert_eq!(b.data(), b"xyabc");
        assert!(!b.trim(6));
        assert!(!b.prepend(HeapBuf::HEADROOM - 1));
        assert_eq!(b.data(), b"xyabc");
        assert!(b.adj(2) && b.data() == b"abc");
        assert!(!b.adj(4));
        assert!(b.prepend(1) && b.data() == b"yabc");
        b.reset(b"12");
        assert_eq!(b.data(), b"12");
        assert!(b.prepend(HeapBuf::HEADROOM));
    }
}
