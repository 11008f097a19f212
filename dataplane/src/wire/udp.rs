//! UDP headers (RFC 768).
//!
//! ```text
//!  0       2       4        6       8
//! | sport | dport | length | csum  | payload
//! ```
//!
//! [`Packet::new_checked`] checks: at least 8 bytes (`Truncated`), length >= 8
//! (`BadTotalLength`), length <= buffer (`Truncated`). After it no accessor panics.
//! [`Packet::payload`] is bounded by the length field.
//!
//! Checksum rules: over IPv4 a checksum of 0 means "none" ([`Packet::verify_checksum_v4`] accepts
//! it, and the incremental [`Packet::rewrite_src_port`] / [`Packet::rewrite_dst_port`] keep it 0);
//! a computed 0 is sent as `0xFFFF`. Over IPv6 the checksum is mandatory.

use super::checksum::{self, proto};
use super::{read_u16, write_u16, WireError};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length (header + payload).
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the header and the length field against the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let l = self.len() as usize;
        if l < HEADER_LEN {
            return Err(WireError::BadTotalLength);
        }
        if l > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header + payload).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum field (0 = none, IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram (header + payload) as the length field bounds it, clamped to the buffer:
    /// the bytes the checksum covers.
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), 0, self.len() as usize)
    }

    /// Payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), HEADER_LEN, self.len() as usize)
    }

    /// True when the checksum is absent (0) or correct, over IPv4.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::l4_checksum_v4(src, dst, proto::UDP, self.datagram()) == 0
    }

    /// True when the checksum is present and correct, over IPv6.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.checksum() != 0 && checksum::l4_checksum_v6(src, dst, proto::UDP, self.datagram()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`payload`](Packet::payload) with the lifetime of the underlying buffer.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let end = self.len() as usize;
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port (checksum not updated).
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, v)
    }

    /// Sets the destination port (checksum not updated).
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, v)
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    /// Computes and stores the checksum (IPv4 pseudo header), a computed 0 stored as `0xFFFF`.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, proto::UDP, self.datagram());
        self.set_checksum(checksum::udp_from_computed(c));
    }

    /// Computes and stores the checksum (IPv6 pseudo header), a computed 0 stored as `0xFFFF`.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, proto::UDP, self.datagram());
        self.set_checksum(checksum::udp_from_computed(c));
    }

    /// Rewrites the source port, updating the checksum incrementally (a 0 checksum stays 0);
    /// returns the old port.
    #[inline]
    pub fn rewrite_src_port(&mut self, port: u16) -> u16 {
        let old = self.src_port();
        let c = checksum::udp_update16(self.checksum(), old, port);
        self.set_src_port(port);
        self.set_checksum(c);
        old
    }

    /// Rewrites the destination port, updating the checksum incrementally (a 0 checksum stays
    /// 0); returns the old port.
    #[inline]
    pub fn rewrite_dst_port(&mut self, port: u16) -> u16 {
        let old = self.dst_port();
        let c = checksum::udp_update16(self.checksum(), old, port);
        self.set_dst_port(port);
        self.set_checksum(c);
        old
    }

    /// Mutable payload (see [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = self.len() as usize;
        super::clamped_mut(self.buffer.as_mut(), HEADER_LEN, l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);

    // 53000 -> 53, length 12, checksum from etherparse (see test), payload "rvs!", then 2 bytes
    // of trailing padding that must not be part of the payload.
    const GOLDEN: [u8; 14] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'r', b'v', b's', b'!', 0xaa, 0xaa,
    ];

    fn golden_with_checksum() -> [u8; 14] {
        let mut b = GOLDEN;
        let ip = etherparse::Ipv4Header::new(
            12,
            64,
            etherparse::IpNumber::UDP,
            SRC.octets(),
            DST.octets(),
        )
        .unwrap();
        let c = etherparse::UdpHeader::with_ipv4_checksum(53000, 53, &ip, b"rvs!")
            .unwrap()
            .checksum;
        b[6..8].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn golden_fields() {
        let b = golden_with_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 53000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 12);
        assert_eq!(p.payload(), b"rvs!");
        assert_eq!(p.datagram().len(), 12);
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(SRC, Ipv4Addr::new(10, 0, 0, 54)));
        let mut copy = b;
        let mut q = Packet::new_checked(&mut copy[..]).unwrap();
        q.fill_checksum_v4(SRC, DST);
        assert_eq!(q.checksum(), p.checksum(), "ours == etherparse's");
    }

    #[test]
    fn zero_checksum_means_none_over_v4_not_v6() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(p.checksum(), 0);
        assert!(p.verify_checksum_v4(SRC, DST));
        let s: Ipv6Addr = "::1".parse().unwrap();
        assert!(!p.verify_checksum_v6(&s, &s));
    }

    #[test]
    fn truncation_and_bad_length() {
        for len in 0..12 {
            assert_eq!(
                Packet::new_checked(&GOLDEN[..len]),
                Err(WireError::Truncated)
            );
        }
        let mut b = GOLDEN;
        b[5] = 7;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadTotalLength));
        b[5] = 15;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Truncated));
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = golden_with_checksum();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_checksum(3);
        assert_eq!((p.src_port(), p.dst_port(), p.checksum()), (1, 2, 3));
        p.set_len(10);
        assert_eq!(p.len(), 10);
        assert_eq!(p.payload(), b"rv");
        p.payload_mut()[0] = b'R';
        assert_eq!(p.payload(), b"Rv");
        p.set_len(0xffff);
        assert_eq!(p.payload().len(), 6, "clamped to the buffer");
        p.set_len(3);
        assert!(p.payload().is_empty());
        assert_eq!(p.datagram().len(), 3);
    }

    #[test]
    fn rewrite_ports_incremental_and_zero_stays_zero() {
        let mut b = golden_with_checksum();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.rewrite_dst_port(5353), 53);
        assert_eq!(p.rewrite_src_port(1), 53000);
        assert!(p.verify_checksum_v4(SRC, DST));

        let mut z = GOLDEN;
        let mut q = Packet::new_checked(&mut z[..]).unwrap();
        q.rewrite_dst_port(5353);
        q.rewrite_src_port(7);
        assert_eq!(q.checksum(), 0);
    }

    #[test]
    fn v6_matches_etherparse() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let builder = etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64).udp(9, 10);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"0123456789").unwrap();
        let mut seg = bytes[40..].to_vec();
        let want = Packet::new_checked(&seg[..]).unwrap().checksum();
        let mut p = Packet::new_checked(&mut seg[..]).unwrap();
        assert!(p.verify_checksum_v6(&s, &d));
        p.fill_checksum_v6(&s, &d);
        assert_eq!(p.checksum(), want);
        assert_eq!(p.len(), 18);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut data = data;
            if data.len() >= 8 && data[0] & 1 == 0 {
                data[4] = 0;
                data[5] = data.len() as u8;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.src_port(), p.dst_port(), p.checksum(), p.verify_checksum_v4(SRC, DST));
                prop_assert_eq!(p.payload().len() + 8, p.len() as usize);
            }
        }

        /// NAT rewrite of address + port: incremental UDP update equals a full recomputation
        /// (with the 0 -> 0xFFFF rule) and etherparse's checksum.
        #[test]
        fn incremental_equals_full(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), new_dst in any::<[u8; 4]>(),
            sp in any::<u16>(), dp in any::<u16>(), new_dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let ip = etherparse::Ipv4Header::new(
                (8 + payload.len()) as u16, 64, etherparse::IpNumber::UDP, src, dst).unwrap();
            let h = etherparse::UdpHeader::with_ipv4_checksum(sp, dp, &ip, &payload).unwrap();
            let mut seg = h.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let mut p = Packet::new_checked(&mut seg[..]).unwrap();
            let c = checksum::udp_update_ipv4_addr(p.checksum(), dst.into(), new_dst.into());
            p.set_checksum(c);
            p.rewrite_dst_port(new_dp);
            let inc = p.checksum();
            prop_assert!(p.verify_checksum_v4(src.into(), new_dst.into()));
            p.fill_checksum_v4(src.into(), new_dst.into());
            prop_assert_eq!(inc, p.checksum());
            let ip2 = etherparse::Ipv4Header::new(
                (8 + payload.len()) as u16, 64, etherparse::IpNumber::UDP, src, new_dst).unwrap();
            let h2 = etherparse::UdpHeader::with_ipv4_checksum(sp, new_dp, &ip2, &payload).unwrap();
            prop_assert_eq!(h2.checksum, inc);
        }
    }
}
