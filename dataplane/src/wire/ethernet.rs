//! Ethernet II frames, untagged or with exactly one 802.1Q tag.
//!
//! ```text
//!  0      6      12          14 (untagged)
//! | dst  | src  | ethertype  | payload ...
//!  0      6      12     14    16          18 (tagged)
//! | dst  | src  | 8100 | TCI | ethertype | payload ...
//! ```
//!
//! [`Packet::new_checked`] accepts a buffer of at least 14 bytes, and at least 18 when the outer
//! EtherType is 802.1Q (0x8100). After that no accessor panics. A second tag (QinQ) is not
//! unwrapped: [`Packet::ethertype`] then reports [`ethertype::VLAN`] (or 0x88A8) and the caller
//! treats the frame as unsupported. The payload runs to the end of the buffer, padding included:
//! the IP layer's length fields bound it.

use super::{read_u16, write_u16, WireError};

/// EtherType values.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag (TPID).
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Destination MAC.
    pub const DST: Range<usize> = 0..6;
    /// Source MAC.
    pub const SRC: Range<usize> = 6..12;
    /// Outer EtherType (the TPID when tagged).
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// 802.1Q tag control information (PCP, DEI, VID), when tagged.
    pub const VLAN_TCI: Range<usize> = 14..16;
    /// Inner EtherType, when tagged.
    pub const VLAN_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged header.
pub const HEADER_LEN: usize = 14;
/// Length of a header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// A MAC address.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address from its bytes (total: any 6 bytes are an address).
    #[inline]
    pub const fn new(b: [u8; 6]) -> MacAddr {
        MacAddr(b)
    }

    /// The bytes of the address.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// All ones.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }

    /// Group bit set (broadcast included).
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Not a group address.
    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

impl core::fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseMacError;

impl core::fmt::Display for ParseMacError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("expected a MAC address of six two-digit hex bytes separated by ':', like 02:00:00:00:00:01")
    }
}

impl std::error::Error for ParseMacError {}

impl core::str::FromStr for MacAddr {
    type Err = ParseMacError;

    /// Exactly six two-digit hex bytes (either case) separated by `:`, the form `Display` writes.
    fn from_str(s: &str) -> Result<MacAddr, ParseMacError> {
        let mut b = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut b {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        match parts.next() {
            None => Ok(MacAddr(b)),
            Some(_) => Err(ParseMacError),
        }
    }
}

#[inline(always)]
fn mac_at(data: &[u8], r: core::ops::Range<usize>) -> MacAddr {
    let b = &data[r];
    MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// A view of an Ethernet II frame.
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

    /// `Err(Truncated)` unless the buffer holds the whole header (tag included when present).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if read_u16(data, field::ETHERTYPE) == ethertype::VLAN && data.len() < VLAN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::DST)
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SRC)
    }

    /// The EtherType at offset 12 (0x8100 for a tagged frame).
    #[inline]
    pub fn outer_ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// True when the frame carries an 802.1Q tag. (Also requires room for the tag, so that a
    /// setter writing 0x8100 into a short untagged frame cannot make later accessors panic.)
    #[inline]
    pub fn is_tagged(&self) -> bool {
        self.outer_ethertype() == ethertype::VLAN && self.buffer.as_ref().len() >= VLAN_HEADER_LEN
    }

    /// The whole tag control information (PCP, DEI, VID), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(read_u16(self.buffer.as_ref(), field::VLAN_TCI))
        } else {
            None
        }
    }

    /// The 12-bit VLAN id, if tagged.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|t| t & 0x0fff)
    }

    /// The EtherType of the payload (inner one when tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.is_tagged() {
            read_u16(self.buffer.as_ref(), field::VLAN_ETHERTYPE)
        } else {
            self.outer_ethertype()
        }
    }

    /// 14, or 18 when tagged.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header, to the end of the buffer (padding included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        super::clamped(self.buffer.as_ref(), hl, usize::MAX)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`payload`](Packet::payload) with the lifetime of the underlying buffer rather than of
    /// the view, so a parsed layer can be handed on while the view goes out of scope.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len();
        let data: &'a [u8] = self.buffer.as_ref();
        super::clamped(data, start, usize::MAX)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    /// Sets the payload EtherType (the inner one when tagged).
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        let r = if self.is_tagged() {
            field::VLAN_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        write_u16(self.buffer.as_mut(), r, value);
    }

    /// Sets the VLAN id of a tagged frame, keeping PCP and DEI. Does nothing on an untagged frame
    /// (adding a tag moves the payload, which a view cannot do).
    #[inline]
    pub fn set_vlan_id(&mut self, vid: u16) {
        if let Some(tci) = self.vlan_tci() {
            let tci = (tci & 0xf000) | (vid & 0x0fff);
            write_u16(self.buffer.as_mut(), field::VLAN_TCI, tci);
        }
    }

    /// Swaps source and destination MACs (for replies sent back out of the same port).
    #[inline]
    pub fn swap_addrs(&mut self) {
        let (s, d) = (self.src_addr(), self.dst_addr());
        self.set_src_addr(d);
        self.set_dst_addr(s);
    }

    /// Mutable payload (see [`payload`](Self::payload)).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        super::clamped_mut(self.buffer.as_mut(), hl, usize::MAX)
    }
}

