//! The daemon in-process on net_ring ports, with the test playing the wire: clients on the wan
//! port's rings and real servers on the lan port's rings, answering what rvs actually sends.
//! Ring ports have no rte_flow, so two workers hand FULLNAT replies to each other in software.

#[path = "../../dataplane/tests/golden/mod.rs"]
mod golden;

use control::config;
use control::daemon::Daemon;
use control::flow::Steering;
use control::health::{probe, Target};
use control::sync::{SyncDaemon, SyncRole};
use dataplane::conn::Addr;
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{
    Consumer, Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, Producer, SOCKET_ANY,
};
use dataplane::snapshot::ServiceConfig;
use dataplane::sync::{wire, SyncConn};
use dataplane::verdict::DropReason;
use dataplane::worker::WorkerCounters;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use rvs_api::keepalived::checker::{CheckKind, Url};
use std::net::Ipv4Addr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Main lcore 0 and worker lcores 1 and 2 (2 shares cpu 1): two workers on a two-core machine.
const EAL_ARGS: &[&str] = &[
    "rvs-daemon-test",
    "--no-huge",
    "-m",
    "512",
    "--no-pci",
    "--no-shconf",
    "--no-telemetry",
    "--lcores",
    "0@0,1@1,2@1",
    "--log-level",
    "*:error",
];

const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const RS_MACS: [[u8; 6]; 3] = [
    [2, 0, 0, 0, 1, 0x11],
    [2, 0, 0, 0, 1, 0x12],
    [2, 0, 0, 0, 1, 0x13],
];
const VIP: [u8; 4] = [10, 10, 0, 100];
const LADDR: [u8; 4] = [10, 20, 0, 250];

fn eal() -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| Eal::init(EAL_ARGS).expect("EAL init"))
}

/// Daemons of one process share the worker lcores: one test at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn pool() -> Mempool {
    static POOL: OnceLock<Mempool> = OnceLock::new();
    *POOL.get_or_init(|| {
        Mempool::create(
            eal(),
            "test_pool",
            16383,
            256,
            Mempool::default_data_room(),
            SOCKET_ANY,
        )
        .expect("pool")
    })
}

/// Real servers `rs` (0 = 10.20.0.11 ..); static neighbours for all three real servers.
fn config_text(method: &str, workers: &[u32], rs: &[usize]) -> String {
    config_with_neighbours(method, workers, rs, 3)
}

/// As [`config_text`] with static neighbours for the first `statics` real servers only.
fn config_with_neighbours(method: &str, workers: &[u32], rs: &[usize], statics: usize) -> String {
    let mut t = format!(
        r#"
[cores]
main = 0
workers = {workers:?}
cpus = {cpus:?}
[dataplane]
mbufs = 16383
rx_desc = 256
tx_desc = 256
[sessions]
capacity = 65536
[[ports]]
name = "wan"
kernel_interface = ""
device = "net_ring_wan"
addrs = ["10.10.0.1/24"]
vips = ["10.10.0.100"]
mac = "02:00:00:00:00:01"
[[ports]]
name = "lan"
kernel_interface = ""
device = "net_ring_lan"
addrs = ["10.20.0.1/24"]
mac = "02:00:00:00:00:02"
[[routes]]
prefix = "0.0.0.0/0"
via = "10.10.0.254"
"#,
        cpus = (0..workers.len()).collect::<Vec<_>>()
    );
    for (i, mac) in RS_MACS.iter().enumerate().take(statics) {
        t += &format!(
            "[[neighbours]]\naddr = \"10.20.0.{}\"\nmac = \"{}\"\nport = \"lan\"\n",
            11 + i,
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );
    }
    t += &services_text(method, rs, &[1, 1, 1]);
    t
}

fn services_text(method: &str, rs: &[usize], weights: &[u32]) -> String {
    let mut t = String::from(
        "[[services]]\nprotocol = \"tcp\"\nvip = \"10.10.0.100\"\nport = 80\nscheduler = \"rr\"\nlocal_addrs = [\"10.20.0.250\"]\n",
    );
    for &i in rs {
        t += &format!(
            "[[services.real_servers]]\naddr = \"10.20.0.{}\"\nport = 8080\nmethod = \"{method}\"\nweight = {}\n",
            11 + i,
            weights[i]
        );
    }
    t
}

/// The wire side of one ring port: what the test sends into each rx queue and reads from each
/// tx queue.
struct Wire {
    rx: Vec<Producer<Mbuf>>,
    tx: Vec<Consumer<Mbuf>>,
}

/// A ring port; its tx rings (towards the test) hold `tx_ring` frames each.
fn ring_port(name: &str, rx_queues: usize, tx_queues: usize, tx_ring: u32) -> (Port, Wire) {
    let eal = eal();
    let (mut rx_p, mut rx_c, mut tx_p, mut tx_c) = (vec![], vec![], vec![], vec![]);
    for q in 0..rx_queues {
        let (p, c) = channel::<Mbuf>(
            eal,
            &format!("{name}_r{q}"),
            4096,
            Producers::Single,
            SOCKET_ANY,
        )
        .unwrap();
        rx_p.push(p);
        rx_c.push(c);
    }
    for q in 0..tx_queues {
        let (p, c) = channel::<Mbuf>(
            eal,
            &format!("{name}_t{q}"),
            tx_ring,
            Producers::Single,
            SOCKET_ANY,
        )
        .unwrap();
        tx_p.push(p);
        tx_c.push(c);
    }
    let mut pc = dataplane::dpdk::PortConfig::new(pool());
    pc.rx_queues = rx_queues as u16;
    pc.tx_queues = tx_queues as u16;
    let port = Port::open_rings(eal, name, rx_c, tx_p, &pc).unwrap();
    (port, Wire { rx: rx_p, tx: tx_c })
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))
}

struct Lab {
    daemon: Daemon,
    wan: Wire,
    lan: Wire,
}

impl Lab {
    fn start(config_text: &str) -> Lab {
        Lab::start_with_lan_tx_ring(config_text, 4096)
    }

    /// As [`Lab::start`], with the lan port's tx rings holding `lan_tx_ring` frames.
    fn start_with_lan_tx_ring(config_text: &str, lan_tx_ring: u32) -> Lab {
        let config = config::parse(config_text).expect("config");
        let workers = config.cores.workers.len();
        let (wan_port, wan) = ring_port(&unique("wan"), workers, workers, 4096);
        let (lan_port, lan) = ring_port(&unique("lan"), workers, workers, lan_tx_ring);
        let daemon = Daemon::start(eal(), config, pool(), vec![wan_port, lan_port]).expect("start");
        Lab { daemon, wan, lan }
    }

    /// A TCP segment from each of clients `0..flows` to the VIP's port 80, each client's on rx
    /// queue `client % 2` of the wan port (RSS keeps a flow on one queue); returns what comes
    /// out of the lan port, waiting for `flows` frames.
    fn send_from_clients(
        &mut self,
        flows: usize,
        flags: &str,
        seq: u32,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        for i in 0..flows {
            let f = tcp_frame(
                ROUTER_MAC,
                WAN_MAC,
                client(i),
                (VIP, 80),
                flags,
                seq,
                payload,
            );
            Lab::inject(&mut self.wan, i % 2, &f);
        }
        Lab::collect(&mut self.daemon, &mut self.lan, flows)
    }

    fn inject(wire: &mut Wire, queue: usize, frame: &[u8]) {
        let mut m = pool().alloc().expect("mbuf");
        assert!(m.set_data(frame));
        wire.rx[queue].push(m).map_err(|_| "rx ring full").unwrap();
    }

    /// Frames the box sent on `wire`'s tx queues, waiting up to 2 s for `want` of them, with the
    /// control thread's frames set aside (see [`Lab::collect_with_control`]).
    /// Sets the lan port's start-up gratuitous ARP aside (one frame per address, handed to the
    /// worker one at a time), so a stalled lan tx ring then holds data only.
    fn clear_announcements(&mut self) {
        let (_, garp) =
            Lab::collect_with_control(&mut self.daemon, &mut self.lan, usize::MAX, |_| true);
        assert!(!garp.is_empty(), "the lan port announces its address");
        std::thread::sleep(Duration::from_millis(20));
        let mut burst = MbufBurst::<64>::new();
        self.lan.tx[0].pop_burst(&mut burst);
        assert!(
            burst.iter().all(|m| is_arp_request(m.data())),
            "nothing but gratuitous ARP before the traffic"
        );
        burst.free_all();
    }

    /// Waits until the workers received `received` frames, lets many drain deadlines (100 us)
    /// pass while the lan queue refuses, drains its full ring of `ring` frames without the
    /// control thread (which could queue a frame meanwhile), then collects up to `want` more.
    fn drain_stalled(&mut self, received: usize, ring: usize, want: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.daemon.counters().iter().map(|c| c.rx).sum::<u64>() < received as u64 {
            assert!(Instant::now() < deadline, "the worker received every frame");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut frames = Vec::new();
        let mut burst = MbufBurst::<64>::new();
        while frames.len() < ring {
            assert!(
                Instant::now() < deadline + Duration::from_secs(2),
                "the ring filled while the queue refused"
            );
            self.lan.tx[0].pop_burst(&mut burst);
            frames.extend(burst.iter().map(|m| m.data().to_vec()));
            burst.free_all();
        }
        frames.extend(Lab::collect(&mut self.daemon, &mut self.lan, want));
        frames
    }

    fn collect(daemon: &mut Daemon, wire: &mut Wire, want: usize) -> Vec<Vec<u8>> {
        Lab::collect_with_control(daemon, wire, want, |_| false).0
    }

    /// Like [`Lab::collect`]; also returns the control thread's frames (ARP requests and
    /// gratuitous ARP, which workers never originate), and stops early once one of them
    /// satisfies `enough`.
    fn collect_with_control(
        daemon: &mut Daemon,
        wire: &mut Wire,
        want: usize,
        enough: impl Fn(&[u8]) -> bool,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut out, mut control) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut burst = MbufBurst::<64>::new();
        while out.len() < want
            && !control.iter().any(|f: &Vec<u8>| enough(f))
            && Instant::now() < deadline
        {
            daemon.poll();
            for q in wire.tx.iter_mut() {
                q.pop_burst(&mut burst);
                for f in burst.iter().map(|m| m.data().to_vec()) {
                    if is_arp_request(&f) {
                        control.push(f);
                    } else {
                        out.push(f);
                    }
                }
                burst.free_all();
            }
        }
        (out, control)
    }
}

