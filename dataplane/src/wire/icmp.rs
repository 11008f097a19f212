//! ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
//!
//! ```text
//!  0      1      2        4                8
//! | type | code | csum   | rest of header | data (for errors: the offending IP header + 8 bytes)
//!                        | ident | seq_no |                          (echo request/reply)
//!                        | unused| MTU    |                          (dest unreachable, code 4)
//! ```
//!
//! [`Packet::new_checked`] requires 8 bytes (`Truncated`); after it no accessor panics. ICMP has
//! no length field: the message is the whole buffer, so hand the view the IPv4 payload. The
//! checksum covers the whole message ([`Packet::verify_checksum`], [`Packet::fill_checksum`]).
//!
//! For error messages ([`Packet::is_error`]), [`Packet::inner`] is the embedded datagram: the IPv4
//! header and at least the first 8 bytes of the packet that caused the error, which the load
//! balancer parses (with [`ipv4::Packet`](super::ipv4::Packet), leniently: it is truncated by
//! design) to find the session the error belongs to.

use super::checksum;
use super::{read_u16, read_u32, write_u16, write_u32, WireError};

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The 4 type-specific bytes ("rest of header").
    pub const REST: Range<usize> = 4..8;
    /// Echo identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo sequence number.
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Next-hop MTU (destination unreachable, fragmentation needed).
    pub const MTU: Range<usize> = 6..8;
    /// Pointer (parameter problem).
    pub const POINTER: usize = 4;
}

/// Header length.
pub const HEADER_LEN: usize = 8;

/// Message types.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated, still an error carrying a datagram).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Codes of [`msg_type::DEST_UNREACHABLE`].
pub mod unreach {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Codes of [`msg_type::TIME_EXCEEDED`].
pub mod time_exceeded {
    /// TTL exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// True for the types that carry an embedded datagram (3, 4, 5, 11, 12).
#[inline]
pub const fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        msg_type::DEST_UNREACHABLE
            | msg_type::SOURCE_QUENCH
            | msg_type::REDIRECT
            | msg_type::TIME_EXCEEDED
            | msg_type::PARAM_PROBLEM
    )
}

/// The ports of the transport header quoted in an ICMP error (TCP and UDP both start with
/// source port, destination port), from the quoted IPv4 payload: `None` when fewer than 4 bytes
/// were quoted. The rest of a quoted TCP header is usually missing, so a full
/// [`tcp::Packet`](super::tcp::Packet) cannot be checked over it.
#[inline]
pub fn quoted_ports(l4: &[u8]) -> Option<(u16, u16)> {
    match l4 {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// A view of an ICMPv4 message.
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

    /// `Err(Truncated)` unless the buffer holds the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The 4 type-specific header bytes as one word.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REST)
    }

    /// Echo identifier (meaningful for echo request/reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo request/reply).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Echo request or echo reply.
    #[inline]
    pub fn is_echo(&self) -> bool {
        matches!(
            self.msg_type(),
            msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY
        )
    }

    /// An error message that embeds the offending datagram (types 3, 4, 5, 11, 12).
    #[inline]
    pub fn is_error(&self) -> bool {
        is_error_type(self.msg_type())
    }

    /// Destination unreachable, fragmentation needed (type 3 code 4).
    #[inline]
    pub fn is_frag_needed(&self) -> bool {
        self.msg_type() == msg_type::DEST_UNREACHABLE && self.msg_code() == unreach::FRAG_NEEDED
    }

    /// The next-hop MTU of a fragmentation-needed message (`None` for any other message; 0 is
    /// returned as `Some(0)`, meaning a pre-RFC 1191 router that did not say).
    #[inline]
    pub fn next_hop_mtu(&self) -> Option<u16> {
        if self.is_frag_needed() {
            Some(read_u16(self.buffer.as_ref(), field::MTU))
        } else {
            None
        }
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), HEADER_LEN, usize::MAX)
    }

    /// The embedded datagram of an error message (`None` when not an error).
    #[inline]
    pub fn inner(&self) -> Option<&[u8]> {
        if self.is_error() {
            Some(self.data())
        } else {
            None
        }
    }

    /// True when the checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`data`](Packet::data) with the lifetime of the underlying buffer.
    #[inline]
    pub fn into_data(self) -> &'a [u8] {
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, HEADER_LEN, usize::MAX)
    }

    /// [`inner`](Packet::inner) with the lifetime of the underlying buffer.
    #[inline]
    pub fn into_inner_datagram(self) -> Option<&'a [u8]> {
        if self.is_error() {
            Some(self.into_data())
        } else {
            None
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v
    }

    /// Sets the code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    /// Sets the 4 type-specific header bytes.
    #[inline]
    pub fn set_rest_of_header(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::REST, v)
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, v)
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO, v)
    }

    /// Writes the next-hop MTU field (bytes 6..8; bytes 4..6 are left as they are — zero them
    /// with [`set_rest_of_header`](Self::set_rest_of_header) when building). Checksum not
    /// updated.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        write_u16(self.buffer.as_mut(), field::MTU, mtu)
    }

    /// Recomputes the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Mutable data after the header (see [`data`](Self::data)).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        super::clamped_mut(self.buffer.as_mut(), HEADER_LEN, usize::MAX)
    }

    /// Mutable embedded datagram of an error message (e.g. to undo NAT inside it).
    #[inline]
    pub fn inner_mut(&mut self) -> Option<&mut [u8]> {
        if self.is_error() {
            Some(self.data_mut())
        } else {
            None
        }
    }
}

