//! IP-in-IP tunnelling (ipvsadm -i): the client's packet is carried unchanged inside a new IPv4
//! header (protocol 4) from the box to the real server, which decapsulates it and answers the
//! client directly. As IPVS does, the outer header copies the inner TTL, TOS and DF bit.
//!
//! When the encapsulated packet would exceed the MTU and the client set DF, the client gets an
//! ICMP "fragmentation needed" carrying the MTU left for its packets (MTU - 20), built in place
//! over the original packet ([`frag_needed_reply`]). Without DF the outer packet is
//! encapsulated anyway and leaves in fragments (as IPVS lets Linux fragment it).
//!
//! Keys: in = client:cport -> VIP:vport; no out key (replies bypass the box).

use super::{icmp_error, set_l2, NextHop};
use crate::buf::PacketBuf;
use crate::verdict::DropReason;
use crate::wire::checksum::proto;
use crate::wire::ethernet::MacAddr;
use crate::wire::{icmp, ipv4};
use std::net::Ipv4Addr;

/// Bytes the tunnel adds.
pub const OVERHEAD: usize = 20;

/// Why a packet was not encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too big with DF set: tell the client this MTU.
    FragNeeded(u16),
    Drop(DropReason),
}

/// Sends a client's packet on to its real server `dst` through the tunnel from `src` (an
/// address of the interface of `mtu` it leaves by): [`encapsulate`]s it with IP ident `ident`
/// and addresses the frame to `hop`, tagged `vlan` (0: untagged).
#[inline]
pub fn transmit<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    mtu: u16,
    ident: u16,
    hop: NextHop,
    vlan: u16,
) -> Result<(), Refusal> {
    encapsulate(buf, l2, src, dst, mtu, ident)?;
    set_l2(buf, l2, hop, vlan).map_err(Refusal::Drop)
}

/// Encapsulates the IPv4 packet at `l2` (after an Ethernet header of `l2` bytes, which is kept
/// in front) from `src` to `dst`. Trailing Ethernet padding is removed first.
pub fn encapsulate<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    mtu: u16,
    ident: u16,
) -> Result<(), Refusal> {
    let (total, outer) = {
        let ip = ipv4::Packet::new_checked(&buf.data()[l2..])
            .map_err(|_| Refusal::Drop(DropReason::BadIpHeader))?;
        let total = usize::from(ip.total_len());
        let outer = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: proto::IPIP,
            payload_len: total,
            ttl: ip.ttl(),
            tos: ip.tos(),
            ident,
            dont_frag: ip.dont_frag(),
        };
        (total, outer)
    };
    if total + OVERHEAD > usize::from(mtu) && outer.dont_frag {
        return Err(Refusal::FragNeeded(mtu.saturating_sub(OVERHEAD as u16)));
    }
    if total + OVERHEAD > usize::from(u16::MAX) {
        return Err(Refusal::Drop(DropReason::TooBig));
    }
    let padding = buf.data().len() - (l2 + total);
    if !buf.trim(padding) || !buf.prepend(OVERHEAD) {
        return Err(Refusal::Drop(DropReason::NoHeadroom));
    }
    let data = buf.data_mut();
    data.copy_within(OVERHEAD..OVERHEAD + l2, 0);
    let mut header = ipv4::Packet::new_unchecked(&mut data[l2..l2 + OVERHEAD]);
    outer
        .emit(&mut header)
        .map_err(|_| Refusal::Drop(DropReason::BadIpHeader))
}

/// Rewrites the packet at `l2` into an ICMP "fragmentation needed, next-hop MTU = `mtu`" sent
/// from `from` back to the packet's source, out of the interface it came in on (`our_mac`).
/// Quotes the original IP header and the first 8 bytes of its payload (RFC 792); TOS 0.
pub fn frag_needed_reply<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    from: Ipv4Addr,
    mtu: u16,
    our_mac: MacAddr,
    ident: u16,
) -> Result<(), DropReason> {
    let quote = {
        let ip =
            ipv4::Packet::new_checked(&buf.data()[l2..]).map_err(|_| DropReason::BadIpHeader)?;
        ip.header_len() + 8
    };
    let header = icmp_error::Header {
        from,
        tos: 0,
        ident,
    };
    icmp_error::reply(
        buf,
        l2,
        icmp::Repr::frag_needed(mtu),
        header,
        quote,
        our_mac,
    )
}
