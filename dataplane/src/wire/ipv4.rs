//! IPv4 headers (RFC 791).
//!
//! ```text
//!  0        1        2        4        6        8     9      10       12      16      20
//! | ver/ihl| dscp/ecn| length | ident  | flg/off| ttl | proto| cksum  | src   | dst   | options
//! ```
//!
//! [`Packet::new_checked`] checks, in this order: at least 20 bytes (`Truncated`), version 4
//! (`BadVersion`), IHL >= 5 (`BadHeaderLength`), IHL * 4 <= buffer (`Truncated`),
//! total length >= header length (`BadTotalLength`), total length <= buffer (`Truncated`). It
//! does not verify the checksum: call [`Packet::verify_checksum`]. After it, no accessor panics,
//! and none does after any setter either (variable parts are clamped to the buffer).
//!
//! [`Packet::payload`] is bounded by the total length, not the buffer, so Ethernet padding after a
//! short datagram is excluded. Fragments and options are recognised, not processed: see
//! [`Packet::is_fragment`], [`Packet::options`] and [`Options::parse`] (the options walk).

use super::checksum;
use super::{read_u16, write_u16, WireError};
use std::net::Ipv4Addr;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP (6 bits) and ECN (2 bits), the old TOS byte.
    pub const DSCP_ECN: usize = 1;
    /// Total length.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

/// The DF bit in the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// The MF bit in the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Mask of the fragment offset in the flags/offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// Protocol numbers (the same as [`checksum::proto`]).
pub use super::checksum::proto;

