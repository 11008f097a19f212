//! Frames go through the real net_pcap driver: written to a pcap file, read by DPDK, forwarded
//! by the macswap forwarder, written by DPDK to another pcap, and checked byte for byte.

mod common;

use common::*;
use dataplane::dpdk::{Port, PortConfig};
use dataplane::macswap;
use pcap_file::pcap::PcapReader;
use std::fs::File;
use std::path::Path;

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

/// Runs `frames` through a net_pcap port with the macswap forwarder; returns the output frames
/// and the forwarder's counters.
fn forward_through_pcap(frames: &[Vec<u8>]) -> (Vec<Vec<u8>>, macswap::MacswapStats) {
    let dir = std::env::temp_dir().join(unique("rvs-io-pcap-"));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    write_pcap(&input, frames);

    let name = unique("net_pcap_io");
    let devargs = format!(
        "{name},rx_pcap={},tx_pcap={}",
        input.display(),
        output.display()
    );
    let mut port =
        Port::open_vdev(eal(), &devargs, &PortConfig::new(pool(1023))).expect("open net_pcap");
    port.start().unwrap();
    let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    // The pcap driver returns nothing once the file is read: stop after a run of empty polls.
    let stats = macswap::run(&mut rx, &mut tx, |_, idle| idle < 1000);
    let port_stats = port.stats().unwrap();
    assert_eq!(
        port_stats.rx_packets,
        frames.len() as u64,
        "driver rx count"
    );
    assert_eq!(port_stats.tx_packets, stats.tx, "driver tx count");
    drop((rx, tx, port)); // closes the device, which flushes and closes out.pcap
    let out = read_pcap(&output);
    std::fs::remove_dir_all(&dir).unwrap();
    (out, stats)
}

#[test]
fn pcap_port_forwards_every_frame_byte_exact() {
    let frames = sample_frames();
    let (out, stats) = forward_through_pcap(&frames);
    let want: Vec<_> = frames.iter().map(|f| expected_macswap(f)).collect();
    assert_frames_eq(&out, &want);
    assert_eq!(
        stats,
        macswap::MacswapStats {
            rx: frames.len() as u64,
            tx: frames.len() as u64,
            ..Default::default()
        }
    );
}

#[test]
fn pcap_port_drops_and_counts_runts() {
    let mut frames = sample_frames();
    frames.insert(2, vec![0xde, 0xad, 0xbe, 0xef]);
    let (out, stats) = forward_through_pcap(&frames);
    let want: Vec<_> = frames
        .iter()
        .filter(|f| f.len() >= 12)
        .map(|f| expected_macswap(f))
        .collect();
    assert_frames_eq(&out, &want);
    assert_eq!(stats.rx, frames.len() as u64);
    assert_eq!(stats.dropped_runt, 1);
    assert_eq!(stats.tx, frames.len() as u64 - 1);
}

#[test]
fn second_port_with_same_name_is_refused() {
    let dir = std::env::temp_dir().join(unique("rvs-io-pcap-dup-"));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &sample_frames());
    let name = unique("net_pcap_dup");
    let devargs = format!(
        "{name},rx_pcap={},tx_pcap={}",
        input.display(),
        dir.join("o.pcap").display()
    );
    let _first = Port::open_vdev(eal(), &devargs, &PortConfig::new(pool(255))).unwrap();
    let err = Port::open_vdev(eal(), &devargs, &PortConfig::new(pool(255)))
        .err()
        .expect("duplicate vdev refused");
    assert_eq!(
        err.to_string(),
        format!("invalid vdev: {name} is already attached")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
