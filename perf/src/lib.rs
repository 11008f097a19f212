//! Traffic tools for rvs: flow templates that build frames, and pcap file I/O.
//! The pcap forwarding demo (`rvs-pcap-demo`) and, later, the DPDK generator build on these.

pub mod flows;
pub mod pcap;
