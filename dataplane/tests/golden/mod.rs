//! Golden packet tables (Katran style) for the packet core, shared by `tests/golden.rs` and, via
//! `#[path = "../tests/golden/mod.rs"]`, by benchmarks and the fuzz seed corpus.
//!
//! For each forwarding mode, [`sequence`] returns a lab [`Snapshot`] and an ordered list of
//! [`Case`]s: input frame, interface, time, expected verdict and, for `Transmit`, the expected
//! output frame byte for byte. Cases build on earlier ones (a reply needs the SYN's session), so
//! a sequence runs through ONE `Forwarder` built with [`config`], in order.
//!
//! Independence: every frame, input or expected, is built with `etherparse` (which computes the
//! IPv4/TCP/UDP/ICMP checksums itself) from the addresses, ports, TTL and MACs a correct LVS
//! would put there; ARP frames and the few deliberately broken frames are made by hand, with
//! [`inet_checksum`] (a plain RFC 1071 sum written here) where a checksum is needed. Nothing here
//! calls rvs's own wire code; rvs is only used for the types the tables speak in.
//!
//! The lab (every mode):
//! ```text
//!  client 192.0.2.10 --- gw 10.0.0.254 (02:..:fe) --- if0 10.0.0.1 (02:..:01) [rvs] if1 10.0.1.1 (02:..:02) --- RS 10.0.1.11..13 (02:00:00:00:01:11..13)
//!  VIP 10.0.0.100: TCP 80 and UDP 53, scheduler rr; NAT/FULLNAT map TCP 80 -> 8080;
//!  FULLNAT local address 10.0.1.200 (ports handed out from 65535 down); MTU 1500 everywhere.
//!  if0 carries VLANs (if0's MAC, tagged): 100 = if2 10.0.100.1 (client 10.0.100.10, 02:..:64:0a)
//!  and 200 = if3 10.0.2.1 (RS 10.0.2.21, 02:00:00:00:02:21); if1 has none.
//!  VIP 10.0.0.101: TCP 80, rr over 10.0.1.11 (if1) and 10.0.2.21 (if3, VLAN 200).
//! ```
//!
//! What the tables pin down (IPVS's behaviour unless noted):
//! - NAT/FULLNAT rewrite addresses and ports with L3/L4 checksums kept right (UDP 0 stays 0, a
//!   computed 0 goes out as 0xFFFF), keep IP options, TOS, ident, DF and Ethernet padding, and
//!   decrement the TTL in both directions (rvs routes both ways; IPVS takes the client's packets
//!   in LOCAL_IN and leaves their TTL alone), so TTL 1 is dropped.
//! - DR changes the MAC addresses only (TTL 1 goes through). TUN sends the packet, padding
//!   dropped, in an IPv4 header from if1's address with the inner TTL, TOS and DF; a DF packet
//!   too big for the tunnel gets "fragmentation needed, MTU 1480" from the VIP, one without DF
//!   leaves as fragments of the outer packet. Over the MTU in every mode: DF set is answered
//!   with "fragmentation needed", DF clear is fragmented (`Lab::mtu`).
//! - ICMP errors about a tracked flow: NAT/FULLNAT rewrite the outer header like the flow's
//!   packets and the quoted packet the opposite way (its TCP/UDP checksum too, when quoted), and
//!   recompute the ICMP checksum; DR/TUN forward them to the real server by the flow's method.
//! - ARP requests and ICMP echo for VIPs and the box's addresses are answered in place.
//! - IP options (rvs's choice): LSRR and SSRR are dropped (`source_route`), RR too
//!   (`record_route`), an option length below 2 or past the header is `bad_ip_header`; router
//!   alert, timestamp and whatever follows the end of list pass untouched.
//! - VLANs: a tagged frame on a port without VLANs (`tagged_frame`) or with an id the port does
//!   not have (`unknown_vlan`) is dropped; VLAN 0 is untagged. Packets leave tagged with their
//!   output interface's id, untagged on a port (the tag added, rewritten or removed); answers
//!   built in place (ARP, echo) keep the request's tag.
//! - Headers rvs builds itself (tunnel, frag needed) carry identifications 1, 2, 3 ... per
//!   worker, in the order the tunnel handles packets (`Lab::box_ident`).
#![allow(dead_code)]

use dataplane::conn::{Addr, FullPolicy, Timeouts, PROTO_TCP, PROTO_UDP};
use dataplane::forward::ForwarderConfig;
use dataplane::sched::{SchedParams, SchedulerKind};
use dataplane::snapshot::{DestConfig, Interface, Method, ServiceConfig, ServiceKey, Snapshot};
use dataplane::verdict::{DropReason, Verdict};
use dataplane::wire::ethernet::MacAddr;
use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv4Options, PacketBuilder,
    TcpOptionElement,
};
use std::sync::Arc;

/// One row of a table.
#[derive(Debug, Clone)]
pub struct Case {
    /// `mode/what`, unique within a sequence.
    pub name: String,
    /// Interface the frame arrives on.
    pub in_if: u16,
    /// Milliseconds passed to `process` (strictly increasing within a sequence).
    pub now: u64,
    pub input: Vec<u8>,
    pub verdict: Verdict,
    /// The frame expected in the buffer after `process`, for `Transmit` and `Fragment`
    /// verdicts.
    pub output: Option<Vec<u8>>,
    /// For `Fragment`: the fragments expected on the wire, in order.
    pub fragments: Vec<Vec<u8>>,
}

/// The four forwarding modes, in table order.
pub const MODES: [Method; 4] = [Method::Nat, Method::FullNat, Method::Dr, Method::Tunnel];

pub const IF0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const IF1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const IF0_IP: [u8; 4] = [10, 0, 0, 1];
pub const IF1_IP: [u8; 4] = [10, 0, 1, 1];
/// The client-side router: every client frame comes from it.
pub const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
pub const GW_IP: [u8; 4] = [10, 0, 0, 254];
pub const CLIENT: [u8; 4] = [192, 0, 2, 10];
/// A router on the client side that reports ICMP errors.
pub const ROUTER: [u8; 4] = [198, 51, 100, 1];
pub const VIP: [u8; 4] = [10, 0, 0, 100];
pub const RS: [[u8; 4]; 3] = [[10, 0, 1, 11], [10, 0, 1, 12], [10, 0, 1, 13]];
pub const RS_MAC: [[u8; 6]; 3] = [
    [2, 0, 0, 0, 1, 0x11],
    [2, 0, 0, 0, 1, 0x12],
    [2, 0, 0, 0, 1, 0x13],
];
pub const LADDR: [u8; 4] = [10, 0, 1, 200];
/// VLAN 100 on if0 (interface 2): a client network.
pub const VLAN_CLIENTS: u16 = 100;
pub const IF2_IP: [u8; 4] = [10, 0, 100, 1];
pub const VCLIENT: [u8; 4] = [10, 0, 100, 10];
pub const VCLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0x64, 0x0a];
/// VLAN 200 on if0 (interface 3): a real-server network.
pub const VLAN_SERVERS: u16 = 200;
pub const IF3_IP: [u8; 4] = [10, 0, 2, 1];
pub const RS_VLAN: [u8; 4] = [10, 0, 2, 21];
pub const RS_VLAN_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x21];
/// The second VIP, whose servers are RS[0] (if1) and RS_VLAN (if3), in that rr order.
pub const VIP2: [u8; 4] = [10, 0, 0, 101];
pub const HTTP: u16 = 80;
pub const NAT_HTTP: u16 = 8080;
pub const DNS: u16 = 53;
pub const MTU: u16 = 1500;
/// First `now` of a sequence.
pub const START_MS: u64 = 1_000;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// IPv4 Router Alert option (RFC 2113), a 4-byte option that needs no processing.
pub const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];
/// IPv4 Timestamp option (RFC 791: type 68, length 8, pointer 5, flag 0): one empty slot.
pub const TIMESTAMP: [u8; 8] = [68, 8, 5, 0, 0, 0, 0, 0];
/// Loose and strict source route (131, 137) via 10.0.1.11, pointer 4, then end of list.
pub const LSRR: [u8; 8] = [131, 7, 4, 10, 0, 1, 11, 0];
pub const SSRR: [u8; 8] = [137, 7, 4, 10, 0, 1, 11, 0];
/// Record route (7) with one empty slot, then end of list.
pub const RECORD_ROUTE: [u8; 8] = [7, 7, 4, 0, 0, 0, 0, 0];

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03vip\x00\x00\x01\x00\x01";
const ANSWER: &[u8] =
    b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03vip\x00\x00\x01\x00\x01";

/// The engine configuration every sequence runs with.
pub fn config() -> ForwarderConfig {
    ForwarderConfig {
        worker: 0,
        workers: 1,
        capacity: 1024,
        seed: [1, 2],
        timeouts: Timeouts::default(),
        full_policy: FullPolicy::Refuse,
        exception_rates: Vec::new(),
    }
}

pub fn mode_name(method: Method) -> &'static str {
    match method {
        Method::Nat => "nat",
        Method::FullNat => "fullnat",
        Method::Dr => "dr",
        Method::Tunnel => "tun",
    }
}

