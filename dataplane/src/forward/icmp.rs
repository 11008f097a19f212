//! ICMP through the box: echo requests to the box are answered; ICMP errors that quote a packet
//! of a tracked flow are sent on to the other side, translated like the flow itself.
//!
//! The quoted packet travels opposite to the error. An error arriving in direction D (matching
//! the session's D key once the quoted tuple is reversed) gets the outer addresses of a D packet
//! of the flow, and the quoted packet gets the inverse: its source becomes D's new destination
//! and its destination D's new source. Inner IP checksum and (when quoted) the inner UDP/TCP
//! checksum are updated; the ICMP checksum is recomputed over the whole message, as IPVS does.
//! For DR and TUN the error goes to the real server unchanged, by the flow's method.

use super::{Arrival, Forwarder};
use crate::buf::PacketBuf;
use crate::conn::{Addr, FlowKey};
use crate::snapshot::Method;
use crate::verdict::{DropReason, Verdict};
use crate::wire::checksum::{self, proto};
use crate::wire::icmp::{self, msg_type};
use crate::wire::ipv4;
use crate::xmit::{self, Endpoints, NextHop};
use std::net::Ipv4Addr;

/// What an ICMP message to or through the box is to it.
enum Message {
    /// An echo request, which the box answers.
    EchoRequest,
    /// An error about the flow with `key` (the quoted packet's tuple reversed: the direction the
    /// error travels); `ttl`: the error's own.
    Error { key: FlowKey, ttl: u8 },
}

/// Decides an ICMP message (the IPv4 packet at `l2`, validated by the classifier): answers an
/// echo request; sends an error related to a session on as the session's packets go, or to
/// the worker that may hold the session.
pub(super) fn handle<B: PacketBuf>(
    fw: &mut Forwarder,
    buf: &mut B,
    l2: usize,
    arrival: Arrival,
) -> Verdict {
    let (key, ttl) = match message(&buf.data()[l2..]) {
        Ok(Message::Error { key, ttl }) => (key, ttl),
        Ok(Message::EchoRequest) => {
            let in_if = arrival.in_if();
            return super::local::echo_reply(&fw.snapshot, buf.data_mut(), l2, in_if);
        }
        Err(reason) => return Verdict::Drop(reason),
    };
    let Some((id, dir)) = fw.sessions.lookup(&key) else {
        // The outer header says nothing of the flow's worker: the session's owner may have it.
        let (owner, fallback, _) = fw.owners.session_owner(&fw.snapshot, &key);
        return fw
            .owners
            .pass_on(arrival, owner, fallback, DropReason::IcmpUnrelated);
    };
    let Some(s) = fw.sessions.get(id) else {
        return Verdict::Drop(DropReason::IcmpUnrelated);
    };
    let (mut binding, in_key, out_key) = (s.payload, *s.in_key(), s.out_key().copied());
    fw.follow_next_hop(&mut binding);
    match binding.method {
        // The error goes on to the real server exactly like the flow's packets.
        Method::Dr | Method::Tunnel => fw.transmit(
            buf,
            l2,
            dir,
            &binding,
            &Endpoints::default(),
            u32::from(ipv4::Packet::new_unchecked(&buf.data()[l2..]).total_len()),
        ),
        Method::Nat | Method::FullNat => {
            if ttl <= 1 {
                return Verdict::Drop(DropReason::TtlExpired);
            }
            let to = xmit::endpoints(binding.method, dir, &in_key, out_key.as_ref());
            if translate(&mut buf.data_mut()[l2..], &to).is_err() {
                return Verdict::Drop(DropReason::IcmpUnrelated);
            }
            let (out_if, next_hop) = binding.next_hop(dir);
            let Some(iface) = fw.snapshot.interfaces.get(usize::from(out_if)) else {
                return Verdict::Drop(DropReason::NoDestination);
            };
            match xmit::set_l2(buf, l2, NextHop::new(iface, next_hop), iface.tag()) {
                Ok(()) => Verdict::Transmit(iface.port),
                Err(reason) => Verdict::Drop(reason),
            }
        }
    }
}

