//! Answers for the box itself, built in place: ARP replies for its addresses and VIPs, and ICMP
//! echo replies. ARP replies to the box and neighbours' announcements go to the control plane.

use crate::conn::Addr;
use crate::snapshot::Snapshot;
use crate::verdict::{DropReason, Verdict};
use crate::wire::checksum;
use crate::wire::ethernet;
use crate::wire::icmp::{self, msg_type};
use crate::wire::{arp, ipv4};

/// Answers an ARP request for one of `in_if`'s addresses, or a VIP, a FULLNAT local address or
/// another floating address that the box holds (VRRP), out of `in_if` (in place: a tagged request gets a reply with its tag).
pub(super) fn arp_reply(snapshot: &Snapshot, frame: &mut [u8], l2: usize, in_if: u16) -> Verdict {
    let Some(iface) = snapshot.interfaces.get(usize::from(in_if)) else {
        return Verdict::Drop(DropReason::ArpIgnored);
    };
    let request = match arp::Packet::new_checked(&frame[l2..]).and_then(|p| arp::Repr::parse(&p)) {
        Ok(r) => r,
        Err(crate::wire::WireError::Truncated) => return Verdict::Drop(DropReason::Truncated),
        Err(_) => return Verdict::Drop(DropReason::ArpIgnored),
    };
    let target = Addr::v4(request.target_proto_addr.octets());
    let held = snapshot.holds(&target);
    let for_us = snapshot.is_local(in_if, &target) && held;
    // Replies to our requests and neighbours' announcements feed the control plane's cache.
    let announcement = request.sender_proto_addr == request.target_proto_addr;
    if (request.operation == arp::Operation::Reply && for_us)
        || (request.operation == arp::Operation::Request && announcement && !for_us)
    {
        return Verdict::Local;
    }
    let floating =
        snapshot.is_vip(&target) || snapshot.is_laddr(&target) || snapshot.is_held_extra(&target);
    let answered = for_us || (floating && held);
    if request.operation != arp::Operation::Request || !answered {
        return Verdict::Drop(DropReason::ArpIgnored);
    }
    let reply = request.reply(iface.mac);
    if reply
        .emit(&mut arp::Packet::new_unchecked(&mut frame[l2..]))
        .is_err()
    {
        return Verdict::Drop(DropReason::Truncated);
    }
    let mut eth = ethernet::Packet::new_unchecked(frame);
    eth.set_dst_addr(request.sender_hw_addr);
    eth.set_src_addr(iface.mac);
    Verdict::Transmit(iface.port)
}

/// Turns an ICMP echo request to a VIP or local address into the reply, out of `in_if`.
pub(super) fn echo_reply(snapshot: &Snapshot, frame: &mut [u8], l2: usize, in_if: u16) -> Verdict {
    let Some(iface) = snapshot.interfaces.get(usize::from(in_if)) else {
        return Verdict::Drop(DropReason::NotForUs);
    };
    let mut ip = ipv4::Packet::new_unchecked(&mut frame[l2..]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let dst_addr = Addr::v4(dst.octets());
    let ours = snapshot.is_vip(&dst_addr) || snapshot.is_local(in_if, &dst_addr);
    if !(ours && snapshot.holds(&dst_addr)) {
        return Verdict::Drop(DropReason::NotForUs);
    }
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(64);
    ip.fill_checksum();
    let mut msg = icmp::Packet::new_unchecked(ip.payload_mut());
    let old = u16::from_be_bytes([msg.msg_type(), msg.msg_code()]);
    msg.set_msg_type(msg_type::ECHO_REPLY);
    let new = u16::from_be_bytes([msg.msg_type(), msg.msg_code()]);
    msg.set_checksum(checksum::update16(msg.checksum(), old, new));
    let mut eth = ethernet::Packet::new_unchecked(frame);
    let peer = eth.src_addr();
    eth.set_dst_addr(peer);
    eth.set_src_addr(iface.mac);
    Verdict::Transmit(iface.port)
}
