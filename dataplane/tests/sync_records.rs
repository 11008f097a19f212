//! Which packets hand a session's record to the sync sender (`Forwarder::with_sync`), as IPVS's
//! master with its default `sync_threshold` (3 50): a connection at its third packet from the
//! client and every 50th after, and at once when it changes into a state that ends it.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::HeapBuf;
use dataplane::forward::{Forwarder, SyncControl, SyncOut};
use dataplane::snapshot::Method;
use dataplane::sync::{record_ring, RecordConsumer};
use dataplane::verdict::Verdict;
use etherparse::PacketBuilder;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A NAT forwarder whose master sync daemon runs (no refresh), and the sender's end.
fn master() -> (Forwarder, RecordConsumer) {
    let (ring, records) = record_ring();
    let control = Arc::new(SyncControl::default());
    control.on.store(true, Ordering::Relaxed);
    let fw = Forwarder::new(&golden::config(), Arc::new(golden::snapshot(Method::Nat)))
        .expect("forwarder")
        .with_sync(SyncOut { ring, control });
    (fw, records)
}

fn tcp_from_client(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    let b = PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .tcp(40000, golden::HTTP, 100, 65535);
    let b = if flags & golden::SYN != 0 { b.syn() } else { b };
    let b = if flags & golden::ACK != 0 {
        b.ack(1)
    } else {
        b
    };
    let b = if flags & golden::FIN != 0 { b.fin() } else { b };
    let b = if flags & golden::RST != 0 { b.rst() } else { b };
    b.write(&mut f, payload).expect("frame");
    f
}

fn udp_from_client() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(golden::CLIENT, golden::VIP, 64)
        .udp(40000, golden::DNS)
        .write(&mut f, b"query")
        .expect("frame");
    f
}

/// Forwards `frame` and returns the states of the records it handed over.
fn send(fw: &mut Forwarder, records: &mut RecordConsumer, frame: &[u8]) -> Vec<u16> {
    let v = fw.process(&mut HeapBuf::new(frame), 0, golden::START_MS);
    assert!(matches!(v, Verdict::Transmit(_)), "{v:?}");
    std::iter::from_fn(|| records.pop().ok())
        .map(|c| c.state)
        .collect()
}

/// IPVS's TCP state numbers.
const ESTABLISHED: u16 = 1;
const CLOSE_WAIT: u16 = 7;

#[test]
fn an_established_connection_is_synced_at_its_third_client_packet_and_every_50th() {
    let (mut fw, mut records) = master();
    assert_eq!(
        send(&mut fw, &mut records, &tcp_from_client(golden::SYN, b"")),
        []
    );
    assert_eq!(
        send(&mut fw, &mut records, &tcp_from_client(golden::ACK, b"")),
        []
    );
    let mut synced_at = Vec::new();
    for n in 3..=110 {
        let states = send(
            &mut fw,
            &mut records,
            &tcp_from_client(golden::ACK, b"data"),
        );
        if !states.is_empty() {
            assert_eq!(states, [ESTABLISHED], "packet {n}");
            synced_at.push(n);
        }
    }
    assert_eq!(synced_at, [3, 53, 103]);
}

#[test]
fn a_connection_that_ends_is_synced_at_once() {
    let (mut fw, mut records) = master();
    send(&mut fw, &mut records, &tcp_from_client(golden::SYN, b""));
    send(&mut fw, &mut records, &tcp_from_client(golden::ACK, b""));
    let fin = tcp_from_client(golden::ACK | golden::FIN, b"");
    assert_eq!(send(&mut fw, &mut records, &fin), [CLOSE_WAIT]);
}

#[test]
fn a_udp_flow_is_synced_at_its_third_datagram() {
    let (mut fw, mut records) = master();
    let states: Vec<usize> = (0..4)
        .map(|_| send(&mut fw, &mut records, &udp_from_client()).len())
        .collect();
    assert_eq!(states, [0, 0, 1, 0]);
}

#[test]
fn nothing_is_handed_over_while_the_master_is_off() {
    let (ring, mut records) = record_ring();
    let control = Arc::new(SyncControl::default());
    let mut fw = Forwarder::new(&golden::config(), Arc::new(golden::snapshot(Method::Nat)))
        .expect("forwarder")
        .with_sync(SyncOut { ring, control });
    send(&mut fw, &mut records, &tcp_from_client(golden::SYN, b""));
    for _ in 0..5 {
        assert_eq!(
            send(&mut fw, &mut records, &tcp_from_client(golden::ACK, b"x")),
            []
        );
    }
}
