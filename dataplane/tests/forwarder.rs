//! The engine's control-side contract: per-server connection counts follow session state,
//! and expiry and flushing give back what sessions held. Driven by the golden FULLNAT sequence.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::HeapBuf;
use dataplane::forward::{DestStats, Forwarder};
use dataplane::snapshot::{Method, Snapshot};
use dataplane::verdict::Verdict;

/// A forwarder that has run the FULLNAT sequence up to and including the case ending in `last`.
fn run_until(last: &str) -> (Forwarder, u64) {
    let (snapshot, cases) = golden::sequence(Method::FullNat);
    let mut fw = Forwarder::new(&golden::config(), snapshot).unwrap();
    for c in &cases {
        fw.process(&mut HeapBuf::new(&c.input), c.in_if, c.now);
        if c.name.ends_with(last) {
            return (fw, c.now);
        }
    }
    panic!("no case {last}");
}

/// (active, inactive) summed over the TCP service's servers.
fn totals(fw: &Forwarder) -> (u32, u32) {
    fw.dest_conns(0)
        .iter()
        .fold((0, 0), |(a, i), (x, y)| (a + x, i + y))
}

#[test]
fn counts_follow_the_handshake() {
    let (fw, _) = run_until("/tcp-syn");
    assert_eq!(totals(&fw), (0, 1), "a SYN makes one inactive connection");
    let (fw, _) = run_until("/tcp-data");
    assert_eq!(totals(&fw), (1, 0), "the handshake makes it active");
}

#[test]
fn expiry_releases_sessions_and_counts() {
    let (mut fw, now) = run_until("/tcp-syn");
    assert_eq!(fw.sessions().len(), 1);
    assert_eq!(fw.expire(now + 1_000, usize::MAX), 0, "nothing is due yet");
    let expired = fw.expire(now + 10 * 60 * 1_000, usize::MAX);
    assert_eq!(expired, 1);
    assert!(fw.sessions().is_empty());
    assert_eq!(totals(&fw), (0, 0));
}

#[test]
fn flush_removes_every_session_and_zeroes_counts() {
    let (mut fw, _) = run_until("/udp-reply");
    let live = fw.sessions().len();
    assert!(live >= 2, "TCP and UDP sessions exist ({live})");
    assert_eq!(fw.flush_sessions(), live);
    assert!(fw.sessions().is_empty());
    assert_eq!(totals(&fw), (0, 0));
}

/// The burst prefetch stage hashes exactly the key the engine looks up: for a client packet and
/// a server reply of an established session the hash leads to that session; frames that are not
/// IPv4 TCP/UDP (ARP, truncated) get no hash.
#[test]
fn prefetch_hash_leads_to_the_session() {
    use dataplane::conn::{Addr, Direction, FlowKey};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let (snapshot, cases) = golden::sequence(Method::FullNat);
    let (fw, _) = run_until("/tcp-data-reply");
    let key_of = |frame: &[u8]| {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("ipv4")
        };
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("tcp")
        };
        FlowKey::new(
            6,
            Addr::v4(ip.header().source()),
            tcp.source_port(),
            Addr::v4(ip.header().destination()),
            tcp.destination_port(),
        )
    };
    for (case, dir) in [
        ("/tcp-data", Direction::In),
        ("/tcp-data-reply", Direction::Out),
    ] {
        let frame = &cases.iter().find(|c| c.name.ends_with(case)).unwrap().input;
        let prepared = fw.prepare(frame);
        let h = prepared.flow_hash().expect("a TCP/IPv4 frame is hashed");
        fw.prefetch_session(&prepared);
        let key = key_of(frame);
        let found = fw.sessions().lookup_hashed(&key, h);
        assert!(
            matches!(found, Some((_, d)) if d == dir),
            "{case}: {found:?}"
        );
        assert_eq!(found, fw.sessions().lookup(&key), "{case}");
    }
    let arp = golden::arp_frame(
        [2; 6],
        [0xff; 6],
        1,
        [2; 6],
        [10, 0, 0, 1],
        [0; 6],
        [10, 0, 0, 2],
    );
    assert_eq!(fw.prepare(&arp).flow_hash(), None, "ARP");
    let data = &cases
        .iter()
        .find(|c| c.name.ends_with("/tcp-data"))
        .unwrap()
        .input;
    assert_eq!(fw.prepare(&data[..30]).flow_hash(), None, "truncated");
    drop(snapshot);
}