fn tcp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: &str,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 65535);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    if flags.contains('F') {
        b = b.fin();
    }
    let mut f = Vec::new();
    b.write(&mut f, payload).unwrap();
    f
}

/// (src, dst) addresses and ports of a TCP frame, and its TTL.
fn tcp_endpoints(frame: &[u8]) -> ((Ipv4Addr, u16), (Ipv4Addr, u16), u8) {
    let p = SlicedPacket::from_ethernet(frame).expect("parse");
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4: {frame:02x?}")
    };
    let Some(TransportSlice::Tcp(tcp)) = p.transport else {
        panic!("not TCP")
    };
    let h = ip.header();
    (
        (h.source_addr(), tcp.source_port()),
        (h.destination_addr(), tcp.destination_port()),
        h.ttl(),
    )
}

fn client(i: usize) -> ([u8; 4], u16) {
    (
        [192, 0, 2, 10 + (i / 1000) as u8],
        20000 + (i % 1000) as u16,
    )
}

/// FULLNAT with two workers: SYNs spread over both rx queues; every server reply is sent to the
/// rx queue of the *other* worker than the one that owns the local port half of the time, so
/// it must be handed over. Every packet of every flow must come out, rewritten.
#[test]
fn fullnat_two_workers_redirect_replies_to_the_owner() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("fullnat", &[1, 2], &[0, 1, 2]));
    assert!(
        matches!(lab.daemon.steering(), Steering::Software(_)),
        "ring ports have no rte_flow: {}",
        lab.daemon.steering()
    );
    const FLOWS: usize = 200;
    let syns = lab.send_from_clients(FLOWS, "S", 1000, &[]);
    assert_eq!(syns.len(), FLOWS, "every SYN reaches a real server");
    // Map each local port back to its client, check the rewrite.
    let mut flows = Vec::new();
    for s in &syns {
        let ((src, lport), (dst, dport), ttl) = tcp_endpoints(s);
        assert_eq!(src, Ipv4Addr::from(LADDR));
        assert_eq!(dport, 8080);
        assert_eq!(ttl, 63);
        let rs = (dst.octets()[3] - 11) as usize;
        assert_eq!(&s[..6], &RS_MACS[rs], "to the real server's MAC");
        assert_eq!(&s[6..12], &LAN_MAC);
        flows.push((dst.octets(), lport));
    }
    // Server SYN|ACKs: half to the owner's queue, half to the other worker's.
    let mut wrong = 0;
    for (n, &(rs, lport)) in flows.iter().enumerate() {
        let owner = usize::from(lport) % 2;
        let queue = if n % 2 == 0 { owner } else { 1 - owner };
        wrong += usize::from(queue != owner);
        let mac = RS_MACS[usize::from(rs[3] - 11)];
        let f = tcp_frame(mac, LAN_MAC, (rs, 8080), (LADDR, lport), "SA", 5000, &[]);
        Lab::inject(&mut lab.lan, queue, &f);
    }
    let replies = Lab::collect(&mut lab.daemon, &mut lab.wan, FLOWS);
    assert_eq!(replies.len(), FLOWS, "every reply completes");
    let mut clients: Vec<_> = replies
        .iter()
        .map(|r| {
            let ((src, sport), (dst, dport), _) = tcp_endpoints(r);
            assert_eq!((src, sport), (Ipv4Addr::from(VIP), 80), "from the VIP");
            assert_eq!(&r[..6], &ROUTER_MAC);
            (dst.octets(), dport)
        })
        .collect();
    clients.sort();
    let mut expected: Vec<_> = (0..FLOWS).map(client).collect();
    expected.sort();
    assert_eq!(clients, expected, "each client gets exactly its reply");
    // The data-plane counters saw the handovers.
    std::thread::sleep(Duration::from_millis(30));
    let counters = lab.daemon.counters();
    let out: u64 = counters.iter().map(|c| c.redirected_out).sum();
    let handed: u64 = counters.iter().map(|c| c.redirected_in).sum();
    assert!(
        wrong > 0 && out as usize >= wrong,
        "redirected {out}, wrong queue {wrong}"
    );
    assert_eq!(
        out, handed,
        "every handed-over packet was taken by its owner"
    );
    assert_eq!(counters.iter().map(|c| c.io_drops()).sum::<u64>(), 0);
    assert_identity(&counters);
    let sessions = lab.daemon.list_sessions().unwrap();
    assert_eq!(sessions.len(), FLOWS);
    assert!(sessions
        .iter()
        .all(|s| s.local.is_some_and(|(a, _)| a.to_v4() == Some(LADDR))));
    let stats = lab.daemon.dest_stats().unwrap();
    assert_eq!(stats.iter().map(|d| d.conns).sum::<u64>(), FLOWS as u64);
    assert_eq!(
        stats.iter().map(|d| d.out_packets).sum::<u64>(),
        FLOWS as u64
    );
    lab.daemon.zero_stats(None).unwrap();
    let stats = lab.daemon.dest_stats().unwrap();
    assert!(stats.iter().all(|d| d.conns == 0 && d.in_packets == 0));
    assert_eq!(lab.daemon.flush_sessions().unwrap(), FLOWS);
    assert!(lab.daemon.list_sessions().unwrap().is_empty());
    lab.daemon.shutdown();
}

/// NAT with two workers: each client's segments all arrive on one rx queue (as RSS keeps a
/// flow on one queue), half of them on the queue of the worker that does not own the flow; the
/// servers' replies arrive on either queue. Every SYN, every SYN|ACK and every request after
/// the handshake must come out rewritten: the non-owner hands the whole flow to its owner.
#[test]
fn nat_two_workers_complete_connections_whatever_the_queue() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("nat", &[1, 2], &[0, 1, 2]));
    const FLOWS: usize = 200;
    let syns = lab.send_from_clients(FLOWS, "S", 1000, &[]);
    assert_eq!(syns.len(), FLOWS, "every SYN reaches a real server");
    for (n, s) in syns.iter().enumerate() {
        let ((src, sport), (rs, dport), _) = tcp_endpoints(s);
        assert_eq!(dport, 8080);
        let mac = RS_MACS[usize::from(rs.octets()[3] - 11)];
        let f = tcp_frame(
            mac,
            LAN_MAC,
            (rs.octets(), 8080),
            (src.octets(), sport),
            "SA",
            5000,
            &[],
        );
        Lab::inject(&mut lab.lan, n % 2, &f);
    }
    let replies = Lab::collect(&mut lab.daemon, &mut lab.wan, FLOWS);
    assert_eq!(replies.len(), FLOWS, "every SYN|ACK reaches its client");
    assert!(replies
        .iter()
        .all(|r| tcp_endpoints(r).0 == (Ipv4Addr::from(VIP), 80)));
    let requests = lab.send_from_clients(FLOWS, "A", 1001, b"GET /");
    assert_eq!(
        requests.len(),
        FLOWS,
        "every request after the handshake is forwarded"
    );
    std::thread::sleep(Duration::from_millis(30));
    let counters = lab.daemon.counters();
    let drops: u64 = counters.iter().map(|c| c.drops.iter().sum::<u64>()).sum();
    assert_eq!(drops, 0, "{counters:?}");
    assert!(
        counters.iter().all(|c| c.redirected_out > 0),
        "{counters:?}"
    );
    assert_eq!(lab.daemon.list_sessions().unwrap().len(), FLOWS);
}

/// Persistence with two workers (DR, rr): each client's SYNs from several ports, spread over
/// both rx queues as RSS spreads them, all reach one real server, the one its template names,
/// because the client's network has one owner worker; without it each worker kept its own
/// template and rr sent the client's connections on the two workers to different servers.
#[test]
fn a_persistent_client_keeps_its_server_whatever_the_worker() {
    let _serial = serial();
    let text = config_text("dr", &[1, 2], &[0, 1, 2])
        .replace("port = 8080\n", "")
        .replace(
            "scheduler = \"rr\"\n",
            "scheduler = \"rr\"\npersistence = 300\n",
        );
    let mut lab = Lab::start(&text);
    const CLIENTS: u8 = 10;
    const PORTS: u16 = 6;
    let mut sent = 0;
    for port in 0..PORTS {
        for c in 0..CLIENTS {
            let from = ([192, 0, 2, 100 + c], 30000 + port);
            let f = tcp_frame(ROUTER_MAC, WAN_MAC, from, (VIP, 80), "S", 1000, &[]);
            // Queues alternate by client and port: each client's SYNs reach both workers.
            Lab::inject(&mut lab.wan, usize::from((u16::from(c) + port) % 2), &f);
            sent += 1;
        }
    }
    let out = Lab::collect(&mut lab.daemon, &mut lab.lan, sent);
    assert_eq!(out.len(), sent, "every SYN reaches a real server");
    let mut server_of = std::collections::HashMap::new();
    for f in &out {
        let ((client, _), _, _) = tcp_endpoints(f);
        let mac: [u8; 6] = f[..6].try_into().unwrap();
        let first = *server_of.entry(client).or_insert(mac);
        assert_eq!(mac, first, "client {client}: two servers");
    }
    assert_eq!(server_of.len(), usize::from(CLIENTS));
    std::thread::sleep(Duration::from_millis(30));
    let counters = lab.daemon.counters();
    assert!(
        counters.iter().any(|c| c.redirected_out > 0),
        "{counters:?}"
    );
}

