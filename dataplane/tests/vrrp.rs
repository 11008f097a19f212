//! VRRP's view in the table (`Snapshot::with_vrrp`): a floating address the box does not hold
//! is neither answered by ARP nor takes new flows (`standby`); one it holds is served; the
//! sessions the box already has keep going. Frames are built by hand and with etherparse.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::Addr;
use dataplane::forward::Forwarder;
use dataplane::snapshot::{Method, Snapshot};
use dataplane::verdict::{DropReason, Verdict};
use etherparse::PacketBuilder;
use std::sync::Arc;

const GATEWAY: [u8; 4] = [10, 0, 1, 1];
const FLOATING: [u8; 4] = [10, 0, 1, 254];

/// The NAT table with `standby` and `held` floating addresses.
fn table(method: Method, standby: &[[u8; 4]], held: &[[u8; 4]]) -> Arc<Snapshot> {
    let v4 = |a: &[[u8; 4]]| a.iter().map(|&o| Addr::v4(o)).collect();
    Arc::new(golden::snapshot(method).with_vrrp(v4(standby), v4(held)))
}

/// A broadcast ARP request on `in_if` for `target` (RFC 826 layout, by hand).
fn arp_request(mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

fn tcp(flags: &str) -> Vec<u8> {
    tcp_from(40000, flags)
}

fn tcp_from(client_port: u16, flags: &str) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .tcp(client_port, golden::HTTP, 1, 65535);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    let mut f = Vec::new();
    b.write(&mut f, &[]).expect("frame");
    f
}

fn run(fw: &mut Forwarder, frame: &[u8], in_if: u16) -> (Verdict, Vec<u8>) {
    let mut b = HeapBuf::new(frame);
    let v = fw.process(&mut b, in_if, golden::START_MS);
    (v, b.data().to_vec())
}

#[test]
fn a_box_in_standby_neither_answers_nor_serves_its_floating_addresses() {
    let standby = table(Method::Nat, &[golden::VIP, FLOATING], &[]);
    let mut fw = Forwarder::new(&golden::config(), standby).expect("forwarder");
    let ask_vip = arp_request(golden::GW_MAC, golden::GW_IP, golden::VIP);
    assert_eq!(
        run(&mut fw, &ask_vip, 0).0,
        Verdict::Drop(DropReason::ArpIgnored)
    );
    let ask = arp_request(golden::RS_MAC[0], golden::RS[0], FLOATING);
    assert_eq!(
        run(&mut fw, &ask, 1).0,
        Verdict::Drop(DropReason::ArpIgnored)
    );
    assert_eq!(
        run(&mut fw, &tcp("S"), 0).0,
        Verdict::Drop(DropReason::Standby)
    );
    assert_eq!(fw.stats().drops.get(DropReason::Standby), 1);
    assert_eq!(fw.sessions().len(), 0);
    // The box's own addresses are not floating: still answered.
    let own = arp_request(golden::RS_MAC[0], golden::RS[0], GATEWAY);
    assert_eq!(run(&mut fw, &own, 1).0, Verdict::Transmit(1));
}

#[test]
fn a_box_holding_its_floating_addresses_answers_and_serves_them() {
    let held = table(Method::Nat, &[], &[FLOATING]);
    let mut fw = Forwarder::new(&golden::config(), held).expect("forwarder");
    let (v, reply) = run(
        &mut fw,
        &arp_request(golden::GW_MAC, golden::GW_IP, golden::VIP),
        0,
    );
    assert_eq!(v, Verdict::Transmit(0));
    assert_eq!(
        &reply[22..28],
        &golden::IF0_MAC,
        "the VIP is at the port's MAC"
    );
    assert_eq!(&reply[28..32], &golden::VIP);
    let (v, reply) = run(
        &mut fw,
        &arp_request(golden::RS_MAC[0], golden::RS[0], FLOATING),
        1,
    );
    assert_eq!(v, Verdict::Transmit(1));
    assert_eq!(&reply[22..28], &golden::IF1_MAC);
    assert_eq!(&reply[28..32], &FLOATING);
    assert_eq!(run(&mut fw, &tcp("S"), 0).0, Verdict::Transmit(1));
    // The VIP moves away: the session it has keeps going, a new flow is refused.
    fw.set_snapshot(table(Method::Nat, &[golden::VIP], &[]));
    assert_eq!(run(&mut fw, &tcp("A"), 0).0, Verdict::Transmit(1));
    let other = tcp_from(40001, "S");
    assert_eq!(
        run(&mut fw, &other, 0).0,
        Verdict::Drop(DropReason::Standby)
    );
}