/// The FULLNAT lab's service table at `generation`, without the real server `removed`.
fn snapshot_without(generation: u64, removed: Option<u32>) -> std::sync::Arc<Snapshot> {
    let base = golden::snapshot(Method::FullNat);
    let services = base
        .services
        .iter()
        .map(|s| {
            let mut config = s.config.clone();
            config.dests.retain(|d| Some(d.id) != removed);
            config
        })
        .collect();
    std::sync::Arc::new(Snapshot::build(generation, base.interfaces.clone(), services).unwrap())
}

/// (conns, packets and bytes both ways) of one server.
fn traffic(d: &DestStats) -> [u64; 5] {
    [
        d.conns,
        d.in_packets,
        d.out_packets,
        d.in_bytes,
        d.out_bytes,
    ]
}

/// ipvsadm --stats per server: kept by id while the server stays in the service table, gone
/// with it (its sessions' packets meanwhile are not counted to it), from zero when it comes
/// back; -Z of some servers zeroes exactly those.
#[test]
fn server_traffic_follows_the_server_across_snapshots() {
    let (mut fw, now) = run_until("/udp-reply");
    let busy = |fw: &Forwarder, udp: bool| {
        // The lab's UDP servers have ids 11.., the TCP ones 1..
        fw.dest_stats()
            .into_iter()
            .find(|d| (d.id >= 11) == udp && d.in_packets > 0 && d.out_packets > 0)
            .expect("a server with traffic both ways")
    };
    let (kept, removed) = (busy(&fw, false), busy(&fw, true));
    let find = |fw: &Forwarder, id| fw.dest_stats().iter().find(|d| d.id == id).map(traffic);

    fw.set_snapshot(snapshot_without(2, Some(removed.id)));
    assert_eq!(find(&fw, kept.id), Some(traffic(&kept)));
    assert_eq!(
        find(&fw, removed.id),
        None,
        "a removed server is not listed"
    );
    // The removed server's session still forwards; its packets count to no listed server.
    let (_, cases) = golden::sequence(Method::FullNat);
    let reply = cases
        .iter()
        .find(|c| c.name.ends_with("/udp-reply"))
        .unwrap();
    let verdict = fw.process(&mut HeapBuf::new(&reply.input), reply.in_if, now + 1);
    assert!(matches!(verdict, Verdict::Transmit(_)), "{verdict:?}");

    fw.set_snapshot(snapshot_without(3, None));
    assert_eq!(find(&fw, removed.id), Some([0; 5]), "back from zero");
    assert_eq!(find(&fw, kept.id), Some(traffic(&kept)));

    let (mut fw, _) = run_until("/udp-reply");
    fw.zero_dest_stats(Some(&[removed.id]));
    assert_eq!(find(&fw, removed.id), Some([0; 5]));
    assert_eq!(find(&fw, kept.id), Some(traffic(&kept)));
    fw.zero_dest_stats(None);
    assert!(fw.dest_stats().iter().all(|d| traffic(d) == [0; 5]));
}

/// A server that gets the slot of a removed one (the removed server's id with the next
/// generation, as the control plane hands them out) inherits nothing from it: the removed
/// server's session goes on to its end without counting to the new server or moving its
/// connection counts.
#[test]
fn a_server_in_a_removed_servers_slot_inherits_none_of_its_sessions() {
    use dataplane::snapshot::DEST_SLOT_BITS;
    let (snapshot, cases) = golden::sequence(Method::FullNat);
    let mut fw = Forwarder::new(&golden::config(), snapshot).unwrap();
    let mut rest = cases.iter();
    for c in rest.by_ref() {
        fw.process(&mut HeapBuf::new(&c.input), c.in_if, c.now);
        if c.name.ends_with("/tcp-data") {
            break;
        }
    }
    let d = fw
        .dest_conns(0)
        .iter()
        .position(|&c| c == (1, 0))
        .expect("the server of the established session");
    let base = golden::snapshot(Method::FullNat);
    let old_id = base.services[0].config.dests[d].id;
    let new_id = old_id | 1 << DEST_SLOT_BITS;
    let services = base
        .services
        .iter()
        .map(|s| {
            let mut config = s.config.clone();
            for dest in &mut config.dests {
                if dest.id == old_id {
                    dest.id = new_id;
                }
            }
            config
        })
        .collect();
    fw.set_snapshot(std::sync::Arc::new(
        Snapshot::build(2, base.interfaces.clone(), services).unwrap(),
    ));
    assert_eq!(fw.dest_conns(0)[d], (0, 0), "the new server starts empty");
    // The rest of the first TCP flow: data both ways, ICMP errors about it, FIN both ways and
    // the server's RST (it leaves ESTABLISHED).
    let mut replayed = 0;
    for c in rest.by_ref() {
        let verdict = fw.process(&mut HeapBuf::new(&c.input), c.in_if, c.now);
        assert_eq!(
            verdict, c.verdict,
            "{}: the old session still forwards",
            c.name
        );
        replayed += 1;
        if c.name.ends_with("/tcp-rst-reply") {
            break;
        }
    }
    assert!(replayed >= 4, "only {replayed} packets of the old session");
    let new = fw
        .dest_stats()
        .into_iter()
        .find(|s| s.id == new_id)
        .expect("the new server is listed");
    assert_eq!(traffic(&new), [0; 5], "no packet of the old session counts");
    assert_eq!((new.active_conns, new.inactive_conns), (0, 0));
    let (live, later) = (fw.sessions().len(), cases.last().unwrap().now + 3_600_000);
    assert_eq!(fw.expire(later, usize::MAX), live, "every session ended");
    assert_eq!(fw.dest_conns(0)[d], (0, 0), "its end moves no count either");
}