/// Reads the ICMP message of IPv4 packet `ip_bytes`: an echo request, or an error quoting a
/// TCP/UDP packet; anything else is refused with the reason it is dropped.
#[inline]
fn message(ip_bytes: &[u8]) -> Result<Message, DropReason> {
    let ip = ipv4::Packet::new_unchecked(ip_bytes);
    let msg = icmp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::BadL4Header)?;
    // Checked here because a translated error gets a fresh checksum, which would make a
    // corrupted one look right.
    if !msg.verify_checksum() {
        return Err(DropReason::BadL4Header);
    }
    if msg.msg_type() == msg_type::ECHO_REQUEST {
        return Ok(Message::EchoRequest);
    }
    // As IPVS, only these errors are related to a flow; a redirect or a parameter problem about
    // a server-side hop is not the client's business.
    if !matches!(
        msg.msg_type(),
        msg_type::DEST_UNREACHABLE | msg_type::SOURCE_QUENCH | msg_type::TIME_EXCEEDED
    ) {
        return Err(DropReason::IcmpUnrelated);
    }
    let quoted = msg.inner().ok_or(DropReason::IcmpUnrelated)?;
    let inner = ipv4::Packet::new_checked_quoted(quoted).map_err(|_| DropReason::IcmpUnrelated)?;
    let l4 = &quoted[inner.header_len().min(quoted.len())..];
    let (sport, dport) = icmp::quoted_ports(l4).ok_or(DropReason::IcmpUnrelated)?;
    if !matches!(inner.protocol(), proto::TCP | proto::UDP) {
        return Err(DropReason::IcmpUnrelated);
    }
    let (isrc, idst) = (
        Addr::v4(inner.src_addr().octets()),
        Addr::v4(inner.dst_addr().octets()),
    );
    Ok(Message::Error {
        key: FlowKey::new(inner.protocol(), idst, dport, isrc, sport),
        ttl: ip.ttl(),
    })
}

/// Applies `to` to the outer header and its inverse to the quoted packet (see module docs).
fn translate(ip_bytes: &mut [u8], to: &Endpoints) -> Result<(), ()> {
    let mut ip = ipv4::Packet::new_checked(&mut ip_bytes[..]).map_err(|_| ())?;
    ip.decrement_ttl();
    if let Some((a, _)) = to.src {
        ip.rewrite_src_addr(a);
    }
    if let Some((a, _)) = to.dst {
        ip.rewrite_dst_addr(a);
    }
    let mut msg = icmp::Packet::new_checked(ip.payload_mut()).map_err(|_| ())?;
    let quoted = msg.inner_mut().ok_or(())?;
    let (hl, protocol, old_src, old_dst) = {
        let inner = ipv4::Packet::new_checked_quoted(&quoted[..]).map_err(|_| ())?;
        (
            inner.header_len(),
            inner.protocol(),
            inner.src_addr(),
            inner.dst_addr(),
        )
    };
    let new_src = to.dst.map_or(old_src, |(a, _)| a);
    let new_dst = to.src.map_or(old_dst, |(a, _)| a);
    {
        let mut inner = ipv4::Packet::new_unchecked(&mut quoted[..hl]);
        inner.set_src_addr(new_src);
        inner.set_dst_addr(new_dst);
        inner.fill_checksum();
    }
    let l4 = &mut quoted[hl..];
    rewrite_quoted_l4(
        l4,
        protocol,
        (old_src, new_src),
        (old_dst, new_dst),
        to.dst.map(|(_, p)| p),
        to.src.map(|(_, p)| p),
    );
    msg.fill_checksum();
    Ok(())
}

/// Rewrites the ports of a quoted TCP/UDP header and, when it is quoted, its checksum.
fn rewrite_quoted_l4(
    l4: &mut [u8],
    protocol: u8,
    src: (Ipv4Addr, Ipv4Addr),
    dst: (Ipv4Addr, Ipv4Addr),
    new_sport: Option<u16>,
    new_dport: Option<u16>,
) {
    if l4.len() < 4 {
        return;
    }
    let old_sport = u16::from_be_bytes([l4[0], l4[1]]);
    let old_dport = u16::from_be_bytes([l4[2], l4[3]]);
    let sport = new_sport.unwrap_or(old_sport);
    let dport = new_dport.unwrap_or(old_dport);
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    let (at, udp) = match protocol {
        proto::UDP => (6, true),
        _ => (16, false),
    };
    let Some(field) = l4.get_mut(at..at + 2) else {
        return;
    };
    let mut c = u16::from_be_bytes([field[0], field[1]]);
    if udp {
        c = checksum::udp_update_ipv4_addr(c, src.0, src.1);
        c = checksum::udp_update_ipv4_addr(c, dst.0, dst.1);
        c = checksum::udp_update16(c, old_sport, sport);
        c = checksum::udp_update16(c, old_dport, dport);
    } else {
        c = checksum::update_ipv4_addr(c, src.0, src.1);
        c = checksum::update_ipv4_addr(c, dst.0, dst.1);
        c = checksum::update16(c, old_sport, sport);
        c = checksum::update16(c, old_dport, dport);
    }
    field.copy_from_slice(&c.to_be_bytes());
}
