//! Property tests of the packet path ([`Forwarder::process`]) over plain heap buffers.
//!
//! Packets are built and parsed with etherparse (an independent library) and checksums are
//! verified with the RFC 1071 implementation below, never with rvs's own `wire::checksum`.
//!
//! - `nat_reply_restores_client_view`, `fullnat_reply_restores_client_view`: a client's first
//!   packet goes to a real server (with port mapping, and for FULLNAT from the local address);
//!   the server's reply to exactly what it received reaches the client as VIP:vport ->
//!   client:cport with the payload unchanged and valid checksums; the client's next packet
//!   follows the same session.
//! - `dr_and_tunnel_forward_l3_unchanged`: DR keeps the IP packet byte for byte, TUN wraps it
//!   whole in a valid IPIP header to the real server.
//! - `random_bytes_never_panic`, `mutated_packets_never_panic`: arbitrary frames and random
//!   mutations of valid ones (after real sessions exist, so reply and ICMP paths are reached)
//!   each get exactly one verdict, the counters add up, and a transmitted IPv4 frame whose input
//!   had valid checksums leaves with valid checksums.
//! - `edge_inputs_get_one_verdict`: hand-made frames at the parsers' edges (truncations, bad
//!   lengths, VLAN tags, ICMP errors quoting cut packets) after a session exists.

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::{Addr, FullPolicy, Timeouts, PROTO_TCP, PROTO_UDP};
use dataplane::forward::{Arrival, Forwarder, ForwarderConfig};
use dataplane::sched::{SchedParams, SchedulerKind};
use dataplane::snapshot::{DestConfig, Interface, Method, ServiceConfig, ServiceKey, Snapshot};
use dataplane::verdict::{DropReason, Verdict};
use dataplane::wire::ethernet::MacAddr;
use dataplane::worker::{IoLosses, WorkerCounters};
use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, NetSlice, SlicedPacket, TcpHeader,
    TransportSlice, UdpHeader,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::sync::Arc;

const VIP: [u8; 4] = [10, 0, 0, 100];
const LADDR: [u8; 4] = [10, 0, 1, 200];
const RS: [[u8; 4]; 3] = [[10, 0, 2, 1], [10, 0, 2, 2], [10, 0, 2, 3]];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0];
const IF0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const IF1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 9, 9];
const TCP_PORT: u16 = 80;
const UDP_PORT: u16 = 53;
/// The port NAT and FULLNAT real servers listen on (port mapping).
const RS_PORT: u16 = 8080;

/// Failing cases are saved next to this file (`properties.proptest-regressions`) and replayed.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Independent checksums (RFC 1071)

fn ones_sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// True if `data` (checksum field included) sums to all ones.
fn sums_to_ones(data: &[u8], initial: u64) -> bool {
    fold(ones_sum(data, initial)) == 0xffff
}

fn pseudo(src: &[u8], dst: &[u8], protocol: u8, len: usize) -> u64 {
    ones_sum(src, 0) + ones_sum(dst, 0) + u64::from(protocol) + len as u64
}

/// Whether the IPv4 packet `ip` (starting at its header) has a valid header checksum and a valid
/// TCP / UDP / ICMP checksum over its payload (per total length). None if it is not a complete,
/// unfragmented IPv4 packet of one of those protocols. IPIP packets are checked inside too.
fn ipv4_checksums_ok(ip: &[u8]) -> Option<bool> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let hl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if hl < 20 || total < hl || ip.len() < total {
        return None;
    }
    let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if fragmented {
        return None;
    }
    let header_ok = sums_to_ones(&ip[..hl], 0);
    let (src, dst, protocol, l4) = (&ip[12..16], &ip[16..20], ip[9], &ip[hl..total]);
    let l4_ok = match protocol {
        6 => l4.len() >= 20 && sums_to_ones(l4, pseudo(src, dst, 6, l4.len())),
        17 => {
            l4.len() >= 8
                && (u16::from_be_bytes([l4[6], l4[7]]) == 0
                    || sums_to_ones(l4, pseudo(src, dst, 17, l4.len())))
        }
        1 => l4.len() >= 8 && sums_to_ones(l4, 0),
        4 => ipv4_checksums_ok(l4)?,
        _ => return None,
    };
    Some(header_ok && l4_ok)
}

/// [`ipv4_checksums_ok`] of an Ethernet II frame (no VLAN).
fn frame_checksums_ok(frame: &[u8]) -> Option<bool> {
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    ipv4_checksums_ok(&frame[14..])
}

// ---------------------------------------------------------------------------------------------
// Set-up

fn v4(o: [u8; 4]) -> Addr {
    Addr::v4(o)
}

fn interfaces() -> Vec<Interface> {
    vec![
        Interface {
            mac: MacAddr(IF0_MAC),
            addrs: vec![v4([10, 0, 0, 1])],
            mtu: 1500,
            port: 0,
            vlan: None,
        },
        Interface {
            mac: MacAddr(IF1_MAC),
            addrs: vec![v4([10, 0, 1, 1])],
            mtu: 1500,
            port: 1,
            vlan: None,
        },
    ]
}

fn dests(method: Method, port: u16, first_id: u32) -> Vec<DestConfig> {
    RS.iter()
        .enumerate()
        .map(|(i, rs)| DestConfig {
            id: first_id + i as u32,
            addr: v4(*rs),
            port,
            weight: 1 + i as u32,
            method,
            upper_threshold: 0,
            lower_threshold: 0,
            mac: MacAddr([
                RS_MAC[0],
                RS_MAC[1],
                RS_MAC[2],
                RS_MAC[3],
                RS_MAC[4],
                i as u8 + 1,
            ]),
            interface: 1,
        })
        .collect()
}