/// The lab's service table at `generation`, with `edit` applied to each service's config.
fn snapshot_edited(
    method: Method,
    generation: u64,
    edit: impl Fn(&mut dataplane::snapshot::ServiceConfig),
) -> std::sync::Arc<Snapshot> {
    let base = golden::snapshot(method);
    let services = base
        .services
        .iter()
        .map(|s| {
            let mut config = s.config.clone();
            edit(&mut config);
            config
        })
        .collect();
    std::sync::Arc::new(Snapshot::build(generation, base.interfaces.clone(), services).unwrap())
}

/// A change to one service leaves another service's round robin where it was: its next new
/// connection goes to its next server, not back to its first (with changes more frequent than
/// connections, rr would otherwise send them all to the first server). A change to the
/// service's own servers keeps its rr place too, as IPVS's rr does.
#[test]
fn a_change_elsewhere_keeps_a_services_round_robin_place() {
    use dataplane::conn::PROTO_TCP;
    let mut fw = Forwarder::new(&golden::config(), snapshot_edited(Method::Dr, 1, |_| ())).unwrap();
    let new_flow = |fw: &mut Forwarder, sport: u16| {
        let mut buf = HeapBuf::new(&dns_query(sport));
        let verdict = fw.process(&mut buf, 0, golden::START_MS);
        assert_eq!(verdict, Verdict::Transmit(1), "flow from port {sport}");
        let mac = &buf.data()[..6];
        golden::RS_MAC
            .iter()
            .position(|m| m == mac)
            .expect("sent to a real server")
    };
    use dataplane::buf::PacketBuf;
    assert_eq!(new_flow(&mut fw, 1001), 0);
    assert_eq!(new_flow(&mut fw, 1002), 1);

    // The TCP service loses a server; the UDP one is as it was.
    fw.set_snapshot(snapshot_edited(Method::Dr, 2, |s| {
        if s.key.protocol == PROTO_TCP {
            s.dests.remove(0);
        }
    }));
    assert_eq!(new_flow(&mut fw, 1003), 2, "the round goes on");
    assert_eq!(new_flow(&mut fw, 1004), 0);

    // Now the UDP service itself changes (a weight): its round goes on.
    fw.set_snapshot(snapshot_edited(Method::Dr, 3, |s| {
        if s.key.protocol != PROTO_TCP {
            s.dests[0].weight = 2;
        }
    }));
    assert_eq!(new_flow(&mut fw, 1005), 1, "the round goes on after A");
    // Its last pick (B) leaves: the round goes on with C, where B was.
    fw.set_snapshot(snapshot_edited(Method::Dr, 4, |s| {
        if s.key.protocol != PROTO_TCP {
            s.dests.remove(1);
        }
    }));
    let c = golden::RS_MAC.len() - 1;
    assert_eq!(new_flow(&mut fw, 1006), c, "C follows B's predecessor");
}