#[inline(always)]
fn addr_at(data: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    let b = &data[r];
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// A view of an IPv4 packet.
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

    /// Wraps the datagram quoted inside an ICMP error: the same checks as
    /// [`new_checked`](Self::new_checked) except that the total length may exceed the buffer
    /// (the quote is truncated by design: header + 8 bytes, or up to 576 bytes in all).
    /// [`payload`](Self::payload) is then the quoted part only.
    #[inline]
    pub fn new_checked_quoted(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Self::new_unchecked(buffer);
        match p.check_len() {
            Ok(()) => Ok(p),
            Err(WireError::Truncated) if p.quoted_header_fits() => Ok(p),
            Err(e) => Err(e),
        }
    }

    /// Version, IHL and total length are sane and the whole header is in the buffer.
    #[inline]
    fn quoted_header_fits(&self) -> bool {
        let len = self.buffer.as_ref().len();
        len >= HEADER_LEN
            && self.version() == 4
            && self.header_len() >= HEADER_LEN
            && self.header_len() <= len
            && self.total_len() as usize >= self.header_len()
    }

    /// Checks the version and the length fields against each other and the buffer (see the
    /// module docs for the order and the errors).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if hl > data.len() {
            return Err(WireError::Truncated);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(WireError::BadTotalLength);
        }
        if tl > data.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// The DSCP/ECN (TOS) byte.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// DSCP (upper 6 bits of the TOS byte).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// ECN (lower 2 bits of the TOS byte).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total length (header + payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The raw flags/fragment-offset word.
    #[inline]
    pub fn flags_frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag_offset() & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field times 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag_offset() & OFFSET_MASK) << 3
    }

    /// Any fragment, first included: MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// The first fragment of a fragmented datagram, or an unfragmented one: offset 0 (the only
    /// fragment that carries the L4 header).
    #[inline]
    pub fn is_first_fragment(&self) -> bool {
        self.flags_frag_offset() & OFFSET_MASK == 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload (see [`proto`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// True when IHL > 5.
    #[inline]
    pub fn has_options(&self) -> bool {
        self.header_len() > HEADER_LEN
    }

    /// The options bytes (empty when none), clamped to the buffer.
    #[inline]
    pub fn options(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// The whole header, options included, clamped to the buffer.
    #[inline]
    pub fn header(&self) -> &[u8] {
        super::clamped(self.buffer.as_ref(), 0, self.header_len())
    }

    /// True when the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }

    /// The payload: from the end of the header to `total_len` (not to the end of the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        super::clamped(
            self.buffer.as_ref(),
            self.header_len(),
            self.total_len() as usize,
        )
    }

    /// The sum of the IPv4 pseudo header for this packet's L4 payload (protocol and payload
    /// length from the header), to seed [`checksum::ones_complement_sum`] over the L4 bytes.
    #[inline]
    pub fn pseudo_header_sum(&self) -> u32 {
        checksum::pseudo_header_v4(
            self.src_addr(),
            self.dst_addr(),
            self.protocol(),
            self.payload().len() as u16,
        )
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`payload`](Packet::payload) with the lifetime of the underlying buffer rather than of
    /// the view, so a parsed layer can be handed on while the view goes out of scope.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let (start, end) = (self.header_len(), self.total_len() as usize);
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, start, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version and IHL from a header length in bytes (rounded down to a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: usize) {
        let ihl = ((header_len / 4).min(15)) as u8;
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ihl;
    }

    /// Sets the TOS (DSCP/ECN) byte.
    #[inline]
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, v)
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, v)
    }

    /// Sets the raw flags/fragment-offset word.
    #[inline]
    pub fn set_flags_frag_offset(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF, v)
    }

    /// Sets or clears DF.
    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        let w = self.flags_frag_offset() & !FLAG_DF;
        self.set_flags_frag_offset(if on { w | FLAG_DF } else { w });
    }

    /// Sets or clears MF.
    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        let w = self.flags_frag_offset() & !FLAG_MF;
        self.set_flags_frag_offset(if on { w | FLAG_MF } else { w });
    }

    /// Sets the fragment offset in bytes (must be a multiple of 8; the low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let w = self.flags_frag_offset() & !OFFSET_MASK;
        self.set_flags_frag_offset(w | ((bytes >> 3) & OFFSET_MASK));
    }

    /// Sets the TTL (checksum not updated: see [`decrement_ttl`](Self::decrement_ttl)).
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v)
    }

    /// Sets the source address (checksum not updated).
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets())
    }

    /// Sets the destination address (checksum not updated).
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets())
    }

    /// Recomputes the header checksum over the whole header (options included).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// Rewrites the source address and updates the header checksum incrementally. Returns the
    /// old address (the caller updates the L4 checksum, whose pseudo header covers it too).
    #[inline]
    pub fn rewrite_src_addr(&mut self, a: Ipv4Addr) -> Ipv4Addr {
        let old = self.src_addr();
        let c = checksum::update_ipv4_addr(self.checksum(), old, a);
        self.set_src_addr(a);
        self.set_checksum(c);
        old
    }

    /// Rewrites the destination address and updates the header checksum incrementally. Returns
    /// the old address.
    #[inline]
    pub fn rewrite_dst_addr(&mut self, a: Ipv4Addr) -> Ipv4Addr {
        let old = self.dst_addr();
        let c = checksum::update_ipv4_addr(self.checksum(), old, a);
        self.set_dst_addr(a);
        self.set_checksum(c);
        old
    }

    /// Decrements the TTL by one and updates the checksum incrementally. Returns the new TTL;
    /// a TTL already at 0 is left alone and 0 is returned (the caller drops and may send ICMP
    /// time exceeded when the result is 0).
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        let proto = self.protocol() as u16;
        let old = ((ttl as u16) << 8) | proto;
        let new = (((ttl - 1) as u16) << 8) | proto;
        let c = checksum::update16(self.checksum(), old, new);
        self.set_ttl(ttl - 1);
        self.set_checksum(c);
        ttl - 1
    }

    /// Mutable options bytes (see [`options`](Self::options)).
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        super::clamped_mut(self.buffer.as_mut(), HEADER_LEN, hl)
    }

    /// Mutable payload (see [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        super::clamped_mut(self.buffer.as_mut(), hl, tl)
    }
}

/// Option types (RFC 791; IANA "IP Option Numbers"), the copied flag and class included.
pub mod option {
    /// End of option list (one byte).
    pub const END: u8 = 0;
    /// No operation (one byte).
    pub const NOP: u8 = 1;
    /// Record route.
    pub const RECORD_ROUTE: u8 = 7;
    /// Internet timestamp.
    pub const TIMESTAMP: u8 = 68;
    /// Loose source and record route.
    pub const LSRR: u8 = 131;
    /// Strict source and record route.
    pub const SSRR: u8 = 137;
    /// Router alert (RFC 2113).
    pub const ROUTER_ALERT: u8 = 148;
}

