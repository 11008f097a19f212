//! TCP headers (RFC 9293).
//!
//! ```text
//!  0       2       4     8     12          14     16     18      20
//! | sport | dport | seq | ack | off/flags | win  | csum | urgent | options ... | payload
//! ```
//!
//! [`Packet::new_checked`] checks: at least 20 bytes (`Truncated`), data offset >= 5
//! (`BadHeaderLength`), data offset * 4 <= buffer (`Truncated`). After it no accessor panics.
//! TCP has no length field: the segment is the whole buffer, so hand the view the IP payload
//! (which the IP view already bounds by its length field), not the rest of the frame.
//!
//! Checksums: [`Packet::verify_checksum_v4`] / [`Packet::fill_checksum_v4`] (and `_v6`) compute
//! over the whole buffer with the pseudo header; NAT rewrites use the incremental helpers in
//! [`checksum`] on [`Packet::checksum`] instead.

use super::checksum::{self, proto};
use super::{read_u16, read_u32, write_u16, write_u32, WireError};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgment number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (high nibble of byte 12).
    pub const DATA_OFF: usize = 12;
    /// Flags (byte 13: CWR ECE URG ACK PSH RST SYN FIN).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WIN_SIZE: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Flag bits of [`Packet::flags`].
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// A view of a TCP segment.
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

    /// Checks the fixed header and the data offset against the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if hl > len {
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Data offset in 32-bit words.
    #[inline]
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFF] >> 4
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        self.data_offset() as usize * 4
    }

    /// The flag byte (see [`flags`]). The NS bit (byte 12, bit 0, historic) is not included.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// True when every bit of `mask` is set.
    #[inline]
    pub fn has_flags(&self, mask: u8) -> bool {
        self.flags() & mask == mask
    }

    /// FIN.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// SYN.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// RST.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// PSH.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    /// ACK.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// URG.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    /// A connection-opening SYN: SYN set, ACK and RST clear.
    #[inline]
    pub fn is_syn_only(&self) -> bool {
        self.flags() & (flags::SYN | flags::ACK | flags::RST) == flags::SYN
    }

    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Option bytes (empty when the data offset is 5), clamped to the buffer.
    #[inline]
    pub fn options(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// Payload: after the header to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), self.header_len(), usize::MAX)
    }

    /// Segment length in sequence space: payload + SYN + FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload().len() + self.syn() as usize + self.fin() as usize
    }

    /// True when the checksum over the whole buffer with the IPv4 pseudo header is correct.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::l4_checksum_v4(src, dst, proto::TCP, self.buffer.as_ref()) == 0
    }

    /// True when the checksum over the whole buffer with the IPv6 pseudo header is correct.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        checksum::l4_checksum_v6(src, dst, proto::TCP, self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`payload`](Packet::payload) with the lifetime of the underlying buffer.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len();
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, start, usize::MAX)
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, v)
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, v)
    }

    /// Sets the header length in bytes (rounded down to 4, at most 60), keeping the low nibble.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let off = (len / 4).min(15) as u8;
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (off << 4) | (*b & 0x0f);
    }

    /// Sets the flag byte.
    #[inline]
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE, v)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, v)
    }

    /// Computes and stores the checksum over the whole buffer (IPv4 pseudo header).
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Computes and stores the checksum over the whole buffer (IPv6 pseudo header).
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Rewrites the source port, updating the checksum incrementally; returns the old port.
    #[inline]
    pub fn rewrite_src_port(&mut self, port: u16) -> u16 {
        let old = self.src_port();
        let c = checksum::update16(self.checksum(), old, port);
        self.set_src_port(port);
        self.set_checksum(c);
        old
    }

    /// Rewrites the destination port, updating the checksum incrementally; returns the old port.
    #[inline]
    pub fn rewrite_dst_port(&mut self, port: u16) -> u16 {
        let old = self.dst_port();
        let c = checksum::update16(self.checksum(), old, port);
        self.set_dst_port(port);
        self.set_checksum(c);
        old
    }

    /// Mutable options (see [`options`](Self::options)).
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        super::clamped_mut(self.buffer.as_mut(), HEADER_LEN, hl)
    }

    /// Mutable payload (see [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        super::clamped_mut(self.buffer.as_mut(), hl, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);

    // A SYN 40000 -> 80, seq 0x01020304, window 64240, MSS 1460 + SACK-permitted + NOP NOP
    // options (data offset 7), checksum filled in by the test (zero here).
    const SYN: [u8; 28] = [
        0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x01, 0x01,
    ];

    fn syn_with_checksum() -> [u8; 28] {
        let mut b = SYN;
        Packet::new_unchecked(&mut b[..]).fill_checksum_v4(SRC, DST);
        b
    }

    #[test]
    fn golden_syn() {
        let b = syn_with_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0x0102_0304);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.data_offset(), 7);
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.flags(), flags::SYN);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh() && !p.urg());
        assert!(p.is_syn_only());
        assert!(p.has_flags(flags::SYN));
        assert!(!p.has_flags(flags::SYN | flags::ACK));
        assert_eq!(p.window(), 64240);
        assert_eq!(p.urgent(), 0);
        assert_eq!(p.options(), &SYN[20..28]);
        assert!(p.payload().is_empty());
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(SRC, Ipv4Addr::new(192, 168, 1, 21)));
        // Checksum independently from etherparse.
        let (h, _) = etherparse::TcpHeader::from_slice(&b).unwrap();
        assert_eq!(
            h.calc_checksum_ipv4_raw(SRC.octets(), DST.octets(), &[])
                .unwrap(),
            p.checksum()
        );
    }

    #[test]
    fn truncation_and_bad_offset() {
        for len in 0..SYN.len() {
            assert_eq!(Packet::new_checked(&SYN[..len]), Err(WireError::Truncated));
        }
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadHeaderLength));
        b[12] = 0xf0;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Truncated));
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = [0u8; 24];
        b[12] = 0x50;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(65535);
        p.set_seq_number(0xdead_beef);
        p.set_ack_number(0x0bad_f00d);
        p.set_flags(flags::ACK | flags::PSH | flags::FIN | flags::URG | flags::RST);
        p.set_window(123);
        p.set_checksum(0xabcd);
        p.set_urgent(9);
        assert_eq!((p.src_port(), p.dst_port()), (1, 65535));
        assert_eq!((p.seq_number(), p.ack_number()), (0xdead_beef, 0x0bad_f00d));
        assert!(p.ack() && p.psh() && p.fin() && p.urg() && p.rst() && !p.syn());
        assert!(!p.is_syn_only());
        assert_eq!((p.window(), p.checksum(), p.urgent()), (123, 0xabcd, 9));
        assert_eq!(p.payload().len(), 4);
        assert_eq!(p.segment_len(), 5);
        p.payload_mut().copy_from_slice(b"data");
        assert_eq!(p.payload(), b"data");
        p.set_header_len(24);
        assert_eq!(p.header_len(), 24);
        assert!(p.payload().is_empty());
        p.options_mut().copy_from_slice(&[1, 1, 1, 1]);
        assert_eq!(p.options(), &[1, 1, 1, 1]);
        p.set_header_len(60);
        assert_eq!(p.options().len(), 4, "clamped");
        assert!(p.payload().is_empty());
        p.set_header_len(0);
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 24);
    }

    #[test]
    fn matches_etherparse_built_packet() {
        let builder = etherparse::PacketBuilder::ipv4(SRC.octets(), DST.octets(), 64)
            .tcp(80, 40000, 1000, 29200)
            .syn()
            .ack(0x0102_0305);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"").unwrap();
        let seg = &bytes[20..];
        let p = Packet::new_checked(seg).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (80, 40000));
        assert_eq!((p.seq_number(), p.ack_number()), (1000, 0x0102_0305));
        assert!(p.has_flags(flags::SYN | flags::ACK));
        assert_eq!(p.window(), 29200);
        assert!(p.verify_checksum_v4(SRC, DST));
    }

    #[test]
    fn v6_checksum_matches_etherparse() {
        let s: Ipv6Addr = "2001:db8::a".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::b".parse().unwrap();
        let builder = etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .tcp(1, 2, 3, 4)
            .psh();
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"hello").unwrap();
        let mut seg = bytes[40..].to_vec();
        let want = Packet::new_checked(&seg[..]).unwrap().checksum();
        let mut p = Packet::new_checked(&mut seg[..]).unwrap();
        assert!(p.verify_checksum_v6(&s, &d));
        p.fill_checksum_v6(&s, &d);
        assert_eq!(p.checksum(), want);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.flags());
                let _ = (p.window(), p.checksum(), p.urgent(), p.segment_len(), p.is_syn_only());
                let _ = p.verify_checksum_v4(SRC, DST);
                prop_assert_eq!(p.options().len() + 20 + p.payload().len(), data.len());
            }
        }

        /// FULLNAT-style rewrite (addresses and ports) with incremental updates equals a full
        /// recomputation, and etherparse agrees.
        #[test]
        fn incremental_equals_full(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            new_src in any::<[u8; 4]>(), new_dst in any::<[u8; 4]>(),
            sp in any::<u16>(), dp in any::<u16>(), new_sp in any::<u16>(), new_dp in any::<u16>(),
            seq in any::<u32>(), ack in any::<u32>(), new_seq in any::<u32>(), fl in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut h = etherparse::TcpHeader::new(sp, dp, seq, 1024);
            h.acknowledgment_number = ack;
            h.syn = fl & 2 != 0;
            h.ack = fl & 0x10 != 0;
            h.checksum = h.calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
            let mut seg = h.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let mut p = Packet::new_checked(&mut seg[..]).unwrap();
            prop_assert!(p.verify_checksum_v4(src.into(), dst.into()));

            let mut c = p.checksum();
            c = checksum::update_ipv4_addr(c, src.into(), new_src.into());
            c = checksum::update_ipv4_addr(c, dst.into(), new_dst.into());
            c = checksum::update32(c, p.seq_number(), new_seq);
            p.set_checksum(c);
            p.set_seq_number(new_seq);
            p.rewrite_src_port(new_sp);
            p.rewrite_dst_port(new_dp);
            let inc = p.checksum();
            prop_assert!(p.verify_checksum_v4(new_src.into(), new_dst.into()));
            p.fill_checksum_v4(new_src.into(), new_dst.into());
            prop_assert_eq!(inc, p.checksum());

            let (h2, rest) = etherparse::TcpHeader::from_slice(&seg).unwrap();
            prop_assert_eq!(h2.calc_checksum_ipv4_raw(new_src, new_dst, rest).unwrap(), inc);
        }

        #[test]
        fn incremental_v6_equals_full(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), new_dst in any::<[u8; 16]>(),
            dp in any::<u16>(), new_dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let h = etherparse::TcpHeader::new(7, dp, 9, 1024);
            let mut seg = h.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let (s, d, nd) = (Ipv6Addr::from(src), Ipv6Addr::from(dst), Ipv6Addr::from(new_dst));
            let mut p = Packet::new_checked(&mut seg[..]).unwrap();
            p.fill_checksum_v6(&s, &d);
            let c = checksum::update_ipv6_addr(p.checksum(), &d, &nd);
            p.set_checksum(c);
            p.rewrite_dst_port(new_dp);
            let inc = p.checksum();
            p.fill_checksum_v6(&s, &nd);
            prop_assert_eq!(inc, p.checksum());
        }
    }
}