/// A flow follows its server when the server's (or its gateway's) MAC moves, as the neighbour
/// code reports a failover: its next packet goes to the new MAC, not the old one. While the
/// table has no MAC for it (unresolved), the flow goes to the MAC it was bound with, and to
/// the server's next MAC once it has one.
#[test]
fn an_established_flow_follows_its_servers_new_mac() {
    use dataplane::buf::PacketBuf;
    use dataplane::wire::ethernet::MacAddr;
    let query = golden::Pkt {
        src_mac: golden::GW_MAC,
        dst_mac: golden::IF0_MAC,
        ip: golden::Ip::new(golden::CLIENT, golden::VIP, 7),
        l4: golden::L4::Udp {
            sport: 1001,
            dport: golden::DNS,
            zero_checksum: false,
        },
        payload: b"query".to_vec(),
        pad_to: 0,
    }
    .frame();
    let send = |fw: &mut Forwarder, now: u64| {
        let mut buf = HeapBuf::new(&query);
        assert_eq!(fw.process(&mut buf, 0, now), Verdict::Transmit(1));
        MacAddr(buf.data()[..6].try_into().unwrap())
    };
    // Every server's MAC becomes 02:00:00:00:<n>:<its last byte>.
    let macs = |generation: u64, n: u8| {
        snapshot_edited(Method::Dr, generation, move |s| {
            for d in &mut s.dests {
                d.mac = match n {
                    0 => MacAddr::ZERO,
                    n => MacAddr([2, 0, 0, 0, n, d.mac.0[5]]),
                }
            }
        })
    };
    let mut fw = Forwarder::new(&golden::config(), macs(1, 1)).unwrap();
    let first = send(&mut fw, golden::START_MS);
    let server = first.0[5];
    fw.set_snapshot(macs(2, 0));
    assert_eq!(
        send(&mut fw, 2_000),
        first,
        "unresolved: the MAC it was bound with"
    );
    fw.set_snapshot(macs(3, 9));
    assert_eq!(
        send(&mut fw, 3_000),
        MacAddr([2, 0, 0, 0, 9, server]),
        "resolved anew"
    );
    fw.set_snapshot(macs(4, 7));
    assert_eq!(
        send(&mut fw, 4_000),
        MacAddr([2, 0, 0, 0, 7, server]),
        "moved"
    );
}

/// A query from the client's port `sport` to the lab's DNS service (UDP).
fn dns_query(sport: u16) -> Vec<u8> {
    let query = golden::Pkt {
        src_mac: golden::GW_MAC,
        dst_mac: golden::IF0_MAC,
        ip: golden::Ip::new(golden::CLIENT, golden::VIP, sport),
        l4: golden::L4::Udp {
            sport,
            dport: golden::DNS,
            zero_checksum: false,
        },
        payload: b"query".to_vec(),
        pad_to: 0,
    };
    query.frame()
}

/// A new UDP flow from the client's port `sport` to the lab's DNS service at `now`: its verdict,
/// after checking that a flow sent on goes to the first real server.
fn udp_flow(fw: &mut Forwarder, sport: u16, now: u64) -> Verdict {
    use dataplane::buf::PacketBuf;
    let mut buf = HeapBuf::new(&dns_query(sport));
    let verdict = fw.process(&mut buf, 0, now);
    if verdict == Verdict::Transmit(1) {
        assert_eq!(buf.data()[..6], golden::RS_MAC[0]);
    }
    verdict
}

/// IPVS's overload flag: a server with an upper threshold takes no new connections once its
/// connections reach it, and takes them again as soon as they drop below 3/4 of it (no lower
/// threshold set): here 5 and below 15/4, so at 3 connections, not 2, and without a new table.
#[test]
fn an_overloaded_server_is_available_again_when_its_connections_end() {
    use dataplane::conn::PROTO_UDP;
    // The UDP service's first server alone takes new flows, up to 5 connections.
    let mut fw = Forwarder::new(
        &golden::config(),
        snapshot_edited(Method::Dr, 1, |s| {
            if s.key.protocol == PROTO_UDP {
                s.dests[0].upper_threshold = 5;
                s.dests[1].weight = 0;
                s.dests[2].weight = 0;
            }
        }),
    )
    .unwrap();
    let second = 1_000;
    for n in 1..=5u16 {
        assert_eq!(
            udp_flow(&mut fw, 1000 + n, u64::from(n) * second),
            Verdict::Transmit(1)
        );
    }
    assert_eq!(fw.dest_conns(1)[0], (0, 5));
    let refused = Verdict::Drop(dataplane::verdict::DropReason::NoDestination);
    assert_eq!(udp_flow(&mut fw, 2000, 6 * second), refused, "5 reached");
    // UDP sessions last 300 s: the first ends, 4 is not below 3.75.
    let udp = 300 * second;
    assert_eq!(fw.expire(udp + 2 * second - 1, usize::MAX), 1);
    assert_eq!(fw.dest_conns(1)[0], (0, 4));
    assert_eq!(udp_flow(&mut fw, 2001, udp + 2 * second), refused, "4 left");
    // The second ends: 3 is below 3.75.
    assert_eq!(fw.expire(udp + 3 * second - 1, usize::MAX), 1);
    assert_eq!(fw.dest_conns(1)[0], (0, 3));
    assert_eq!(
        udp_flow(&mut fw, 2002, udp + 3 * second),
        Verdict::Transmit(1),
        "3 left: available again"
    );
}