/// A tx queue that refuses for a while (its ring full, nobody draining it) delays packets but
/// loses only what does not fit: the worker keeps what the queue refused in its tx buffer (32)
/// and sends it once the queue drains; packets that find the buffer still full are dropped
/// and counted (`tx_full`), in place of their transmission: the counters keep
/// `rx == tx + redirected_out + to_control + reassembled + drops` exactly.
#[test]
fn a_stalled_tx_queue_delays_packets_and_drops_only_what_does_not_fit() {
    let _serial = serial();
    const RING: usize = 64;
    const BUFFER: usize = 32;
    const EXTRA: usize = 10;
    const TOTAL: usize = RING + BUFFER + EXTRA;
    let mut lab = Lab::start_with_lan_tx_ring(&config_text("nat", &[1], &[0, 1]), RING as u32);
    lab.clear_announcements();
    for i in 0..TOTAL {
        let f = tcp_frame(ROUTER_MAC, WAN_MAC, client(i), (VIP, 80), "S", 1000, &[]);
        Lab::inject(&mut lab.wan, 0, &f);
    }
    let frames = lab.drain_stalled(TOTAL, RING, TOTAL);
    let clients: Vec<u16> = frames
        .iter()
        .filter(|f| !is_arp_request(f))
        .map(|f| tcp_endpoints(f).0 .1)
        .collect();
    let counters = lab.daemon.shutdown();
    let tx_full: u64 = counters
        .iter()
        .map(|c| c.drop_count(DropReason::TxFull))
        .sum();
    let first: Vec<u16> = (0..RING + BUFFER).map(|i| client(i).1).collect();
    assert_eq!(
        clients, first,
        "the ring's and the buffer's SYNs came out, in order"
    );
    assert_eq!(
        tx_full, EXTRA as u64,
        "only the SYNs that found no room were dropped"
    );
    let c = &counters[0];
    assert_eq!(
        (c.rx, c.tx, c.dropped()),
        (TOTAL as u64, (RING + BUFFER) as u64, EXTRA as u64),
        "tx counts what was sent, the lost SYNs count as drops only: {c:?}"
    );
    assert_identity(&counters);
}

/// A stalled tx queue with datagrams sent in fragments: a datagram is one packet however many
/// fragments it leaves in. 40 datagrams of 3 fragments are reassembled and sent in 3 each; the
/// ring (64) and the buffer (32) hold 32 datagrams' fragments, whole; each later datagram loses
/// its first fragment to the full buffer, is not sent further and counts once in `tx_full`.
#[test]
fn a_stalled_tx_queue_counts_a_datagram_sent_in_fragments_once() {
    let _serial = serial();
    const RING: usize = 64;
    const BUFFER: usize = 32;
    const DATAGRAMS: usize = 40;
    const SENT: usize = (RING + BUFFER) / 3;
    let mut text = config_text("nat", &[1], &[0, 1]);
    text +=
        "[[services]]\nprotocol = \"udp\"\nvip = \"10.10.0.100\"\nport = 53\nscheduler = \"rr\"\n";
    text += "[[services.real_servers]]\naddr = \"10.20.0.11\"\nmethod = \"nat\"\n";
    let mut lab = Lab::start_with_lan_tx_ring(&text, RING as u32);
    lab.clear_announcements();
    let payload: Vec<u8> = (0..3972).map(|b| b as u8).collect();
    for i in 0..DATAGRAMS {
        let ident = 0x300 + i as u16;
        for f in udp_fragments((ROUTER_MAC, WAN_MAC), client(i), (VIP, 53), ident, &payload) {
            Lab::inject(&mut lab.wan, 0, &f);
        }
    }
    let mut frames = lab.drain_stalled(DATAGRAMS * 3, RING, DATAGRAMS * 3);
    frames.retain(|f| !is_arp_request(f));
    assert_eq!(frames.len(), SENT * 3, "whole datagrams only");
    assert_eq!(reassembled(&frames).len(), SENT);
    let counters = lab.daemon.shutdown();
    let c = &counters[0];
    assert_eq!(
        (c.rx, c.reassembled, c.tx, c.drop_count(DropReason::TxFull)),
        (
            (DATAGRAMS * 3) as u64,
            (DATAGRAMS * 2) as u64,
            SENT as u64,
            (DATAGRAMS - SENT) as u64
        ),
        "one tx or one tx_full per datagram: {c:?}"
    );
    assert_eq!(c.dropped(), (DATAGRAMS - SENT) as u64, "{c:?}");
    assert_identity(&counters);
}

/// Every worker's counters account for every packet it received, exactly once.
fn assert_identity(counters: &[WorkerCounters]) {
    for c in counters {
        let ends =
            c.tx + c.redirected_out + c.to_control + c.reassembled + c.drops.iter().sum::<u64>();
        assert_eq!(
            c.rx, ends,
            "rx == tx + redirected + to_control + reassembled + drops: {c:?}"
        );
    }
}

/// Established sessions keep flowing, packet for packet, while the service table changes
/// under them: a real server added, one removed, weights changed. New sessions follow the new
/// table; the removed server's existing sessions finish.
#[test]
fn service_changes_under_traffic_lose_no_packet() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("nat", &[1], &[0, 1]));
    const FLOWS: usize = 40;
    for i in 0..FLOWS {
        let f = tcp_frame(ROUTER_MAC, WAN_MAC, client(i), (VIP, 80), "S", 1000, &[]);
        Lab::inject(&mut lab.wan, 0, &f);
    }
    let syns = Lab::collect(&mut lab.daemon, &mut lab.lan, FLOWS);
    assert_eq!(syns.len(), FLOWS);
    // NAT: the server sees the client; remember which server has which client.
    type Endpoint = ([u8; 4], u16);
    let servers: Vec<([u8; 4], Endpoint)> = syns
        .iter()
        .map(|s| {
            let ((src, sport), (dst, _), _) = tcp_endpoints(s);
            (dst.octets(), (src.octets(), sport))
        })
        .collect();
    assert!(
        servers.iter().any(|(rs, _)| rs[3] == 12),
        "rr used both servers"
    );

    let changes: Vec<(Vec<usize>, [u32; 3])> = vec![
        (vec![0, 1, 2], [1, 1, 1]), // add 10.20.0.13
        (vec![0, 1, 2], [1, 5, 1]), // change a weight
        (vec![0, 2], [1, 1, 1]),    // remove 10.20.0.12 (its sessions must finish)
        (vec![0, 2], [3, 1, 1]),
    ];
    let (mut sent, mut received) = (0usize, 0usize);
    for round in 0..8 {
        if round % 2 == 1 {
            let (rs, weights) = &changes[round / 2];
            let text = config_text("nat", &[1], &[0]).replace(
                &services_text("nat", &[0], &[1, 1, 1]),
                &services_text("nat", rs, weights),
            );
            let services: Vec<ServiceConfig> = config::parse(&text).unwrap().services;
            lab.daemon.set_services(services).expect("valid change");
        }
        // One data packet each way on every established session.
        for (rs, (caddr, cport)) in &servers {
            let data = [round as u8; 100];
            let c = tcp_frame(
                ROUTER_MAC,
                WAN_MAC,
                (*caddr, *cport),
                (VIP, 80),
                "A",
                2000,
                &data,
            );
            Lab::inject(&mut lab.wan, 0, &c);
            let mac = RS_MACS[usize::from(rs[3] - 11)];
            let s = tcp_frame(
                mac,
                LAN_MAC,
                (*rs, 8080),
                (*caddr, *cport),
                "A",
                6000,
                &data,
            );
            Lab::inject(&mut lab.lan, 0, &s);
            sent += 2;
        }
        let to_servers = Lab::collect(&mut lab.daemon, &mut lab.lan, FLOWS);
        let to_clients = Lab::collect(&mut lab.daemon, &mut lab.wan, FLOWS);
        received += to_servers.len() + to_clients.len();
        for f in &to_servers {
            let (_, (dst, _), _) = tcp_endpoints(f);
            assert!(
                servers.iter().any(|(rs, _)| *rs == dst.octets()),
                "an existing session stays on its server"
            );
        }
    }
    assert_eq!(received, sent, "no packet of an existing session lost");
    assert!(lab.daemon.wait_installed(Duration::from_secs(2)));
    assert_eq!(
        lab.daemon.snapshot().generation,
        5,
        "four changes published"
    );
    let swap = lab
        .daemon
        .publisher()
        .last_swap()
        .expect("a completed swap");
    eprintln!("snapshot swap latency (publish -> last ack, control thread polling): {swap:?}");

    // New sessions go only to the servers of the final table (10.20.0.11 and .13).
    for i in 0..20 {
        let f = tcp_frame(ROUTER_MAC, WAN_MAC, client(500 + i), (VIP, 80), "S", 1, &[]);
        Lab::inject(&mut lab.wan, 0, &f);
    }
    let fresh = Lab::collect(&mut lab.daemon, &mut lab.lan, 20);
    assert_eq!(fresh.len(), 20);
    for f in &fresh {
        let (_, (dst, _), _) = tcp_endpoints(f);
        assert_ne!(dst.octets()[3], 12, "removed server gets no new session");
    }
    let c = lab.daemon.shutdown();
    assert_eq!(c[0].io_drops(), 0);
    assert_eq!(
        c[0].drops.iter().sum::<u64>(),
        0,
        "nothing dropped: {:?}",
        c[0]
    );
}

/// A server removed and added again and again (a flapping health check) gets a fresh id each
/// time, but the ids reuse the slots of removed servers, so the workers' per-server arrays
/// stay as large as the table: the slots stay below the quarantine plus the table.
#[test]
fn flapping_servers_reuse_id_slots() {
    use control::dest_ids::QUARANTINE;
    use dataplane::snapshot::{dest_slot, DEST_SLOT_BITS};
    let _serial = serial();
    let mut lab = Lab::start(&config_text("nat", &[1], &[0]));
    let full = lab.daemon.services().to_vec();
    let mut without = full.clone();
    let flapping = without[0].dests.pop().expect("a server to flap");
    let id_of_flapping = |services: &[ServiceConfig]| {
        services[0]
            .dests
            .iter()
            .find(|d| d.addr == flapping.addr)
            .expect("the server is back")
            .id
    };
    let mut ids = std::collections::HashSet::new();
    let mut highest_slot = 0;
    for _ in 0..QUARANTINE + 100 {
        lab.daemon.set_services(without.clone()).expect("removal");
        lab.daemon.set_services(full.clone()).expect("addition");
        assert!(lab.daemon.wait_installed(Duration::from_secs(2)));
        let id = id_of_flapping(lab.daemon.services());
        assert!(ids.insert(id), "id {id:#x} handed out twice");
        highest_slot = highest_slot.max(dest_slot(id));
    }
    let table = full.iter().map(|s| s.dests.len()).sum::<usize>();
    assert!(
        highest_slot <= QUARANTINE + table + 1,
        "slots grow with the flaps: {highest_slot}"
    );
    assert!(
        ids.iter().any(|id| id >> DEST_SLOT_BITS > 0),
        "a reused slot comes back with a new generation"
    );
    let c = lab.daemon.shutdown();
    assert_eq!(
        c[0].generation,
        1 + 2 * (QUARANTINE as u64 + 100),
        "the worker installed the last table"
    );
}

