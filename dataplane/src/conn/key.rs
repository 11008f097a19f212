//! Flow keys: the exact-match lookup key of a session direction.
//!
//! Contract:
//! - [`Addr`] is 16 bytes in network byte order. IPv4 addresses are stored in IPv4-mapped form
//!   (`::ffff:a.b.c.d`), so one key type serves both families. The packet parser must drop IPv6
//!   packets whose source or destination is itself IPv4-mapped (they are invalid on the wire and
//!   would otherwise alias IPv4 flows).
//! - Ports are host-order `u16` values (convert from the wire with `u16::from_be_bytes`).
//! - ICMP / ICMPv6 echo: `src_port` = echo identifier, `dst_port` = 0, for both the request and
//!   the reply (the identifier is what both directions share; the type differs). ICMP errors are
//!   matched on the flow quoted inside them, not with an ICMP key.
//! - Persistence templates use [`FlowKey::template`]: `protocol` = [`PROTO_TEMPLATE`] (0, which is
//!   never the upper-layer protocol of a parsed packet), `src` = client address (already masked by
//!   the service's persistence netmask), `dst` = VIP (or the fwmark as an address), `src_port` =
//!   the service protocol, `dst_port` = the virtual port (0 for port-zero/fwmark services).

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used in keys.
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// Marker protocol of persistence template keys (see [`FlowKey::template`]).
pub const PROTO_TEMPLATE: u8 = 0;

/// An IPv4 or IPv6 address, 16 bytes, network byte order; IPv4 is IPv4-mapped.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    /// `::` (also the "no address" value).
    pub const UNSPECIFIED: Addr = Addr([0; 16]);

    /// IPv4 `a.b.c.d` as `::ffff:a.b.c.d`.
    #[inline]
    pub const fn v4(o: [u8; 4]) -> Addr {
        // ::ffff:a.b.c.d, built as one 128-bit value so that it is stored whole: the hash
        // reads it back as two 64-bit words, and a load spanning several narrower stores
        // cannot be forwarded from the store buffer (a stall on every packet).
        let mapped = (0xffff_u128 << 80) | ((u32::from_le_bytes(o) as u128) << 96);
        Addr(mapped.to_le_bytes())
    }

    /// IPv6 address from its 16 network-order bytes.
    #[inline]
    pub const fn v6(o: [u8; 16]) -> Addr {
        Addr(o)
    }

    /// True if this is an IPv4 address (IPv4-mapped form).
    #[inline]
    pub fn is_v4(&self) -> bool {
        self.0[..10] == [0; 10] && self.0[10] == 0xff && self.0[11] == 0xff
    }

    /// The IPv4 octets, if this is an IPv4 address.
    #[inline]
    pub fn to_v4(&self) -> Option<[u8; 4]> {
        if self.is_v4() {
            Some([self.0[12], self.0[13], self.0[14], self.0[15]])
        } else {
            None
        }
    }

    /// The 16 network-order bytes.
    #[inline]
    pub const fn octets(&self) -> [u8; 16] {
        self.0
    }

    /// As a std address (IPv4 when mapped).
    pub fn to_ip(&self) -> IpAddr {
        match self.to_v4() {
            Some(o) => IpAddr::V4(Ipv4Addr::from(o)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(a: Ipv4Addr) -> Addr {
        Addr::v4(a.octets())
    }
}

impl From<Ipv6Addr> for Addr {
    fn from(a: Ipv6Addr) -> Addr {
        Addr(a.octets())
    }
}

impl From<IpAddr> for Addr {
    fn from(a: IpAddr) -> Addr {
        match a {
            IpAddr::V4(a) => a.into(),
            IpAddr::V6(a) => a.into(),
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

/// Exact-match key of one direction of a flow (38 bytes, align 2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Upper-layer protocol (6, 17, 1, 58 ...) or [`PROTO_TEMPLATE`].
    pub protocol: u8,
    /// Source address of the packet.
    pub src: Addr,
    /// Destination address of the packet.
    pub dst: Addr,
    /// Source port (host order); ICMP echo identifier.
    pub src_port: u16,
    /// Destination port (host order); 0 for ICMP echo.
    pub dst_port: u16,
}

impl FlowKey {
    /// Key of a packet `src:src_port -> dst:dst_port`.
    #[inline]
    pub const fn new(protocol: u8, src: Addr, src_port: u16, dst: Addr, dst_port: u16) -> Self {
        FlowKey {
            protocol,
            src,
            dst,
            src_port,
            dst_port,
        }
    }

    /// Key of an ICMP (or ICMPv6, per `protocol`) echo request or reply with identifier `id`.
    #[inline]
    pub const fn icmp_echo(protocol: u8, src: Addr, dst: Addr, id: u16) -> Self {
        FlowKey::new(protocol, src, id, dst, 0)
    }

    /// Key of a persistence template: `client` (already netmasked) to service `vip:vport` of
    /// protocol `svc_protocol`. Never equal to a packet key (protocol 0).
    #[inline]
    pub const fn template(svc_protocol: u8, client: Addr, vip: Addr, vport: u16) -> Self {
        FlowKey::new(PROTO_TEMPLATE, client, svc_protocol as u16, vip, vport)
    }

    /// True for a persistence template key.
    #[inline]
    pub const fn is_template(&self) -> bool {
        self.protocol == PROTO_TEMPLATE
    }

    /// The key of a packet going the other way (swap source and destination).
    #[inline]
    pub const fn reversed(&self) -> Self {
        FlowKey::new(
            self.protocol,
            self.dst,
            self.dst_port,
            self.src,
            self.src_port,
        )
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.protocol {
            PROTO_TCP => "TCP",
            PROTO_UDP => "UDP",
            PROTO_ICMP => "ICMP",
            PROTO_ICMPV6 => "ICMPv6",
            PROTO_TEMPLATE => "TMPL",
            _ => "IP",
        };
        let (s, d) = (self.src.to_ip(), self.dst.to_ip());
        if s.is_ipv6() || d.is_ipv6() {
            write!(
                f,
                "{name}/{} [{s}]:{} -> [{d}]:{}",
                self.protocol, self.src_port, self.dst_port
            )
        } else {
            write!(
                f,
                "{name}/{} {s}:{} -> {d}:{}",
                self.protocol, self.src_port, self.dst_port
            )
        }
    }
}
