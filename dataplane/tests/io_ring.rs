//! Frames go through the real net_ring driver: the test enqueues mbufs on the port's rx ring,
//! the macswap forwarder moves them, and the test dequeues them from the port's tx ring.

mod common;

use common::*;
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{Mbuf, MbufBurst, Port, PortConfig, SOCKET_ANY};
use dataplane::macswap;

#[test]
fn ring_port_forwards_every_frame_byte_exact() {
    let eal = eal();
    let pool = pool(1023);
    let (mut wire_in, port_rx) =
        channel::<Mbuf>(eal, &unique("ring_in"), 256, Producers::Single, SOCKET_ANY).unwrap();
    let (port_tx, mut wire_out) =
        channel::<Mbuf>(eal, &unique("ring_out"), 256, Producers::Single, SOCKET_ANY).unwrap();
    let mut port = Port::open_rings(
        eal,
        &unique("net_ring_io"),
        vec![port_rx],
        vec![port_tx],
        &PortConfig::new(pool),
    )
    .unwrap();
    port.start().unwrap();

    let frames = sample_frames();
    for f in &frames {
        let mut m = pool.alloc().unwrap();
        assert!(m.set_data(f));
        wire_in.push(m).map_err(|_| "ring full").unwrap();
    }
    let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let total = frames.len() as u64;
    let stats = macswap::run(&mut rx, &mut tx, |s, idle| s.rx < total && idle < 100_000);
    assert_eq!(
        stats,
        macswap::MacswapStats {
            rx: total,
            tx: total,
            ..Default::default()
        }
    );

    let mut burst = MbufBurst::<64>::new();
    wire_out.pop_burst(&mut burst);
    let out: Vec<Vec<u8>> = burst.iter().map(|m| m.data().to_vec()).collect();
    let want: Vec<_> = frames.iter().map(|f| expected_macswap(f)).collect();
    assert_frames_eq(&out, &want);

    let s = port.stats().unwrap();
    assert_eq!((s.rx_packets, s.tx_packets), (total, total));
    drop(burst);
    port.return_rx_queue(rx);
    port.return_tx_queue(tx);
    port.stop().unwrap();
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
}