/// TCP VIP:80 and UDP VIP:53, each to three real servers on 10.0.2.0/24 by `method` (NAT and
/// FULLNAT map the port to 8080; FULLNAT uses local address 10.0.1.200).
fn snapshot(method: Method) -> Arc<Snapshot> {
    let port = if matches!(method, Method::Nat | Method::FullNat) {
        RS_PORT
    } else {
        0
    };
    let service = |protocol, vport, first_id| ServiceConfig {
        key: ServiceKey {
            protocol,
            vip: v4(VIP),
            port: vport,
        },
        scheduler: SchedulerKind::Wrr,
        sched_params: SchedParams::default(),
        persistence_s: None,
        persistence_prefix: 32,
        dests: dests(method, port, first_id),
        local_addrs: if method == Method::FullNat {
            vec![v4(LADDR)]
        } else {
            vec![]
        },
    };
    let configs = vec![
        service(PROTO_TCP, TCP_PORT, 1),
        service(PROTO_UDP, UDP_PORT, 10),
    ];
    Arc::new(Snapshot::build(1, interfaces(), configs).expect("valid snapshot"))
}

fn forwarder(method: Method, worker: u16, workers: u16) -> Forwarder {
    let config = ForwarderConfig {
        worker,
        workers,
        capacity: 1024,
        seed: [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210],
        timeouts: Timeouts::default(),
        full_policy: FullPolicy::EvictOldestUnestablished,
        // Port 0 hands the box's frames to its kernel interface (a low rate: some over it).
        exception_rates: vec![50, 0],
    };
    Forwarder::new(&config, snapshot(method)).expect("forwarder")
}

fn check_stats(fw: &Forwarder, calls: u64) {
    let s = fw.stats();
    assert_eq!(
        s.rx, calls,
        "one rx per call (but fragments held for reassembly)"
    );
    assert_eq!(
        s.rx,
        s.tx + s.redirected + s.local + s.drops.total(),
        "counters add up: {s:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Packet building (etherparse)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp { syn: bool, ack: bool },
    Udp { zero_checksum: bool },
}

#[derive(Debug, Clone)]
struct Pkt {
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
    ip_option_words: usize,
    l4: L4,
    payload: Vec<u8>,
    /// Ethernet padding after the IP packet.
    padding: usize,
}

fn build(p: &Pkt) -> Vec<u8> {
    let protocol = match p.l4 {
        L4::Tcp { .. } => IpNumber::TCP,
        L4::Udp { .. } => IpNumber::UDP,
    };
    let mut tcp = TcpHeader::new(p.sport, p.dport, 0x1000_0000, 8192);
    if let L4::Tcp { syn, ack } = p.l4 {
        tcp.syn = syn;
        tcp.ack = ack;
        tcp.acknowledgment_number = if ack { 0x2000_0001 } else { 0 };
        tcp.set_options_raw(&[2, 4, 0x05, 0xb4])
            .expect("MSS option");
    }
    let l4_len = match p.l4 {
        L4::Tcp { .. } => tcp.header_len() + p.payload.len(),
        L4::Udp { .. } => 8 + p.payload.len(),
    };
    let mut ip = Ipv4Header::new(l4_len as u16, p.ttl, protocol, p.src, p.dst).expect("ip header");
    ip.dont_fragment = true;
    ip.identification = p.sport ^ p.dport;
    // NOP options, then end of list: exercises header lengths above 20.
    let mut options = vec![1u8; p.ip_option_words * 4];
    if let Some(last) = options.last_mut() {
        *last = 0;
    }
    ip.options = options[..].try_into().expect("ip options");
    ip.set_payload_len(l4_len).expect("ip payload length");
    ip.header_checksum = ip.calc_header_checksum();
    let mut out = Vec::new();
    Ethernet2Header {
        source: p.eth_src,
        destination: p.eth_dst,
        ether_type: EtherType::IPV4,
    }
    .write(&mut out)
    .unwrap();
    ip.write(&mut out).unwrap();
    match p.l4 {
        L4::Tcp { .. } => {
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, &p.payload).unwrap();
            tcp.write(&mut out).unwrap();
        }
        L4::Udp { zero_checksum } => {
            let mut udp = UdpHeader::with_ipv4_checksum(p.sport, p.dport, &ip, &p.payload).unwrap();
            if zero_checksum {
                udp.checksum = 0;
            }
            udp.write(&mut out).unwrap();
        }
    }
    out.extend_from_slice(&p.payload);
    out.resize(out.len() + p.padding, 0);
    out
}

/// What etherparse sees of a transmitted TCP/UDP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    ttl: u8,
    protocol: u8,
    udp_checksum: Option<u16>,
    payload: Vec<u8>,
}

