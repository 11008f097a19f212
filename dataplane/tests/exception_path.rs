//! The exception path's decision (`Forwarder::for_kernel`): of the frames the classifier
//! dropped, those for the box itself go to the kernel interface of their port, within the
//! port's rate; the rest stay dropped. Frames are built with etherparse.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::forward::{Forwarder, ForwarderConfig};
use dataplane::snapshot::Method;
use dataplane::verdict::{DropReason, Verdict};
use etherparse::PacketBuilder;
use std::sync::Arc;

/// wan (interface 0) has a kernel interface taking `rate` frames/s; lan has none.
fn forwarder(rate: u32) -> Forwarder {
    let config = ForwarderConfig {
        exception_rates: vec![rate, 0],
        ..golden::config()
    };
    Forwarder::new(&config, Arc::new(golden::snapshot(Method::Nat))).expect("forwarder")
}

fn tcp_syn(dst: [u8; 4], dport: u16) -> Vec<u8> {
    tcp_syn_to(golden::IF0_MAC, dst, dport)
}

fn tcp_syn_to(mac: [u8; 6], dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(golden::GW_MAC, mac)
        .ipv4(golden::CLIENT, dst, 64)
        .tcp(40000, dport, 1, 65535)
        .syn()
        .write(&mut f, &[])
        .expect("frame");
    f
}

/// VRRP (IP protocol 112) to 224.0.0.18, as keepalived sends it.
fn vrrp() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(golden::GW_MAC, [1, 0, 0x5e, 0, 0, 18])
        .ipv4([10, 0, 0, 2], [224, 0, 0, 18], 255)
        .write(
            &mut f,
            etherparse::IpNumber(112),
            &[0x21, 1, 100, 1, 0, 1, 0, 0],
        )
        .expect("frame");
    f
}

/// Processes `frame` on `in_if`; if dropped, asks whether the kernel takes it.
fn decide(fw: &mut Forwarder, frame: &[u8], in_if: u16, now: u64) -> (Verdict, bool) {
    let mut b = HeapBuf::new(frame);
    let v = fw.process(&mut b, in_if, now);
    let kernel = match v {
        Verdict::Drop(reason) => fw.for_kernel(b.data(), in_if, reason, now),
        _ => false,
    };
    (v, kernel)
}

fn assert_identity(fw: &Forwarder) {
    let s = fw.stats();
    assert_eq!(
        s.rx,
        s.tx + s.redirected + s.local + s.drops.total(),
        "{s:?}"
    );
}

#[test]
fn frames_for_the_box_go_to_its_kernel_interface() {
    let mut fw = forwarder(1000);
    // TCP to the box's own address, no service there: the kernel's.
    let (v, kernel) = decide(&mut fw, &tcp_syn(golden::IF0_IP, 2222), 0, 1);
    assert_eq!((v, kernel), (Verdict::Drop(DropReason::NoService), true));
    // VRRP to its multicast group: the kernel's.
    let (v, kernel) = decide(&mut fw, &vrrp(), 0, 1);
    assert_eq!(
        (v, kernel),
        (Verdict::Drop(DropReason::UnsupportedProtocol), true)
    );
    // To the VIP's port without a service: rvs's, not the kernel's.
    let (v, kernel) = decide(&mut fw, &tcp_syn(golden::VIP, 2222), 0, 1);
    assert_eq!((v, kernel), (Verdict::Drop(DropReason::NoService), false));
    // On lan, which has no kernel interface: dropped.
    let lan = tcp_syn_to(golden::IF1_MAC, golden::IF1_IP, 2222);
    let (v, kernel) = decide(&mut fw, &lan, 1, 1);
    assert_eq!((v, kernel), (Verdict::Drop(DropReason::NoService), false));
    let s = fw.stats();
    assert_eq!(s.local, 2);
    assert_eq!(s.drops.get(DropReason::NoService), 2, "the VIP's and lan's");
    assert_eq!(s.drops.get(DropReason::UnsupportedProtocol), 0);
    assert_identity(&fw);
}

#[test]
fn the_port_rate_limits_the_kernel_frames() {
    // 100 frames/s on one worker: a burst of 10, then 1 per 10 ms.
    let mut fw = forwarder(100);
    let frame = tcp_syn(golden::IF0_IP, 2222);
    let taken = (0..50).filter(|_| decide(&mut fw, &frame, 0, 5).1).count();
    assert_eq!(taken, 10);
    assert_eq!(fw.stats().drops.get(DropReason::ExceptionLimit), 40);
    assert_eq!(fw.stats().drops.get(DropReason::NoService), 0);
    let later = (0..50).filter(|_| decide(&mut fw, &frame, 0, 15).1).count();
    assert_eq!(later, 1, "10 ms later: one more");
    let later = (0..50)
        .filter(|_| decide(&mut fw, &frame, 0, 1015).1)
        .count();
    assert_eq!(later, 10, "a second later: a full burst, no more");
    assert_identity(&fw);
}

#[test]
fn without_a_kernel_interface_nothing_changes() {
    let mut fw = forwarder(0);
    let (v, kernel) = decide(&mut fw, &tcp_syn(golden::IF0_IP, 2222), 0, 1);
    assert_eq!((v, kernel), (Verdict::Drop(DropReason::NoService), false));
    assert_eq!(fw.stats().drops.get(DropReason::NoService), 1);
    assert_eq!(fw.stats().local, 0);
}

/// A broadcast ARP request from the gateway asking for `target` (by hand, RFC 826 layout).
fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&golden::GW_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&golden::GW_MAC);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

#[test]
fn arp_requests_for_the_port_address_go_to_the_control_plane() {
    let mut fw = forwarder(100);
    let ask =
        |fw: &mut Forwarder, target, now| decide(fw, &arp_request(golden::GW_IP, target), 0, now).0;
    // The port's own address: the control plane answers and the kernel sees it.
    assert_eq!(ask(&mut fw, golden::IF0_IP, 1), Verdict::Local);
    // A VIP: the worker answers, in place.
    assert_eq!(ask(&mut fw, golden::VIP, 1), Verdict::Transmit(0));
    // A neighbour's announcement stays what it was (for the neighbour cache).
    assert_eq!(ask(&mut fw, golden::GW_IP, 1), Verdict::Local);
    // Over the port's rate (a burst of 10), the worker answers them itself.
    let verdicts: Vec<Verdict> = (0..12).map(|_| ask(&mut fw, golden::IF0_IP, 2)).collect();
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Local).count(), 9);
    assert_eq!(verdicts.last(), Some(&Verdict::Transmit(0)));
    assert_eq!(fw.stats().drops.get(DropReason::ExceptionLimit), 0);
    assert_identity(&fw);
    // Without a kernel interface the worker answers everything.
    let mut fw = forwarder(0);
    assert_eq!(ask(&mut fw, golden::IF0_IP, 1), Verdict::Transmit(0));
}
