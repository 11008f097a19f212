//! Synced connections on a backup (`Forwarder::install_synced`): installed with the record's
//! method, state and timeout and then forwarded as the master would; refused and counted when
//! the table has no such service or server, or the record no valid state; a FULLNAT local port
//! the box still holds from its own connections goes to the master's.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::{Addr, State};
use dataplane::forward::Forwarder;
use dataplane::snapshot::Method;
use dataplane::sync::{flags, SyncConn, SyncInstall};
use dataplane::verdict::Verdict;
use dataplane::wire::ethernet::MacAddr;
use etherparse::PacketBuilder;
use std::sync::Arc;

fn forwarder(method: Method) -> Forwarder {
    Forwarder::new(&golden::config(), Arc::new(golden::snapshot(method))).expect("forwarder")
}

/// The first real server of the VIP's port-80 service, and its port.
fn server(fw: &Forwarder) -> (Addr, u16) {
    let s = fw.snapshot();
    let svc = s
        .find_service(6, &Addr::v4(golden::VIP), golden::HTTP)
        .unwrap() as usize;
    (
        s.services[svc].config.dests[0].addr,
        s.services[svc].dest_ports[0],
    )
}

fn record(fw: &Forwarder, cport: u16, state: u16, local: Option<(Addr, u16)>) -> SyncInstall {
    let (daddr, dport) = server(fw);
    SyncInstall {
        conn: SyncConn {
            protocol: 6,
            flags: flags::MASQ | flags::SYNC,
            state,
            caddr: Addr::v4(golden::CLIENT),
            cport,
            vaddr: Addr::v4(golden::VIP),
            vport: golden::HTTP,
            daddr,
            dport,
            fwmark: 0,
            timeout_s: 900,
            local,
        },
        client_if: 0,
        client_mac: MacAddr(golden::GW_MAC),
    }
}

fn ack_from_client(cport: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .tcp(cport, golden::HTTP, 100, 65535)
        .ack(1)
        .write(&mut f, b"more")
        .expect("frame");
    f
}

#[test]
fn a_synced_nat_connection_is_forwarded_mid_flow() {
    let mut fw = forwarder(Method::Nat);
    let mut b = HeapBuf::new(&ack_from_client(40000));
    assert!(matches!(
        fw.process(&mut b, 0, golden::START_MS),
        Verdict::Drop(_)
    ));
    assert!(fw.install_synced(&record(&fw, 40000, 1, None), golden::START_MS));
    let s = fw.sessions().iter().next().expect("installed").1;
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.timeout_ms(), 900_000);
    let mut b = HeapBuf::new(&ack_from_client(40000));
    assert_eq!(
        fw.process(&mut b, 0, golden::START_MS),
        Verdict::Transmit(1)
    );
    let (rs, _) = server(&fw);
    assert_eq!(
        &b.data()[30..34],
        &rs.to_v4().unwrap(),
        "rewritten to the real server"
    );
    assert_eq!(fw.sync_stats().installed, 1);
}

#[test]
fn records_the_table_cannot_take_are_refused_and_counted() {
    let mut fw = forwarder(Method::Nat);
    let mut bad_state = record(&fw, 40001, 11, None);
    assert!(!fw.install_synced(&bad_state, golden::START_MS));
    bad_state.conn.state = 1;
    bad_state.conn.vport = 9999;
    assert!(
        !fw.install_synced(&bad_state, golden::START_MS),
        "no such service"
    );
    let mut other = record(&fw, 40002, 1, None);
    other.conn.daddr = Addr::v4([10, 0, 1, 99]);
    assert!(
        !fw.install_synced(&other, golden::START_MS),
        "no such server"
    );
    assert_eq!(fw.sync_stats().refused, 3);
    assert_eq!(fw.sessions().len(), 0);
}

#[test]
fn the_masters_fullnat_local_port_wins_over_the_boxs_own_connection() {
    let mut fw = forwarder(Method::FullNat);
    // The box's own connection (it was master): a SYN takes a local port.
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .tcp(50000, golden::HTTP, 1, 65535)
        .syn()
        .write(&mut syn, &[])
        .expect("frame");
    let mut b = HeapBuf::new(&syn);
    assert_eq!(
        fw.process(&mut b, 0, golden::START_MS),
        Verdict::Transmit(1)
    );
    let lport = u16::from_be_bytes([b.data()[34], b.data()[35]]);
    // The master's connection from another client port on the same local port.
    let rec = record(&fw, 40003, 1, Some((Addr::v4(golden::LADDR), lport)));
    assert!(fw.install_synced(&rec, golden::START_MS));
    let sessions: Vec<u16> = fw
        .sessions()
        .iter()
        .map(|(_, s)| s.in_key().src_port)
        .collect();
    assert_eq!(
        sessions,
        [40003],
        "the box's own connection gave the port up"
    );
    let mut b = HeapBuf::new(&ack_from_client(40003));
    assert_eq!(
        fw.process(&mut b, 0, golden::START_MS),
        Verdict::Transmit(1)
    );
    assert_eq!(u16::from_be_bytes([b.data()[34], b.data()[35]]), lport);
}