/// A bad service table is refused whole and the running one stays.
#[test]
fn refused_service_change_leaves_the_table_as_it_was() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("fullnat", &[1], &[0, 1]));
    let before = lab.daemon.services().to_vec();
    let generation = lab.daemon.snapshot().generation;
    // A change that also replaces a server: its ids must not be spent either.
    let mut newcomer = before[0].dests[0].clone();
    newcomer.addr = dataplane::conn::Addr::v4([10, 20, 0, 99]);
    let mut bad = before.clone();
    bad[0].dests.pop();
    bad[0].dests.push(newcomer.clone());
    bad[0].local_addrs.clear(); // FULLNAT without local addresses
    let err = lab.daemon.set_services(bad).unwrap_err();
    assert!(err.to_string().contains("local_addrs"), "{err}");
    assert_eq!(lab.daemon.services(), &before[..]);
    assert_eq!(lab.daemon.snapshot().generation, generation);
    // So the newcomer, added for real, gets the next slot as if nothing had been tried.
    let highest = before
        .iter()
        .flat_map(|s| &s.dests)
        .map(|d| d.id)
        .max()
        .unwrap();
    let mut good = before.clone();
    good[0].dests.push(newcomer.clone());
    lab.daemon.set_services(good).expect("valid change");
    let id = lab.daemon.services()[0]
        .dests
        .iter()
        .find(|d| d.addr == newcomer.addr)
        .unwrap()
        .id;
    assert_eq!(id, highest + 1, "the refused change handed out no id");
    lab.daemon.shutdown();
}

/// A real server keeps its id (so its connection counts and counters) when a change spells
/// its port differently: no port (0) is the service's port.
#[test]
fn a_server_keeps_its_id_whether_its_port_is_given_or_implied() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("nat", &[1], &[0, 1]));
    let mut services = lab.daemon.services().to_vec();
    let service_port = services[0].key.port;
    services[0].dests[0].port = 0;
    lab.daemon
        .set_services(services.clone())
        .expect("port implied");
    let implied = lab.daemon.services()[0].dests[0].id;
    services[0].dests[0].port = service_port;
    lab.daemon.set_services(services).expect("port given");
    assert_eq!(lab.daemon.services()[0].dests[0].id, implied);
    lab.daemon.shutdown();
}

/// ARP frame: operation, Ethernet source and destination, (sender MAC, IP), (target MAC, IP).
/// An ARP request (op 1), untagged or with one 802.1Q tag: only the control thread sends
/// those; workers answer with replies.
fn is_arp_request(f: &[u8]) -> bool {
    let l2 = if f.get(12..14) == Some(&[0x81, 0][..]) {
        18
    } else {
        14
    };
    f.get(l2 - 2..l2) == Some(&[8, 6][..]) && f.get(l2 + 6..l2 + 8) == Some(&[0, 1][..])
}

fn arp_frame(
    op: u16,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    sender: ([u8; 6], [u8; 4]),
    target: ([u8; 6], [u8; 4]),
) -> Vec<u8> {
    golden::arp_frame(src_mac, dst_mac, op, sender.0, sender.1, target.0, target.1)
}

/// A real server without a static neighbour: the control thread ARPs for it; until the reply
/// comes, new sessions to it are refused (`no_neighbour`); after it, the client's retransmitted
/// SYN goes to the learned MAC.
#[test]
fn real_server_mac_is_resolved_with_arp() {
    let _serial = serial();
    let mut lab = Lab::start(&config_with_neighbours("fullnat", &[1], &[2], 2));
    const RS: [u8; 4] = [10, 20, 0, 13];
    // The control thread asks for 10.20.0.13 on lan (through worker 0's tx queue).
    let asks_for_rs = |f: &[u8]| f[38..42] == RS && f[28..32] != RS;
    let (_, control) = Lab::collect_with_control(&mut lab.daemon, &mut lab.lan, 1, asks_for_rs);
    let request = control
        .into_iter()
        .find(|f| asks_for_rs(f))
        .expect("an ARP request for the real server");
    let expected = arp_frame(
        1,
        LAN_MAC,
        [0xff; 6],
        (LAN_MAC, [10, 20, 0, 1]),
        ([0; 6], RS),
    );
    assert_eq!(request, expected, "who-has 10.20.0.13 tell 10.20.0.1");

    let syn = tcp_frame(ROUTER_MAC, WAN_MAC, client(1), (VIP, 80), "S", 1000, &[]);
    Lab::inject(&mut lab.wan, 0, &syn);
    assert!(
        Lab::collect(&mut lab.daemon, &mut lab.lan, 1).is_empty(),
        "unresolved: refused"
    );

    let reply = arp_frame(
        2,
        RS_MACS[2],
        LAN_MAC,
        (RS_MACS[2], RS),
        (LAN_MAC, [10, 20, 0, 1]),
    );
    Lab::inject(&mut lab.lan, 0, &reply);
    let generation = lab.daemon.snapshot().generation;
    let deadline = Instant::now() + Duration::from_secs(2);
    while lab.daemon.snapshot().generation == generation && Instant::now() < deadline {
        lab.daemon.poll();
    }
    assert!(lab.daemon.wait_installed(Duration::from_secs(2)));
    assert_eq!(
        lab.daemon.neighbours().lookup(1, Ipv4Addr::from(RS)),
        Some(dataplane::wire::ethernet::MacAddr(RS_MACS[2]))
    );
    Lab::inject(&mut lab.wan, 0, &syn);
    let out = Lab::collect(&mut lab.daemon, &mut lab.lan, 1);
    assert_eq!(out.len(), 1, "the retransmitted SYN goes through");
    assert_eq!(&out[0][..6], &RS_MACS[2]);
    let c = lab.daemon.shutdown();
    assert_eq!(
        c[0].drop_count(dataplane::verdict::DropReason::NoNeighbour),
        1
    );
    assert_eq!(
        c[0].to_control, 1,
        "the ARP reply went to the control thread"
    );
    assert_identity(&c);
    // Gratuitous ARP (wan address, VIP, lan address, local address) and the request, at least.
    assert!(
        c[0].from_control >= 5,
        "worker 0 sent the control thread's frames: {}",
        c[0].from_control
    );
}

/// The box answers ARP and ping for its addresses and VIPs from the workers.
#[test]
fn arp_and_ping_for_the_vip_are_answered() {
    let _serial = serial();
    let mut lab = Lab::start(&config_text("nat", &[1], &[0]));
    let who_has = arp_frame(
        1,
        ROUTER_MAC,
        [0xff; 6],
        (ROUTER_MAC, [10, 10, 0, 254]),
        ([0; 6], VIP),
    );
    Lab::inject(&mut lab.wan, 0, &who_has);
    let out = Lab::collect(&mut lab.daemon, &mut lab.wan, 1);
    let is_at = arp_frame(
        2,
        WAN_MAC,
        ROUTER_MAC,
        (WAN_MAC, VIP),
        (ROUTER_MAC, [10, 10, 0, 254]),
    );
    assert_eq!(out, vec![is_at]);

    let mut ping = Vec::new();
    PacketBuilder::ethernet2(ROUTER_MAC, WAN_MAC)
        .ipv4([192, 0, 2, 10], VIP, 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut ping, b"ping")
        .unwrap();
    Lab::inject(&mut lab.wan, 0, &ping);
    let out = Lab::collect(&mut lab.daemon, &mut lab.wan, 1);
    assert_eq!(out.len(), 1);
    let p = SlicedPacket::from_ethernet(&out[0]).unwrap();
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    assert_eq!(ip.header().source_addr(), Ipv4Addr::from(VIP));
    assert!(
        matches!(p.transport, Some(TransportSlice::Icmpv4(ref i)) if i.icmp_type() == etherparse::Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 7, seq: 1 }))
    );
    lab.daemon.shutdown();
}

/// A UDP datagram of `len` IP bytes, DF clear, cut into fragments of at most 1500 IP bytes as
/// a sender's kernel does (etherparse headers, RFC 791 offsets).
fn udp_fragments(
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    ident: u16,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let mut whole = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut whole, payload)
        .unwrap();
    let (mut ip, _) = etherparse::Ipv4Header::from_slice(&whole[14..]).unwrap();
    ip.identification = ident;
    ip.dont_fragment = false;
    let body = &whole[34..];
    body.chunks(1480)
        .enumerate()
        .map(|(i, part)| {
            let mut h = ip.clone();
            h.more_fragments = (i + 1) * 1480 < body.len();
            h.fragment_offset = etherparse::IpFragOffset::try_new((i * 1480 / 8) as u16).unwrap();
            h.set_payload_len(part.len()).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut f = whole[..14].to_vec();
            h.write_raw(&mut f).unwrap();
            f.extend_from_slice(part);
            f
        })
        .collect()
}