/// New thresholds that no longer hold a server release it (IPVS `__ip_vs_update_dest` clears
/// the overload flag when the upper threshold is gone or above the server's connections).
#[test]
fn raising_the_upper_threshold_releases_an_overloaded_server() {
    use dataplane::conn::PROTO_UDP;
    let thresholds = |generation: u64, upper: u32| {
        snapshot_edited(Method::Dr, generation, move |s| {
            if s.key.protocol == PROTO_UDP {
                s.dests[0].upper_threshold = upper;
                s.dests[0].lower_threshold = 2;
                s.dests[1].weight = 0;
                s.dests[2].weight = 0;
            }
        })
    };
    let mut fw = Forwarder::new(&golden::config(), thresholds(1, 3)).unwrap();
    for sport in 1..=3 {
        assert_eq!(udp_flow(&mut fw, sport, 1_000), Verdict::Transmit(1));
    }
    let refused = Verdict::Drop(dataplane::verdict::DropReason::NoDestination);
    assert_eq!(udp_flow(&mut fw, 4, 2_000), refused, "3 reached");
    fw.set_snapshot(thresholds(2, 3));
    assert_eq!(
        udp_flow(&mut fw, 5, 3_000),
        refused,
        "the same table holds it"
    );
    fw.set_snapshot(thresholds(3, 10));
    assert_eq!(
        udp_flow(&mut fw, 6, 4_000),
        Verdict::Transmit(1),
        "3 is below 10"
    );
    fw.set_snapshot(thresholds(4, 2));
    assert_eq!(udp_flow(&mut fw, 7, 5_000), refused, "4 is above 2");
    fw.set_snapshot(thresholds(5, 0));
    assert_eq!(
        udp_flow(&mut fw, 8, 6_000),
        Verdict::Transmit(1),
        "no threshold"
    );
}

/// The input of golden case `name` of `method`'s sequence.
fn golden_input(method: Method, name: &str) -> (Vec<u8>, u16) {
    let (_, cases) = golden::sequence(method);
    let c = cases.iter().find(|c| c.name.ends_with(name)).unwrap();
    (c.input.clone(), c.in_if)
}

/// NAT answers expiring packets from one client six times back to back, then once a second;
/// the silenced ones are `ttl_expired` drops and the counters still add up.
#[test]
fn time_exceeded_is_rate_limited_per_peer() {
    use dataplane::verdict::DropReason;
    let (frame, in_if) = golden_input(Method::Nat, "/tcp-syn-ttl1");
    let snapshot = std::sync::Arc::new(golden::snapshot(Method::Nat));
    let mut fw = Forwarder::new(&golden::config(), snapshot).unwrap();
    let now = golden::START_MS;
    let verdicts: Vec<Verdict> = (0..8)
        .map(|_| fw.process(&mut HeapBuf::new(&frame), in_if, now))
        .collect();
    let expired = Verdict::Drop(DropReason::TtlExpired);
    assert_eq!(verdicts[..6], [Verdict::Transmit(0); 6]);
    assert_eq!(verdicts[6..], [expired; 2]);
    assert_eq!(
        fw.process(&mut HeapBuf::new(&frame), in_if, now + 999),
        expired
    );
    let again = fw.process(&mut HeapBuf::new(&frame), in_if, now + 1000);
    assert_eq!(again, Verdict::Transmit(0));
    let s = fw.stats();
    assert_eq!(
        (s.tx, s.icmp_errors, s.drops.get(DropReason::TtlExpired)),
        (7, 7, 3)
    );
    assert_eq!(s.rx, s.tx + s.redirected + s.local + s.drops.total());
    assert!(fw.sessions().is_empty(), "no session for an expiring SYN");
}

/// A NAT reply expiring on a port without an address is answered from the box's first address
/// on another port.
#[test]
fn time_exceeded_from_a_port_without_address() {
    let (_, cases) = golden::sequence(Method::Nat);
    let mut bare = golden::snapshot(Method::Nat);
    bare.interfaces[1].addrs.clear();
    let mut fw = Forwarder::new(&golden::config(), std::sync::Arc::new(bare)).unwrap();
    for c in &cases {
        let mut buf = HeapBuf::new(&c.input);
        let verdict = fw.process(&mut buf, c.in_if, c.now);
        if c.name.ends_with("/tcp-reply-ttl1") {
            assert_eq!(verdict, Verdict::Transmit(1));
            let data = dataplane::buf::PacketBuf::data(&buf);
            assert_eq!(data[14 + 12..14 + 16], golden::IF0_IP);
            assert_eq!(data[14 + 20], 11, "time exceeded");
            return;
        }
    }
    panic!("no reply with TTL 1 in the NAT sequence");
}