fn parse(frame: &[u8]) -> Seen {
    let sliced = SlicedPacket::from_ethernet(frame).expect("etherparse parses the output");
    let eth = match sliced.link {
        Some(etherparse::LinkSlice::Ethernet2(e)) => e,
        other => panic!("not Ethernet II: {other:?}"),
    };
    let ip = match sliced.net {
        Some(NetSlice::Ipv4(ip)) => ip,
        other => panic!("not IPv4: {other:?}"),
    };
    let h = ip.header();
    let (sport, dport, udp_checksum, payload) = match sliced.transport {
        Some(TransportSlice::Tcp(t)) => (
            t.source_port(),
            t.destination_port(),
            None,
            t.payload().to_vec(),
        ),
        Some(TransportSlice::Udp(u)) => (
            u.source_port(),
            u.destination_port(),
            Some(u.checksum()),
            u.payload().to_vec(),
        ),
        other => panic!("not TCP/UDP: {other:?}"),
    };
    Seen {
        eth_src: eth.source(),
        eth_dst: eth.destination(),
        src: h.source(),
        dst: h.destination(),
        sport,
        dport,
        ttl: h.ttl(),
        protocol: h.protocol().0,
        udp_checksum,
        payload,
    }
}

// ---------------------------------------------------------------------------------------------
// NAT / FULLNAT: the reply restores the client's view

fn client_ip() -> impl Strategy<Value = [u8; 4]> {
    // Anything outside 10.0.0.0/16 (the box, its VIP, local address and servers live there).
    any::<[u8; 4]>().prop_filter("not the lab subnet", |a| !(a[0] == 10 && a[1] == 0))
}

#[derive(Debug, Clone)]
struct Exchange {
    client: [u8; 4],
    cport: u16,
    tcp: bool,
    udp_zero_checksum: bool,
    ttl: u8,
    reply_ttl: u8,
    ip_option_words: usize,
    request: Vec<u8>,
    reply: Vec<u8>,
    second: Vec<u8>,
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        (
            client_ip(),
            1..=u16::MAX,
            any::<bool>(),
            any::<bool>(),
            2..=u8::MAX,
            2..=u8::MAX,
            0..=10usize,
        ),
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(
                (client, cport, tcp, udp_zero_checksum, ttl, reply_ttl, ip_option_words),
                request,
                reply,
                second,
            )| {
                Exchange {
                    client,
                    cport,
                    tcp,
                    udp_zero_checksum,
                    ttl,
                    reply_ttl,
                    ip_option_words,
                    request,
                    reply,
                    second,
                }
            },
        )
}

fn padding_for(frame_len: usize) -> usize {
    60usize.saturating_sub(frame_len)
}

/// Runs one client -> server -> client exchange through `fw` and checks both directions.
fn check_exchange(fw: &mut Forwarder, method: Method, x: &Exchange, calls: &mut u64) {
    let vport = if x.tcp { TCP_PORT } else { UDP_PORT };
    let l4 = |syn, ack| {
        if x.tcp {
            L4::Tcp { syn, ack }
        } else {
            L4::Udp {
                zero_checksum: x.udp_zero_checksum,
            }
        }
    };
    let mut request = Pkt {
        eth_src: CLIENT_MAC,
        eth_dst: IF0_MAC,
        src: x.client,
        dst: VIP,
        sport: x.cport,
        dport: vport,
        ttl: x.ttl,
        ip_option_words: x.ip_option_words,
        l4: l4(true, false),
        payload: x.request.clone(),
        padding: 0,
    };
    let unpadded = build(&request).len();
    request.padding = padding_for(unpadded);
    let mut buf = HeapBuf::new(&build(&request));
    *calls += 1;
    assert_eq!(
        fw.process(&mut buf, 0, 1_000),
        Verdict::Transmit(1),
        "request forwarded to the server side"
    );
    assert_eq!(
        frame_checksums_ok(buf.data()),
        Some(true),
        "request checksums"
    );
    let fwd = parse(buf.data());
    let rs = RS
        .iter()
        .position(|r| *r == fwd.dst)
        .expect("destination is one of the real servers");
    assert_eq!(fwd.eth_dst[5], rs as u8 + 1, "sent to that server's MAC");
    assert_eq!(fwd.eth_src, IF1_MAC);
    assert_eq!(fwd.dport, RS_PORT, "port mapped");
    assert_eq!(fwd.ttl, x.ttl - 1);
    assert_eq!(fwd.payload, x.request);
    match method {
        Method::Nat => assert_eq!(
            (fwd.src, fwd.sport),
            (x.client, x.cport),
            "NAT keeps the client as source"
        ),
        Method::FullNat => assert_eq!(fwd.src, LADDR, "FULLNAT sources from the local address"),
        _ => unreachable!(),
    }
    if !x.tcp && x.udp_zero_checksum {
        assert_eq!(fwd.udp_checksum, Some(0), "no UDP checksum stays none");
    }

    // The server answers exactly what it received.
    let mut reply = Pkt {
        eth_src: fwd.eth_dst,
        eth_dst: fwd.eth_src,
        src: fwd.dst,
        dst: fwd.src,
        sport: fwd.dport,
        dport: fwd.sport,
        ttl: x.reply_ttl,
        ip_option_words: 0,
        l4: l4(true, true),
        payload: x.reply.clone(),
        padding: 0,
    };
    reply.padding = padding_for(build(&reply).len());
    let mut buf = HeapBuf::new(&build(&reply));
    *calls += 1;
    assert_eq!(
        fw.process(&mut buf, 1, 1_001),
        Verdict::Transmit(0),
        "reply goes back to the client side"
    );
    assert_eq!(
        frame_checksums_ok(buf.data()),
        Some(true),
        "reply checksums"
    );
    let back = parse(buf.data());
    assert_eq!((back.src, back.sport), (VIP, vport), "client sees the VIP");
    assert_eq!((back.dst, back.dport), (x.client, x.cport), "to the client");
    assert_eq!((back.eth_src, back.eth_dst), (IF0_MAC, CLIENT_MAC));
    assert_eq!(back.payload, x.reply);
    assert_eq!(back.ttl, x.reply_ttl - 1);
    if !x.tcp && x.udp_zero_checksum {
        assert_eq!(back.udp_checksum, Some(0));
    }

    // The client's next packet follows the same session.
    request.l4 = l4(false, true);
    request.payload = x.second.clone();
    request.padding = 0;
    request.padding = padding_for(build(&request).len());
    let mut buf = HeapBuf::new(&build(&request));
    *calls += 1;
    assert_eq!(fw.process(&mut buf, 0, 1_002), Verdict::Transmit(1));
    assert_eq!(frame_checksums_ok(buf.data()), Some(true));
    let again = parse(buf.data());
    assert_eq!(
        (again.src, again.sport, again.dst, again.dport),
        (fwd.src, fwd.sport, fwd.dst, fwd.dport)
    );
    assert_eq!(again.payload, x.second);
}

