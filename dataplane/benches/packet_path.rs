//! ns per packet through the packet core for established flows, per forwarding mode. The
//! packets are the golden tables' (tests/golden): each mode's sequence is replayed up to its
//! established data packet, then that packet (and, for NAT/FULLNAT, the server's reply) is
//! processed repeatedly on a fresh copy (the copy is made outside the timed section).
//!
//! Run: `cargo bench -p dataplane --bench packet_path`

#[path = "../tests/golden/mod.rs"]
mod golden;

use dataplane::buf::HeapBuf;
use dataplane::forward::Forwarder;
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
