//! ARP for IPv4 over Ethernet (RFC 826): hardware type 1, protocol type 0x0800, address lengths
//! 6 and 4, so the packet is a fixed 28 bytes.
//!
//! ```text
//!  0      2      4    5    6      8     14    18    24    28
//! | htype| ptype| hlen| plen| oper | sha | spa | tha | tpa |
//! ```
//!
//! [`Packet::new_checked`] requires 28 bytes and the Ethernet/IPv4 type and length fields
//! (`Unsupported` otherwise); after that no accessor panics. Anything after byte 28 (Ethernet
//! padding) is ignored.

use super::ethernet::MacAddr;
use super::{read_u16, write_u16, WireError};
use std::net::Ipv4Addr;

/// Byte ranges of the fields.
pub mod field {
    use core::ops::Range;
    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type.
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type IPv4 (the EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// 1: who-has.
    Request,
    /// 2: is-at.
    Reply,
    /// Anything else (e.g. RARP's 3/4).
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            x => Operation::Unknown(x),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(op: Operation) -> u16 {
        match op {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(x) => x,
        }
    }
}

#[inline(always)]
fn ip_at(data: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    let b = &data[r];
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

#[inline(always)]
fn mac_at(data: &[u8], r: core::ops::Range<usize>) -> MacAddr {
    let b = &data[r];
    MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// A view of an ARP packet.
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

    /// Wraps a buffer after [`check_len`](Self::check_len) and a check that it is ARP for IPv4
    /// over Ethernet (`Unsupported` otherwise).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        if p.hardware_type() != HTYPE_ETHERNET
            || p.protocol_type() != PTYPE_IPV4
            || p.hardware_len() != 6
            || p.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(p)
    }

    /// `Err(Truncated)` unless the buffer holds 28 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
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

    /// Hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length (6).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length (4).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> Operation {
        read_u16(self.buffer.as_ref(), field::OPER).into()
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_hw_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA)
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_proto_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA)
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hw_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA)
    }

    /// Target protocol address.
    #[inline]
    pub fn target_proto_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA)
    }

    /// A gratuitous ARP: sender and target protocol addresses are equal.
    #[inline]
    pub fn is_gratuitous(&self) -> bool {
        self.sender_proto_addr() == self.target_proto_addr()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::HTYPE, v)
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::PTYPE, v)
    }

    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v
    }

    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, op: Operation) {
        write_u16(self.buffer.as_mut(), field::OPER, op.into())
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sender_hw_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0)
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_sender_proto_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets())
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hw_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0)
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_proto_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets())
    }
}

/// A high-level description of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Operation.
    pub operation: Operation,
    /// Sender hardware address.
    pub sender_hw_addr: MacAddr,
    /// Sender protocol address.
    pub sender_proto_addr: Ipv4Addr,
    /// Target hardware address.
    pub target_hw_addr: MacAddr,
    /// Target protocol address.
    pub target_proto_addr: Ipv4Addr,
}

impl Repr {
    /// Reads a checked packet.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        // Re-check so that a Packet made with new_unchecked is also safe here.
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_hw_addr: packet.sender_hw_addr(),
            sender_proto_addr: packet.sender_proto_addr(),
            target_hw_addr: packet.target_hw_addr(),
            target_proto_addr: packet.target_proto_addr(),
        })
    }

    /// The reply a host owning `self.target_proto_addr` with MAC `our_hw_addr` sends to this
    /// request.
    #[inline]
    pub fn reply(&self, our_hw_addr: MacAddr) -> Repr {
        Repr {
            operation: Operation::Reply,
            sender_hw_addr: our_hw_addr,
            sender_proto_addr: self.target_proto_addr,
            target_hw_addr: self.sender_hw_addr,
            target_proto_addr: self.sender_proto_addr,
        }
    }

    /// 28.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet; `Err(Truncated)` if the buffer is shorter than 28 bytes.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
    ) -> Result<(), WireError> {
        packet.check_len()?;
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hw_addr(self.sender_hw_addr);
        packet.set_sender_proto_addr(self.sender_proto_addr);
        packet.set_target_hw_addr(self.target_hw_addr);
        packet.set_target_proto_addr(self.target_proto_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // who-has 10.0.0.1 tell 10.0.0.2, from 52:54:00:12:34:56, followed by 4 bytes of padding.
    const REQUEST: [u8; 32] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0, 0, 0, 0,
    ];

    #[test]
    fn golden_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(
            p.sender_hw_addr(),
            MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        );
        assert_eq!(p.sender_proto_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.target_hw_addr(), MacAddr::ZERO);
        assert_eq!(p.target_proto_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert!(!p.is_gratuitous());
    }

    #[test]
    fn build_reply() {
        let req = Repr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        let ours = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
        let rep = req.reply(ours);
        let mut buf = [0u8; 28];
        rep.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
        let expected: [u8; 28] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
            0x0a, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x02,
        ];
        assert_eq!(buf, expected);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), rep);
        assert_eq!(rep.buffer_len(), 28);
    }

    #[test]
    fn truncation_and_unsupported() {
        for len in 0..PACKET_LEN {
            assert_eq!(
                Packet::new_checked(&REQUEST[..len]).unwrap_err(),
                WireError::Truncated
            );
        }
        for (i, v) in [(1usize, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[i] = v;
            assert_eq!(
                Packet::new_checked(&b[..]).unwrap_err(),
                WireError::Unsupported
            );
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
                WireError::Unsupported
            );
        }
        let mut short = [0u8; 27];
        let rep = Repr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(
            rep.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn setters_roundtrip() {
        let mut b = REQUEST;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_operation(Operation::Unknown(3));
        assert_eq!(p.operation(), Operation::Unknown(3));
        p.set_operation(Operation::Reply);
        assert_eq!(p.operation(), Operation::Reply);
        let m1 = MacAddr([1, 2, 3, 4, 5, 6]);
        let m2 = MacAddr([6, 5, 4, 3, 2, 1]);
        p.set_sender_hw_addr(m1);
        p.set_target_hw_addr(m2);
        p.set_sender_proto_addr(Ipv4Addr::new(192, 0, 2, 1));
        p.set_target_proto_addr(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.sender_hw_addr(), m1);
        assert_eq!(p.target_hw_addr(), m2);
        assert_eq!(p.sender_proto_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.target_proto_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert!(p.is_gratuitous());
        p.set_hardware_type(6);
        p.set_protocol_type(0x86dd);
        p.set_hardware_len(8);
        p.set_protocol_len(16);
        assert_eq!(
            (
                p.hardware_type(),
                p.protocol_type(),
                p.hardware_len(),
                p.protocol_len()
            ),
            (6, 0x86dd, 8, 16)
        );
        assert_eq!(u16::from(Operation::Request), 1);
        assert_eq!(p.into_inner()[28..], [0, 0, 0, 0], "padding untouched");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let r = Repr::parse(&p).unwrap();
                prop_assert_eq!(r.sender_proto_addr, p.sender_proto_addr());
                let _ = (p.operation(), p.target_hw_addr(), p.is_gratuitous());
            }
            let _ = Repr::parse(&Packet::new_unchecked(&data[..]));
        }

        #[test]
        fn repr_roundtrip(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<[u8; 4]>(),
                          tha in any::<[u8; 6]>(), tpa in any::<[u8; 4]>()) {
            let r = Repr {
                operation: op.into(),
                sender_hw_addr: MacAddr(sha),
                sender_proto_addr: spa.into(),
                target_hw_addr: MacAddr(tha),
                target_proto_addr: tpa.into(),
            };
            let mut buf = [0u8; 28];
            r.emit(&mut Packet::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }
    }
}