fn reply_restores_client_view(method: Method, exchanges: &[Exchange]) {
    let mut fw = forwarder(method, 0, 1);
    let mut calls = 0;
    for x in exchanges {
        check_exchange(&mut fw, method, x, &mut calls);
    }
    check_stats(&fw, calls);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn nat_reply_restores_client_view(exchanges in proptest::collection::vec(exchange(), 1..6)) {
        reply_restores_client_view(Method::Nat, &exchanges);
    }

    #[test]
    fn fullnat_reply_restores_client_view(exchanges in proptest::collection::vec(exchange(), 1..6)) {
        reply_restores_client_view(Method::FullNat, &exchanges);
    }

    #[test]
    fn dr_and_tunnel_forward_l3_unchanged(x in exchange(), tunnel in any::<bool>()) {
        let method = if tunnel { Method::Tunnel } else { Method::Dr };
        let mut fw = forwarder(method, 0, 1);
        let p = Pkt {
            eth_src: CLIENT_MAC,
            eth_dst: IF0_MAC,
            src: x.client,
            dst: VIP,
            sport: x.cport,
            dport: if x.tcp { TCP_PORT } else { UDP_PORT },
            ttl: x.ttl,
            ip_option_words: x.ip_option_words,
            l4: if x.tcp { L4::Tcp { syn: true, ack: false } } else { L4::Udp { zero_checksum: x.udp_zero_checksum } },
            payload: x.request.clone(),
            padding: 0,
        };
        let input = build(&p);
        let mut buf = HeapBuf::new(&input);
        prop_assert_eq!(fw.process(&mut buf, 0, 5), Verdict::Transmit(1));
        let out = buf.data();
        prop_assert_eq!(&out[6..12], &IF1_MAC[..]);
        prop_assert!(RS_MAC[..5] == out[..5] && (1..=3).contains(&out[5]), "to a server's MAC");
        prop_assert_eq!(&out[12..14], &[0x08, 0x00][..]);
        if tunnel {
            let sliced = SlicedPacket::from_ethernet(out).expect("outer parses");
            let Some(NetSlice::Ipv4(outer)) = sliced.net else { panic!("outer IPv4") };
            let h = outer.header();
            prop_assert_eq!(h.protocol(), IpNumber::IPV4);
            prop_assert_eq!(h.source(), [10, 0, 1, 1]);
            prop_assert!(RS.contains(&h.destination()));
            prop_assert_eq!(h.ttl(), x.ttl);
            prop_assert!(h.dont_fragment());
            prop_assert_eq!(&out[34..], &input[14..], "inner packet unchanged");
        } else {
            prop_assert_eq!(&out[14..], &input[14..], "DR leaves L3 untouched");
        }
        prop_assert_eq!(frame_checksums_ok(out), Some(true));
        check_stats(&fw, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: random and mutated input

const METHODS: [Method; 4] = [Method::Nat, Method::FullNat, Method::Dr, Method::Tunnel];

/// One Forwarder per method, plus a second NAT/FULLNAT worker of two (exercises redirects).
struct Rig {
    fws: Vec<(Forwarder, u16)>,
    calls: Vec<u64>,
}

impl Rig {
    fn new() -> Rig {
        let mut fws: Vec<(Forwarder, u16)> =
            METHODS.iter().map(|m| (forwarder(*m, 0, 1), 1)).collect();
        fws.push((forwarder(Method::Nat, 1, 2), 2));
        fws.push((forwarder(Method::FullNat, 1, 2), 2));
        let calls = vec![0; fws.len()];
        Rig { fws, calls }
    }

    /// Feeds `frame` to every forwarder on `in_if` and checks the verdict contract.
    fn feed(&mut self, frame: &[u8], in_if: u16, now: u64) {
        let input_ok = frame_checksums_ok(frame) == Some(true);
        for (i, (fw, workers)) in self.fws.iter_mut().enumerate() {
            // As a worker decides a burst: prepare (parse, hash, prefetch), prefetch the
            // session, then decide with what was prepared.
            let prepared = fw.prepare(frame);
            fw.prefetch_session(&prepared);
            let mut buf = HeapBuf::new(frame);
            let verdict = fw.process_prepared(&mut buf, Arrival::received(in_if), now, &prepared);
            // A fragment for the reassembler counts nothing until its datagram's fate does.
            if verdict != Verdict::Reassemble {
                self.calls[i] += 1;
            }
            check_stats(fw, self.calls[i]);
            match verdict {
                Verdict::Transmit(out_if) | Verdict::Fragment(out_if) => {
                    assert!(
                        usize::from(out_if) < fw.snapshot().interfaces.len(),
                        "{verdict:?}"
                    );
                    let out = buf.data();
                    assert!(
                        out.len() >= 14,
                        "a transmitted frame has an Ethernet header"
                    );
                    if input_ok && out[12..14] == [0x08, 0x00] {
                        assert_eq!(
                            frame_checksums_ok(out),
                            Some(true),
                            "valid in, valid out: {frame:02x?} -> {out:02x?}"
                        );
                    }
                }
                Verdict::Redirect(worker) => assert!(worker < *workers, "{verdict:?}"),
                Verdict::Local | Verdict::Reassemble => {
                    assert_eq!(buf.data(), frame, "handed over unchanged")
                }
                Verdict::Drop(_) => {}
            }
        }
    }
}

/// Valid frames of every kind the box handles: client packets, server replies, ICMP errors
/// quoting both directions, echo requests, ARP requests, a fragment, an IPv6 frame.
fn valid_frames(client: [u8; 4], cport: u16, payload: &[u8]) -> Vec<(Vec<u8>, u16)> {
    let base = |src, dst, sport, dport, l4| Pkt {
        eth_src: CLIENT_MAC,
        eth_dst: IF0_MAC,
        src,
        dst,
        sport,
        dport,
        ttl: 64,
        ip_option_words: 0,
        l4,
        payload: payload.to_vec(),
        padding: 0,
    };
    let tcp = |syn, ack| L4::Tcp { syn, ack };
    let udp = L4::Udp {
        zero_checksum: false,
    };
    let mut frames = vec![
        (
            build(&base(client, VIP, cport, TCP_PORT, tcp(true, false))),
            0,
        ),
        (build(&base(client, VIP, cport, UDP_PORT, udp)), 0),
        (
            build(&base(client, VIP, cport, TCP_PORT, tcp(false, true))),
            0,
        ),
    ];
    for rs in RS {
        for (sport, l4) in [
            (RS_PORT, tcp(true, true)),
            (RS_PORT, udp),
            (TCP_PORT, tcp(true, true)),
            (UDP_PORT, udp),
        ] {
            frames.push((build(&base(rs, client, sport, cport, l4)), 1));
        }
    }
    // ICMP errors about tracked flows, as routers on either side would send them: about what
    // the box sent to a server (quoting client or local address -> server, addressed to the
    // client for NAT or to the local address for FULLNAT, whose first local port is 65535), and
    // about a reply the client was sent (quoting VIP -> client, addressed to the VIP).
    for rs in RS {
        let sent = build(&base(client, rs, cport, RS_PORT, tcp(true, false)));
        frames.push((icmp_error([10, 0, 1, 254], client, &sent[14..], 3, 4), 1));
        let sent = build(&base(LADDR, rs, u16::MAX, RS_PORT, udp));
        frames.push((icmp_error([10, 0, 1, 254], LADDR, &sent[14..], 3, 3), 1));
    }
    for (vport, l4) in [(TCP_PORT, tcp(true, true)), (UDP_PORT, udp)] {
        let reply = build(&base(VIP, client, vport, cport, l4));
        frames.push((icmp_error([192, 0, 2, 1], VIP, &reply[14..], 11, 0), 0));
    }
    frames.push((icmp_echo(client, VIP), 0));
    frames.push((arp_request(client, VIP), 0));
    frames.push((arp_request(client, [10, 0, 1, 1]), 1));
    let mut frag = build(&base(client, VIP, cport, UDP_PORT, udp));
    frag[14 + 6] |= 0x20; // more fragments
    frames.push((frag, 0));
    let mut v6 = build(&base(client, VIP, cport, UDP_PORT, udp));
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    frames.push((v6, 0));
    frames
}

fn ipv4_frame(src: [u8; 4], dst: [u8; 4], protocol: IpNumber, l4: &[u8]) -> Vec<u8> {
    let mut ip = Ipv4Header::new(l4.len() as u16, 64, protocol, src, dst).unwrap();
    ip.header_checksum = ip.calc_header_checksum();
    let mut out = Vec::new();
    Ethernet2Header {
        source: CLIENT_MAC,
        destination: IF0_MAC,
        ether_type: EtherType::IPV4,
    }
    .write(&mut out)
    .unwrap();
    ip.write(&mut out).unwrap();
    out.extend_from_slice(l4);
    out
}

fn finish_icmp(mut msg: Vec<u8>) -> Vec<u8> {
    let c = !fold(ones_sum(&msg, 0));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    msg
}

/// An ICMP error (`kind`/`code`) from `from` to `to` quoting `quoted` (an IP packet) as RFC 792
/// asks: its header and first 8 payload bytes.
fn icmp_error(from: [u8; 4], to: [u8; 4], quoted: &[u8], kind: u8, code: u8) -> Vec<u8> {
    let hl = usize::from(quoted[0] & 0x0f) * 4;
    let mut msg = vec![kind, code, 0, 0, 0, 0, 0x05, 0xdc];
    msg.extend_from_slice(&quoted[..(hl + 8).min(quoted.len())]);
    ipv4_frame(from, to, IpNumber::ICMP, &finish_icmp(msg))
}

fn icmp_echo(from: [u8; 4], to: [u8; 4]) -> Vec<u8> {
    ipv4_frame(
        from,
        to,
        IpNumber::ICMP,
        &finish_icmp(vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g']),
    )
}

fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte (position taken modulo the length).
    Flip(usize, u8),
    /// Set a byte.
    Set(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
    /// Fix the IPv4 header checksum after the other mutations, so they reach deeper code.
    FixIpChecksum,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=u8::MAX).prop_map(|(i, x)| Mutation::Flip(i, x)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Set(i, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        2 => Just(Mutation::FixIpChecksum),
    ]
}

fn mutate(frame: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        match m {
            Mutation::Flip(i, x) if !frame.is_empty() => {
                let n = frame.len();
                frame[i % n] ^= x;
            }
            Mutation::Set(i, x) if !frame.is_empty() => {
                let n = frame.len();
                frame[i % n] = *x;
            }
            Mutation::Truncate(n) => frame.truncate(n % (frame.len() + 1)),
            Mutation::Append(bytes) => frame.extend_from_slice(bytes),
            Mutation::FixIpChecksum => fix_ip_checksum(frame),
            _ => {}
        }
    }
}

fn fix_ip_checksum(frame: &mut [u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let hl = usize::from(frame[14] & 0x0f) * 4;
    if hl < 20 || frame.len() < 14 + hl {
        return;
    }
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = !fold(ones_sum(&frame[14..14 + hl], 0));
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_bytes_never_panic(
        frames in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..200), 0..3u16), 1..16),
    ) {
        let mut rig = Rig::new();
        for (i, (frame, in_if)) in frames.iter().enumerate() {
            rig.feed(frame, *in_if, i as u64);
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        client in client_ip(),
        cport in 1..=u16::MAX,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), 0..3u16, proptest::collection::vec(mutation(), 0..6)), 1..24),
    ) {
        let mut rig = Rig::new();
        let frames = valid_frames(client, cport, &payload);
        // Real sessions first (unmutated), so replies and ICMP errors find their flows.
        for (i, (frame, in_if)) in frames.iter().enumerate() {
            rig.feed(frame, *in_if, i as u64);
        }
        for (i, (pick, in_if, mutations)) in picks.iter().enumerate() {
            let (mut frame, natural_if) = frames[pick.index(frames.len())].clone();
            mutate(&mut frame, mutations);
            let in_if = if *in_if == 2 { 2 } else { natural_if ^ u16::from(mutations.len() % 5 == 4) };
            rig.feed(&frame, in_if, 100 + i as u64);
        }
    }
}