/// The datagrams that `frames` (fragments, each at most 1514 bytes) make, by (src, ident):
/// (src, dst, UDP payload), with the IPv4 header checksum of every fragment and the UDP
/// checksum of every datagram verified.
fn reassembled(frames: &[Vec<u8>]) -> Vec<(Ipv4Addr, Ipv4Addr, u16, Vec<u8>)> {
    // (source, ident) -> (offset, data, more fragments) of each fragment.
    type Parts = std::collections::BTreeMap<(u32, u16), Vec<(usize, Vec<u8>, bool)>>;
    let mut parts = Parts::default();
    let mut ends = std::collections::BTreeMap::new();
    for f in frames {
        assert!(
            f.len() <= 1514,
            "a {}-byte frame on an MTU-1500 port",
            f.len()
        );
        let (ip, rest) = etherparse::Ipv4Header::from_slice(&f[14..]).unwrap();
        assert_eq!(
            ip.calc_header_checksum(),
            ip.header_checksum,
            "fragment checksum"
        );
        assert!(!ip.dont_fragment);
        let key = (u32::from_be_bytes(ip.source), ip.identification);
        let off = usize::from(ip.fragment_offset.value()) * 8;
        let data = rest[..usize::from(ip.total_len) - ip.header_len()].to_vec();
        if off == 0 {
            ends.insert(key, (ip.source, ip.destination));
        }
        parts
            .entry(key)
            .or_default()
            .push((off, data, ip.more_fragments));
    }
    parts
        .into_iter()
        .map(|(key, mut p)| {
            p.sort_by_key(|x| x.0);
            let mut body = Vec::new();
            for (off, data, _) in &p {
                assert_eq!(*off, body.len(), "fragments meet end to end");
                body.extend_from_slice(data);
            }
            assert!(!p.last().unwrap().2, "the last fragment ends the datagram");
            let (src, dst) = ends[&key];
            let mut sum: u32 = 0;
            for w in [&src[..2], &src[2..], &dst[..2], &dst[2..]] {
                sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
            sum += 17 + body.len() as u32;
            for c in body.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            assert_eq!(sum, 0xffff, "UDP checksum of the reassembled datagram");
            let dport = u16::from_be_bytes([body[2], body[3]]);
            (src.into(), dst.into(), dport, body[8..].to_vec())
        })
        .collect()
}

/// NAT with two workers: 4,000-byte UDP datagrams arrive in 3 fragments spread over both rx
/// queues (so over both workers); each datagram's fragments meet on one worker, which
/// reassembles it with DPDK's library, schedules and rewrites it as one packet and sends it to
/// its server in fragments that fit the lan port's MTU; the servers' fragmented replies come
/// back to the clients the same way. Nothing is dropped, and each worker's counters add up.
#[test]
fn nat_two_workers_reassemble_and_fragment_datagrams() {
    let _serial = serial();
    let mut text = config_text("nat", &[1, 2], &[0, 1, 2]);
    text +=
        "[[services]]\nprotocol = \"udp\"\nvip = \"10.10.0.100\"\nport = 53\nscheduler = \"rr\"\n";
    for i in 0..3 {
        text += &format!(
            "[[services.real_servers]]\naddr = \"10.20.0.{}\"\nmethod = \"nat\"\n",
            11 + i
        );
    }
    let mut lab = Lab::start(&text);
    const DATAGRAMS: usize = 8;
    let payload = |i: usize| -> Vec<u8> { (0..3972).map(|b| (b * 7 + i) as u8).collect() };
    for i in 0..DATAGRAMS {
        let frags = udp_fragments(
            (ROUTER_MAC, WAN_MAC),
            client(i),
            (VIP, 53),
            0x100 + i as u16,
            &payload(i),
        );
        assert_eq!(frags.len(), 3);
        for (n, f) in frags.iter().enumerate() {
            Lab::inject(&mut lab.wan, (n + i) % 2, f);
        }
    }
    let out = Lab::collect(&mut lab.daemon, &mut lab.lan, DATAGRAMS * 3);
    assert_eq!(
        out.len(),
        DATAGRAMS * 3,
        "every datagram leaves in 3 fragments"
    );
    let to_servers = reassembled(&out);
    assert_eq!(to_servers.len(), DATAGRAMS);
    for (n, (src, rs, dport, data)) in to_servers.iter().enumerate() {
        let i = (0..DATAGRAMS)
            .find(|&i| Ipv4Addr::from(client(i).0) == *src && payload(i) == *data)
            .expect("a client's datagram, intact");
        assert_eq!(dport, &53);
        let mac = RS_MACS[usize::from(rs.octets()[3] - 11)];
        let reply = udp_fragments(
            (mac, LAN_MAC),
            (rs.octets(), 53),
            client(i),
            0x200 + n as u16,
            &payload(i + 100),
        );
        for (k, f) in reply.iter().enumerate() {
            Lab::inject(&mut lab.lan, (k + n) % 2, f);
        }
    }
    let back = Lab::collect(&mut lab.daemon, &mut lab.wan, DATAGRAMS * 3);
    let replies = reassembled(&back);
    assert_eq!(replies.len(), DATAGRAMS, "every reply reaches its client");
    for (src, dst, dport, data) in &replies {
        assert_eq!(*src, Ipv4Addr::from(VIP));
        let i = (0..DATAGRAMS)
            .find(|&i| (Ipv4Addr::from(client(i).0), client(i).1) == (*dst, *dport))
            .expect("a client's reply");
        assert!(*data == payload(i + 100), "reply {i} intact");
    }
    std::thread::sleep(Duration::from_millis(30));
    let counters = lab.daemon.counters();
    for c in &counters {
        let drops: u64 = c.drops.iter().sum();
        assert_eq!(drops, 0, "{c:?}");
        assert_eq!(
            c.rx,
            c.tx + c.redirected_out + c.to_control + c.reassembled + drops,
            "{c:?}"
        );
    }
    let sum =
        |f: fn(&dataplane::worker::WorkerCounters) -> u64| -> u64 { counters.iter().map(f).sum() };
    // 6 fragments in per datagram and its reply, 2 of them absorbed by each reassembly, each
    // reassembled datagram one packet however many workers it crosses.
    let (received, handed) = (sum(|c| c.rx - c.redirected_in), sum(|c| c.redirected_in));
    assert_eq!(
        received,
        (DATAGRAMS * 6) as u64,
        "every fragment counted once: {counters:?}"
    );
    assert_eq!(sum(|c| c.reassembled), (DATAGRAMS * 4) as u64);
    assert_eq!(sum(|c| c.redirected_out), handed, "{counters:?}");
    assert_eq!(
        sum(|c| c.tx),
        (DATAGRAMS * 2) as u64,
        "each datagram one packet sent: {counters:?}"
    );
    assert!(
        counters.iter().all(|c| c.redirected_out > 0),
        "fragments crossed workers: {counters:?}"
    );
}

/// VLANs: a NAT real server on lan's VLAN 200 is asked for with tagged ARP and resolved by its
/// tagged reply; a client on wan's VLAN 100 is served through it, tags rewritten both ways; a
/// tag a port does not have is dropped (`unknown_vlan`).
#[test]
fn clients_and_servers_on_vlans_are_served_tagged() {
    let _serial = serial();
    let text = config_with_neighbours("nat", &[1], &[], 0)
        .replace(
            "mac = \"02:00:00:00:00:01\"\n",
            "mac = \"02:00:00:00:00:01\"\n[[ports.vlans]]\nid = 100\naddrs = [\"10.10.100.1/24\"]\n",
        )
        .replace(
            "mac = \"02:00:00:00:00:02\"\n",
            "mac = \"02:00:00:00:00:02\"\n[[ports.vlans]]\nid = 200\naddrs = [\"10.30.0.1/24\"]\n",
        )
        + "[[services.real_servers]]\naddr = \"10.30.0.21\"\nmethod = \"nat\"\n";
    let mut lab = Lab::start(&text);
    const RS: [u8; 4] = [10, 30, 0, 21];
    const RS_MAC: [u8; 6] = [2, 0, 0, 0, 2, 0x21];
    const CLIENT: [u8; 4] = [10, 10, 100, 10];
    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0x64, 0x0a];
    let (t100, t200) = (golden::tag(100), golden::tag(200));
    let tagged = |frame: &[u8], tag| {
        let mut f = golden::vlan(frame, tag);
        f.resize(f.len().max(64), 0);
        f
    };
    let asks_for_rs = |f: &[u8]| f.len() >= 46 && f[42..46] == RS;
    let (_, control) = Lab::collect_with_control(&mut lab.daemon, &mut lab.lan, 1, asks_for_rs);
    let request = control.into_iter().find(|f| asks_for_rs(f));
    let who_has = arp_frame(
        1,
        LAN_MAC,
        [0xff; 6],
        (LAN_MAC, [10, 30, 0, 1]),
        ([0; 6], RS),
    );
    assert_eq!(request, Some(tagged(&who_has, t200)), "who-has tagged 200");

    let is_at = arp_frame(2, RS_MAC, LAN_MAC, (RS_MAC, RS), (LAN_MAC, [10, 30, 0, 1]));
    Lab::inject(&mut lab.lan, 0, &tagged(&is_at, t200));
    let deadline = Instant::now() + Duration::from_secs(2);
    while lab
        .daemon
        .neighbours()
        .lookup(3, Ipv4Addr::from(RS))
        .is_none()
        && Instant::now() < deadline
    {
        lab.daemon.poll();
    }
    assert!(lab.daemon.wait_installed(Duration::from_secs(2)));
    assert_eq!(
        lab.daemon.snapshot().services[0].config.dests[0].mac,
        dataplane::wire::ethernet::MacAddr(RS_MAC),
        "resolved on lan.200 (interface 3)"
    );

    let syn = tcp_frame(CLIENT_MAC, WAN_MAC, (CLIENT, 40000), (VIP, 80), "S", 1, &[]);
    Lab::inject(&mut lab.wan, 0, &golden::vlan(&syn, t100));
    let out = Lab::collect(&mut lab.daemon, &mut lab.lan, 1);
    assert_eq!(out.len(), 1, "the tagged client's SYN goes to the server");
    assert_eq!((&out[0][..6], &out[0][12..16]), (&RS_MAC[..], &t200[..]));
    let untagged = [&out[0][..12], &out[0][16..]].concat();
    assert_eq!(
        tcp_endpoints(&untagged),
        (
            (Ipv4Addr::from(CLIENT), 40000),
            (Ipv4Addr::from(RS), 80),
            63
        )
    );
    let synack = tcp_frame(RS_MAC, LAN_MAC, (RS, 80), (CLIENT, 40000), "SA", 9, &[]);
    Lab::inject(&mut lab.lan, 0, &golden::vlan(&synack, t200));
    let out = Lab::collect(&mut lab.daemon, &mut lab.wan, 1);
    assert_eq!(out.len(), 1, "the reply goes back to the client's VLAN");
    assert_eq!(
        (&out[0][..6], &out[0][12..16]),
        (&CLIENT_MAC[..], &t100[..])
    );
    let untagged = [&out[0][..12], &out[0][16..]].concat();
    assert_eq!(
        tcp_endpoints(&untagged),
        (
            (Ipv4Addr::from(VIP), 80),
            (Ipv4Addr::from(CLIENT), 40000),
            63
        )
    );

    Lab::inject(&mut lab.wan, 0, &golden::vlan(&syn, golden::tag(101)));
    let on_lan = tcp_frame(CLIENT_MAC, LAN_MAC, (CLIENT, 40001), (VIP, 80), "S", 1, &[]);
    Lab::inject(&mut lab.lan, 0, &golden::vlan(&on_lan, t100));
    assert!(Lab::collect(&mut lab.daemon, &mut lab.lan, 1).is_empty());
    let c = lab.daemon.shutdown();
    use dataplane::verdict::DropReason;
    assert_eq!(
        c[0].drop_count(DropReason::UnknownVlan),
        2,
        "101 on wan, 100 on lan"
    );
}

