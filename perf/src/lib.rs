//! Traffic tools for rvs: flow templates that build frames, pcap file I/O, the DPDK traffic
//! generator's pure logic (`gen`), the benchmark's result records (`results`) and their Markdown
//! report (`report`), the probe of how far apart the host keeps two cpus (`placement`), the
//! platform's cost of a random memory access (`memlat`) and profiles of the device's forwarding
//! thread (`profile`).
//! Binaries: `rvs-pcap-demo` (the pcap forwarding demo), `rvs-pktgen` (the generator) and
//! `rvs-bench` (the harness that runs rvsd and dpdk-testpmd against the generator; its
//! scenarios, devices and output are `bench`).

pub mod bench;
pub mod flows;
pub mod gen;
pub mod memlat;
pub mod pcap;
pub mod placement;
pub mod profile;
pub mod report;
pub mod results;