/// The table of `method` with every service persistent, netmask `prefix`: its flows are owned by
/// the client's network instead of the receiver (DR, FULLNAT) or the client's port (NAT).
fn persistent(method: Method, prefix: u8) -> Arc<Snapshot> {
    let base = snapshot(method);
    let configs = base
        .services
        .iter()
        .map(|s| ServiceConfig {
            persistence_s: Some(300),
            persistence_prefix: prefix,
            ..s.config.clone()
        })
        .collect();
    Arc::new(Snapshot::build(2, interfaces(), configs).expect("valid snapshot"))
}

/// Delivers `frame` to worker `first` of `ws` and follows its redirects, as handed frames (with
/// the arrival a worker hands on); returns how many hops it made before a verdict (fails past 2
/// or on a redirect to itself).
fn hops(ws: &mut [Forwarder], frame: &[u8], in_if: u16, first: usize, now: u64) -> usize {
    let (mut at, mut hops, mut arrival) = (first, 0, Arrival::received(in_if));
    loop {
        let mut buf = HeapBuf::new(frame);
        let prepared = ws[at].prepare(frame);
        let verdict = ws[at].process_prepared(&mut buf, arrival, now, &prepared);
        match verdict {
            Verdict::Redirect(w) => {
                assert!(
                    usize::from(w) < ws.len() && usize::from(w) != at,
                    "{verdict:?}"
                );
                hops += 1;
                assert!(hops <= 2, "handed on a third time: {frame:02x?}");
                arrival = arrival.handed_on();
                at = usize::from(w);
            }
            _ => return hops,
        }
    }
}