/// A high-level description of an ICMP header (type, code and the 4 type-specific bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// Bytes 4..8 as a big-endian word.
    pub rest: u32,
}

impl Repr {
    /// Echo request.
    #[inline]
    pub const fn echo_request(ident: u16, seq_no: u16) -> Repr {
        Repr {
            msg_type: msg_type::ECHO_REQUEST,
            code: 0,
            rest: ((ident as u32) << 16) | seq_no as u32,
        }
    }

    /// Echo reply.
    #[inline]
    pub const fn echo_reply(ident: u16, seq_no: u16) -> Repr {
        Repr {
            msg_type: msg_type::ECHO_REPLY,
            code: 0,
            rest: ((ident as u32) << 16) | seq_no as u32,
        }
    }

    /// Destination unreachable with `code` (see [`unreach`]); for `FRAG_NEEDED` use
    /// [`frag_needed`](Self::frag_needed).
    #[inline]
    pub const fn dest_unreachable(code: u8) -> Repr {
        Repr {
            msg_type: msg_type::DEST_UNREACHABLE,
            code,
            rest: 0,
        }
    }

    /// Destination unreachable, fragmentation needed, with the next-hop MTU.
    #[inline]
    pub const fn frag_needed(mtu: u16) -> Repr {
        Repr {
            msg_type: msg_type::DEST_UNREACHABLE,
            code: unreach::FRAG_NEEDED,
            rest: mtu as u32,
        }
    }

    /// Time exceeded, TTL exceeded in transit.
    #[inline]
    pub const fn ttl_exceeded() -> Repr {
        Repr {
            msg_type: msg_type::TIME_EXCEEDED,
            code: time_exceeded::TTL,
            rest: 0,
        }
    }