/// What a header's options ask of the routers on the way, as far as rvs acts on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// A loose or strict source route (LSRR, SSRR).
    pub source_route: bool,
    /// A record route (RR).
    pub record_route: bool,
}

impl Options {
    /// Walks `options` ([`Packet::options`]) as Linux's `ip_options_compile` does: end of list
    /// stops the walk, NOP is one byte, every other option is type, length (counting both, so
    /// at least 2 and at most what is left), data. Any other length is `BadHeaderLength`. Reads
    /// nothing past `options` and nothing after the end of list; never panics.
    #[inline]
    pub fn parse(options: &[u8]) -> Result<Options, WireError> {
        let mut found = Options::default();
        let mut rest = options;
        while let [kind, tail @ ..] = rest {
            let len = match *kind {
                option::END => break,
                option::NOP => 1,
                _ => match tail.first() {
                    Some(&len) if len >= 2 && usize::from(len) <= rest.len() => usize::from(len),
                    _ => return Err(WireError::BadHeaderLength),
                },
            };
            match *kind {
                option::LSRR | option::SSRR => found.source_route = true,
                option::RECORD_ROUTE => found.record_route = true,
                _ => {}
            }
            rest = &rest[len..];
        }
        Ok(found)
    }
}

/// A high-level description of an option-less IPv4 header, for building fresh headers
/// (IP-in-IP encapsulation, ICMP errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Length of the payload (total length minus 20).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP/ECN byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Repr {
    /// Reads a checked packet. Options are skipped and not kept; a fragment is described
    /// without its fragment fields (check [`Packet::is_fragment`] first where that matters).
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.payload().len(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// 20: emitted headers carry no options.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header with a correct checksum at the start of `packet`'s buffer (the
    /// payload is the caller's). `Err(Truncated)` when the buffer is shorter than 20 bytes,
    /// `Err(BadTotalLength)` when 20 + `payload_len` does not fit 16 bits.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.payload_len > u16::MAX as usize - HEADER_LEN {
            return Err(WireError::BadTotalLength);
        }
        let total = HEADER_LEN + self.payload_len;
        packet.set_version_and_header_len(4, HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(total as u16);
        packet.set_ident(self.ident);
        packet.set_flags_frag_offset(if self.dont_frag { FLAG_DF } else { 0 });
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73 (header of Wikipedia's checksum
    // example); only the header, so tests build full datagrams around it.
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    // An ICMP echo request 10.0.0.1 -> 10.0.0.2, 28 bytes, followed by 18 bytes of Ethernet
    // padding (a minimum-size frame).
    const PING_PADDED: [u8; 46] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0x54, 0xab, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, // header (checksum 0x54ab)
        0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00, // ICMP echo request id 1 seq 0
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    // A fragment with options: IHL 6 (one NOP x3 + EOL option word), MF set, offset 185*8.
    const FRAG_OPTS: [u8; 28] = [
        0x46, 0x00, 0x00, 0x1c, 0xab, 0xcd, 0x20, 0xb9, 0x3f, 0x06, 0x00, 0x00, 0xc6, 0x33, 0x64,
        0x01, 0xcb, 0x00, 0x71, 0x02, 0x01, 0x01, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    fn udp_datagram() -> Vec<u8> {
        let mut v = HDR.to_vec();
        v.resize(0x73, 0x5a);
        v
    }

    #[test]
    fn golden_header_fields() {
        let d = udp_datagram();
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 0x73);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert!(p.is_first_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), proto::UDP);
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(!p.has_options());
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn payload_excludes_padding() {
        let p = Packet::new_checked(&PING_PADDED[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(!p.dont_frag());
        assert_eq!(p.protocol(), proto::ICMP);
        assert_eq!(p.payload(), &PING_PADDED[20..28]);
    }

    #[test]
    fn fragment_with_options() {
        let mut b = FRAG_OPTS;
        {
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.fill_checksum();
        }
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.header_len(), 24);
        assert!(p.has_options());
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert!(p.more_frags());
        assert!(!p.dont_frag());
        assert_eq!(p.frag_offset(), 185 * 8);
        assert!(p.is_fragment());
        assert!(!p.is_first_fragment());
        assert_eq!(p.ttl(), 63);
        assert_eq!(p.protocol(), proto::TCP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(203, 0, 113, 2));
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        // First fragment: MF only.
        let mut b2 = b;
        Packet::new_unchecked(&mut b2[..]).set_flags_frag_offset(FLAG_MF);
        let p2 = Packet::new_checked(&b2[..]).unwrap();
        assert!(p2.is_fragment() && p2.is_first_fragment());
        // Last fragment: offset only.
        Packet::new_unchecked(&mut b2[..]).set_flags_frag_offset(8);
        assert!(Packet::new_checked(&b2[..]).unwrap().is_fragment());
    }

    #[test]
    fn errors_in_order() {
        let d = udp_datagram();
        for len in 0..d.len() {
            assert!(Packet::new_checked(&d[..len]).is_err(), "len {len}");
        }
        for len in 0..20 {
            assert_eq!(Packet::new_checked(&d[..len]), Err(WireError::Truncated));
        }
        let mut b = d.clone();
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadVersion));
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadHeaderLength));
        b[0] = 0x4f; // 60 bytes of header in a 20-byte buffer
        assert_eq!(Packet::new_checked(&b[..20]), Err(WireError::Truncated));
        b[0] = 0x45;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::BadTotalLength));
        b[2..4].copy_from_slice(&0x74u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]), Err(WireError::Truncated));
        // Truncation of the padded ping: error up to 28, fine from 28 on.
        for len in 0..28 {
            assert!(Packet::new_checked(&PING_PADDED[..len]).is_err());
        }
        for len in 28..=PING_PADDED.len() {
            assert!(Packet::new_checked(&PING_PADDED[..len]).is_ok());
        }
    }

    #[test]
    fn quoted_datagram_in_icmp_error() {
        let d = udp_datagram();
        // Header + 8 bytes, as an ICMP error quotes it: total length says 0x73.
        let q = &d[..28];
        assert_eq!(Packet::new_checked(q), Err(WireError::Truncated));
        let p = Packet::new_checked_quoted(q).unwrap();
        assert_eq!(p.total_len(), 0x73);
        assert_eq!(p.payload(), &d[20..28]);
        assert!(p.verify_checksum());
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        // Still refused: a header that is not all there, a bad version, a bad IHL or length.
        assert_eq!(
            Packet::new_checked_quoted(&d[..19]),
            Err(WireError::Truncated)
        );
        let mut b = d.clone();
        b[0] = 0x46;
        assert_eq!(
            Packet::new_checked_quoted(&b[..23]),
            Err(WireError::Truncated)
        );
        b[0] = 0x55;
        assert_eq!(
            Packet::new_checked_quoted(&b[..28]),
            Err(WireError::BadVersion)
        );
        b[0] = 0x43;
        assert_eq!(
            Packet::new_checked_quoted(&b[..28]),
            Err(WireError::BadHeaderLength)
        );
        b[0] = 0x45;
        b[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked_quoted(&b[..28]),
            Err(WireError::BadTotalLength)
        );
        // A complete datagram is accepted as well.
        assert!(Packet::new_checked_quoted(&d[..]).is_ok());
    }

    #[test]
    fn setters_roundtrip() {
        let mut d = udp_datagram();
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        p.set_ttl(7);
        assert_eq!(p.ttl(), 7);
        p.set_ident(0xbeef);
        assert_eq!(p.ident(), 0xbeef);
        p.set_tos(0xb9);
        assert_eq!((p.tos(), p.dscp(), p.ecn()), (0xb9, 0x2e, 1));
        p.set_dont_frag(false);
        assert!(!p.dont_frag());
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        assert!(p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        p.set_dont_frag(true);
        assert!(p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 1480);
        p.set_more_frags(false);
        p.set_frag_offset(0);
        assert!(!p.is_fragment());
        p.set_protocol(proto::TCP);
        assert_eq!(p.protocol(), proto::TCP);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.set_dst_addr(Ipv4Addr::new(5, 6, 7, 8));
        assert_eq!(p.src_addr(), Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(5, 6, 7, 8));
        p.set_total_len(40);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.payload().len(), 20);
        p.payload_mut()[0] = 0x11;
        assert_eq!(p.payload()[0], 0x11);
        p.set_checksum(0x1234);
        assert_eq!(p.checksum(), 0x1234);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_version_and_header_len(4, 24);
        assert_eq!(p.header_len(), 24);
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        // Lengths edited to nonsense: accessors clamp, never panic.
        p.set_total_len(0xffff);
        assert_eq!(p.payload().len(), 0x73 - 24);
        p.set_version_and_header_len(4, 60);
        p.set_total_len(3);
        assert!(p.payload().is_empty());
        assert_eq!(p.options().len(), 40);
    }

    #[test]
    fn incremental_rewrites_match_full() {
        let mut d = udp_datagram();
        let mut p = Packet::new_checked(&mut d[..]).unwrap();
        assert_eq!(
            p.rewrite_dst_addr(Ipv4Addr::new(10, 1, 2, 3)),
            Ipv4Addr::new(192, 168, 0, 199)
        );
        assert!(p.verify_checksum());
        p.rewrite_src_addr(Ipv4Addr::new(172, 16, 0, 9));
        assert!(p.verify_checksum());
        assert_eq!(p.decrement_ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(0);
        p.fill_checksum();
        assert_eq!(p.decrement_ttl(), 0);
        assert_eq!(p.ttl(), 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn matches_etherparse() {
        let mut h = etherparse::Ipv4Header::new(
            100,
            33,
            etherparse::IpNumber::TCP,
            [10, 9, 8, 7],
            [1, 2, 3, 4],
        )
        .unwrap();
        h.identification = 0x4242;
        h.options = etherparse::Ipv4Options::try_from(&[0x94u8, 0x04, 0x00, 0x00][..]).unwrap(); // router alert
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = h.to_bytes().to_vec();
        bytes.resize(h.total_len as usize, 0);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.header_len(), h.header_len());
        assert_eq!(p.options(), &h.options[..]);
        assert_eq!(p.total_len(), h.total_len);
        assert_eq!(p.ident(), 0x4242);
        assert_eq!(p.ttl(), 33);
        assert!(p.dont_frag());
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 9, 8, 7));
        assert_eq!(p.checksum(), h.header_checksum);
        assert!(p.verify_checksum());
        let mut copy = bytes.clone();
        let mut q = Packet::new_unchecked(&mut copy[..]);
        q.fill_checksum();
        assert_eq!(q.checksum(), h.header_checksum);
    }

    #[test]
    fn repr_emit_golden_and_errors() {
        let r = Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: proto::ICMP,
            payload_len: 8,
            ttl: 64,
            tos: 0,
            ident: 0x1234,
            dont_frag: false,
        };
        let mut buf = [0u8; 28];
        r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf[..20], PING_PADDED[..20]);
        let p = Packet::new_checked(&PING_PADDED[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!(r.buffer_len(), 20);

        let mut short = [0u8; 19];
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        let big = Repr {
            payload_len: 65_516,
            ..r
        };
        assert_eq!(
            big.emit(&mut Packet::new_unchecked(&mut buf[..])),
            Err(WireError::BadTotalLength)
        );
    }

    #[test]
    fn options_walk() {
        use option::*;
        let parse = |o: &[u8]| Options::parse(o);
        let none = Options::default();
        let sr = Options {
            source_route: true,
            ..none
        };
        let rr = Options {
            record_route: true,
            ..none
        };
        assert_eq!(parse(&[]), Ok(none));
        assert_eq!(parse(&[NOP, NOP, NOP, END]), Ok(none));
        // LSRR and SSRR with one address, pointer 4; RR with room for one.
        assert_eq!(parse(&[LSRR, 7, 4, 10, 0, 0, 1, END]), Ok(sr));
        assert_eq!(parse(&[NOP, SSRR, 7, 4, 10, 0, 0, 1]), Ok(sr));
        assert_eq!(parse(&[RECORD_ROUTE, 7, 4, 0, 0, 0, 0, END]), Ok(rr));
        assert_eq!(
            parse(&[RECORD_ROUTE, 3, 4, LSRR, 3, 4, NOP, END]),
            Ok(Options {
                source_route: true,
                record_route: true
            })
        );
        // Timestamp (flag 0, one slot) and router alert pass.
        assert_eq!(parse(&[TIMESTAMP, 8, 5, 0, 0, 0, 0, 0]), Ok(none));
        assert_eq!(parse(&[ROUTER_ALERT, 4, 0, 0]), Ok(none));
        // After the end of list nothing is read, garbage included.
        assert_eq!(parse(&[END, LSRR, 7, 4, 10]), Ok(none));
        assert_eq!(parse(&[END, 0xff]), Ok(none));
        // Lengths: below 2, past the header's end, missing.
        for bad in [
            &[LSRR, 0, 0, 0][..],
            &[TIMESTAMP, 1, 0, 0],
            &[ROUTER_ALERT, 5, 0, 0],
            &[NOP, NOP, NOP, TIMESTAMP],
            &[RECORD_ROUTE],
        ] {
            assert_eq!(parse(bad), Err(WireError::BadHeaderLength), "{bad:?}");
        }
    }

    proptest! {
        /// The walk ends on every input, and what it reports is in the bytes it may read: a
        /// source or record route option type before the end of list.
        #[test]
        fn options_walk_never_panics(o in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(found) = Options::parse(&o) {
                let until_end = o.iter().position(|&b| b == option::END).unwrap_or(o.len());
                let seen = |t: &[u8]| o[..until_end].iter().any(|b| t.contains(b));
                prop_assert!(!found.source_route || seen(&[option::LSRR, option::SSRR]));
                prop_assert!(!found.record_route || seen(&[option::RECORD_ROUTE]));
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut data = data;
            // Make version 4 likely so the deeper checks run.
            if data.len() > 1 && data[1] & 1 == 0 {
                data[0] = 0x40 | (data[0] & 0x0f);
            }
            if let Ok(p) = Packet::new_checked_quoted(&data[..]) {
                let _ = (p.payload().len(), p.options().len(), p.verify_checksum(), p.header().len());
                prop_assert!(p.header_len() >= 20 && p.header_len() <= data.len());
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.version(), p.tos(), p.ident(), p.dont_frag(), p.more_frags());
                let _ = (p.frag_offset(), p.is_fragment(), p.ttl(), p.protocol(), p.checksum());
                let _ = (p.src_addr(), p.dst_addr(), p.has_options(), p.verify_checksum());
                let _ = p.pseudo_header_sum();
                prop_assert!(p.header_len() >= 20);
                prop_assert_eq!(p.options().len(), p.header_len() - 20);
                prop_assert_eq!(p.payload().len(), p.total_len() as usize - p.header_len());
                let _ = Repr::parse(&p).unwrap();
            }
        }

        #[test]
        fn setters_never_panic(data in proptest::collection::vec(any::<u8>(), 20..80),
                               tl in any::<u16>(), hl in 0usize..100) {
            let mut data = data;
            data[0] = 0x45;
            let n = data.len() as u16;
            data[2..4].copy_from_slice(&n.to_be_bytes());
            let mut p = Packet::new_checked(&mut data[..]).unwrap();
            p.set_total_len(tl);
            p.set_version_and_header_len(4, hl);
            let _ = (p.payload().len(), p.options().len(), p.header().len(), p.verify_checksum());
            let _ = (p.payload_mut().len(), p.options_mut().len());
            p.fill_checksum();
            p.decrement_ttl();
        }

        #[test]
        fn incremental_equals_full(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), new_src in any::<[u8; 4]>(),
            new_dst in any::<[u8; 4]>(), ttl in any::<u8>(), ident in any::<u16>(), tos in any::<u8>(),
        ) {
            let r = Repr {
                src_addr: src.into(), dst_addr: dst.into(), protocol: proto::TCP, payload_len: 0,
                ttl, tos, ident, dont_frag: true,
            };
            let mut buf = [0u8; 20];
            let mut p = Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut p).unwrap();
            p.rewrite_src_addr(new_src.into());
            p.rewrite_dst_addr(new_dst.into());
            p.decrement_ttl();
            let inc = p.checksum();
            p.fill_checksum();
            prop_assert_eq!(inc, p.checksum());
            // And ours equals etherparse's header checksum.
            let (h, _) = etherparse::Ipv4Header::from_slice(&buf).unwrap();
            prop_assert_eq!(h.calc_header_checksum(), inc);
        }
    }
}