/// The lab's service table with every real server forwarded by `method`.
pub fn snapshot(method: Method) -> Snapshot {
    let interfaces = vec![
        Interface {
            mac: MacAddr(IF0_MAC),
            addrs: vec![Addr::v4(IF0_IP)],
            mtu: MTU,
            port: 0,
            vlan: None,
        },
        Interface {
            mac: MacAddr(IF1_MAC),
            addrs: vec![Addr::v4(IF1_IP)],
            mtu: MTU,
            port: 1,
            vlan: None,
        },
        Interface {
            mac: MacAddr(IF0_MAC),
            addrs: vec![Addr::v4(IF2_IP)],
            mtu: MTU,
            port: 0,
            vlan: Some(VLAN_CLIENTS),
        },
        Interface {
            mac: MacAddr(IF0_MAC),
            addrs: vec![Addr::v4(IF3_IP)],
            mtu: MTU,
            port: 0,
            vlan: Some(VLAN_SERVERS),
        },
    ];
    let dest = |i: usize, id: u32, port: u16| DestConfig {
        id,
        addr: Addr::v4(RS[i]),
        port,
        weight: 1,
        method,
        upper_threshold: 0,
        lower_threshold: 0,
        mac: MacAddr(RS_MAC[i]),
        interface: 1,
    };
    let local_addrs = if method == Method::FullNat {
        vec![Addr::v4(LADDR)]
    } else {
        vec![]
    };
    let service = |vip, protocol: u8, port: u16, dests: Vec<DestConfig>| ServiceConfig {
        key: ServiceKey {
            protocol,
            vip: Addr::v4(vip),
            port,
        },
        scheduler: SchedulerKind::Rr,
        sched_params: SchedParams::default(),
        persistence_s: None,
        persistence_prefix: 32,
        dests,
        local_addrs: local_addrs.clone(),
    };
    let http_port = if method.replies_through_box() {
        NAT_HTTP
    } else {
        0
    };
    let tcp = service(
        VIP,
        PROTO_TCP,
        HTTP,
        (0..3).map(|i| dest(i, 1 + i as u32, http_port)).collect(),
    );
    let udp = service(
        VIP,
        PROTO_UDP,
        DNS,
        (0..3).map(|i| dest(i, 11 + i as u32, 0)).collect(),
    );
    let vlan_server = DestConfig {
        addr: Addr::v4(RS_VLAN),
        mac: MacAddr(RS_VLAN_MAC),
        interface: 3,
        ..dest(0, 22, http_port)
    };
    let tcp2 = service(
        VIP2,
        PROTO_TCP,
        HTTP,
        vec![dest(0, 21, http_port), vlan_server],
    );
    Snapshot::build(1, interfaces, vec![tcp, udp, tcp2]).expect("the lab snapshot is valid")
}

/// The lab snapshot and the ordered cases for `method`.
pub fn sequence(method: Method) -> (Arc<Snapshot>, Vec<Case>) {
    let mut lab = Lab::new(method);
    lab.local();
    lab.tcp_flow();
    lab.tcp_second_flow();
    lab.udp();
    lab.drops();
    lab.ttl1_syn();
    lab.vlans();
    lab.mtu();
    (Arc::new(snapshot(method)), lab.cases)
}

// ---------------------------------------------------------------------------------------------
// Frame building (etherparse)

/// An IPv4 header as the tables describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    pub options: Vec<u8>,
}

impl Ip {
    pub fn new(src: [u8; 4], dst: [u8; 4], ident: u16) -> Ip {
        Ip {
            src,
            dst,
            ttl: 64,
            tos: 0,
            ident,
            df: true,
            mf: false,
            frag_offset: 0,
            options: Vec::new(),
        }
    }

    fn header(&self) -> Ipv4Header {
        Ipv4Header {
            dscp: Ipv4Dscp::try_new(self.tos >> 2).unwrap(),
            ecn: Ipv4Ecn::try_new(self.tos & 3).unwrap(),
            identification: self.ident,
            dont_fragment: self.df,
            more_fragments: self.mf,
            fragment_offset: IpFragOffset::try_new(self.frag_offset).unwrap(),
            time_to_live: self.ttl,
            source: self.src,
            destination: self.dst,
            options: Ipv4Options::try_from(&self.options[..])
                .expect("options: a multiple of 4, at most 40"),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    /// Used when `flags` has ACK.
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub mss: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4 {
    Tcp(Tcp),
    /// `zero_checksum`: sent without a checksum (0), as IPv4 allows.
    Udp {
        sport: u16,
        dport: u16,
        zero_checksum: bool,
    },
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    /// Another IP protocol, the payload as is.
    Raw(u8),
}

impl L4 {
    fn set_sport(&mut self, port: u16) {
        match self {
            L4::Tcp(t) => t.sport = port,
            L4::Udp { sport, .. } => *sport = port,
            _ => panic!("no ports"),
        }
    }
    fn set_dport(&mut self, port: u16) {
        match self {
            L4::Tcp(t) => t.dport = port,
            L4::Udp { dport, .. } => *dport = port,
            _ => panic!("no ports"),
        }
    }
}

/// An Ethernet + IPv4 frame, built by etherparse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkt {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub ip: Ip,
    pub l4: L4,
    pub payload: Vec<u8>,
    /// Ethernet padding (zeros) up to this frame length.
    pub pad_to: usize,
}

impl Pkt {
    pub fn frame(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let ip = PacketBuilder::ethernet2(self.src_mac, self.dst_mac)
            .ip(IpHeaders::Ipv4(self.ip.header(), Default::default()));
        match &self.l4 {
            L4::Tcp(t) => {
                let mut b = ip.tcp(t.sport, t.dport, t.seq, t.window);
                if t.flags & FIN != 0 {
                    b = b.fin();
                }
                if t.flags & SYN != 0 {
                    b = b.syn();
                }
                if t.flags & RST != 0 {
                    b = b.rst();
                }
                if t.flags & PSH != 0 {
                    b = b.psh();
                }
                if t.flags & ACK != 0 {
                    b = b.ack(t.ack);
                }
                if let Some(mss) = t.mss {
                    b = b
                        .options(&[TcpOptionElement::MaximumSegmentSize(mss)])
                        .unwrap();
                }
                b.write(&mut v, &self.payload).unwrap();
            }
            L4::Udp {
                sport,
                dport,
                zero_checksum,
            } => {
                ip.udp(*sport, *dport).write(&mut v, &self.payload).unwrap();
                if *zero_checksum {
                    let at = 14 + 20 + self.ip.options.len() + 6;
                    v[at..at + 2].copy_from_slice(&[0, 0]);
                }
            }
            L4::Icmp { ty, code, rest } => ip
                .icmpv4_raw(*ty, *code, *rest)
                .write(&mut v, &self.payload)
                .unwrap(),
            L4::Raw(protocol) => ip
                .write(&mut v, IpNumber(*protocol), &self.payload)
                .unwrap(),
        }
        if v.len() < self.pad_to {
            v.resize(self.pad_to, 0);
        }
        v
    }

    /// The IP packet alone (no Ethernet header, no padding).
    pub fn ip_bytes(&self) -> Vec<u8> {
        Pkt {
            pad_to: 0,
            ..self.clone()
        }
        .frame()[14..]
            .to_vec()
    }
}

/// An IP-in-IP frame: `outer` (protocol 4) carrying the IP packet `inner`.
pub fn ipip_frame(src_mac: [u8; 6], dst_mac: [u8; 6], outer: &Ip, inner: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ip(IpHeaders::Ipv4(outer.header(), Default::default()))
        .write(&mut v, IpNumber::IPV4, inner)
        .unwrap();
    v
}

/// An Ethernet/IPv4 ARP frame, by hand (etherparse does not build ARP), padded to 60 bytes as
/// on the wire.
#[allow(clippy::too_many_arguments)]
pub fn arp_frame(
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(60);
    v.extend_from_slice(&eth_dst);
    v.extend_from_slice(&eth_src);
    v.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4]);
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(&sha);
    v.extend_from_slice(&spa);
    v.extend_from_slice(&tha);
    v.extend_from_slice(&tpa);
    v.resize(60, 0);
    v
}

// ---------------------------------------------------------------------------------------------
// Independent checksums and comparison