/// A high-level description of an Ethernet header, for building frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: MacAddr,
    /// Destination MAC.
    pub dst_addr: MacAddr,
    /// 12-bit VLAN id, when the frame is tagged (PCP and DEI are emitted as 0).
    pub vlan_id: Option<u16>,
    /// Payload EtherType.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            vlan_id: packet.vlan_id(),
            ethertype: packet.ethertype(),
        }
    }

    /// 14 or 18.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        if self.vlan_id.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `packet`'s buffer; `Err(Truncated)` if it does not fit.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        let data = packet.buffer.as_mut();
        if data.len() < self.buffer_len() {
            return Err(WireError::Truncated);
        }
        data[field::DST].copy_from_slice(&self.dst_addr.0);
        data[field::SRC].copy_from_slice(&self.src_addr.0);
        match self.vlan_id {
            Some(vid) => {
                write_u16(data, field::ETHERTYPE, ethertype::VLAN);
                write_u16(data, field::VLAN_TCI, vid & 0x0fff);
                write_u16(data, field::VLAN_ETHERTYPE, self.ethertype);
            }
            None => write_u16(data, field::ETHERTYPE, self.ethertype),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mac_parses_the_form_it_displays() {
        let m: MacAddr = "02:0a:FF:00:10:9c".parse().unwrap();
        assert_eq!(m, MacAddr([0x02, 0x0a, 0xff, 0x00, 0x10, 0x9c]));
        assert_eq!(m.to_string().parse::<MacAddr>(), Ok(m));
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "02:00:00:00:00:1",
            "02-00-00-00-00-01",
            "02:00:00:00:00:+1",
            "02:00:00:00:00:0g",
            "02:00:00:00:00:01:",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacError), "{bad:?}");
        }
    }

    // An untagged IPv4 frame head: dst 00:1b:21:3c:4d:5e, src 52:54:00:12:34:56, IPv4, then the
    // first 4 bytes of an IPv4 header.
    const UNTAGGED: [u8; 18] = [
        0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x54,
    ];

    // A tagged ARP frame head: broadcast dst, VLAN 100 with PCP 5, ARP.
    const TAGGED: [u8; 22] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x81, 0x00, 0xa0,
        0x64, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
    ];

    #[test]
    fn golden_untagged() {
        let p = Packet::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(p.dst_addr(), MacAddr([0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e]));
        assert_eq!(p.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(p.ethertype(), ethertype::IPV4);
        assert_eq!(p.outer_ethertype(), ethertype::IPV4);
        assert!(!p.is_tagged());
        assert_eq!(p.vlan_id(), None);
        assert_eq!(p.vlan_tci(), None);
        assert_eq!(p.header_len(), 14);
        assert_eq!(p.payload(), &[0x45, 0x00, 0x00, 0x54]);
        assert!(p.dst_addr().is_unicast());
    }

    #[test]
    fn golden_tagged() {
        let p = Packet::new_checked(&TAGGED[..]).unwrap();
        assert!(p.dst_addr().is_broadcast());
        assert!(p.dst_addr().is_multicast());
        assert!(p.is_tagged());
        assert_eq!(p.vlan_tci(), Some(0xa064));
        assert_eq!(p.vlan_id(), Some(100));
        assert_eq!(p.ethertype(), ethertype::ARP);
        assert_eq!(p.outer_ethertype(), ethertype::VLAN);
        assert_eq!(p.header_len(), 18);
        assert_eq!(p.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn truncation_is_error() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&UNTAGGED[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        for len in 0..VLAN_HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&TAGGED[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        // A header and nothing else is fine: empty payload.
        assert_eq!(
            Packet::new_checked(&UNTAGGED[..14])
                .unwrap()
                .payload()
                .len(),
            0
        );
        assert_eq!(
            Packet::new_checked(&TAGGED[..18]).unwrap().payload().len(),
            0
        );
    }

    #[test]
    fn setters_roundtrip() {
        let mut buf = TAGGED;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        let a = MacAddr([1, 2, 3, 4, 5, 6]);
        let b = MacAddr([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]);
        p.set_dst_addr(a);
        p.set_src_addr(b);
        assert_eq!((p.dst_addr(), p.src_addr()), (a, b));
        p.swap_addrs();
        assert_eq!((p.dst_addr(), p.src_addr()), (b, a));
        p.set_ethertype(ethertype::IPV6);
        assert_eq!(p.ethertype(), ethertype::IPV6);
        assert_eq!(p.outer_ethertype(), ethertype::VLAN);
        p.set_vlan_id(0xfff);
        assert_eq!(p.vlan_id(), Some(0xfff));
        assert_eq!(p.vlan_tci(), Some(0xafff), "PCP kept");
        p.payload_mut()[0] = 0x99;
        assert_eq!(p.payload()[0], 0x99);

        let mut buf = UNTAGGED;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_ethertype(ethertype::ARP);
        assert_eq!(p.ethertype(), ethertype::ARP);
        p.set_vlan_id(5);
        assert_eq!(p.vlan_id(), None, "no tag to set");
        assert_eq!(p.into_inner()[12..14], [0x08, 0x06]);
    }

    #[test]
    fn repr_roundtrip_and_emit() {
        for golden in [&UNTAGGED[..], &TAGGED[..]] {
            let p = Packet::new_checked(golden).unwrap();
            let repr = Repr::parse(&p);
            let mut out = vec![0u8; golden.len()];
            let mut q = Packet::new_unchecked(&mut out[..]);
            repr.emit(&mut q).unwrap();
            // TCI's PCP is not kept by Repr, so compare through the parsed view.
            let q = Packet::new_checked(&out[..]).unwrap();
            assert_eq!(Repr::parse(&q), repr);
            assert_eq!(q.header_len(), repr.buffer_len());
        }
        let repr = Repr {
            src_addr: MacAddr([2; 6]),
            dst_addr: MacAddr::BROADCAST,
            vlan_id: Some(7),
            ethertype: ethertype::ARP,
        };
        let mut short = [0u8; 17];
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn matches_etherparse() {
        let builder =
            etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
                .single_vlan(etherparse::VlanId::try_new(42).unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(1000, 2000);
        let mut bytes = Vec::new();
        builder.write(&mut bytes, b"xyz").unwrap();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.src_addr(), MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(p.dst_addr(), MacAddr([7, 8, 9, 10, 11, 12]));
        assert_eq!(p.vlan_id(), Some(42));
        assert_eq!(p.ethertype(), ethertype::IPV4);
        assert_eq!(p.payload().len(), 20 + 8 + 3);
    }

    #[test]
    fn mac_display() {
        assert_eq!(
            MacAddr([0, 0x1b, 0x21, 0x3c, 0x4d, 0x5e]).to_string(),
            "00:1b:21:3c:4d:5e"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.dst_addr(), p.src_addr(), p.vlan_id(), p.vlan_tci(), p.ethertype());
                prop_assert!(p.header_len() + p.payload().len() == data.len());
                let _ = Repr::parse(&p);
                let mut copy = data.clone();
                let mut m = Packet::new_checked(&mut copy[..]).unwrap();
                m.set_vlan_id(0x123);
                m.set_ethertype(ethertype::VLAN);
                let _ = (m.ethertype(), m.vlan_id(), m.header_len(), m.payload().len());
                m.swap_addrs();
                let _ = m.payload_mut();
            } else {
                prop_assert!(data.len() < VLAN_HEADER_LEN);
            }
        }
    }
}