    /// Reads the header of a checked message.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        Ok(Repr {
            msg_type: packet.msg_type(),
            code: packet.msg_code(),
            rest: packet.rest_of_header(),
        })
    }

    /// 8: the header only; the message is `buffer_len() + data length`.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header and then the checksum over the **whole buffer**: copy the data (for an
    /// error, the offending IP header + leading payload) into `data_mut()` first, and size the
    /// buffer to the message. `Err(Truncated)` if the buffer is shorter than 8 bytes.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        packet.check_len()?;
        packet.set_msg_type(self.msg_type);
        packet.set_msg_code(self.code);
        packet.set_rest_of_header(self.rest);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Echo request id 0x1234 seq 1 with 4 bytes of data "ping"; checksum zero here, filled by
    // the tests and compared with etherparse's.
    const ECHO: [u8; 12] = [
        0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, b'p', b'i', b'n', b'g',
    ];

    // Fragmentation needed, MTU 1400, quoting an IPv4 header (TCP 10.0.0.1 -> 10.0.0.2) and
    // 8 bytes of TCP (ports 40000 -> 80, seq 1).
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x05,
        0x78, // ICMP header, checksum filled by test
        0x45, 0x00, 0x05, 0xdc, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, // inner IPv4 header (total length 1500, DF)
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, // first 8 bytes of TCP
    ];

    fn with_checksum<const N: usize>(mut b: [u8; N]) -> [u8; N] {
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn golden_echo() {
        let b = with_checksum(ECHO);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert!(p.is_echo());
        assert!(!p.is_error());
        assert_eq!(p.inner(), None);
        assert_eq!(p.next_hop_mtu(), None);
        assert_eq!(p.data(), b"ping");
        assert!(p.verify_checksum());
        // etherparse's checksum for the same message.
        let t =
            etherparse::Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id: 0x1234, seq: 1 });
        assert_eq!(t.calc_checksum(b"ping"), p.checksum());
        assert_eq!(Repr::parse(&p).unwrap(), Repr::echo_request(0x1234, 1));
    }

    #[test]
    fn golden_frag_needed() {
        let b = with_checksum(FRAG_NEEDED);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_error());
        assert!(p.is_frag_needed());
        assert!(!p.is_echo());
        assert_eq!(p.next_hop_mtu(), Some(1400));
        let inner = p.inner().unwrap();
        assert_eq!(inner.len(), 28);
        assert_eq!(inner[0], 0x45);
        assert_eq!(&inner[20..24], &[0x9c, 0x40, 0x00, 0x50]);
        assert!(p.verify_checksum());
        let t = etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
        );
        assert_eq!(t.calc_checksum(&FRAG_NEEDED[8..]), p.checksum());
        assert_eq!(Repr::parse(&p).unwrap(), Repr::frag_needed(1400));
    }

    #[test]
    fn quoted_flow_of_an_error() {
        let b = with_checksum(FRAG_NEEDED);
        let p = Packet::new_checked(&b[..]).unwrap();
        let ip = super::super::ipv4::Packet::new_checked_quoted(p.inner().unwrap()).unwrap();
        assert_eq!(ip.protocol(), 6);
        assert_eq!(ip.src_addr(), std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(ip.total_len(), 1500);
        assert_eq!(quoted_ports(ip.payload()), Some((40000, 80)));
        assert_eq!(quoted_ports(&ip.payload()[..3]), None);
    }

    #[test]
    fn error_types() {
        for t in 0..=255u8 {
            let expect = matches!(t, 3 | 4 | 5 | 11 | 12);
            assert_eq!(is_error_type(t), expect, "type {t}");
        }
        let mut b = ECHO;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(msg_type::TIME_EXCEEDED);
        assert_eq!(p.inner().unwrap(), b"ping");
        assert!(p.next_hop_mtu().is_none());
        p.set_msg_type(msg_type::DEST_UNREACHABLE);
        p.set_msg_code(unreach::PORT);
        assert!(p.next_hop_mtu().is_none());
    }

    #[test]
    fn truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ECHO[..len]), Err(WireError::Truncated));
        }
        let p = Packet::new_checked(&FRAG_NEEDED[..8]).unwrap();
        assert_eq!(p.inner(), Some(&[][..]));
        let mut short = [0u8; 7];
        assert_eq!(
            Repr::ttl_exceeded().emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = [0u8; 16];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(msg_type::ECHO_REPLY);
        p.set_msg_code(9);
        p.set_echo_ident(0xaaaa);
        p.set_echo_seq_no(0x5555);
        assert_eq!((p.msg_type(), p.msg_code()), (0, 9));
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0xaaaa, 0x5555));
        assert_eq!(p.rest_of_header(), 0xaaaa_5555);
        p.set_rest_of_header(0);
        p.set_msg_type(msg_type::DEST_UNREACHABLE);
        p.set_msg_code(unreach::FRAG_NEEDED);
        p.set_next_hop_mtu(1280);
        assert_eq!(p.next_hop_mtu(), Some(1280));
        assert_eq!(p.rest_of_header(), 1280);
        p.set_checksum(0xbeef);
        assert_eq!(p.checksum(), 0xbeef);
        assert!(!p.verify_checksum());
        p.inner_mut().unwrap()[0] = 0x45;
        p.data_mut()[7] = 1;
        assert_eq!(p.data()[0], 0x45);
        assert_eq!(p.data()[7], 1);
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_msg_type(msg_type::ECHO_REQUEST);
        assert!(p.inner_mut().is_none());
    }

    #[test]
    fn build_frag_needed_error() {
        // Build the golden message from a Repr: data first, then emit.
        let mut b = [0u8; 36];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.data_mut().copy_from_slice(&FRAG_NEEDED[8..]);
        Repr::frag_needed(1400).emit(&mut p).unwrap();
        assert_eq!(b, with_checksum(FRAG_NEEDED));
        let mut e = [0u8; 8];
        Repr::echo_reply(1, 2)
            .emit(&mut Packet::new_unchecked(&mut e[..]))
            .unwrap();
        assert_eq!(e, [0, 0, 0xff, 0xfc, 0, 1, 0, 2]);
        assert_eq!(Repr::ttl_exceeded().buffer_len(), 8);
        assert_eq!(Repr::dest_unreachable(unreach::PORT).code, 3);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident(), p.echo_seq_no());
                let _ = (p.next_hop_mtu(), p.verify_checksum(), p.is_echo());
                prop_assert_eq!(p.data().len() + 8, data.len());
                prop_assert_eq!(p.inner().is_some(), p.is_error());
                let _ = Repr::parse(&p).unwrap();
            }
        }

        #[test]
        fn checksum_matches_etherparse_echo(id in any::<u16>(), seq in any::<u16>(),
                                            data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = vec![0u8; 8 + data.len()];
            let mut p = Packet::new_unchecked(&mut buf[..]);
            p.data_mut().copy_from_slice(&data);
            Repr::echo_request(id, seq).emit(&mut p).unwrap();
            let t = etherparse::Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id, seq });
            prop_assert_eq!(t.calc_checksum(&data), p.checksum());
            prop_assert!(p.verify_checksum());
        }
    }
}