/// The Internet checksum (RFC 1071) of `data`: the ones' complement of the ones' complement sum
/// of its 16-bit big-endian words (an odd last byte padded with zero). A region that includes
/// its own correct checksum sums to 0.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in data.chunks(2) {
        sum += u64::from(u16::from_be_bytes([
            pair[0],
            pair.get(1).copied().unwrap_or(0),
        ]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checksum of a TCP/UDP segment with its IPv4 pseudo header.
fn l4_checksum(src: &[u8], dst: &[u8], protocol: u8, segment: &[u8]) -> u16 {
    let mut v = Vec::with_capacity(12 + segment.len());
    v.extend_from_slice(src);
    v.extend_from_slice(dst);
    v.extend_from_slice(&[0, protocol]);
    v.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    v.extend_from_slice(segment);
    inet_checksum(&v)
}

/// Verifies every checksum in `frame` (after at most one VLAN tag: IPv4 header, TCP, UDP unless 0, ICMP; inside ICMP errors
/// the quoted IPv4 header and, when quoted whole, its TCP/UDP; inside IP-in-IP, the inner packet
/// likewise) with [`inet_checksum`]. Returns how many were checked.
pub fn verify_checksums(frame: &[u8]) -> Result<usize, String> {
    if frame.len() < 14 {
        return Err("frame shorter than an Ethernet header".into());
    }
    let mut n = 0;
    let mut l2 = 14;
    if frame[12..14] == [0x81, 0x00] && frame.len() >= 18 {
        l2 = 18; // one 802.1Q tag
    }
    match u16::from_be_bytes([frame[l2 - 2], frame[l2 - 1]]) {
        0x0800 => verify_ipv4(&frame[l2..], "ip", false, &mut n)?,
        0x0806 => {}
        t => return Err(format!("unexpected ethertype {t:#06x}")),
    }
    Ok(n)
}

fn verify_ipv4(ip: &[u8], what: &str, quoted: bool, n: &mut usize) -> Result<(), String> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return Err(format!("{what}: not an IPv4 header"));
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if hl < 20 || hl > ip.len() || total < hl {
        return Err(format!("{what}: bad header or total length"));
    }
    if inet_checksum(&ip[..hl]) != 0 {
        return Err(format!(
            "{what}: bad IPv4 header checksum {:#06x}",
            u16::from_be_bytes([ip[10], ip[11]])
        ));
    }
    *n += 1;
    if total > ip.len() {
        if quoted {
            return Ok(()); // a truncated quote: its L4 checksum covers bytes that are not there
        }
        return Err(format!("{what}: total length {total} beyond the frame"));
    }
    let (src, dst, payload) = (&ip[12..16], &ip[16..20], &ip[hl..total]);
    match ip[9] {
        6 => {
            if l4_checksum(src, dst, 6, payload) != 0 {
                return Err(format!("{what}: bad TCP checksum"));
            }
            *n += 1;
        }
        17 if payload.len() >= 8 && payload[6..8] != [0, 0] => {
            if l4_checksum(src, dst, 17, payload) != 0 {
                return Err(format!("{what}: bad UDP checksum"));
            }
            *n += 1;
        }
        1 if !quoted => {
            if inet_checksum(payload) != 0 {
                return Err(format!("{what}: bad ICMP checksum"));
            }
            *n += 1;
            if payload.len() > 8 && matches!(payload[0], 3 | 4 | 5 | 11 | 12) {
                verify_ipv4(&payload[8..], &format!("{what}/icmp-quoted"), true, n)?;
            }
        }
        4 if !quoted => verify_ipv4(payload, &format!("{what}/ipip-inner"), false, n)?,
        _ => {}
    }
    Ok(())
}

/// Compares an output frame with the expected one; the error names the first differing offset
/// and the bytes around it.
pub fn compare(expected: &[u8], actual: &[u8]) -> Result<(), String> {
    let first = expected.iter().zip(actual).position(|(e, a)| e != a);
    let at = match first {
        Some(i) => i,
        None if expected.len() == actual.len() => return Ok(()),
        None => {
            return Err(format!(
            "length {} differs from expected {} (equal up to there)\n  expected {}\n  actual   {}",
            actual.len(),
            expected.len(),
            hex(expected),
            hex(actual)
        ))
        }
    };
    let (lo, hi) = (at.saturating_sub(8), at + 8);
    Err(format!(
        "first difference at byte {at} ({}): expected {:#04x}, got {:#04x}\n  expected[{lo}..] {}\n  actual  [{lo}..] {}\n  expected {}\n  actual   {}",
        region(expected, at),
        expected[at],
        actual[at],
        hex(&expected[lo..hi.min(expected.len())]),
        hex(&actual[lo..hi.min(actual.len())]),
        hex(expected),
        hex(actual)
    ))
}

/// Where offset `at` of an Ethernet + IPv4 frame falls, for failure messages.
fn region(frame: &[u8], at: usize) -> String {
    if at < 14 {
        return "ethernet".into();
    }
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return format!("l3+{}", at - 14);
    }
    let hl = usize::from(frame[14] & 0x0f) * 4;
    if at < 14 + hl {
        format!("ipv4+{}", at - 14)
    } else {
        format!("ipv4 payload+{}", at - 14 - hl)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// The tables

/// A flow of the lab: client port, VIP port, real server port, the real server it is scheduled
/// to (rr order) and, for FULLNAT, its local port.
#[derive(Debug, Clone, Copy)]
struct Flow {
    udp: bool,
    cport: u16,
    vport: u16,
    rport: u16,
    dest: usize,
    lport: u16,
}

struct Lab {
    method: Method,
    cases: Vec<Case>,
    now: u64,
    /// Idents of the packets the lab's hosts send (any value; distinct for realism).
    host_ident: u16,
    /// rvs numbers the headers it builds (tunnel, ICMP frag needed) 1, 2, 3 ...
    box_ident: u16,
}

impl Lab {
    fn new(method: Method) -> Lab {
        Lab {
            method,
            cases: Vec::new(),
            now: START_MS,
            host_ident: 0x1000,
            box_ident: 0,
        }
    }

    fn nat_like(&self) -> bool {
        self.method.replies_through_box()
    }

    fn case(
        &mut self,
        name: &str,
        in_if: u16,
        input: Vec<u8>,
        verdict: Verdict,
        output: Option<Vec<u8>>,
    ) {
        let name = format!("{}/{name}", mode_name(self.method));
        assert!(
            self.cases.iter().all(|c| c.name != name),
            "duplicate case name {name}"
        );
        self.cases.push(Case {
            name,
            in_if,
            now: self.now,
            input,
            verdict,
            output,
            fragments: Vec::new(),
        });
        self.now += 1;
    }

    /// A case whose packet, rewritten to `output`, is over the MTU of `out_if` with DF clear:
    /// it leaves in the fragments [`fragments`] makes of `output`.
    fn fragmented(&mut self, name: &str, in_if: u16, input: Vec<u8>, out_if: u16, output: Vec<u8>) {
        let verdict = Verdict::Fragment(out_if);
        let frags = fragments(&output, MTU);
        assert!(frags.len() >= 2, "{name}: not over the MTU");
        self.case(name, in_if, input, verdict, Some(output));
        self.cases.last_mut().unwrap().fragments = frags;
    }

    /// "Fragmentation needed, next-hop MTU `mtu`" for packet `p`, from `from` back to its
    /// sender, out of the interface `p` came in on (`our_mac`); ident: the box's next.
    fn frag_needed(&mut self, p: &Pkt, from: [u8; 4], mtu: u16, our_mac: [u8; 6]) -> Vec<u8> {
        self.box_ident += 1;
        Pkt {
            src_mac: our_mac,
            dst_mac: p.src_mac,
            ip: Ip {
                df: false,
                ..Ip::new(from, p.ip.src, self.box_ident)
            },
            l4: L4::Icmp {
                ty: 3,
                code: 4,
                rest: [0, 0, (mtu >> 8) as u8, mtu as u8],
            },
            payload: p.ip_bytes()[..28].to_vec(),
            pad_to: 0,
        }
        .frame()
    }

    fn tx(&mut self, name: &str, in_if: u16, input: Vec<u8>, out_if: u16, output: Vec<u8>) {
        self.case(name, in_if, input, Verdict::Transmit(out_if), Some(output));
    }

    fn drop(&mut self, name: &str, in_if: u16, input: Vec<u8>, reason: DropReason) {
        self.case(name, in_if, input, Verdict::Drop(reason), None);
    }

    fn ident(&mut self) -> u16 {
        self.host_ident = self.host_ident.wrapping_add(1);
        self.host_ident
    }

    fn flow(&self, udp: bool, cport: u16, dest: usize, lport: u16) -> Flow {
        let (vport, rport) = match (udp, self.nat_like()) {
            (true, _) => (DNS, DNS),
            (false, true) => (HTTP, NAT_HTTP),
            (false, false) => (HTTP, HTTP),
        };
        Flow {
            udp,
            cport,
            vport,
            rport,
            dest,
            lport,
        }
    }

    /// A packet of `f` from the client, as it arrives on if0.
    fn client(&mut self, l4: L4, payload: &[u8]) -> Pkt {
        let ip = Ip::new(CLIENT, VIP, self.ident());
        Pkt {
            src_mac: GW_MAC,
            dst_mac: IF0_MAC,
            ip,
            l4,
            payload: payload.to_vec(),
            pad_to: 0,
        }
    }

    fn c_tcp(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Pkt {
        let mss = (flags & SYN != 0).then_some(1460);
        let t = Tcp {
            sport: f.cport,
            dport: f.vport,
            seq,
            ack,
            flags,
            window: 64240,
            mss,
        };
        self.client(L4::Tcp(t), payload)
    }

    fn c_udp(&mut self, f: &Flow, payload: &[u8], zero_checksum: bool) -> Pkt {
        self.client(
            L4::Udp {
                sport: f.cport,
                dport: f.vport,
                zero_checksum,
            },
            payload,
        )
    }

    /// A packet of `f` from its real server, as it arrives on if1 (NAT: to the client; FULLNAT:
    /// to the local address and port).
    fn server(&mut self, f: &Flow, l4: L4, payload: &[u8]) -> Pkt {
        let to = if self.method == Method::FullNat {
            LADDR
        } else {
            CLIENT
        };
        let ip = Ip::new(rs_ip(f.dest), to, self.ident());
        Pkt {
            src_mac: rs_mac(f.dest),
            dst_mac: IF1_MAC,
            ip,
            l4,
            payload: payload.to_vec(),
            pad_to: 0,
        }
    }

    fn s_tcp(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Pkt {
        let mss = (flags & SYN != 0).then_some(1460);
        let dport = if self.method == Method::FullNat {
            f.lport
        } else {
            f.cport
        };
        let t = Tcp {
            sport: f.rport,
            dport,
            seq,
            ack,
            flags,
            window: 65160,
            mss,
        };
        self.server(f, L4::Tcp(t), payload)
    }

    fn s_udp(&mut self, f: &Flow, payload: &[u8], zero_checksum: bool) -> Pkt {
        let dport = if self.method == Method::FullNat {
            f.lport
        } else {
            f.cport
        };
        self.server(
            f,
            L4::Udp {
                sport: f.rport,
                dport,
                zero_checksum,
            },
            payload,
        )
    }

    /// Client packet `p` as it leaves towards its real server, for NAT, FULLNAT and DR (DNAT,
    /// and SNAT for FULLNAT, TTL - 1; DR: only the MACs change). Padding stays (in place).
    fn at_server(&self, p: &Pkt, f: &Flow) -> Pkt {
        let mut q = p.clone();
        q.src_mac = if f.dest == VLAN_DEST {
            IF0_MAC
        } else {
            IF1_MAC
        };
        q.dst_mac = rs_mac(f.dest);
        match self.method {
            Method::Nat | Method::FullNat => {
                q.ip.dst = rs_ip(f.dest);
                q.ip.ttl -= 1;
                q.l4.set_dport(f.rport);
                if self.method == Method::FullNat {
                    q.ip.src = LADDR;
                    q.l4.set_sport(f.lport);
                }
            }
            Method::Dr | Method::Tunnel => {}
        }
        q
    }

    /// The frame the box sends towards the real server for client packet `p`.
    fn sent_to_server(&mut self, p: &Pkt, f: &Flow) -> Vec<u8> {
        match self.method {
            Method::Tunnel => self.encap(p, f.dest),
            _ => self.at_server(p, f).frame(),
        }
    }

    /// IP-in-IP as IPVS builds it: outer TTL, TOS and DF copied from the inner header, from
    /// if1's address to the real server; padding of the original frame dropped.
    fn encap(&mut self, p: &Pkt, dest: usize) -> Vec<u8> {
        self.box_ident += 1;
        let outer = Ip {
            ttl: p.ip.ttl,
            tos: p.ip.tos,
            df: p.ip.df,
            ..Ip::new(IF1_IP, rs_ip(dest), self.box_ident)
        };
        if dest == VLAN_DEST {
            let outer = Ip {
                src: IF3_IP,
                ..outer
            };
            return ipip_frame(IF0_MAC, RS_VLAN_MAC, &outer, &p.ip_bytes());
        }
        ipip_frame(IF1_MAC, rs_mac(dest), &outer, &p.ip_bytes())
    }

    /// Server packet `p` as it leaves towards the client (NAT/FULLNAT): source VIP:vport,
    /// FULLNAT also destination client:cport, TTL - 1.
    fn at_client(&self, p: &Pkt, f: &Flow) -> Pkt {
        let mut q = p.clone();
        q.src_mac = IF0_MAC;
        q.dst_mac = GW_MAC;
        q.ip.src = VIP;
        q.ip.ttl -= 1;
        q.l4.set_sport(f.vport);
        if self.method == Method::FullNat {
            q.ip.dst = CLIENT;
            q.l4.set_dport(f.cport);
        }
        q
    }

    /// The box's ICMP time exceeded (11/0) about `p`, as Linux's `icmp_send` builds it: from
    /// `from` to `p`'s source, back to the MAC it came from out of the port it came in on, TTL
    /// 64, DF clear, TOS `(tos & 0x1e) | 0xc0`, the box's next header number, quoting `p` from
    /// its IP header on so that the message is at most 576 bytes.
    fn time_exceeded(&mut self, p: &Pkt, from: [u8; 4]) -> Vec<u8> {
        self.box_ident += 1;
        let ip = p.ip_bytes();
        let quote = ip[..ip.len().min(576 - 20 - 8)].to_vec();
        Pkt {
            src_mac: p.dst_mac,
            dst_mac: p.src_mac,
            ip: Ip {
                df: false,
                tos: (p.ip.tos & 0x1e) | 0xc0,
                ..Ip::new(from, p.ip.src, self.box_ident)
            },
            l4: L4::Icmp {
                ty: 11,
                code: 0,
                rest: [0; 4],
            },
            payload: quote,
            pad_to: 0,
        }
        .frame()
    }

    fn send_in(&mut self, name: &str, p: Pkt, f: &Flow) {
        let out = self.sent_to_server(&p, f);
        self.tx(name, 0, p.frame(), 1, out);
    }

    fn send_out(&mut self, name: &str, p: Pkt, f: &Flow) {
        let out = self.at_client(&p, f).frame();
        self.tx(name, 1, p.frame(), 0, out);
    }

    /// ARP and ICMP echo for the box's own addresses and VIPs.
    fn local(&mut self) {
        let bcast = [0xff; 6];
        let req = arp_frame(GW_MAC, bcast, 1, GW_MAC, GW_IP, [0; 6], VIP);
        let rep = arp_frame(IF0_MAC, GW_MAC, 2, IF0_MAC, VIP, GW_MAC, GW_IP);
        self.tx("arp-request-vip", 0, req, 0, rep);
        let req = arp_frame(GW_MAC, bcast, 1, GW_MAC, GW_IP, [0; 6], IF0_IP);
        let rep = arp_frame(IF0_MAC, GW_MAC, 2, IF0_MAC, IF0_IP, GW_MAC, GW_IP);
        self.tx("arp-request-if0", 0, req, 0, rep);
        let req = arp_frame(RS_MAC[0], bcast, 1, RS_MAC[0], RS[0], [0; 6], IF1_IP);
        let rep = arp_frame(IF1_MAC, RS_MAC[0], 2, IF1_MAC, IF1_IP, RS_MAC[0], RS[0]);
        self.tx("arp-request-if1", 1, req, 1, rep);
        if self.method == Method::FullNat {
            let req = arp_frame(RS_MAC[0], bcast, 1, RS_MAC[0], RS[0], [0; 6], LADDR);
            let rep = arp_frame(IF1_MAC, RS_MAC[0], 2, IF1_MAC, LADDR, RS_MAC[0], RS[0]);
            self.tx("arp-request-laddr", 1, req, 1, rep);
        }
        // The same over 802.1Q, on the VLAN of clients: answered in place, tagged.
        let req = arp_frame(VCLIENT_MAC, bcast, 1, VCLIENT_MAC, VCLIENT, [0; 6], VIP);
        let rep = arp_frame(IF0_MAC, VCLIENT_MAC, 2, IF0_MAC, VIP, VCLIENT_MAC, VCLIENT);
        let t = tag(VLAN_CLIENTS);
        self.tx("arp-request-vip-vlan", 0, vlan(&req, t), 0, vlan(&rep, t));
        let req = arp_frame(VCLIENT_MAC, bcast, 1, VCLIENT_MAC, VCLIENT, [0; 6], IF2_IP);
        let rep = arp_frame(
            IF0_MAC,
            VCLIENT_MAC,
            2,
            IF0_MAC,
            IF2_IP,
            VCLIENT_MAC,
            VCLIENT,
        );
        self.tx("arp-request-if2-vlan", 0, vlan(&req, t), 0, vlan(&rep, t));
        // A VLAN's address is not the port's: untagged, nobody answers for it.
        self.drop("arp-request-if2-untagged", 0, req, DropReason::ArpIgnored);
        // No VLAN on if1, and no VLAN 10 on if0: a tagged frame is refused, however valid.
        let req = arp_frame(RS_MAC[0], bcast, 1, RS_MAC[0], RS[0], [0; 6], IF1_IP);
        let tagged = vlan(&req, tag(VLAN_CLIENTS));
        self.drop(
            "arp-tagged-on-untagged-port",
            1,
            tagged,
            DropReason::TaggedFrame,
        );
        let req = arp_frame(GW_MAC, bcast, 1, GW_MAC, GW_IP, [0; 6], VIP);
        let tagged = vlan(&req, tag(10));
        self.drop("arp-unknown-vlan", 0, tagged, DropReason::UnknownVlan);
        let req = arp_frame(GW_MAC, bcast, 1, GW_MAC, GW_IP, [0; 6], [10, 0, 0, 77]);
        self.drop("arp-request-other", 0, req, DropReason::ArpIgnored);
        let rep = arp_frame(GW_MAC, IF0_MAC, 2, GW_MAC, GW_IP, IF0_MAC, IF0_IP);
        self.case("arp-reply-to-control", 0, rep, Verdict::Local, None);
        let rep = arp_frame(GW_MAC, IF0_MAC, 2, GW_MAC, GW_IP, IF0_MAC, [10, 0, 0, 77]);
        self.drop("arp-reply-other", 0, rep, DropReason::ArpIgnored);
        let announce = arp_frame(GW_MAC, bcast, 1, GW_MAC, GW_IP, [0; 6], GW_IP);
        self.case(
            "arp-announcement-to-control",
            0,
            announce,
            Verdict::Local,
            None,
        );

        // Echo to the VIP: answered from the VIP with TTL 64, identification and flags kept.
        let payload = b"abcdefghijklmnopqrstuvwabcdefghi";
        let echo = [0x4a, 0x11, 0x00, 0x07];
        let ip = Ip {
            ttl: 60,
            df: false,
            ..Ip::new(CLIENT, VIP, 0x2222)
        };
        let req = Pkt {
            src_mac: GW_MAC,
            dst_mac: IF0_MAC,
            ip,
            l4: L4::Icmp {
                ty: 8,
                code: 0,
                rest: echo,
            },
            payload: payload.to_vec(),
            pad_to: 0,
        };
        let rep = Pkt {
            src_mac: IF0_MAC,
            dst_mac: GW_MAC,
            ip: Ip {
                ttl: 64,
                df: false,
                ..Ip::new(VIP, CLIENT, 0x2222)
            },
            l4: L4::Icmp {
                ty: 0,
                code: 0,
                rest: echo,
            },
            ..req.clone()
        };
        self.tx("icmp-echo-vip", 0, req.frame(), 0, rep.frame());
        let ip = Ip::new(RS[1], IF1_IP, 0x3333);
        let req = Pkt {
            src_mac: RS_MAC[1],
            dst_mac: IF1_MAC,
            ip,
            l4: L4::Icmp {
                ty: 8,
                code: 0,
                rest: echo,
            },
            payload: payload.to_vec(),
            pad_to: 0,
        };
        let rep = Pkt {
            src_mac: IF1_MAC,
            dst_mac: RS_MAC[1],
            ip: Ip::new(IF1_IP, RS[1], 0x3333),
            l4: L4::Icmp {
                ty: 0,
                code: 0,
                rest: echo,
            },
            ..req.clone()
        };
        self.tx("icmp-echo-if1", 1, req.frame(), 1, rep.frame());
        let req = Pkt {
            ip: Ip::new(CLIENT, [10, 0, 0, 200], 0x4444),
            ..req
        };
        let req = Pkt {
            src_mac: GW_MAC,
            dst_mac: IF0_MAC,
            ..req
        };
        self.drop("icmp-echo-other", 0, req.frame(), DropReason::NotForUs);
    }

    /// One TCP connection through the box, client port 40000, to the first real server.
    fn tcp_flow(&mut self) {
        let f = self.flow(false, 40000, 0, 65535);
        let nat_like = self.nat_like();
        let c_isn = 1000u32;
        let s_isn = 5000u32;
        let req_end = c_isn + 1 + REQUEST.len() as u32;

        let syn = self.c_tcp(&f, SYN, c_isn, 0, &[]);
        self.send_in("tcp-syn", syn.clone(), &f);
        // A retransmitted SYN hits the session: same server (and local port), not rescheduled.
        let again = Pkt {
            ip: Ip {
                ident: self.ident(),
                ..syn.ip.clone()
            },
            ..syn
        };
        self.send_in("tcp-syn-retransmit", again, &f);
        if nat_like {
            let p = self.s_tcp(&f, SYN | ACK, s_isn, c_isn + 1, &[]);
            self.send_out("tcp-synack-reply", p, &f);
        }
        let mut ack = self.c_tcp(&f, ACK, c_isn + 1, s_isn + 1, &[]);
        ack.pad_to = 60; // a minimum-size frame: NAT/FULLNAT/DR keep the padding, TUN drops it
        self.send_in("tcp-ack-padded", ack, &f);
        let data = self.c_tcp(&f, ACK | PSH, c_isn + 1, s_isn + 1, REQUEST);
        self.send_in("tcp-data", data.clone(), &f);
        let reply = if nat_like {
            let p = self.s_tcp(&f, ACK | PSH, s_isn + 1, req_end, RESPONSE);
            self.send_out("tcp-data-reply", p.clone(), &f);
            p
        } else {
            let p = self.c_tcp(&f, ACK | PSH, req_end, s_isn + 1, b"more data");
            self.send_in("tcp-data-2", p, &f);
            // The real server's answer goes straight to the client with the VIP as source.
            let t = Tcp {
                sport: HTTP,
                dport: f.cport,
                seq: s_isn + 1,
                ack: req_end,
                flags: ACK | PSH,
                window: 65160,
                mss: None,
            };
            Pkt {
                src_mac: RS_MAC[0],
                dst_mac: GW_MAC,
                ip: Ip::new(VIP, CLIENT, 0x5555),
                l4: L4::Tcp(t),
                payload: RESPONSE.to_vec(),
                pad_to: 0,
            }
        };
        let mut opts = self.c_tcp(&f, ACK, req_end, s_isn + 1, b"opt");
        opts.ip.options = ROUTER_ALERT.to_vec();
        self.send_in("tcp-ip-options", opts.clone(), &f);
        // The longest header: 40 bytes of options (NOPs, then end of list).
        let mut max = self.c_tcp(&f, ACK, req_end, s_isn + 1, b"opt");
        max.ip.options = [[1u8; 36].as_slice(), &[0; 4]].concat();
        self.send_in("tcp-ip-options-max", max, &f);
        // A timestamp option (flag 0, one empty slot) passes untouched, both ways.
        let mut ts = self.c_tcp(&f, ACK, req_end, s_isn + 1, b"ts");
        ts.ip.options = TIMESTAMP.to_vec();
        self.send_in("tcp-ip-option-timestamp", ts, &f);
        if nat_like {
            let mut p = self.s_tcp(&f, ACK, s_isn + 1, req_end, &[]);
            p.ip.options = TIMESTAMP.to_vec();
            self.send_out("tcp-ip-option-timestamp-reply", p, &f);
        }
        // NOP, end of list, then bytes that would be a malformed source route: padding, since
        // nothing after the end of list is an option; passed untouched.
        let mut end = self.c_tcp(&f, ACK, req_end, s_isn + 1, b"end");
        end.ip.options = vec![1, 0, 131, 7];
        self.send_in("tcp-ip-options-after-end", end, &f);
        if nat_like {
            // The server refuses it (admin prohibited), quoting it whole, options included.
            self.server_error("icmp-error-quoting-options", &f, &opts, 13);
        }
        // DSCP EF with ECN CE: kept by every method (TUN copies the byte to the outer header).
        let mut tos = self.c_tcp(&f, ACK, req_end, s_isn + 1, &[]);
        tos.ip.tos = 0xb8 | 0x03;
        self.send_in("tcp-dscp-ecn", tos, &f);
        let full = self.c_tcp(&f, ACK, req_end + 3, s_isn + 1, &[b'x'; 1440]); // IP total 1480
        self.send_in("tcp-data-1480", full, &f);
        if self.method == Method::Tunnel {
            self.tunnel_mtu(&f, req_end + 3 + 1440, s_isn + 1);
        }
        self.icmp_errors(&f, &data, &reply);

        let mut ttl1 = self.c_tcp(&f, ACK, req_end + 3 + 1440, s_isn + 1, b"ttl");
        ttl1.ip.ttl = 1;
        if nat_like {
            // NAT and FULLNAT route (TTL - 1): a packet that would leave with TTL 0 is answered
            // with ICMP time exceeded from the address it was sent to, the VIP; its DSCP is
            // kept under the precedence Linux gives its errors.
            ttl1.ip.tos = 0xb8 | 0x03;
            let out = self.time_exceeded(&ttl1, VIP);
            self.tx("tcp-ttl1", 0, ttl1.frame(), 0, out);
            // A full-size one is quoted up to 576 bytes in all; padding goes with the rest.
            let mut big = self.c_tcp(&f, ACK, req_end + 3 + 1440, s_isn + 1, &[b'z'; 1440]);
            big.ip.ttl = 1;
            let out = self.time_exceeded(&big, VIP);
            assert_eq!(out.len(), 14 + 576);
            self.tx("tcp-ttl1-1480", 0, big.frame(), 0, out);
            // A reply: NAT's goes to the client, so the error comes from the box's address on
            // the port it came in on; FULLNAT's goes to the local address, which answers.
            let s_seq = s_isn + 1 + RESPONSE.len() as u32;
            let mut late = self.s_tcp(&f, ACK, s_seq, req_end + 3, &[]);
            late.ip.ttl = 1;
            late.pad_to = 60;
            let from = match self.method {
                Method::FullNat => LADDR,
                _ => IF1_IP,
            };
            let out = self.time_exceeded(&late, from);
            self.tx("tcp-reply-ttl1", 1, late.frame(), 1, out);
            // Over a configured VLAN the answer keeps the tag.
            let t = tag(VLAN_CLIENTS);
            let out = vlan(&self.time_exceeded(&ttl1, VIP), t);
            self.tx("tcp-ttl1-vlan", 0, vlan(&ttl1.frame(), t), 0, out);
            // Sent to the box's MAC only: a broadcast one is not answered.
            let mut bcast = ttl1.clone();
            bcast.dst_mac = [0xff; 6];
            self.drop(
                "tcp-ttl1-broadcast",
                0,
                bcast.frame(),
                DropReason::TtlExpired,
            );
        } else {
            // IPVS takes the VIP's packets in LOCAL_IN: DR sends them on unchanged, TUN copies
            // the TTL into the outer header.
            self.send_in("tcp-ttl1", ttl1, &f);
        }
        let seq = req_end + 3 + 1440 + 3;
        let fin = self.c_tcp(&f, FIN | ACK, seq, s_isn + 1, &[]);
        self.send_in("tcp-fin", fin, &f);
        if nat_like {
            let s_seq = s_isn + 1 + RESPONSE.len() as u32;
            let p = self.s_tcp(&f, FIN | ACK, s_seq, seq + 1, &[]);
            self.send_out("tcp-fin-reply", p, &f);
            let p = self.s_tcp(&f, RST | ACK, s_seq + 1, seq + 1, &[]);
            self.send_out("tcp-rst-reply", p, &f);
        } else {
            let p = self.c_tcp(&f, RST, seq + 1, 0, &[]);
            self.send_in("tcp-rst", p, &f);
        }
    }

    /// TUN: the tunnel adds 20 bytes; a 1500-byte packet with DF gets "fragmentation needed,
    /// MTU 1480" from the VIP; without DF it is dropped (rvs does not fragment).
    fn tunnel_mtu(&mut self, f: &Flow, seq: u32, ack: u32) {
        let big = self.c_tcp(f, ACK | PSH, seq, ack, &[b'y'; 1460]);
        assert_eq!(big.ip_bytes().len(), 1500);
        self.box_ident += 1;
        let quote = big.ip_bytes()[..28].to_vec();
        let icmp = Pkt {
            src_mac: IF0_MAC,
            dst_mac: GW_MAC,
            ip: Ip {
                df: false,
                ..Ip::new(VIP, CLIENT, self.box_ident)
            },
            l4: L4::Icmp {
                ty: 3,
                code: 4,
                rest: [0, 0, (1480u16 >> 8) as u8, 1480u16 as u8],
            },
            payload: quote,
            pad_to: 0,
        };
        self.tx("tun-df-too-big", 0, big.frame(), 0, icmp.frame());
        let mut big = self.c_tcp(f, ACK | PSH, seq, ack, &[b'y'; 1460]);
        big.ip.df = false;
        let out = self.encap(&big, f.dest);
        self.fragmented("tun-too-big-no-df", 0, big.frame(), 1, out);
    }

    /// Packets over the MTU (1500) of the interface they leave by, on a new UDP flow (1600 IP
    /// bytes; the input port's MTU allowed them): with DF set, "fragmentation needed" before any
    /// rewrite, from the VIP to the client, or to a server from the destination if the box owns
    /// it (FULLNAT's local address), else the receiving interface's address (NAT); with DF
    /// clear, rewritten and fragmented. TUN: the tunnel leaves 1480 (its DF cases: `tunnel_mtu`).
    fn mtu(&mut self) {
        let f = self.flow(true, 5355, 2, 65527);
        let payload = vec![b'm'; 1572];
        let mut q = self.c_udp(&f, &payload, false);
        q.ip.df = false;
        let out = self.sent_to_server(&q, &f);
        self.fragmented("udp-oversize-fragmented", 0, q.frame(), 1, out);
        let q = self.c_udp(&f, &payload, false);
        let mtu = if self.method == Method::Tunnel {
            1480
        } else {
            MTU
        };
        let icmp = self.frag_needed(&q, VIP, mtu, IF0_MAC);
        self.tx("udp-oversize-df", 0, q.frame(), 0, icmp);
        // The VLAN client's connection to the server on VLAN 200 (see `vlans`): fragments
        // tagged 200 out of port 0, each with the frame's header.
        let v = self.flow(false, 42002, VLAN_DEST, 65530);
        let mut p = self.v_tcp(&v, ACK | PSH, 201, 701, &payload);
        p.ip.df = false;
        let out = vlan(&self.sent_to_server(&p, &v), tag(VLAN_SERVERS));
        let input = vlan(&p.frame(), tag(VLAN_CLIENTS));
        self.fragmented("vlan-oversize-fragmented", 0, input, 3, out);
        if !self.nat_like() {
            return;
        }
        let mut a = self.s_udp(&f, &payload, false);
        a.ip.df = false;
        let out = self.at_client(&a, &f).frame();
        self.fragmented("udp-oversize-reply-fragmented", 1, a.frame(), 0, out);
        let a = self.s_udp(&f, &payload, false);
        let from = if self.method == Method::FullNat {
            LADDR
        } else {
            IF1_IP
        };
        let icmp = self.frag_needed(&a, from, MTU, IF1_MAC);
        self.tx("udp-oversize-reply-df", 1, a.frame(), 1, icmp);
    }

    /// ICMP errors about the flow. NAT/FULLNAT: from the real server about a client packet
    /// (translated back to the client, quote included) and from the client side about a reply
    /// (translated towards the server). DR/TUN: from the client side about a reply, which went
    /// out with the VIP as source; it goes to the real server by the flow's method.
    fn icmp_errors(&mut self, f: &Flow, data: &Pkt, reply: &Pkt) {
        let frag_needed_1400 = L4::Icmp {
            ty: 3,
            code: 4,
            rest: [0, 0, 0x05, 0x78],
        };
        if self.nat_like() {
            // The server quotes what it received (Linux quotes the whole small packet); the
            // client gets back its own packet as it arrived there (TTL - 1).
            let at_rs = self.at_server(data, f);
            let mut err = self.server(f, frag_needed_1400.clone(), &at_rs.ip_bytes());
            err.ip.df = false;
            let mut seen = data.clone();
            seen.ip.ttl -= 1;
            let out = Pkt {
                src_mac: IF0_MAC,
                dst_mac: GW_MAC,
                ip: Ip {
                    src: VIP,
                    dst: CLIENT,
                    ttl: 63,
                    ..err.ip.clone()
                },
                payload: seen.ip_bytes(),
                ..err.clone()
            };
            self.tx("icmp-error-from-server", 1, err.frame(), 0, out.frame());
            // Routed like the flow, so it cannot leave with TTL 0 either.
            err.ip.ttl = 1;
            self.drop("icmp-error-ttl1", 1, err.frame(), DropReason::TtlExpired);

            // A router on the client side quotes the IP header and 8 bytes of a reply.
            let at_client = self.at_client(reply, f);
            let quote = at_client.ip_bytes()[..28].to_vec();
            let ip = Ip {
                df: false,
                ..Ip::new(ROUTER, VIP, self.ident())
            };
            let err = Pkt {
                src_mac: GW_MAC,
                dst_mac: IF0_MAC,
                ip,
                l4: L4::Icmp {
                    ty: 3,
                    code: 1,
                    rest: [0; 4],
                },
                payload: quote,
                pad_to: 0,
            };
            let mut orig = reply.clone();
            orig.ip.ttl -= 1;
            let src = if self.method == Method::FullNat {
                LADDR
            } else {
                ROUTER
            };
            let out = Pkt {
                src_mac: IF1_MAC,
                dst_mac: RS_MAC[f.dest],
                ip: Ip {
                    src,
                    dst: RS[f.dest],
                    ttl: 63,
                    ..err.ip.clone()
                },
                payload: orig.ip_bytes()[..28].to_vec(),
                ..err.clone()
            };
            self.tx("icmp-error-from-client", 0, err.frame(), 1, out.frame());
        } else {
            let quote = reply.ip_bytes()[..28].to_vec();
            let ip = Ip {
                df: false,
                ..Ip::new(ROUTER, VIP, self.ident())
            };
            let err = Pkt {
                src_mac: GW_MAC,
                dst_mac: IF0_MAC,
                ip,
                l4: frag_needed_1400,
                payload: quote,
                pad_to: 0,
            };
            let out = match self.method {
                Method::Tunnel => self.encap(&err, f.dest),
                _ => Pkt {
                    src_mac: IF1_MAC,
                    dst_mac: RS_MAC[f.dest],
                    ..err.clone()
                }
                .frame(),
            };
            self.tx("icmp-error-from-client", 0, err.frame(), 1, out);
        }
    }

    /// NAT/FULLNAT: the real server sends destination unreachable `code` about client packet
    /// `p` of `f`, quoting all of it as it arrived there; the client gets its own packet back
    /// (as it left the box: TTL - 1), from the VIP.
    fn server_error(&mut self, name: &str, f: &Flow, p: &Pkt, code: u8) {
        let at_rs = self.at_server(p, f);
        let mut err = self.server(
            f,
            L4::Icmp {
                ty: 3,
                code,
                rest: [0; 4],
            },
            &at_rs.ip_bytes(),
        );
        err.ip.df = false;
        let mut seen = p.clone();
        seen.ip.ttl -= 1;
        let out = Pkt {
            src_mac: IF0_MAC,
            dst_mac: GW_MAC,
            ip: Ip {
                src: VIP,
                dst: CLIENT,
                ttl: 63,
                ..err.ip.clone()
            },
            payload: seen.ip_bytes(),
            ..err.clone()
        };
        self.tx(name, 1, err.frame(), 0, out.frame());
    }

    /// A second connection goes to the next server (rr) and is reset by the client.
    fn tcp_second_flow(&mut self) {
        let f = self.flow(false, 40001, 1, 65534);
        let syn = self.c_tcp(&f, SYN, 7000, 0, &[]);
        self.send_in("tcp-syn-rr", syn, &f);
        let rst = self.c_tcp(&f, RST, 7001, 0, &[]);
        self.send_in("tcp-rst-client", rst, &f);
    }

    fn udp(&mut self) {
        let f = self.flow(true, 5353, 0, 65533);
        let q = self.c_udp(&f, QUERY, false);
        self.send_in("udp-query", q.clone(), &f);
        if self.nat_like() {
            let a = self.s_udp(&f, ANSWER, false);
            self.send_out("udp-reply", a, &f);
            // Port unreachable from the server, quoting the whole datagram it got: the client
            // gets its own datagram back, UDP checksum included.
            self.server_error("icmp-port-unreachable-udp", &f, &q, 3);
        }
        // A translated checksum that computes to 0 goes out as 0xFFFF (0 means "none"): the
        // first two payload bytes are chosen so that the translated datagram sums to 0xFFFF.
        let mut q = self.c_udp(&f, &[0, 0, b'f', b'f'], false);
        let word = udp_sum_word(&self.at_server(&q, &f));
        q.payload[..2].copy_from_slice(&word.to_be_bytes());
        let out = self.at_server(&q, &f).frame();
        assert!(self.method == Method::Tunnel || out[14 + 20 + 6..14 + 20 + 8] == [0xff, 0xff]);
        self.send_in("udp-checksum-ffff", q, &f);
        if self.nat_like() {
            let mut a = self.s_udp(&f, &[0, 0, b'f', b'f'], false);
            let word = udp_sum_word(&self.at_client(&a, &f));
            a.payload[..2].copy_from_slice(&word.to_be_bytes());
            assert_eq!(
                self.at_client(&a, &f).frame()[14 + 20 + 6..14 + 20 + 8],
                [0xff, 0xff]
            );
            self.send_out("udp-checksum-ffff-reply", a, &f);
        }
        // A datagram without checksum keeps checksum 0 (the next server, by rr).
        let f = self.flow(true, 5354, 1, 65532);
        let q = self.c_udp(&f, QUERY, true);
        self.send_in("udp-zero-checksum", q, &f);
        if self.nat_like() {
            let a = self.s_udp(&f, ANSWER, true);
            self.send_out("udp-zero-checksum-reply", a, &f);
        }
    }

    /// Packets that end in a drop, whatever the mode.
    fn drops(&mut self) {
        let f = self.flow(false, 41000, 0, 0);
        let syn = self.c_tcp(&f, SYN, 1, 0, &[]);
        let other = Pkt {
            ip: Ip {
                dst: [10, 0, 0, 200],
                ..syn.ip.clone()
            },
            ..syn.clone()
        };
        self.drop("not-for-us", 0, other.frame(), DropReason::NotForUs);
        let mut elsewhere = syn.clone();
        elsewhere.dst_mac = [0x02, 0, 0, 0, 0x77, 0x77];
        self.drop(
            "syn-for-another-mac",
            0,
            elsewhere.frame(),
            DropReason::NotOurMac,
        );
        let mut p81 = syn.clone();
        p81.l4 = L4::Tcp(Tcp {
            dport: 81,
            ..tcp_of(&syn)
        });
        self.drop("vip-no-service", 0, p81.frame(), DropReason::NoService);
        let ack = self.c_tcp(&f, ACK, 1, 1, b"late");
        self.drop("tcp-ack-no-session", 0, ack.frame(), DropReason::NoSession);
        let synack = self.c_tcp(&f, SYN | ACK, 1, 1, &[]);
        self.drop(
            "tcp-synack-no-session",
            0,
            synack.frame(),
            DropReason::NoSession,
        );
        match self.method {
            Method::FullNat => {
                let g = self.flow(false, 41000, 0, 40000);
                let p = self.s_tcp(&g, ACK, 1, 1, &[]);
                self.drop("laddr-no-session", 1, p.frame(), DropReason::NoSession);
            }
            Method::Nat => {
                let p = self.s_tcp(&f, ACK, 1, 1, &[]);
                self.drop(
                    "server-packet-no-session",
                    1,
                    p.frame(),
                    DropReason::NotForUs,
                );
            }
            _ => {}
        }

        // Fragments not to a service (no VIP, local address or NAT server) are dropped; those
        // to a service are the reassembler's (tests/reassembly.rs).
        let mut frag = self.c_tcp(&f, ACK, 1, 1, &[b'f'; 64]);
        frag.ip.df = false;
        frag.ip.mf = true;
        frag.ip.dst = [10, 0, 0, 200];
        self.drop("fragment-first", 0, frag.frame(), DropReason::Fragment);
        let later = Pkt {
            ip: Ip {
                mf: false,
                frag_offset: 185,
                ..frag.ip.clone()
            },
            l4: L4::Raw(6),
            ..frag.clone()
        };
        self.drop("fragment-last", 0, later.frame(), DropReason::Fragment);

        // Options that ask routers to follow or record the path: dropped, each by its reason.
        let with_options = |options: &[u8]| {
            let mut p = syn.clone();
            p.ip.options = options.to_vec();
            p.frame()
        };
        let source_route = DropReason::SourceRoute;
        self.drop("ip-option-lsrr", 0, with_options(&LSRR), source_route);
        self.drop("ip-option-ssrr", 0, with_options(&SSRR), source_route);
        let after_others = [&[1][..], &TIMESTAMP, &SSRR[..7]].concat();
        self.drop(
            "ip-option-ssrr-after-nop-timestamp",
            0,
            with_options(&after_others),
            source_route,
        );
        let rr = with_options(&RECORD_ROUTE);
        self.drop("ip-option-rr", 0, rr, DropReason::RecordRoute);
        // Option lengths below 2 or past the header's end.
        let bad_header = DropReason::BadIpHeader;
        let short = with_options(&[ROUTER_ALERT[0], 1, 0, 0]);
        self.drop("ip-option-length-1", 0, short, bad_header);
        let long = with_options(&[TIMESTAMP[0], 12, 5, 0, 0, 0, 0, 0]);
        self.drop("ip-option-length-past-header", 0, long, bad_header);

        let good = self.c_tcp(&f, ACK, 1, 1, b"payload").frame();
        self.drop(
            "truncated-ethernet",
            0,
            good[..10].to_vec(),
            DropReason::Truncated,
        );
        self.drop(
            "truncated-ip-header",
            0,
            good[..14 + 12].to_vec(),
            DropReason::Truncated,
        );
        self.drop(
            "truncated-ip-total-length",
            0,
            good[..good.len() - 3].to_vec(),
            DropReason::Truncated,
        );
        let mut bad = good.clone();
        bad[14] = 0x44; // IHL 4
        fix_ip_checksum(&mut bad);
        self.drop("bad-ihl", 0, bad, DropReason::BadIpHeader);
        let mut bad = good.clone();
        bad[16..18].copy_from_slice(&19u16.to_be_bytes());
        fix_ip_checksum(&mut bad);
        self.drop("bad-total-length", 0, bad, DropReason::BadIpHeader);
        let mut bad = good.clone();
        bad[14] = 0x65; // version 6 in an IPv4 frame
        fix_ip_checksum(&mut bad);
        self.drop("bad-version", 0, bad, DropReason::BadIpHeader);
        let mut bad = good.clone();
        bad[24] ^= 0x5a;
        self.drop("bad-ip-checksum", 0, bad, DropReason::BadIpChecksum);
        // IP says 30 bytes: 10 bytes of TCP header.
        let mut bad = good[..14 + 30].to_vec();
        bad[16..18].copy_from_slice(&30u16.to_be_bytes());
        fix_ip_checksum(&mut bad);
        self.drop("truncated-tcp-header", 0, bad, DropReason::BadL4Header);
        let gre = Pkt {
            l4: L4::Raw(47),
            payload: vec![0, 0, 0x08, 0x00],
            ..syn.clone()
        };
        self.drop(
            "unsupported-protocol",
            0,
            gre.frame(),
            DropReason::UnsupportedProtocol,
        );
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2(GW_MAC, IF0_MAC)
            .ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64],
                64,
            )
            .udp(5353, 53)
            .write(&mut v6, QUERY)
            .unwrap();
        self.drop("ipv6", 0, v6, DropReason::Ipv6Unsupported);
        let mut lldp = arp_frame(
            GW_MAC,
            [0x01, 0x80, 0xc2, 0, 0, 0x0e],
            1,
            GW_MAC,
            GW_IP,
            [0; 6],
            VIP,
        );
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        self.drop("not-ip", 0, lldp, DropReason::NotIp);

        // An ICMP error about a flow the box does not track.
        let unknown = self.flow(false, 41999, 0, 0);
        let t = Tcp {
            sport: HTTP,
            dport: unknown.cport,
            seq: 9,
            ack: 9,
            flags: ACK,
            window: 1000,
            mss: None,
        };
        let stray = Pkt {
            src_mac: RS_MAC[0],
            dst_mac: GW_MAC,
            ip: Ip::new(VIP, CLIENT, 1),
            l4: L4::Tcp(t),
            payload: vec![],
            pad_to: 0,
        };
        let ip = Ip {
            df: false,
            ..Ip::new(ROUTER, VIP, self.ident())
        };
        let err = Pkt {
            src_mac: GW_MAC,
            dst_mac: IF0_MAC,
            ip,
            l4: L4::Icmp {
                ty: 3,
                code: 1,
                rest: [0; 4],
            },
            payload: stray.ip_bytes()[..28].to_vec(),
            pad_to: 0,
        };
        self.drop(
            "icmp-error-unrelated",
            0,
            err.frame(),
            DropReason::IcmpUnrelated,
        );
    }

    /// A SYN with TTL 1, last: NAT/FULLNAT answer it (time exceeded from the VIP) before
    /// scheduling; DR and TUN send it on.
    fn ttl1_syn(&mut self) {
        let f = self.flow(false, 40002, 2, 65531);
        let mut syn = self.c_tcp(&f, SYN, 8000, 0, &[]);
        syn.ip.ttl = 1;
        if self.nat_like() {
            let out = self.time_exceeded(&syn, VIP);
            self.tx("tcp-syn-ttl1", 0, syn.frame(), 0, out);
        } else {
            self.send_in("tcp-syn-ttl1", syn, &f);
        }
    }
}

/// `frame` (Ethernet, 802.1Q tag kept, + IPv4 without options, DF clear) cut into fragments of
/// at most `mtu` IP bytes as RFC 791 says, headers built by etherparse: (mtu - 20) & !7 payload
/// bytes each, MF on all but the last, DF clear, the rest of the header kept.
pub fn fragments(frame: &[u8], mtu: u16) -> Vec<Vec<u8>> {
    // After the MACs and an 802.1Q tag, if any.
    let l2 = if frame[12..14] == [0x81, 0x00] {
        18
    } else {
        14
    };
    let (ip, _) = Ipv4Header::from_slice(&frame[l2..]).expect("an IPv4 frame");
    let hl = ip.header_len();
    let payload = &frame[l2 + hl..l2 + usize::from(ip.total_len)];
    let chunk = (usize::from(mtu) - hl) & !7;
    payload
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let mut h = ip.clone();
            h.dont_fragment = false;
            h.more_fragments = (i + 1) * chunk < payload.len();
            h.fragment_offset = IpFragOffset::try_new((i * chunk / 8) as u16).unwrap();
            h.set_payload_len(part.len()).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut v = frame[..l2].to_vec();
            h.write_raw(&mut v).unwrap();
            v.extend_from_slice(part);
            v
        })
        .collect()
}

