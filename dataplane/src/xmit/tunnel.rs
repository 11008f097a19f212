//! IP-in-IP tunnelling (ipvsadm -i): the client's packet is carried unchanged inside a new IPv4
//! header (protocol 4) from the box to the real server, which decapsulates it and answers the
//! client directly. As IPVS does, the outer header copies the inner TTL, TOS and DF bit.
//!
//! When the encapsulated packet would exceed the MTU and the client set DF, the client gets an
//! ICMP "fragmentation needed" carrying the MTU left for its packets (MTU - 20), built in place
//! over the original packet ([`frag_needed_reply`]). Without DF the packet is dropped as
//! `TooBig`: rvs does not fragment.
//!
//! Keys: in = client:cport -> VIP:vport; no out key (replies bypass the box).

use super::{set_l2, NextHop};
use crate::buf::PacketBuf;
use crate::verdict::DropReason;
use crate::wire::checksum::proto;
use crate::wire::ethernet::{self, MacAddr};
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
/// and addresses the frame to `hop`.
#[inline]
pub fn transmit<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    mtu: u16,
    ident: u16,
    hop: NextHop,
) -> Result<(), Refusal> {
    encapsulate(buf, l2, src, dst, mtu, ident)?;
    set_l2(buf, l2, hop).map_err(Refusal::Drop)
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
    if total + OVERHEAD > usize::from(mtu) {
        return Err(if outer.dont_frag {
            Refusal::FragNeeded(mtu.saturating_sub(OVERHEAD as u16))
        } else {
            Refusal::Drop(DropReason::TooBig)
        });
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
/// Quotes the original IP header and the first 8 bytes of its payload (RFC 792).
pub fn frag_needed_reply<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    from: Ipv4Addr,
    mtu: u16,
    our_mac: MacAddr,
    ident: u16,
) -> Result<(), DropReason> {
    let mut quoted = [0u8; 60 + 8];
    let (client, q) = {
        let ip =
            ipv4::Packet::new_checked(&buf.data()[l2..]).map_err(|_| DropReason::BadIpHeader)?;
        let q = (ip.header_len() + 8).min(usize::from(ip.total_len()));
        quoted[..q].copy_from_slice(&buf.data()[l2..l2 + q]);
        (ip.src_addr(), q)
    };
    let new_len = l2 + ipv4::HEADER_LEN + 8 + q;
    let old_len = buf.data().len();
    if old_len < new_len {
        return Err(DropReason::Truncated);
    }
    let data = buf.data_mut();
    let mut eth = ethernet::Packet::new_unchecked(&mut data[..]);
    let client_mac = eth.src_addr();
    eth.set_dst_addr(client_mac);
    eth.set_src_addr(our_mac);
    let icmp_at = l2 + ipv4::HEADER_LEN;
    data[icmp_at + 8..new_len].copy_from_slice(&quoted[..q]);
    let mut msg = icmp::Packet::new_unchecked(&mut data[icmp_at..new_len]);
    icmp::Repr::frag_needed(mtu)
        .emit(&mut msg)
        .map_err(|_| DropReason::Truncated)?;
    let header = ipv4::Repr {
        src_addr: from,
        dst_addr: client,
        protocol: proto::ICMP,
        payload_len: 8 + q,
        ttl: 64,
        tos: 0,
        ident,
        dont_frag: false,
    };
    header
        .emit(&mut ipv4::Packet::new_unchecked(&mut data[l2..icmp_at]))
        .map_err(|_| DropReason::Truncated)?;
    buf.trim(old_len - new_len);
    Ok(())
}
