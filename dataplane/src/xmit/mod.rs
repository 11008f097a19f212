//! Transmitters, one file per forwarding method (as IPVS's ip_vs_xmit.c), each with a
//! `transmit` that makes a packet of a session ready to leave by its [`NextHop`]: [`dr`],
//! [`nat`], [`fullnat`], [`tunnel`]. The method is chosen once, when the session is created,
//! and stored in its [`Binding`]; every packet of the session is then handled by that method.
//!
//! NAT and FULLNAT are described by [`Endpoints`]: the source and destination (address, port) a
//! packet of the flow gets in each direction, computed from the session's two keys. The same
//! mapping translates ICMP errors about the flow (see `forward::icmp`). The box's own ICMP
//! errors about a packet it cannot send on are built by [`icmp_error`].

pub mod dr;
pub mod frag;
pub mod fullnat;
pub mod icmp_error;
pub mod nat;
pub mod tunnel;

pub use fullnat::LocalPorts;

use crate::buf::PacketBuf;
use crate::conn::{Direction, FlowKey};
use crate::snapshot::{Interface, Method};
use crate::verdict::DropReason;
use crate::wire::checksum::{self, Delta};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::{ipv4, tcp, udp};
use std::net::Ipv4Addr;

/// What a session remembers about where its packets go. Addresses and ports come from the
/// session keys; this holds the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub method: Method,
    /// Stable id of the real server (from the control plane), for per-server counters.
    pub dest_id: u32,
    /// Interface and next-hop MAC towards the client (where its first packet came from).
    pub client_if: u16,
    pub client_mac: MacAddr,
    /// Interface and next-hop MAC towards the real server.
    pub dest_if: u16,
    pub dest_mac: MacAddr,
    /// The real server (also in the out key for NAT/FULLNAT; DR/TUN have none).
    pub dest_addr: crate::conn::Addr,
    pub dest_port: u16,
}

impl Binding {
    /// Interface and next-hop MAC for a packet travelling in `dir`.
    #[inline]
    pub fn next_hop(&self, dir: Direction) -> (u16, MacAddr) {
        match dir {
            Direction::In => (self.dest_if, self.dest_mac),
            Direction::Out => (self.client_if, self.client_mac),
        }
    }
}

/// The Ethernet addresses a packet leaves with: the MAC of the interface it leaves by (`src`)
/// and its next hop's (`dst`). Its tag is the interface's ([`Interface::tag`]), passed apart:
/// keep it twelve bytes, which stay in registers (a larger one went through the stack in pieces
/// of other widths than it was read back with: a store-forwarding stall per packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub src: MacAddr,
    pub dst: MacAddr,
}

impl NextHop {
    /// Out of `iface` to the neighbour at `dst`.
    #[inline]
    pub fn new(iface: &Interface, dst: MacAddr) -> NextHop {
        NextHop {
            src: iface.mac,
            dst,
        }
    }
}

/// Addresses the frame in `buf`, whose Ethernet header is `l2` bytes (14, or 18 with one
/// 802.1Q tag), to `hop`: every method's last step. The tag is added, rewritten (PCP 0, as
/// Linux's default egress map) or removed as `vlan` (0: none) says; an untagged frame leaving
/// untagged only gets its MACs. Refuses (`NoHeadroom`) a tag there is no room for.
#[inline]
pub(crate) fn set_l2<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    hop: NextHop,
    vlan: u16,
) -> Result<(), DropReason> {
    if l2 != ethernet::HEADER_LEN || vlan != 0 {
        return retag(buf, l2, hop, vlan);
    }
    set_macs(buf.data_mut(), hop);
    Ok(())
}

/// Addresses `frame`, from its Ethernet header on, to `hop` (its tag as it is).
#[inline(always)]
fn set_macs(frame: &mut [u8], hop: NextHop) {
    let mut eth = ethernet::Packet::new_unchecked(frame);
    eth.set_src_addr(hop.src);
    eth.set_dst_addr(hop.dst);
}

/// [`set_l2`] of a tagged frame or one leaving tagged: makes the frame's tag `vlan` (0:
/// none), moving the MAC addresses with the header's start, then addresses it. Apart and
/// reached by a tail call, so that the untagged path keeps nothing live across it.
#[cold]
#[inline(never)]
fn retag<B: PacketBuf>(buf: &mut B, l2: usize, hop: NextHop, vlan: u16) -> Result<(), DropReason> {
    const TAG: usize = ethernet::VLAN_HEADER_LEN - ethernet::HEADER_LEN;
    let tagged = l2 == ethernet::VLAN_HEADER_LEN;
    if tagged && vlan == 0 {
        buf.data_mut().copy_within(0..12, TAG);
        if !buf.adj(TAG) {
            return Err(DropReason::Truncated);
        }
    } else {
        if !tagged {
            if !buf.prepend(TAG) {
                return Err(DropReason::NoHeadroom);
            }
            let data = buf.data_mut();
            data.copy_within(TAG..TAG + 12, 0);
            data[12..14].copy_from_slice(&ethernet::ethertype::VLAN.to_be_bytes());
        }
        buf.data_mut()[14..16].copy_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    set_macs(buf.data_mut(), hop);
    Ok(())
}

/// New (address, port) for a packet's source and destination; None keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Endpoints {
    pub src: Option<(Ipv4Addr, u16)>,
    pub dst: Option<(Ipv4Addr, u16)>,
}