/// `ip ARGS` in the calling thread's network namespace: its output, or None if it failed.
fn ip(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `test` in a network namespace of a thread of its own: the taps, addresses and routes
/// it makes touch nothing else. Skipped without root.
fn in_own_netns(test: impl FnOnce() + Send + 'static) {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root for a network namespace");
        return;
    }
    let _serial = serial();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        test();
    })
    .join()
    .expect("test thread");
}

/// Runs `test` with the config text of a NAT daemon whose wan port has the kernel interface
/// "rvstest-wan" (`wan_extra`: more wan keys), in a network namespace of its own.
fn with_kernel_interface(wan_extra: &str, test: impl FnOnce(String) + Send + 'static) {
    let text = config_text("nat", &[1], &[0]).replacen(
        "kernel_interface = \"\"",
        &format!("kernel_interface = \"rvstest-wan\"\n{wan_extra}"),
        1,
    );
    in_own_netns(move || test(text));
}

#[test]
fn each_port_has_a_kernel_interface_while_the_daemon_runs() {
    with_kernel_interface("mtu = 9000", |text| {
        assert!(ip(&["link", "show", "rvstest-wan"]).is_none());
        let lab = Lab::start(&text);
        let link = ip(&["link", "show", "rvstest-wan"]).expect("the kernel interface");
        assert!(link.contains("link/ether 02:00:00:00:00:01"), "{link}");
        assert!(link.contains("mtu 1500") && link.contains(",UP"), "{link}");
        let addrs = ip(&["-4", "addr", "show", "rvstest-wan"]).expect("addresses");
        assert!(addrs.contains("inet 10.10.0.1/24"), "{addrs}");
        assert!(!addrs.contains("10.10.0.100"), "not the VIP: {addrs}");
        let routes = ip(&["-4", "route", "show"]).expect("routes");
        assert!(
            routes.contains("default via 10.10.0.254 dev rvstest-wan"),
            "{routes}"
        );
        assert!(ip(&["link", "show", "lan"]).is_none(), "lan has none");
        shut_down_without_its_interface(lab);
        let routes = ip(&["-4", "route", "show"]).expect("routes");
        assert!(!routes.contains("10.10.0.254"), "{routes}");
    });
}

/// Polls `daemon` up to 3 s until `ip link show name` satisfies `ok`; returns the last output.
fn wait_link(daemon: &mut Daemon, name: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        daemon.poll();
        let link = ip(&["link", "show", name]).unwrap_or_default();
        if ok(&link) || Instant::now() >= deadline {
            return link;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_kernel_interface_follows_its_port_link() {
    with_kernel_interface("", |text| {
        let config = config::parse(&text).expect("config");
        // The wan port is a tap, "rvstest-dp": its link is down while that interface is.
        let wan = Port::open_vdev(
            eal(),
            &(unique("net_tap_link") + ",iface=rvstest-dp"),
            &PortConfig::new(pool()),
        )
        .expect("tap port");
        let (lan, _lan_wire) = ring_port(&unique("lan"), 1, 1, 4096);
        let mut d = Daemon::start(eal(), config, pool(), vec![wan, lan]).expect("start");
        let up = |l: &str| l.contains(",UP");
        assert!(up(&wait_link(&mut d, "rvstest-wan", up)));
        ip(&["link", "set", "rvstest-dp", "down"]).expect("ip link set down");
        let link = wait_link(&mut d, "rvstest-wan", |l| !up(l));
        assert!(!up(&link), "down with its port: {link}");
        let routes = ip(&["-4", "route", "show"]).expect("routes");
        assert!(!routes.contains("rvstest-wan"), "{routes}");
        ip(&["link", "set", "rvstest-dp", "up"]).expect("ip link set up");
        let link = wait_link(&mut d, "rvstest-wan", up);
        assert!(up(&link), "up again with its port: {link}");
        let routes = ip(&["-4", "route", "show"]).expect("routes");
        assert!(
            routes.contains("default via 10.10.0.254 dev rvstest-wan"),
            "the routes are back: {routes}"
        );
        d.shutdown();
    });
}

/// Two real servers of a keepalived.conf service, each with a TCP_CHECK.
const KEEPALIVED_CONF: &str = "
virtual_server 10.10.0.100 80 {
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    real_server 10.20.0.11 8080 {
        TCP_CHECK { connect_timeout 0.5
                    retry 0 }
    }
    real_server 10.20.0.12 8080 {
        weight 2
        notify_up \"/bin/touch /tmp/rvs-health-test/up-12\"
        notify_down \"/bin/touch /tmp/rvs-health-test/down-12\"
        TCP_CHECK { connect_timeout 0.5
                    retry 0 }
    }
    omega
    quorum_down \"/bin/touch /tmp/rvs-health-test/quorum-down\"
}
";

/// The real servers of the daemon's first service, as (last octet, weight).
fn real_servers(d: &Daemon) -> Vec<(u8, u32)> {
    d.services()[0]
        .dests
        .iter()
        .map(|x| (x.addr.to_v4().map_or(0, |a| a[3]), x.weight))
        .collect()
}

/// Polls `d` up to 5 s until its first service's real servers are `want`.
fn wait_servers(d: &mut Daemon, want: &[(u8, u32)]) -> Vec<(u8, u32)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        d.poll();
        let got = real_servers(d);
        if got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's config with no TOML services and the keepalived.conf `conf`; the real
/// servers' addresses 10.20.0.11-13 on the namespace's lo.
fn keepalived_config(conf: &str) -> config::Config {
    let toml = config_text("nat", &[1], &[]);
    let toml = toml[..toml.find("[[services]]").expect("services")].to_string()
        + "[keepalived]\nconfig = \"/etc/keepalived/keepalived.conf\"\n";
    let mut config = config::parse(&toml).expect("config");
    config::with_keepalived(&mut config, std::path::Path::new("rvsd.toml"), conf)
        .expect("keepalived.conf");
    config
}

/// The real servers' addresses, 10.20.0.11-13, on the namespace's lo.
fn real_servers_on_lo() {
    ip(&["link", "set", "lo", "up"]).expect("lo up");
    for a in ["10.20.0.11/32", "10.20.0.12/32", "10.20.0.13/32"] {
        ip(&["addr", "add", a, "dev", "lo"]).expect("address");
    }
}

/// A daemon on ring ports with `config`.
fn health_daemon(config: config::Config) -> Daemon {
    let (wan, _wan) = ring_port(&unique("wan"), 1, 1, 4096);
    let (lan, _lan) = ring_port(&unique("lan"), 1, 1, 4096);
    Daemon::start(eal(), config, pool(), vec![wan, lan]).expect("start")
}

#[test]
fn a_real_server_that_fails_its_check_leaves_its_service_and_comes_back() {
    in_own_netns(|| {
        real_servers_on_lo();
        let scripts = std::path::Path::new("/tmp/rvs-health-test");
        let _ = std::fs::remove_dir_all(scripts);
        std::fs::create_dir_all(scripts).unwrap();
        let rs1 = std::net::TcpListener::bind("10.20.0.11:8080").expect("listen");
        let mut d = health_daemon(keepalived_config(KEEPALIVED_CONF));
        assert_eq!(real_servers(&d), [(11, 1), (12, 2)], "both start up");
        assert_eq!(
            wait_servers(&mut d, &[(11, 1)]),
            [(11, 1)],
            "rs2 has no listener"
        );
        let rs2 = std::net::TcpListener::bind("10.20.0.12:8080").expect("listen");
        assert_eq!(
            wait_servers(&mut d, &[(11, 1), (12, 2)]),
            [(11, 1), (12, 2)]
        );
        drop(rs1);
        assert_eq!(wait_servers(&mut d, &[(12, 2)]), [(12, 2)], "rs1 stopped");
        let states = d.health();
        assert_eq!(states.len(), 2);
        assert!(
            states[0]
                .last
                .contains("TCP connection to [10.20.0.11]:tcp:8080 failed"),
            "{}",
            states[0].last
        );
        assert!(states[1].runs > 0 && states[1].failures > 0);
        let ran = |f: &str| {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !scripts.join(f).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            scripts.join(f).exists()
        };
        assert!(
            ran("down-12") && ran("up-12"),
            "notify_down, then notify_up"
        );
        assert!(!ran("quorum-down"), "the quorum held");
        std::fs::remove_file(scripts.join("down-12")).unwrap();
        drop(rs2);
        d.shutdown();
        // omega: at shutdown the down scripts of what is up run.
        assert!(ran("down-12") && ran("quorum-down"), "omega");
        let _ = std::fs::remove_dir_all(scripts);
    });
}

#[test]
fn a_reload_applies_the_new_table_and_keeps_the_health_of_unchanged_servers() {
    in_own_netns(|| {
        real_servers_on_lo();
        let _rs1 = std::net::TcpListener::bind("10.20.0.11:8080").expect("listen");
        let _rs3 = std::net::TcpListener::bind("10.20.0.13:8080").expect("listen");
        let mut d = health_daemon(keepalived_config(KEEPALIVED_CONF));
        assert_eq!(
            wait_servers(&mut d, &[(11, 1)]),
            [(11, 1)],
            "rs2 has no listener"
        );
        // rs1's weight changes (its checker does not), rs3 joins, rs2 stays as it was: down.
        let changed = KEEPALIVED_CONF
            .replacen("8080 {\n        TCP_CHECK", "8080 {\n        weight 5\n        TCP_CHECK", 1)
            .replacen(
                "    real_server 10.20.0.12",
                "    real_server 10.20.0.13 8080 {\n        TCP_CHECK { connect_timeout 0.5\n                    retry 0 }\n    }\n    real_server 10.20.0.12",
                1,
            );
        d.reload(keepalived_config(&changed)).expect("reload");
        assert_eq!(
            real_servers(&d),
            [(11, 5), (13, 1)],
            "at once, rs2 still out"
        );
        let mut other = keepalived_config(&changed);
        other.cores.cpus = vec![7];
        assert_eq!(
            d.reload(other),
            Err("[cores] changed: that takes a restart".into())
        );
        assert_eq!(real_servers(&d), [(11, 5), (13, 1)], "unchanged");
        d.shutdown();
    });
}

/// A target of `kind` at `addr`, a short timeout.
fn target(kind: CheckKind, addr: &str) -> Target {
    Target {
        kind,
        connect: addr.parse().expect("address"),
        bindto: None,
        connect_timeout: Duration::from_millis(500),
        retry: 0,
        delay_before_retry: Duration::ZERO,
        delay_loop: Duration::from_secs(1),
        warmup: Duration::ZERO,
    }
}

fn url(path: &str, digest: Option<&str>) -> Url {
    Url {
        path: path.into(),
        digest: digest.map(str::to_string),
        status_codes: Vec::new(),
        virtualhost: None,
    }
}

/// Serves `response` to every connection on `addr` (HTTP/1.0: then closes).
fn serve_http(addr: &str, response: &'static [u8]) {
    let l = std::net::TcpListener::bind(addr).expect("listen");
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            use std::io::{Read, Write};
            let mut req = [0u8; 1024];
            let _ = c.read(&mut req);
            let _ = c.write_all(response);
        }
    });
}

