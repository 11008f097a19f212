//! Transmitters, one file per forwarding method (as IPVS's ip_vs_xmit.c). The method is chosen
//! once, when the session is created, and stored in its [`Binding`]; every packet of the session
//! is then handled by that method.
//!
//! NAT and FULLNAT are described by [`Endpoints`]: the source and destination (address, port) a
//! packet of the flow gets in each direction, computed from the session's two keys. The same
//! mapping translates ICMP errors about the flow (see `forward::icmp`).

pub mod dr;
pub mod fullnat;
pub mod nat;
pub mod tunnel;

pub use fullnat::LocalPorts;

use crate::conn::{Direction, FlowKey};
use crate::snapshot::Method;
use crate::verdict::DropReason;
use crate::wire::checksum;
use crate::wire::ethernet::MacAddr;
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

/// Rewrites an IPv4 TCP/UDP packet (`ip` starts at the IP header and was validated by the
/// classifier) to `to`, updating IP and L4 checksums incrementally, and decrements the TTL.
/// The caller has checked that TTL > 1.
pub(crate) fn rewrite_l3l4(ip: &mut [u8], to: &Endpoints) -> Result<(), DropReason> {
    let mut pkt = ipv4::Packet::new_checked(&mut ip[..]).map_err(|_| DropReason::BadIpHeader)?;
    pkt.decrement_ttl();
    let (old_src, old_dst) = (pkt.src_addr(), pkt.dst_addr());
    if let Some((a, _)) = to.src {
        pkt.rewrite_src_addr(a);
    }
    if let Some((a, _)) = to.dst {
        pkt.rewrite_dst_addr(a);
    }
    let protocol = pkt.protocol();
    let payload = pkt.payload_mut();
    let new_src = to.src.map_or(old_src, |(a, _)| a);
    let new_dst = to.dst.map_or(old_dst, |(a, _)| a);
    match protocol {
        checksum::proto::TCP => {
            let mut seg = tcp::Packet::new_checked(payload).map_err(|_| DropReason::BadL4Header)?;
            let mut c = checksum::update_ipv4_addr(seg.checksum(), old_src, new_src);
            c = checksum::update_ipv4_addr(c, old_dst, new_dst);
            seg.set_checksum(c);
            if let Some((_, p)) = to.src {
                seg.rewrite_src_port(p);
            }
            if let Some((_, p)) = to.dst {
                seg.rewrite_dst_port(p);
            }
        }
        checksum::proto::UDP => {
            let mut dgram =
                udp::Packet::new_checked(payload).map_err(|_| DropReason::BadL4Header)?;
            let mut c = checksum::udp_update_ipv4_addr(dgram.checksum(), old_src, new_src);
            c = checksum::udp_update_ipv4_addr(c, old_dst, new_dst);
            dgram.set_checksum(c);
            if let Some((_, p)) = to.src {
                dgram.rewrite_src_port(p);
            }
            if let Some((_, p)) = to.dst {
                dgram.rewrite_dst_port(p);
            }
        }
        _ => return Err(DropReason::UnsupportedProtocol),
    }
    Ok(())
}
