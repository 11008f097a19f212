//! IPv6 fixed headers (RFC 8200).
//!
//! ```text
//!  0                4        6     7      8      24     40
//! | ver/tc/flow     | paylen | next| hops | src  | dst  | payload (extension headers first)
//! ```
//!
//! [`Packet::new_checked`] checks: at least 40 bytes (`Truncated`), version 6 (`BadVersion`),
//! 40 + payload length <= buffer (`Truncated`). After it no accessor panics. Extension headers are
//! not walked: [`Packet::next_header`] is the first one, and [`Packet::payload`] starts right after
//! the fixed header. Jumbograms (payload length 0 with a hop-by-hop jumbo option) are not
//! supported: such a packet has an empty payload here.

use super::checksum;
use super::{read_u16, read_u32, write_u16, write_u32, WireError};
use std::net::Ipv6Addr;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length.
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 8..24;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

pub use super::checksum::proto;

#[inline(always)]
fn addr_at(data: &[u8], r: core::ops::Range<usize>) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[r]);
    Ipv6Addr::from(a)
}

/// A view of an IPv6 packet.
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

    /// Checks length, version and payload length (see the module docs).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if HEADER_LEN + self.payload_len() as usize > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline(always)]
    fn first_word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// Version (6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header, extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// 40 + payload length.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }

    /// Next header (the first extension header or the upper-layer protocol).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The payload: `payload_len` bytes after the fixed header (padding excluded), clamped to
    /// the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), HEADER_LEN, self.total_len())
    }

    /// The pseudo-header sum for an upper-layer payload that directly follows the fixed header
    /// (`next_header` is the upper-layer protocol).
    #[inline]
    pub fn pseudo_header_sum(&self) -> u32 {
        checksum::pseudo_header_v6(
            &self.src_addr(),
            &self.dst_addr(),
            self.next_header(),
            self.payload().len() as u32,
        )
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`payload`](Packet::payload) with the lifetime of the underlying buffer rather than of
    /// the view, so a parsed layer can be handed on while the view goes out of scope.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let end = self.total_len();
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, traffic class and flow label in one go.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (6u32 << 28) | ((traffic_class as u32) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW, w)
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.first_word() & 0xf00f_ffff) | ((tc as u32) << 20);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW, w)
    }

    /// Sets the flow label (20 bits kept).
    #[inline]
    pub fn set_flow_label(&mut self, fl: u32) {
        let w = (self.first_word() & 0xfff0_0000) | (fl & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW, w)
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, v)
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: &Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets())
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: &Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets())
    }

    /// Mutable payload (see [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        super::clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// A high-level description of an IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Reads a packet (checked again, so an unchecked view is safe here).
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len() as usize,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// 40.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header. `Err(Truncated)` if the buffer is shorter than 40 bytes,
    /// `Err(BadTotalLength)` if `payload_len` does not fit 16 bits.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.payload_len > u16::MAX as usize {
            return Err(WireError::BadTotalLength);
        }
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(&self.src_addr);
        packet.set_dst_addr(&self.dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2001:db8::1 -> 2001:db8::2, TC 0xb8, flow 0x12345, UDP, hop limit 64, 12 bytes payload
    // (UDP 1234 -> 53, length 12, checksum left 0, "abcd"), then 2 bytes of padding.
    const GOLDEN: [u8; 54] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x0c, 0x11, 0x40, // ver/tc/flow, plen 12, UDP, hops 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd', // UDP
        0xee, 0xee, // padding
    ];

    #[test]
    fn golden_fields() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 12);
        assert_eq!(p.total_len(), 52);
        assert_eq!(p.next_header(), proto::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &GOLDEN[40..52]);
    }

    #[test]
    fn truncation_and_version() {
        for len in 0..52 {
            assert_eq!(
                Packet::new_checked(&GOLDEN[..len]),
                Err(WireError::Truncated)
            );
        }
        assert!(Packet::new_checked(&GOLDEN[..52]).is_ok());
        let mut b = GOLDEN;
        b[0] = 0x4b;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadVersion));
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = GOLDEN;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_traffic_class(0x01);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x01, 0x12345)
        );
        p.set_flow_label(0xfffff);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x01, 0xfffff)
        );
        p.set_version_tc_flow(0xff, 0x1);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xff, 0x1)
        );
        p.set_hop_limit(1);
        assert_eq!(p.hop_limit(), 1);
        p.set_next_header(proto::TCP);
        assert_eq!(p.next_header(), proto::TCP);
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let z: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        p.set_src_addr(&a);
        p.set_dst_addr(&z);
        assert_eq!((p.src_addr(), p.dst_addr()), (a, z));
        p.set_payload_len(4);
        assert_eq!(p.payload().len(), 4);
        p.payload_mut()[3] = 0x77;
        assert_eq!(p.payload()[3], 0x77);
        p.set_payload_len(0xffff);
        assert_eq!(p.payload().len(), 14, "clamped to the buffer");
    }

    #[test]
    fn matches_etherparse_and_udp_checksum() {
        let builder = etherparse::PacketBuilder::ipv6(
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            17,
        )
        .udp(5000, 443);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"quic-ish").unwrap();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.hop_limit(), 17);
        assert_eq!(p.next_header(), proto::UDP);
        assert_eq!(p.payload_len(), 16);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        // etherparse filled the UDP checksum; verifying it with our pseudo-header sum gives 0.
        let v = checksum::finish(checksum::ones_complement_sum(
            p.payload(),
            p.pseudo_header_sum(),
        ));
        assert_eq!(v, 0);
    }

    #[test]
    fn repr_roundtrip() {
        let p = Packet::new_checked(&GOLDEN[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 40];
        r.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
        assert_eq!(out[..], GOLDEN[..40]);
        assert_eq!(r.buffer_len(), 40);
        let mut short = [0u8; 39];
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        let big = Repr {
            payload_len: 70_000,
            ..r
        };
        assert_eq!(
            big.emit(&mut Packet::new_unchecked(&mut out[..])),
            Err(WireError::BadTotalLength)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&GOLDEN[..10])),
            Err(WireError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..90)) {
            let mut data = data;
            if !data.is_empty() && data.len() % 3 != 0 {
                data[0] = 0x60 | (data[0] & 0x0f);
            }
            if data.len() > 5 && data.len() % 2 == 0 {
                data[4] = 0;
                data[5] &= 0x1f;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.traffic_class(), p.flow_label(), p.next_header(), p.hop_limit());
                let _ = (p.src_addr(), p.dst_addr(), p.pseudo_header_sum());
                prop_assert_eq!(p.payload().len(), p.payload_len() as usize);
                let r = Repr::parse(&p).unwrap();
                prop_assert_eq!(r.payload_len, p.payload_len() as usize);
            }
        }
    }
}
