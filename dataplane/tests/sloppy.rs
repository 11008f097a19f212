//! IPVS's `sloppy_tcp` (`Snapshot::with_sloppy_tcp`): a TCP segment without a session that is
//! not a SYN starts one on a box that has it on, in the state the segment makes (an ACK:
//! ESTABLISHED), and is forwarded; with `mh` two boxes with the same table pick the same real
//! server, so a flow that the routers move between boxes goes on. Off, the segment is dropped as
//! `no_session`. Frames are built with etherparse; the forwarded frame is checked by hand.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::State;
use dataplane::forward::Forwarder;
use dataplane::sched::SchedulerKind;
use dataplane::snapshot::{Method, ServiceConfig, Snapshot};
use dataplane::verdict::{DropReason, Verdict};
use etherparse::PacketBuilder;
use std::sync::Arc;

/// The lab table for `method` with every service on `mh` (hashing the client port too), with
/// `sloppy_tcp` as given.
fn table(method: Method, sloppy: bool) -> Arc<Snapshot> {
    let lab = golden::snapshot(method);
    let services: Vec<ServiceConfig> = lab
        .services
        .iter()
        .map(|s| {
            let mut c = s.config.clone();
            c.scheduler = SchedulerKind::Mh;
            c.sched_params.mh_port = true;
            c
        })
        .collect();
    let snap = Snapshot::build(1, lab.interfaces.clone(), services).expect("valid table");
    Arc::new(snap.with_sloppy_tcp(sloppy))
}

fn box_with(method: Method, sloppy: bool) -> Forwarder {
    box_on(&table(method, sloppy))
}

/// A box (a worker with a table of its own) on `table`.
fn box_on(table: &Arc<Snapshot>) -> Forwarder {
    Forwarder::new(&golden::config(), table.clone()).expect("forwarder")
}

/// A client segment to the VIP's http service from `client_port`, flags "S", "A", "FA", "R".
fn segment(client_port: u16, flags: &str) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .tcp(client_port, golden::HTTP, 1000, 65535);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(5000);
    }
    if flags.contains('F') {
        b = b.fin();
    }
    if flags.contains('R') {
        b = b.rst();
    }
    let mut f = Vec::new();
    b.write(&mut f, b"data").expect("frame");
    f
}

fn run(fw: &mut Forwarder, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut b = HeapBuf::new(frame);
    let v = fw.process(&mut b, 0, golden::START_MS);
    (v, b.data().to_vec())
}

/// The real server a DR frame was sent to (by its destination MAC), checking that the rest of
/// the frame is the client's segment unchanged.
fn dr_server(sent: &[u8], frame: &[u8]) -> usize {
    let mac: [u8; 6] = sent[0..6].try_into().expect("mac");
    let server = golden::RS_MAC
        .iter()
        .position(|m| *m == mac)
        .expect("sent to a real server's MAC");
    assert_eq!(&sent[6..12], &golden::IF1_MAC, "from the lan port");
    assert_eq!(
        &sent[12..],
        &frame[12..],
        "DR leaves the IP packet as it is"
    );
    server
}

#[test]
fn an_ack_without_a_session_starts_an_established_one_when_sloppy() {
    let mut fw = box_with(Method::Dr, true);
    let frame = segment(40000, "A");
    let (v, sent) = run(&mut fw, &frame);
    assert_eq!(v, Verdict::Transmit(1), "forwarded to the lan");
    dr_server(&sent, &frame);
    let sessions = fw.sessions();
    assert_eq!(sessions.len(), 1);
    let (_, s) = sessions.iter().next().expect("the session");
    assert_eq!(s.state(), State::Established, "NONE + ACK is ESTABLISHED");
}

#[test]
fn without_sloppy_tcp_the_same_ack_is_dropped_as_no_session() {
    let mut fw = box_with(Method::Dr, false);
    let (v, _) = run(&mut fw, &segment(40000, "A"));
    assert_eq!(v, Verdict::Drop(DropReason::NoSession));
    assert_eq!(fw.sessions().len(), 0);
}

#[test]
fn a_rst_starts_nothing_even_when_sloppy() {
    let mut fw = box_with(Method::Dr, true);
    for flags in ["R", "AR"] {
        let (v, _) = run(&mut fw, &segment(40000, flags));
        assert_eq!(v, Verdict::Drop(DropReason::NoSession), "{flags}");
    }
    assert_eq!(fw.sessions().len(), 0);
}

/// A flow begun on box A (by its SYN) and moved to box B mid-flow reaches the same real server
/// on B, for many client ports; and the ports spread over all three servers.
#[test]
fn two_boxes_on_mh_send_a_moved_flow_to_the_same_server() {
    for method in [Method::Dr, Method::Tunnel] {
        let mut used = [0usize; 3];
        let (table_a, table_b) = (table(method, true), table(method, true));
        for port in 40000..40200u16 {
            let mut a = box_on(&table_a);
            let mut b = box_on(&table_b);
            let (va, to_a) = run(&mut a, &segment(port, "S"));
            let (vb, to_b) = run(&mut b, &segment(port, "A"));
            assert_eq!((va, vb), (Verdict::Transmit(1), Verdict::Transmit(1)));
            assert_eq!(to_a[0..6], to_b[0..6], "port {port}: same next hop");
            if method == Method::Dr {
                let server = dr_server(&to_b, &segment(port, "A"));
                used[server] += 1;
            } else {
                // TUN: the outer destination is the real server.
                let dst: [u8; 4] = to_b[30..34].try_into().expect("outer dst");
                assert_eq!(to_a[30..34], dst, "port {port}: same tunnel end");
                used[golden::RS.iter().position(|r| *r == dst).expect("a server")] += 1;
            }
        }
        assert!(used.iter().all(|&n| n > 30), "{method:?}: spread {used:?}");
    }
}

/// A FIN without a session starts one too (IPVS: any segment but a RST): CLOSE at once (the
/// FIN row of the input-only table), the FIN still forwarded.
#[test]
fn a_fin_without_a_session_is_scheduled_when_sloppy() {
    let mut fw = box_with(Method::Dr, true);
    let (v, _) = run(&mut fw, &segment(40001, "FA"));
    assert_eq!(v, Verdict::Transmit(1));
    let sessions = fw.sessions();
    let (_, s) = sessions.iter().next().expect("the session");
    assert_eq!(s.state(), State::Close);
}