impl Lab {
    /// VLANs: a client on VLAN 100 served through VIP2 by a server on if1 (untagged) and one on
    /// VLAN 200, both ways; the untagged client to and from the VLAN server; a priority-tagged
    /// frame taken as untagged; echo on a VLAN; tagged frames refused.
    fn vlans(&mut self) {
        let (t100, t200) = (tag(VLAN_CLIENTS), tag(VLAN_SERVERS));
        let f = self.flow(false, 42000, 0, 0);
        let syn = self.c_tcp(&f, SYN, 1, 0, &[]);
        let on_if1 = Pkt {
            dst_mac: IF1_MAC,
            ..syn.clone()
        };
        let tagged = vlan(&on_if1.frame(), t100);
        self.drop(
            "vlan-tagged-on-untagged-port",
            1,
            tagged,
            DropReason::TaggedFrame,
        );
        let tagged = vlan(&syn.frame(), tag(101));
        self.drop("vlan-unknown-id", 0, tagged, DropReason::UnknownVlan);

        // The VLAN client's first connection: to RS[0], untagged on if1, and back tagged.
        let f = self.flow(false, 42001, 0, 65531);
        let p = self.v_tcp(&f, SYN, 100, 0, &[]);
        let out = self.sent_to_server(&p, &f);
        self.tx("vlan-client-syn", 0, vlan(&p.frame(), t100), 1, out);
        if self.nat_like() {
            let r = self.s_tcp2(&f, SYN | ACK, 900, 101, VCLIENT);
            let out = vlan(&self.at_vclient(&r, &f).frame(), t100);
            self.tx("vlan-client-synack", 1, r.frame(), 0, out);
        }
        let p = self.v_tcp(&f, ACK | PSH, 101, 901, REQUEST);
        let out = self.sent_to_server(&p, &f);
        self.tx("vlan-client-data", 0, vlan(&p.frame(), t100), 1, out);

        // Its second: to the server on VLAN 200 of the same port (the tag rewritten), and back.
        let f = self.flow(false, 42002, VLAN_DEST, 65530);
        let p = self.v_tcp(&f, SYN, 200, 0, &[]);
        let out = vlan(&self.sent_to_server(&p, &f), t200);
        self.tx(
            "vlan-client-syn-vlan-server",
            0,
            vlan(&p.frame(), t100),
            0,
            out,
        );
        if self.nat_like() {
            let r = self.s_tcp2(&f, SYN | ACK, 700, 201, VCLIENT);
            let out = vlan(&self.at_vclient(&r, &f).frame(), t100);
            self.tx(
                "vlan-server-synack-vlan-client",
                0,
                vlan(&r.frame(), t200),
                0,
                out,
            );
        }

        // VLAN 0 (priority tagged, PCP 5) is the port itself: the tag goes.
        let f = self.flow(false, 42003, 0, 65529);
        let mut p = self.c_tcp(&f, SYN, 300, 0, &[]);
        p.ip.dst = VIP2;
        let out = self.sent_to_server(&p, &f);
        self.tx(
            "vlan-priority-tagged-syn",
            0,
            vlan(&p.frame(), [0x81, 0, 0xa0, 0]),
            1,
            out,
        );

        // The untagged client to the server on VLAN 200 (tag added) and back (tag removed).
        let f = self.flow(false, 42004, VLAN_DEST, 65528);
        let mut p = self.c_tcp(&f, SYN, 400, 0, &[]);
        p.ip.dst = VIP2;
        let out = vlan(&self.sent_to_server(&p, &f), t200);
        self.tx("vlan-untagged-client-syn-vlan-server", 0, p.frame(), 0, out);
        if self.nat_like() {
            let r = self.s_tcp2(&f, SYN | ACK, 800, 401, CLIENT);
            let mut out = self.at_client(&r, &f);
            out.ip.src = VIP2;
            self.tx(
                "vlan-server-synack-untagged-client",
                0,
                vlan(&r.frame(), t200),
                0,
                out.frame(),
            );
        }

        // Echo to the VLAN's own address, answered tagged.
        let echo = L4::Icmp {
            ty: 8,
            code: 0,
            rest: [0x12, 0x34, 0, 1],
        };
        let req = Pkt {
            src_mac: VCLIENT_MAC,
            dst_mac: IF0_MAC,
            ip: Ip::new(VCLIENT, IF2_IP, 0x5555),
            l4: echo,
            payload: b"vlan".to_vec(),
            pad_to: 0,
        };
        let rep = Pkt {
            src_mac: IF0_MAC,
            dst_mac: VCLIENT_MAC,
            ip: Ip::new(IF2_IP, VCLIENT, 0x5555),
            l4: L4::Icmp {
                ty: 0,
                code: 0,
                rest: [0x12, 0x34, 0, 1],
            },
            ..req.clone()
        };
        self.tx(
            "vlan-icmp-echo-if2",
            0,
            vlan(&req.frame(), t100),
            0,
            vlan(&rep.frame(), t100),
        );
    }

