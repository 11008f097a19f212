//! Flow templates: N distinct UDP or TCP flows from a client range to one destination, with
//! frame sizes cycling through a list (pktgen-style). Frames are built with etherparse, an
//! implementation independent of rvs's own wire code.

use etherparse::PacketBuilder;
use std::net::Ipv4Addr;

/// Layer-4 protocol of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Udp,
    /// TCP segments with ACK set (established-flow traffic).
    TcpAck,
}

/// A set of flows to generate.
#[derive(Debug, Clone)]
pub struct FlowTemplate {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// First client address; flow i uses `client_base + i / ports_per_client`.
    pub client_base: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
    pub l4: L4,
    pub flows: u32,
    /// Whole Ethernet frame sizes without FCS (60..=1514), used in turn.
    pub frame_sizes: Vec<usize>,
}

/// Ethernet + IPv4 + UDP header bytes; TCP adds 12.
const UDP_HEADERS: usize = 14 + 20 + 8;
const TCP_HEADERS: usize = 14 + 20 + 20;
const PORTS_PER_CLIENT: u32 = 50_000;

impl FlowTemplate {
    /// `count` frames, flow index and size advancing with each frame.
    pub fn frames(&self, count: usize) -> Vec<Vec<u8>> {
        (0..count).map(|i| self.frame(i)).collect()
    }

    /// Frame number `i` of the sequence.
    pub fn frame(&self, i: usize) -> Vec<u8> {
        let flow = (i as u32) % self.flows.max(1);
        let size = self.frame_sizes[i % self.frame_sizes.len()].clamp(60, 1514);
        let client =
            Ipv4Addr::from(u32::from(self.client_base).wrapping_add(flow / PORTS_PER_CLIENT));
        let sport = 10_000 + (flow % PORTS_PER_CLIENT) as u16;
        let base = PacketBuilder::ethernet2(self.src_mac, self.dst_mac).ipv4(
            client.octets(),
            self.dst.octets(),
            64,
        );
        let mut out = Vec::with_capacity(size);
        let payload_for = |headers: usize| -> Vec<u8> {
            (0..size.saturating_sub(headers))
                .map(|b| (b as u8) ^ (i as u8))
                .collect()
        };
        match self.l4 {
            L4::Udp => base
                .udp(sport, self.dst_port)
                .write(&mut out, &payload_for(UDP_HEADERS)),
            L4::TcpAck => base
                .tcp(sport, self.dst_port, 1 + i as u32, 65535)
                .ack(1)
                .write(&mut out, &payload_for(TCP_HEADERS)),
        }
        .expect("writing to a Vec cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn template(l4: L4) -> FlowTemplate {
        FlowTemplate {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            client_base: Ipv4Addr::new(10, 1, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 100),
            dst_port: 80,
            l4,
            flows: 3,
            frame_sizes: vec![60, 1514, 200],
        }
    }

    #[test]
    fn frames_have_the_requested_sizes_and_cycle_flows() {
        for l4 in [L4::Udp, L4::TcpAck] {
            let frames = template(l4).frames(6);
            let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
            assert_eq!(sizes, [60, 1514, 200, 60, 1514, 200], "{l4:?}");
            let ports: Vec<u16> = frames
                .iter()
                .map(
                    |f| match SlicedPacket::from_ethernet(f).unwrap().transport.unwrap() {
                        TransportSlice::Udp(u) => u.source_port(),
                        TransportSlice::Tcp(t) => t.source_port(),
                        other => panic!("unexpected {other:?}"),
                    },
                )
                .collect();
            assert_eq!(ports, [10_000, 10_001, 10_002, 10_000, 10_001, 10_002]);
        }
    }

    #[test]
    fn frames_carry_valid_ipv4_checksums() {
        for f in template(L4::Udp).frames(3) {
            let p = SlicedPacket::from_ethernet(&f).unwrap();
            let Some(NetSlice::Ipv4(ip)) = p.net else {
                panic!("not IPv4")
            };
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            assert_eq!(h.destination, [10, 0, 0, 100]);
        }
    }
}
