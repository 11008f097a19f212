//! ns per packet through the packet core for established flows, per forwarding mode. The
//! packets are the golden tables' (tests/golden): each mode's sequence is replayed up to its
//! established data packet, then that packet (and, for NAT/FULLNAT, the server's reply) is
//! processed repeatedly on a fresh copy (the copy is made outside the timed section).
//!
//! Run: `cargo bench -p dataplane --bench packet_path`

#[path = "../tests/golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::forward::{Arrival, Forwarder, Prepared};
use dataplane::snapshot::Method;
use dataplane::verdict::Verdict;
use divan::Bencher;

fn main() {
    divan::main();
}

/// A forwarder with the mode's session established, and the packet to repeat.
fn established(method: Method, case: &str) -> (Forwarder, Vec<u8>, u16, u64) {
    let (snapshot, cases) = golden::sequence(method);
    let mut fw = Forwarder::new(&golden::config(), snapshot).expect("forwarder");
    for c in &cases {
        let mut buf = HeapBuf::new(&c.input);
        let verdict = fw.process(&mut buf, c.in_if, c.now);
        if c.name.ends_with(case) {
            assert!(
                matches!(verdict, Verdict::Transmit(_)),
                "{} must be forwarded",
                c.name
            );
            return (fw, c.input.clone(), c.in_if, c.now);
        }
    }
    panic!("no case {case} for {method:?}");
}

fn run(bencher: Bencher, method: Method, case: &str) {
    let (mut fw, packet, in_if, now) = established(method, case);
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .with_inputs(|| HeapBuf::new(&packet))
        .bench_local_refs(|buf| {
            let v = fw.process(buf, in_if, now);
            debug_assert!(matches!(v, Verdict::Transmit(_)));
            v
        });
}

#[divan::bench]
fn nat_client_data(b: Bencher) {
    run(b, Method::Nat, "/tcp-data");
}

#[divan::bench]
fn nat_server_reply(b: Bencher) {
    run(b, Method::Nat, "/tcp-data-reply");
}

#[divan::bench]
fn fullnat_client_data(b: Bencher) {
    run(b, Method::FullNat, "/tcp-data");
}

#[divan::bench]
fn fullnat_server_reply(b: Bencher) {
    run(b, Method::FullNat, "/tcp-data-reply");
}

#[divan::bench]
fn dr_client_data(b: Bencher) {
    run(b, Method::Dr, "/tcp-data");
}

#[divan::bench]
fn tun_client_data(b: Bencher) {
    run(b, Method::Tunnel, "/tcp-data");
}

/// The floor: the cheapest useful per-packet work (testpmd's macswap) on the same buffers.
#[divan::bench]
fn baseline_macswap(b: Bencher) {
    let (_, packet, _, _) = established(Method::Dr, "/tcp-data");
    b.counter(divan::counter::ItemsCount::new(1usize))
        .with_inputs(|| HeapBuf::new(&packet))
        .bench_local_refs(|buf| {
            dataplane::macswap::swap_macs(dataplane::buf::PacketBuf::data_mut(buf))
        });
}

/// Flows of the burst benches: as many as rvs-bench's forwarding scenario.
const BURST_FLOWS: usize = 1000;
/// Session capacity of the burst benches: rvs-bench's rvsd (`[sessions] capacity`).
const BURST_CAPACITY: usize = 1 << 20;

/// A 64-byte UDP frame of flow `i` from the client-side router to the lab's VIP, DNS port.
fn udp_frame(i: usize) -> Vec<u8> {
    let src = [198, 18, (i >> 8) as u8, i as u8];
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC)
        .ipv4(src, golden::VIP, 64)
        .udp(10_000 + i as u16, golden::DNS)
        .write(&mut frame, &[0u8; 18])
        .expect("frame");
    frame
}

/// ns per packet of the packet core's part of the worker's burst loop (the three passes of
/// `Worker::decide_burst`: `prepare` and `prefetch_session` for the whole burst, then
/// `process_prepared` of each packet; without the mbufs, the interface lookup and the tx
/// buffers) for 64-byte UDP packets of
/// `BURST_FLOWS` established flows in a table of `BURST_CAPACITY`, the bursts visiting the
/// flows with rvs-pktgen's stride.
fn run_burst(bencher: Bencher, method: Method) {
    const BURST: usize = 32;
    let (snapshot, _) = golden::sequence(method);
    let config = dataplane::forward::ForwarderConfig {
        capacity: BURST_CAPACITY,
        ..golden::config()
    };
    let mut fw = Forwarder::new(&config, snapshot).expect("forwarder");
    let frames: Vec<Vec<u8>> = (0..BURST_FLOWS).map(udp_frame).collect();
    for f in &frames {
        let v = fw.process(&mut HeapBuf::new(f), 0, 1);
        assert!(matches!(v, Verdict::Transmit(_)), "first packet: {v:?}");
    }
    let mut next = 0;
    let mut prepared = [Prepared::UNPARSED; BURST];
    bencher
        .counter(divan::counter::ItemsCount::new(BURST))
        .with_inputs(|| {
            std::array::from_fn::<_, BURST, _>(|_| {
                next = (next + 619) % BURST_FLOWS;
                HeapBuf::new(&frames[next])
            })
        })
        .bench_local_refs(|bufs| {
            // Filled in place, as the worker does.
            for (p, buf) in prepared.iter_mut().zip(bufs.iter()) {
                *p = fw.prepare(buf.data());
            }
            for p in &prepared {
                fw.prefetch_session(p);
            }
            let mut sent = 0;
            for (buf, p) in bufs.iter_mut().zip(&prepared) {
                let v = fw.process_prepared(buf, Arrival::received(0), 2, p);
                sent += matches!(v, Verdict::Transmit(_)) as usize;
            }
            assert_eq!(sent, BURST);
        });
}

#[divan::bench]
fn burst_dr(b: Bencher) {
    run_burst(b, Method::Dr);
}

#[divan::bench]
fn burst_nat(b: Bencher) {
    run_burst(b, Method::Nat);
}

#[divan::bench]
fn burst_fullnat(b: Bencher) {
    run_burst(b, Method::FullNat);
}

#[divan::bench]
fn burst_tun(b: Bencher) {
    run_burst(b, Method::Tunnel);
}
