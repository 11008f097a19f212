//! Writes the seed corpus of the `packet_path` fuzz target (dataplane/fuzz) from the golden
//! tables' input frames, every mode in table order, each prefixed by the fuzz control byte (the
//! input interface), plus SYN/UDP frames for the fuzz rig's persistent all-ports service and
//! one input with a clock jump. Run by hand:
//!
//! `cargo test -p dataplane --test fuzz_seeds -- --ignored`

#[path = "golden/mod.rs"]
mod golden;

use etherparse::PacketBuilder;

#[test]
#[ignore = "writes dataplane/fuzz/corpus/packet_path; run by hand"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/packet_path");
    std::fs::create_dir_all(&dir).unwrap();
    for old in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(old.unwrap().path()).unwrap();
    }
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for method in golden::MODES {
        for case in golden::sequence(method).1 {
            let seed = [&[case.in_if as u8][..], &case.input].concat();
            if !seeds.contains(&seed) {
                seeds.push(seed);
            }
        }
    }
    // The fuzz rig's persistent all-ports service, 10.0.0.101, TCP and UDP on any port.
    let to_all_ports = || {
        PacketBuilder::ethernet2(golden::GW_MAC, golden::IF0_MAC).ipv4(
            golden::CLIENT,
            [10, 0, 0, 101],
            64,
        )
    };
    let mut syn = Vec::new();
    to_all_ports()
        .tcp(40000, 443, 1, 8192)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let mut udp = Vec::new();
    to_all_ports()
        .udp(40001, 123)
        .write(&mut udp, b"ntp?")
        .unwrap();
    seeds.push([&[0u8][..], &syn].concat());
    seeds.push([&[0u8][..], &udp].concat());
    // Control byte 0xfc: a 31 * 30 s clock jump with expiry before the frame.
    seeds.push([&[0xfcu8][..], &syn].concat());
    assert!(seeds.len() < 256, "{} seeds", seeds.len());
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
    }
}
