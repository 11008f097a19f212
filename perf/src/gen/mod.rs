//! The traffic generator's pure logic (no DPDK): frame templates (checksums from `dataplane::wire::checksum`) and in-place TCP
//! answers, the payload stamp, the latency histogram, the pacer and the flow sequence. The
//! `rvs-pktgen` binary drives these from its poll loop; everything here is allocation-free once
//! built, so the hot loop allocates nothing.

pub mod hist;
pub mod pace;
pub mod packet;
