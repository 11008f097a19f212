//! Shared harness for tests that need DPDK: the EAL starts once per test process (every test
//! file is its own process) and each test attaches its own uniquely named devices.
#![allow(dead_code)]

use dataplane::dpdk::{Eal, Mempool, SOCKET_ANY};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// EAL arguments for tests: no hugepages, no PCI, no shared config files, two lcores (main + worker).
pub const EAL_ARGS: &[&str] = &[
    "rvs-test",
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--no-shconf",
    "--no-telemetry",
    "-l",
    "0-1",
    "--log-level",
    "*:error",
];

pub fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| Eal::init(EAL_ARGS).expect("EAL init for tests"))
}

/// A name no other test (of this process or another) uses: DPDK object names must be unique in
/// the process, and temp paths built from it must not collide with a concurrent test process.
/// DPDK truncates long names, so the pid is shortened to its low 16 bits in hex.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id() & 0xffff;
    format!("{prefix}{pid:x}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn pool(count: u32) -> Mempool {
    Mempool::create(
        eal(),
        &unique("pool"),
        count,
        0,
        Mempool::default_data_room(),
        SOCKET_ANY,
    )
    .expect("mempool")
}

/// A varied set of frames: UDP and TCP over IPv4, IPv6, ARP, minimum and maximum sizes.
pub fn sample_frames() -> Vec<Vec<u8>> {
    use etherparse::PacketBuilder;
    let mut frames = Vec::new();
    for (i, size) in [0usize, 1, 18, 100, 512, 1458].into_iter().enumerate() {
        let payload: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, i as u8], [2, 0, 0, 0, 1, 0xAA])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 100], 64)
            .udp(40000 + i as u16, 53);
        let mut f = Vec::new();
        b.write(&mut f, &payload).unwrap();
        frames.push(f);
    }
    for i in 0..4u32 {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 1, 0xAA])
            .ipv4([192, 168, 1, 2], [10, 0, 0, 100], 63)
            .tcp(51000 + i as u16, 80, 1000 * i, 65535)
            .syn();
        let mut f = Vec::new();
        b.write(&mut f, &[]).unwrap();
        frames.push(f);
    }
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 1, 0xBB])
        .ipv6(
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(1234, 5678);
    let mut f = Vec::new();
    b.write(&mut f, b"ipv6 payload").unwrap();
    frames.push(f);
    // An ARP request, built by hand (etherparse 0.16 has no ARP builder).
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[
        2, 0, 0, 0, 0, 3, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 3, 10, 0, 0, 1,
    ]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 0, 0, 100]);
    arp.resize(60, 0);
    frames.push(arp);
    frames
}

/// What the macswap forwarder must emit for `frame`, computed independently of it.
pub fn expected_macswap(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    out[0..6].copy_from_slice(&frame[6..12]);
    out[6..12].copy_from_slice(&frame[0..6]);
    out
}

/// Asserts two frame lists are equal byte for byte, naming the first difference.
pub fn assert_frames_eq(got: &[Vec<u8>], want: &[Vec<u8>]) {
    assert_eq!(got.len(), want.len(), "frame count differs");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.len(),
            w.len(),
            "frame {i}: length {} != expected {}",
            g.len(),
            w.len()
        );
        if let Some(at) = g.iter().zip(w.iter()).position(|(a, b)| a != b) {
            panic!(
                "frame {i}: byte {at} is {:#04x}, expected {:#04x}",
                g[at], w[at]
            );
        }
    }
}

/// Writes `frames` to a pcap file (for net_pcap's rx_pcap).
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let at = std::time::Duration::from_micros(i as u64);
        w.write_packet(&PcapPacket::new(at, f.len() as u32, f))
            .unwrap();
    }
}