/// Answers every datagram on `addr` with `answer(datagram)`.
fn serve_udp(addr: &str, answer: fn(&[u8]) -> Vec<u8>) {
    let s = std::net::UdpSocket::bind(addr).expect("bind");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&answer(&buf[..n]), from);
        }
    });
}

/// A self-signed TLS server (openssl s_server -www) on 10.20.0.13:8443.
fn serve_tls(dir: &std::path::Path) -> std::process::Child {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rs3",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{made:?}");
    let server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            "10.20.0.13:8443",
            "-cert",
        ])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("s_server");
    std::thread::sleep(Duration::from_millis(500));
    server
}

#[test]
fn each_checker_kind_passes_a_live_server_and_fails_a_dead_one() {
    in_own_netns(|| {
        real_servers_on_lo();
        serve_http(
            "10.20.0.11:80",
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        );
        serve_http("10.20.0.12:80", b"HTTP/1.0 404 Not Found\r\n\r\n");
        serve_udp("10.20.0.11:7", |d| d.to_vec());
        serve_udp("10.20.0.11:53", |q| {
            let mut r = q.to_vec();
            r[2] |= 0x80;
            r[7] = 1;
            r
        });
        let dir = std::env::temp_dir().join(unique("rvs-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut tls = serve_tls(&dir);
        let md5_hello = "5d41402abc4b2a76b9719d911017c592";
        let http = |tls, urls| CheckKind::Http {
            tls,
            urls,
            virtualhost: None,
        };
        let udp = |reply: Option<&[u8]>| CheckKind::Udp {
            payload: b"hi".to_vec(),
            require_reply: reply.map(<[u8]>::to_vec),
        };
        let dns = CheckKind::Dns {
            query_type: "A".into(),
            name: "example.com".into(),
        };
        let cases: Vec<(CheckKind, &str, bool)> = vec![
            (CheckKind::Tcp, "10.20.0.11:80", true),
            (CheckKind::Tcp, "10.20.0.11:81", false),
            (
                http(false, vec![url("/", Some(md5_hello))]),
                "10.20.0.11:80",
                true,
            ),
            (
                http(false, vec![url("/", Some(&"0".repeat(32)))]),
                "10.20.0.11:80",
                false,
            ),
            (http(false, vec![url("/", None)]), "10.20.0.12:80", false),
            (http(true, vec![url("/", None)]), "10.20.0.13:8443", true),
            (http(true, vec![url("/", None)]), "10.20.0.11:80", false),
            (udp(Some(b"hi")), "10.20.0.11:7", true),
            (udp(Some(b"no")), "10.20.0.11:7", false),
            (udp(None), "10.20.0.12:7", false),
            (dns.clone(), "10.20.0.11:53", true),
            (dns, "10.20.0.12:53", false),
            (CheckKind::Ping, "10.20.0.11:0", true),
            (CheckKind::Ping, "10.20.9.9:0", false),
            (misc("exit 0"), "10.20.0.11:80", true),
            (misc("exit 1"), "10.20.0.11:80", false),
        ];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (kind, addr, up) in cases {
            let t = target(kind, addr);
            let got = rt.block_on(probe::attempt(&t));
            assert_eq!(got.is_ok(), up, "{:?} at {addr}: {got:?}", t.kind);
        }
        let dynamic = CheckKind::Misc {
            path: "exit 9".into(),
            timeout: None,
            dynamic: true,
            user: None,
        };
        let got = rt.block_on(probe::attempt(&target(dynamic, "10.20.0.11:80")));
        assert_eq!(got, Ok(Some(7)), "misc_dynamic: exit code 9 is weight 7");
        let _ = tls.kill();
        let _ = tls.wait();
        let _ = std::fs::remove_dir_all(dir);
    });
}

fn misc(script: &str) -> CheckKind {
    CheckKind::Misc {
        path: script.into(),
        timeout: None,
        dynamic: false,
        user: None,
    }
}

/// CPU seconds (user + system) the process's DPDK worker lcore threads used so far.
fn worker_cpu_seconds() -> f64 {
    let tick = 100.0; // USER_HZ
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("lcore-worker") && !comm.starts_with("rte-worker") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        total += (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tick;
    }
    total
}

/// The share of a cpu the worker threads use over `secs` of no traffic.
fn idle_worker_load(lab: &mut Lab, secs: f64) -> f64 {
    std::thread::sleep(Duration::from_millis(200));
    let before = worker_cpu_seconds();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        lab.daemon.poll();
        std::thread::sleep(Duration::from_millis(10));
    }
    (worker_cpu_seconds() - before) / secs
}

/// `dataplane.idle_sleep_us`: an idle worker sleeps between polls and still forwards the next
/// packet; without it a worker spins (the control).
#[test]
fn idle_workers_sleep_between_polls_only_when_configured() {
    let _serial = serial();
    let spinning = {
        let mut lab = Lab::start(&config_text("nat", &[1, 2], &[0, 1, 2]));
        idle_worker_load(&mut lab, 1.0)
    };
    let text = config_text("nat", &[1, 2], &[0, 1, 2])
        .replace("tx_desc = 256\n", "tx_desc = 256\nidle_sleep_us = 1000\n");
    let mut lab = Lab::start(&text);
    let sleeping = idle_worker_load(&mut lab, 1.0);
    assert!(
        spinning > 0.3 && sleeping < 0.1,
        "worker load spinning {spinning:.2}, sleeping {sleeping:.2}"
    );
    let out = lab.send_from_clients(4, "S", 1000, &[]);
    assert_eq!(out.len(), 4, "a sleeping worker forwards the next packets");
}

/// A free UDP port on loopback.
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A sync daemon on loopback, sending to (or listening on) 127.0.0.1:`port`: unicast, so the
/// test plays the network between the boxes.
fn loopback_sync(port: u16) -> SyncDaemon {
    SyncDaemon {
        group: Ipv4Addr::LOCALHOST,
        port,
        syncid: 7,
        ..SyncDaemon::on("lo")
    }
}

/// The master's sync messages until every one of `flows` clients' latest record is
/// ESTABLISHED (or 3 s passed).
fn sync_messages(
    lab: &mut Lab,
    socket: &std::net::UdpSocket,
    flows: usize,
) -> (Vec<Vec<u8>>, Vec<SyncConn>) {
    let (mut msgs, mut latest) = (Vec::new(), std::collections::BTreeMap::new());
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        lab.daemon.poll();
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let mut conns = Vec::new();
        wire::decode(&buf[..n], 7, &mut conns).expect("the master's message decodes");
        for c in conns {
            latest.insert((c.caddr, c.cport), c);
        }
        msgs.push(buf[..n].to_vec());
        let established = latest.values().filter(|c| c.state == 1).count();
        if established == flows {
            break;
        }
    }
    (msgs, latest.into_values().collect())
}

