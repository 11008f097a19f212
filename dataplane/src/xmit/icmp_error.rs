//! The box's own ICMP errors about a packet it will not forward (TUN's "fragmentation needed",
//! NAT's and FULLNAT's "time exceeded"), built in the packet's own buffer as Linux's
//! `icmp_send` (net/ipv4/icmp.c) builds them: a fresh 20-byte IP header and the 8-byte ICMP
//! header go in front of the original IP packet, which stays where it is as the quote and is
//! cut to the quote's length. Nothing is allocated: the frame grows by 28 bytes into the
//! buffer's headroom.

use crate::buf::PacketBuf;
use crate::verdict::DropReason;
use crate::wire::checksum::proto;
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::{icmp, ipv4};
use std::net::Ipv4Addr;

/// The headers put in front of the quote: IPv4 (no options) and ICMP.
pub const HEADERS: usize = ipv4::HEADER_LEN + icmp::HEADER_LEN;

/// The most of the original an error quotes as Linux does (`room = 576 - sizeof(iph) -
/// sizeof(icmph)`): the message fits in 576 bytes (RFC 1812 §4.3.2.3).
pub const LINUX_QUOTE: usize = 576 - HEADERS;

/// TOS of an error as Linux sets it: the original's TOS bits (`RT_TOS`) with precedence
/// "internetwork control" (`IPTOS_PREC_INTERNETCONTROL`).
#[inline]
pub fn error_tos(original: u8) -> u8 {
    (original & 0x1e) | 0xc0
}

/// How the error's IP header is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The error's source address.
    pub from: Ipv4Addr,
    pub tos: u8,
    pub ident: u16,
}

/// Whether Linux's `__icmp_send` would answer a packet from `src` to `dst` at all: never one
/// from a non-unicast source (0/8, 127/8, multicast, broadcast: `ip_route_input` drops them as
/// martians) nor one to multicast or broadcast (`RTCF_BROADCAST | RTCF_MULTICAST`).
#[inline]
pub fn answerable(src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let martian =
        |a: Ipv4Addr| a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast();
    !martian(src) && !dst.is_multicast() && !dst.is_broadcast()
}

/// Rewrites the frame in `buf` (the IPv4 packet at `l2`, after an Ethernet header of `l2` bytes
/// whose VLAN tag, if any, is kept) into the ICMP error `msg` about it: from `header.from` to
/// the packet's source, TTL 64, DF clear (Linux's ICMP socket does not set it), addressed to
/// the sender's MAC from `our_mac` (the interface it came in on). Quotes the original IP packet
/// from its header on, at most `max_quote` bytes; Ethernet padding is dropped. Needs
/// [`HEADERS`] bytes of headroom; left unchanged without it or without a valid IP header.
pub fn reply<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    msg: icmp::Repr,
    header: Header,
    max_quote: usize,
    our_mac: MacAddr,
) -> Result<(), DropReason> {
    let (to, total) = {
        let ip =
            ipv4::Packet::new_checked(&buf.data()[l2..]).map_err(|_| DropReason::BadIpHeader)?;
        (ip.src_addr(), usize::from(ip.total_len()))
    };
    let quote = total.min(max_quote);
    let cut = buf.data().len() - (l2 + quote);
    if !buf.prepend(HEADERS) {
        return Err(DropReason::NoHeadroom);
    }
    // Cannot fail: `cut` bytes follow the quote.
    buf.trim(cut);
    let data = buf.data_mut();
    data.copy_within(HEADERS..HEADERS + l2, 0);
    let mut eth = ethernet::Packet::new_unchecked(&mut data[..]);
    let sender = eth.src_addr();
    eth.set_dst_addr(sender);
    eth.set_src_addr(our_mac);
    let icmp_at = l2 + ipv4::HEADER_LEN;
    let ip = ipv4::Repr {
        src_addr: header.from,
        dst_addr: to,
        protocol: proto::ICMP,
        payload_len: icmp::HEADER_LEN + quote,
        ttl: 64,
        tos: header.tos,
        ident: header.ident,
        dont_frag: false,
    };
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut data[l2..icmp_at]))
        .map_err(|_| DropReason::Truncated)?;
    msg.emit(&mut icmp::Packet::new_unchecked(&mut data[icmp_at..]))
        .map_err(|_| DropReason::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::HeapBuf;

    #[test]
    fn linux_answers_unicast_only() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(answerable(a("192.0.2.1"), a("10.0.0.100")));
        for src in ["0.1.2.3", "127.0.0.1", "224.0.0.1", "255.255.255.255"] {
            assert!(!answerable(a(src), a("10.0.0.100")), "{src}");
        }
        for dst in ["239.1.1.1", "255.255.255.255"] {
            assert!(!answerable(a("192.0.2.1"), a(dst)), "{dst}");
        }
    }

    #[test]
    fn a_buffer_without_headroom_is_left_unchanged() {
        let mut frame = vec![0u8; 14 + 40];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = ipv4::Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 1),
            protocol: proto::TCP,
            payload_len: 20,
            ttl: 1,
            tos: 0,
            ident: 1,
            dont_frag: true,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut frame[14..34]))
            .unwrap();
        let mut buf = HeapBuf::new(&frame);
        assert!(buf.prepend(HeapBuf::HEADROOM - HEADERS + 1));
        let before = buf.clone();
        let header = Header {
            from: Ipv4Addr::new(10, 0, 0, 1),
            tos: 0xc0,
            ident: 7,
        };
        let msg = icmp::Repr::ttl_exceeded();
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let at = HeapBuf::HEADROOM - HEADERS + 1 + 14;
        assert_eq!(
            reply(&mut buf, at, msg, header, LINUX_QUOTE, mac),
            Err(DropReason::NoHeadroom)
        );
        assert_eq!(buf, before);
    }
}