    /// A TCP packet of `f` from the client on VLAN 100 to VIP2 (untagged: the caller tags it).
    fn v_tcp(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Pkt {
        let mut p = self.c_tcp(f, flags, seq, ack, payload);
        p.src_mac = VCLIENT_MAC;
        p.ip.src = VCLIENT;
        p.ip.dst = VIP2;
        p
    }

    /// A TCP packet of `f` from its server (NAT: to `client`), untagged, addressed to the port
    /// the server is on.
    fn s_tcp2(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, client: [u8; 4]) -> Pkt {
        let mut p = self.s_tcp(f, flags, seq, ack, &[]);
        if self.method == Method::Nat {
            p.ip.dst = client;
        }
        if f.dest == VLAN_DEST {
            p.dst_mac = IF0_MAC;
        }
        p
    }

    /// Server packet `p` of `f` as it leaves towards the client on VLAN 100 (untagged).
    fn at_vclient(&self, p: &Pkt, f: &Flow) -> Pkt {
        let mut q = self.at_client(p, f);
        q.dst_mac = VCLIENT_MAC;
        q.ip.src = VIP2;
        if self.method == Method::FullNat {
            q.ip.dst = VCLIENT;
        }
        q
    }
}

/// The lab's index of RS_VLAN among the real servers (`Flow::dest`).
const VLAN_DEST: usize = 3;

fn rs_ip(dest: usize) -> [u8; 4] {
    if dest == VLAN_DEST {
        RS_VLAN
    } else {
        RS[dest]
    }
}

fn rs_mac(dest: usize) -> [u8; 6] {
    if dest == VLAN_DEST {
        RS_VLAN_MAC
    } else {
        RS_MAC[dest]
    }
}

/// The 802.1Q tag of VLAN `vid` (PCP 0).
pub fn tag(vid: u16) -> [u8; 4] {
    let [hi, lo] = vid.to_be_bytes();
    [0x81, 0x00, hi, lo]
}

/// `frame` with an 802.1Q tag (`tag`: TPID and TCI) inserted after the MAC addresses.
pub fn vlan(frame: &[u8], tag: [u8; 4]) -> Vec<u8> {
    [&frame[..12], &tag[..], &frame[12..]].concat()
}

/// The value of a 16-bit word which, placed at the start of `p`'s (zeroed) UDP payload, makes
/// the datagram's checksum compute to 0.
fn udp_sum_word(p: &Pkt) -> u16 {
    let ip = p.ip_bytes();
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let mut seg = ip[hl..].to_vec();
    seg[6..8].copy_from_slice(&[0, 0]);
    l4_checksum(&ip[12..16], &ip[16..20], 17, &seg)
}

fn tcp_of(p: &Pkt) -> Tcp {
    match &p.l4 {
        L4::Tcp(t) => *t,
        _ => panic!("not TCP"),
    }
}

/// Recomputes the IPv4 header checksum of a frame (for hand-broken headers; IHL taken as at
/// least 5 so that a bad IHL still gets a checksum over the 20 fixed bytes).
fn fix_ip_checksum(frame: &mut [u8]) {
    let hl = (usize::from(frame[14] & 0x0f) * 4).max(20);
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = inet_checksum(&frame[14..14 + hl]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}