/// Connection sync, NAT or FULLNAT, two workers each side: the master sends a record of every
/// connection (IPVS's format, state ESTABLISHED after the handshake); a backup that received
/// them forwards the servers' next segments to the clients as the master did; before it
/// received them it drops them (the control).
fn synced_connections_carry_on_at_the_backup(method: &str) {
    let _serial = serial();
    const FLOWS: usize = 40;
    let capture = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    capture
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let sync_port = capture.local_addr().unwrap().port();
    let text = config_text(method, &[1, 2], &[0, 1, 2]) + "[sync]\nrefresh_period = 1\n";
    let mut a = Lab::start(&text);
    a.daemon
        .start_sync(SyncRole::Master, loopback_sync(sync_port))
        .expect("master");
    let syns = a.send_from_clients(FLOWS, "S", 1000, &[]);
    assert_eq!(syns.len(), FLOWS);
    // What the server side of each flow is: (server, its port, the address and port it sends to).
    let sides: Vec<_> = syns
        .iter()
        .map(|s| {
            let ((src, sport), (rs, rport), _) = tcp_endpoints(s);
            (rs.octets(), rport, (src.octets(), sport))
        })
        .collect();
    let from_servers = |lab: &mut Lab, flags: &str, seq: u32| {
        for (n, (rs, rport, to)) in sides.iter().enumerate() {
            let mac = RS_MACS[usize::from(rs[3] - 11)];
            let f = tcp_frame(mac, LAN_MAC, (*rs, *rport), *to, flags, seq, b"data");
            Lab::inject(&mut lab.lan, n % 2, &f);
        }
        Lab::collect(&mut lab.daemon, &mut lab.wan, FLOWS)
    };
    assert_eq!(from_servers(&mut a, "SA", 5000).len(), FLOWS);
    assert_eq!(a.send_from_clients(FLOWS, "A", 1001, &[]).len(), FLOWS);
    // IPVS's sync_threshold: a connection is synced at its third packet from the client.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        capture.recv(&mut [0u8; 65536]).is_err(),
        "no record before the third packet"
    );
    assert_eq!(a.send_from_clients(FLOWS, "A", 1001, b"GET").len(), FLOWS);
    let (msgs, conns) = sync_messages(&mut a, &capture, FLOWS);
    assert_eq!(conns.len(), FLOWS, "a record of every connection");
    for c in &conns {
        assert_eq!(c.state, 1, "ESTABLISHED: {c:?}");
        assert_eq!(c.vaddr, Addr::v4(VIP));
        assert_eq!(c.vport, 80);
        assert_eq!(c.dport, 8080);
        assert_eq!(c.local.is_some(), method == "fullnat", "{c:?}");
    }
    // Without a packet more, the refresh sends every established connection again (what the
    // handshake sent is read first: 200 ms without a message).
    let mut buf = [0u8; 65536];
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(200) {
        if capture.recv(&mut buf).is_ok() {
            quiet = Instant::now();
        }
    }
    let (_, again) = sync_messages(&mut a, &capture, FLOWS);
    assert_eq!(again, conns, "the refresh repeats the records");
    drop(a);

    let text = config_text(method, &[1, 2], &[0, 1, 2])
        + "[[neighbours]]\naddr = \"10.10.0.254\"\nmac = \"02:00:00:00:00:fe\"\nport = \"wan\"\n";
    let mut b = Lab::start(&text);
    let listen = free_udp_port();
    b.daemon
        .start_sync(SyncRole::Backup, loopback_sync(listen))
        .expect("backup");
    assert!(
        from_servers(&mut b, "A", 6000).is_empty(),
        "no session at the backup before the sync"
    );
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in &msgs {
        sender.send_to(m, ("127.0.0.1", listen)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.daemon.list_sessions().unwrap().len() < FLOWS && Instant::now() < deadline {
        b.daemon.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let listed = b.daemon.list_sessions().unwrap();
    assert_eq!(
        listed.len(),
        FLOWS,
        "the backup lists every synced connection"
    );
    assert!(listed.iter().all(|s| s.state.is_established()));
    let out = from_servers(&mut b, "A", 6004);
    assert_eq!(out.len(), FLOWS, "the backup carries every connection on");
    for r in &out {
        let ((src, sport), (dst, _), _) = tcp_endpoints(r);
        assert_eq!((src, sport), (Ipv4Addr::from(VIP), 80), "from the VIP");
        assert!(dst.octets()[..3] == [192, 0, 2], "to a client: {dst}");
        assert_eq!(&r[..6], &ROUTER_MAC, "through the router");
    }
}

#[test]
fn nat_connections_synced_to_a_backup_carry_on_there() {
    synced_connections_carry_on_at_the_backup("nat");
}

#[test]
fn fullnat_connections_synced_to_a_backup_carry_on_there() {
    synced_connections_carry_on_at_the_backup("fullnat");
}

/// Shuts the daemon down; its kernel interface `rvstest-wan` is gone within 2 s.
fn shut_down_without_its_interface(lab: Lab) {
    lab.daemon.shutdown();
    let deadline = Instant::now() + Duration::from_secs(2);
    while ip(&["link", "show", "rvstest-wan"]).is_some() {
        assert!(
            Instant::now() < deadline,
            "the interface goes with the daemon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the daemon up to 3 s until `ok(lab)`.
fn wait_until(lab: &mut Lab, ok: impl Fn(&mut Lab) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        lab.daemon.poll();
        if ok(lab) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Polls `lab`'s daemon up to 3 s until its table satisfies `ok`.
fn wait_table(lab: &mut Lab, ok: impl Fn(&dataplane::snapshot::Snapshot) -> bool) -> bool {
    wait_until(lab, |l| ok(l.daemon.snapshot()))
}

/// `[vrrp]`: the VIP and the other floating addresses are served only while a kernel interface
/// holds them (keepalived adds and removes them there): before, a SYN to the VIP is dropped as
/// `standby`; once `ip addr add` put the VIP on the kernel interface, it is forwarded; after
/// `ip addr del`, refused again.
#[test]
fn floating_addresses_are_served_while_the_kernel_interface_holds_them() {
    with_kernel_interface("", |text| {
        let text = text + "[vrrp]\naddrs = [\"10.20.0.254\"]\n";
        let mut lab = Lab::start(&text);
        let (vip, gw) = (Addr::v4(VIP), Addr::v4([10, 20, 0, 254]));
        let held = |s: &dataplane::snapshot::Snapshot| s.holds(&vip) && s.is_held_extra(&gw);
        let standby = |s: &dataplane::snapshot::Snapshot| !s.holds(&vip) && !s.is_held_extra(&gw);
        assert!(standby(lab.daemon.snapshot()), "nothing held at start");
        let f = |port| {
            tcp_frame(
                ROUTER_MAC,
                WAN_MAC,
                ([192, 0, 2, 1], port),
                (VIP, 80),
                "S",
                1,
                &[],
            )
        };
        Lab::inject(&mut lab.wan, 0, &f(30000));
        assert!(Lab::collect(&mut lab.daemon, &mut lab.lan, 1).is_empty());
        std::thread::sleep(Duration::from_millis(30));
        let standby_drops = |d: &Daemon| -> u64 {
            d.counters()
                .iter()
                .map(|c| c.drop_count(DropReason::Standby))
                .sum()
        };
        assert_eq!(standby_drops(&lab.daemon), 1);
        ip(&["addr", "add", "10.10.0.100/32", "dev", "rvstest-wan"]).expect("add the VIP");
        ip(&["addr", "add", "10.20.0.254/32", "dev", "rvstest-wan"]).expect("add the gateway");
        assert!(
            wait_table(&mut lab, held),
            "held once the kernel interface has them"
        );
        Lab::inject(&mut lab.wan, 0, &f(30001));
        assert_eq!(
            Lab::collect(&mut lab.daemon, &mut lab.lan, 1).len(),
            1,
            "served"
        );
        ip(&["addr", "del", "10.10.0.100/32", "dev", "rvstest-wan"]).expect("del the VIP");
        ip(&["addr", "del", "10.20.0.254/32", "dev", "rvstest-wan"]).expect("del the gateway");
        assert!(wait_table(&mut lab, standby), "standby once they are gone");
        Lab::inject(&mut lab.wan, 0, &f(30002));
        assert!(Lab::collect(&mut lab.daemon, &mut lab.lan, 1).is_empty());
        lab.daemon.shutdown();
    });
}

/// `[announce]`: the VIP's route is in table 100 on the kernel interface while each of its
/// services has a real server to send to, withdrawn while one has none (its weights 0, the
/// other service still able to serve), back after; and gone with the daemon's kernel interface.
#[test]
fn announcements_follow_the_services_and_go_with_the_daemon() {
    with_kernel_interface("", |text| {
        let dns = "[[services]]\nprotocol = \"udp\"\nvip = \"10.10.0.100\"\nport = 53\n\
                   scheduler = \"rr\"\n[[services.real_servers]]\naddr = \"10.20.0.11\"\n\
                   method = \"nat\"\n";
        let mut lab = Lab::start(&(text + dns + "[announce]\ntable = 100\n"));
        let route = "10.10.0.100 dev rvstest-wan proto static scope link";
        let announced = |_: &mut Lab| {
            ip(&["-4", "route", "show", "table", "100"]).is_some_and(|r| r.contains(route))
        };
        assert!(wait_until(&mut lab, announced), "announced at start");
        let running = lab.daemon.services().to_vec();
        let mut drained = running.clone();
        assert!(drained.len() > 1, "a VIP with two services");
        for d in &mut drained[0].dests {
            d.weight = 0;
        }
        lab.daemon.set_services(drained).expect("weights 0");
        assert!(
            wait_until(&mut lab, |l| !announced(l)),
            "withdrawn without a server"
        );
        assert!(lab.daemon.announced().is_some_and(|a| a.is_empty()));
        lab.daemon.set_services(running).expect("weights back");
        assert!(wait_until(&mut lab, announced), "announced again");
        shut_down_without_its_interface(lab);
        let table = ip(&["-4", "route", "show", "table", "100"]).unwrap_or_default();
        assert!(
            !table.contains("10.10.0.100"),
            "the route went with it: {table}"
        );
    });
}

/// `rvsadm --sysctl sloppy_tcp=1` reaches the workers' table; `[sysctl]` sets it at start.
#[test]
fn sloppy_tcp_is_published_with_the_table() {
    use rvs_api::sysctl::Sysctl;
    let _serial = serial();
    let text = config_text("nat", &[1], &[0]) + "[sysctl]\nsloppy_tcp = 1\n";
    let mut lab = Lab::start(&text);
    assert!(lab.daemon.snapshot().sloppy_tcp());
    assert_eq!(lab.daemon.sysctl(Sysctl::SloppyTcp), 1);
    lab.daemon.set_sysctl(Sysctl::SloppyTcp, 0).expect("set");
    assert!(!lab.daemon.snapshot().sloppy_tcp());
    assert_eq!(lab.daemon.sysctl(Sysctl::SloppyTcp), 0);
    lab.daemon.shutdown();
}