/// The endpoints a NAT or FULLNAT packet in `dir` is rewritten to. DR and TUN rewrite nothing.
#[inline]
pub fn endpoints(
    method: Method,
    dir: Direction,
    in_key: &FlowKey,
    out_key: Option<&FlowKey>,
) -> Endpoints {
    match (method, out_key) {
        (Method::Nat, Some(out)) => nat::endpoints(dir, in_key, out),
        (Method::FullNat, Some(out)) => fullnat::endpoints(dir, in_key, out),
        _ => Endpoints::default(),
    }
}

/// IPv4 form of a key address (the packet path only forwards IPv4 for now).
#[inline]
pub(crate) fn v4(addr: &crate::conn::Addr) -> Ipv4Addr {
    Ipv4Addr::from(addr.to_v4().unwrap_or([0; 4]))
}

/// Rewrites an IPv4 TCP/UDP packet (`ip` starts at the IP header, which the classifier
/// validated together with the TCP/UDP header) to `to`, decrementing the TTL; IP and L4
/// checksums are updated incrementally with one combined delta each. The caller has checked
/// that TTL > 1.
///
/// The deltas are summed over the words as they lie in the packet (`to_be` of a decoded
/// value) and the checksums are updated in that order too: a one's complement sum does not
/// depend on byte order (RFC 1071 2.B), and this spares decoding every field and encoding the
/// results (byte swaps on the packet's critical path).
#[inline]
pub(crate) fn rewrite_l3l4(ip: &mut [u8], to: &Endpoints) -> Result<(), DropReason> {
    let (header_len, total_len) = {
        let pkt = ipv4::Packet::new_unchecked(&ip[..]);
        (pkt.header_len(), usize::from(pkt.total_len()))
    };
    if header_len < ipv4::HEADER_LEN || header_len > total_len || total_len > ip.len() {
        return Err(DropReason::BadIpHeader);
    }
    let wire32 = |a: Ipv4Addr| u32::from_ne_bytes(a.octets());
    let mut pkt = ipv4::Packet::new_unchecked(&mut ip[..]);
    let mut addrs = Delta::default();
    if let Some((a, _)) = to.src {
        addrs = addrs.word32(wire32(pkt.src_addr()), wire32(a));
    }
    if let Some((a, _)) = to.dst {
        addrs = addrs.word32(wire32(pkt.dst_addr()), wire32(a));
    }
    let (ttl, protocol) = (pkt.ttl(), pkt.protocol());
    let new_ttl = ttl.saturating_sub(1);
    let ttl_word = |t: u8| u16::from_ne_bytes([t, protocol]);
    let ip_delta = addrs.word16(ttl_word(ttl), ttl_word(new_ttl));
    pkt.set_checksum(u16::from_be(ip_delta.apply(pkt.checksum().to_be())));
    pkt.set_ttl(new_ttl);
    if let Some((a, _)) = to.src {
        pkt.set_src_addr(a);
    }
    if let Some((a, _)) = to.dst {
        pkt.set_dst_addr(a);
    }
    let l4 = &mut ip[header_len..total_len];
    // The ports' part of the L4 delta (the addresses' part is in `addrs`, through the pseudo
    // header), and the new ports.
    let ports = |sport: u16, dport: u16| {
        let mut d = addrs;
        let (mut new_sport, mut new_dport) = (sport, dport);
        if let Some((_, p)) = to.src {
            d = d.word16(sport.to_be(), p.to_be());
            new_sport = p;
        }
        if let Some((_, p)) = to.dst {
            d = d.word16(dport.to_be(), p.to_be());
            new_dport = p;
        }
        (d, new_sport, new_dport)
    };
    match protocol {
        checksum::proto::TCP if l4.len() >= tcp::HEADER_LEN => {
            let mut seg = tcp::Packet::new_unchecked(l4);
            let (delta, sport, dport) = ports(seg.src_port(), seg.dst_port());
            seg.set_checksum(u16::from_be(delta.apply(seg.checksum().to_be())));
            seg.set_src_port(sport);
            seg.set_dst_port(dport);
        }
        checksum::proto::UDP if l4.len() >= udp::HEADER_LEN => {
            let mut dgram = udp::Packet::new_unchecked(l4);
            let (delta, sport, dport) = ports(dgram.src_port(), dgram.dst_port());
            // 0 and 0xFFFF, the values `apply_udp` maps, read the same in either byte order.
            dgram.set_checksum(u16::from_be(delta.apply_udp(dgram.checksum().to_be())));
            dgram.set_src_port(sport);
            dgram.set_dst_port(dport);
        }
        checksum::proto::TCP | checksum::proto::UDP => return Err(DropReason::BadL4Header),
        _ => return Err(DropReason::UnsupportedProtocol),
    }
    Ok(())
}