proptest! {
    #![proptest_config(config(2048))]

    /// Two workers whose table changed the flows' owners (persistence set,
    /// its netmask changed or cleared, one change after the other), the second worker maybe a
    /// change behind, as while changes install; with live sessions or none: any frame, valid
    /// or mutated, is handed on at most twice (receiver -> owner -> fallback) and then decided.
    #[test]
    fn a_frame_is_handed_on_at_most_twice(
        method in 0..3usize,
        tables in proptest::collection::vec(proptest::option::of(8..=32u8), 1..3),
        behind in 0..2usize,
        warm in any::<bool>(),
        client in client_ip(),
        cport in 1..=u16::MAX,
        payload in proptest::collection::vec(any::<u8>(), 0..32),
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), 0..2usize, proptest::collection::vec(mutation(), 0..4)), 1..24),
    ) {
        let method = [Method::Nat, Method::Dr, Method::FullNat][method];
        let table = |prefix: Option<u8>| prefix.map_or_else(|| snapshot(method), |p| persistent(method, p));
        let mut ws: Vec<Forwarder> = (0..2).map(|w| forwarder(method, w, 2)).collect();
        let frames = valid_frames(client, cport, &payload);
        for (i, (frame, in_if)) in frames.iter().enumerate().filter(|_| warm) {
            hops(&mut ws, frame, *in_if, i % 2, i as u64);
        }
        let installed = tables.len().saturating_sub(behind);
        for (t, prefix) in tables.iter().enumerate() {
            ws[0].set_snapshot(table(*prefix));
            if t < installed {
                ws[1].set_snapshot(table(*prefix));
            }
        }
        for (i, (pick, first, mutations)) in picks.iter().enumerate() {
            let (mut frame, in_if) = frames[pick.index(frames.len())].clone();
            mutate(&mut frame, mutations);
            hops(&mut ws, &frame, in_if, *first, 100 + i as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The worker's accounting: rx == tx + redirected_out + to_control + reassembled + drops

/// What the test saw of one worker's packets, counted by itself (not by rvs).
#[derive(Debug, Default)]
struct Fates {
    received: u64,
    sent: u64,
    handed: u64,
    to_control: u64,
    dropped: u64,
    lost: IoLosses,
    /// Fragments held for reassembly: not received yet as far as the counters go.
    held: u64,
}

/// Frames one after another, as the worker loop drives them: each is delivered to worker
/// `first` on `in_if`; a redirect goes to the other worker as a handed frame; when `full`, the
/// verdict's queue or ring is full (for a handed frame: the first worker's redirect ring) and
/// the loss is counted as the worker counts it.
fn run_pipeline(ws: &mut [Forwarder; 2], frames: &[(Vec<u8>, u16, usize, bool)]) -> [Fates; 2] {
    let mut fates: [Fates; 2] = Default::default();
    for (i, (frame, in_if, first, full)) in frames.iter().enumerate() {
        let (mut at, mut arrival, mut handed) = (*first, Arrival::received(*in_if), 0);
        loop {
            let f = &mut fates[at];
            f.received += 1;
            let mut buf = HeapBuf::new(frame);
            let prepared = ws[at].prepare(frame);
            let verdict = ws[at].process_prepared(&mut buf, arrival, i as u64, &prepared);
            if verdict == Verdict::Reassemble {
                f.received -= 1;
            }
            // Of a frame handed on, the hop that finds a full ring is the last one.
            let full = *full && handed == 0;
            match verdict {
                Verdict::Transmit(_) | Verdict::Fragment(_) if full => f.lost.tx_full += 1,
                Verdict::Transmit(_) | Verdict::Fragment(_) => f.sent += 1,
                Verdict::Reassemble => f.held += 1,
                Verdict::Redirect(_) if full => f.lost.redirect_full += 1,
                Verdict::Redirect(w) => {
                    f.handed += 1;
                    handed += 1;
                    assert!(handed <= 2, "handed on a third time");
                    at = usize::from(w);
                    arrival = arrival.handed_on();
                    continue;
                }
                Verdict::Local if full => f.lost.control_full += 1,
                Verdict::Local => f.to_control += 1,
                Verdict::Drop(_) => f.dropped += 1,
            }
            break;
        }
    }
    fates
}

/// The fragments `fw` holds are dropped (a worker's reassembler timing them out, or shutting
/// down): now received, and dropped.
fn drop_held(fw: &mut Forwarder, f: &mut Fates) {
    fw.count_fragments(DropReason::FragTimeout, f.held);
    (f.received, f.dropped, f.held) = (f.received + f.held, f.dropped + f.held, 0);
}

/// A worker's published counters against what the test counted: every term, and the identity.
fn check_published(fw: &Forwarder, f: &Fates) {
    let mut c = WorkerCounters::default();
    c.set_traffic(fw.stats(), &f.lost);
    let drops: u64 = c.drops.iter().sum();
    assert_eq!(
        c.rx,
        c.tx + c.redirected_out + c.to_control + c.reassembled + drops,
        "rx == tx + redirected + to_control + reassembled + drops: {c:?}"
    );
    let lost = f.lost.tx_full + f.lost.redirect_full + f.lost.control_full;
    assert_eq!(
        (c.rx, c.tx, c.redirected_out, c.to_control, drops),
        (f.received, f.sent, f.handed, f.to_control, f.dropped + lost),
        "{f:?}"
    );
    assert_eq!(
        (
            c.drop_count(DropReason::TxFull),
            c.drop_count(DropReason::RedirectFull),
            c.drop_count(DropReason::ControlFull),
        ),
        (f.lost.tx_full, f.lost.redirect_full, f.lost.control_full)
    );
}

/// The first fragment of the datagram in `frame` (MF set, header checksum made again).
fn fragment_of(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[14 + 6] |= 0x20;
    f[24..26].copy_from_slice(&[0, 0]);
    let mut sum: u32 = f[14..34]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

/// An ARP reply (`op` 2) or request (1) from `sender` about `target`, from a real server's MAC.
fn arp(op: u8, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = arp_request(sender, target);
    f[21] = op;
    f
}

proptest! {
    #![proptest_config(config(512))]

    /// Two NAT workers (so client packets and replies are redirected to their owner) get valid
    /// frames of every kind, ARP for the control plane (a server's announcement, a reply to the
    /// box), frames for another MAC, garbage and mutations; queues and rings are full at random
    /// moments; fragments to the VIP are held for reassembly (uncounted) until dropped. Each
    /// worker's published counters keep the identity, term by term as counted here, also after
    /// the fragments held are dropped and its tx buffers' leftovers are lost at shutdown.
    #[test]
    fn published_counters_account_for_every_packet(
        client in client_ip(),
        cport in 1..=u16::MAX,
        payload in proptest::collection::vec(any::<u8>(), 0..32),
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), 0..2usize, any::<bool>(), proptest::collection::vec(mutation(), 0..4)), 1..40),
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4),
        left in (0..8u64, 0..8u64),
    ) {
        let mut ws = [forwarder(Method::Nat, 0, 2), forwarder(Method::Nat, 1, 2)];
        let mut kinds = valid_frames(client, cport, &payload);
        kinds.push((arp(1, RS[0], RS[0]), 1));
        kinds.push((arp(2, RS[1], [10, 0, 1, 1]), 1));
        let mut other_mac = kinds[0].0.clone();
        other_mac[..6].copy_from_slice(&[2, 0, 0, 0, 7, 7]);
        kinds.push((other_mac, 0));
        kinds.push((fragment_of(&kinds[1].0), 0));
        kinds.extend(garbage.into_iter().map(|g| (g, 0)));
        // Every kind once on each worker, the queues free, then random picks.
        let mut frames: Vec<_> = (0..2)
            .flat_map(|w| kinds.iter().map(move |(f, i)| (f.clone(), *i, w, false)))
            .collect();
        for (pick, first, full, mutations) in &picks {
            let (mut frame, in_if) = kinds[pick.index(kinds.len())].clone();
            mutate(&mut frame, mutations);
            frames.push((frame, in_if, *first, *full));
        }
        let mut fates = run_pipeline(&mut ws, &frames);
        prop_assert!(fates.iter().any(|f| f.to_control > 0 && f.handed > 0));
        prop_assert!(fates.iter().any(|f| f.held > 0));
        for (fw, f) in ws.iter_mut().zip(&mut fates) {
            check_published(fw, f);
            drop_held(fw, f);
            check_published(fw, f);
        }
        // Shutdown: what the tx buffers still hold is lost.
        for ((fw, f), left) in ws.iter().zip(&mut fates).zip([left.0, left.1]) {
            let left = left.min(f.sent);
            (f.sent, f.lost.tx_full) = (f.sent - left, f.lost.tx_full + left);
            check_published(fw, f);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edge inputs (and, when the fuzzer finds one, its crashing inputs: add them here and to
// fuzz/corpus/packet_path/).

/// Hand-made frames at the edges of the parsers, each fed on every interface after a real
/// session exists: one verdict each, counters add up, no panic.
#[test]
fn edge_inputs_get_one_verdict() {
    let client = [192, 0, 2, 10];
    let syn = build(&Pkt {
        eth_src: CLIENT_MAC,
        eth_dst: IF0_MAC,
        src: client,
        dst: VIP,
        sport: 40000,
        dport: TCP_PORT,
        ttl: 64,
        ip_option_words: 0,
        l4: L4::Tcp {
            syn: true,
            ack: false,
        },
        payload: vec![],
        padding: 0,
    });
    let with_ip = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = syn.clone();
        edit(&mut f);
        fix_ip_checksum(&mut f);
        f
    };
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        syn[..13].to_vec(),
        syn[..14].to_vec(),
        syn[..33].to_vec(),
        syn[..34].to_vec(),
        syn[..40].to_vec(),
        // IHL 15 (60-byte header) in a 54-byte frame; IHL 4 (below the minimum).
        with_ip(&|f| f[14] = 0x4f),
        with_ip(&|f| f[14] = 0x44),
        // Total length shorter than the header, longer than the frame, zero.
        with_ip(&|f| f[16..18].copy_from_slice(&19u16.to_be_bytes())),
        with_ip(&|f| f[16..18].copy_from_slice(&u16::MAX.to_be_bytes())),
        with_ip(&|f| f[16..18].copy_from_slice(&[0, 0])),
        // TCP data offset beyond the segment, and below 5.
        with_ip(&|f| f[46] = 0xf0),
        with_ip(&|f| f[46] = 0x10),
        // TTL 0 and 1, version 6 in an IPv4 frame.
        with_ip(&|f| f[22] = 0),
        with_ip(&|f| f[22] = 1),
        with_ip(&|f| f[14] = 0x65),
        // A VLAN tag, and two.
        [&syn[..12], &[0x81, 0x00, 0, 5], &syn[12..]].concat(),
        [
            &syn[..12],
            &[0x81, 0x00, 0, 5, 0x81, 0x00, 0, 6],
            &syn[12..],
        ]
        .concat(),
    ];
    // ICMP errors quoting the session's packet, cut at every length (incl. a bare 8-byte header).
    let quoted = &syn[14..];
    for cut in 0..=quoted.len() {
        let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        msg.extend_from_slice(&quoted[..cut]);
        inputs.push(ipv4_frame(
            [192, 0, 2, 1],
            VIP,
            IpNumber::ICMP,
            &finish_icmp(msg),
        ));
    }
    // A quoted header claiming options it does not carry.
    let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
    msg.extend_from_slice(&quoted[..28]);
    msg[8] = 0x4f;
    inputs.push(ipv4_frame(
        [192, 0, 2, 1],
        VIP,
        IpNumber::ICMP,
        &finish_icmp(msg),
    ));
    // ARP cut short, and an echo request with no data.
    inputs.push(arp_request(client, VIP)[..30].to_vec());
    inputs.push(ipv4_frame(
        client,
        VIP,
        IpNumber::ICMP,
        &finish_icmp(vec![8, 0, 0, 0, 0, 1, 0, 1]),
    ));

    let mut rig = Rig::new();
    rig.feed(&syn, 0, 1);
    for (i, frame) in inputs.iter().enumerate() {
        for in_if in 0..3 {
            rig.feed(frame, in_if, 2 + i as u64);
        }
    }
}
