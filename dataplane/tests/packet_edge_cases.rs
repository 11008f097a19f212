//! Edge cases of the packet core: with several workers, NAT flows, a persistent client's
//! connections and ICMP errors reach the worker that holds their session (or template), also
//! after the service changed, in at most two hops; ICMP errors are related
//! to flows as IPVS relates them; only a plain SYN opens a TCP connection, and a SYN on an
//! ended session opens a new one. Frames are built by hand with an independent RFC 1071
//! checksum.

#[path = "golden/mod.rs"]
mod golden;

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::{Addr, FullPolicy, Timeouts};
use dataplane::forward::owner::{client_owner, local_port_owner};
use dataplane::forward::{Arrival, Forwarder, ForwarderConfig};
use dataplane::snapshot::{Method, Snapshot};
use dataplane::verdict::{DropReason, Verdict};
use golden::{
    inet_checksum, Ip, Pkt, Tcp, ACK, CLIENT, GW_MAC, IF0_MAC, IF1_MAC, L4, LADDR, NAT_HTTP, RS,
    RST, SYN, VIP,
};
use std::sync::Arc;

/// The golden lab's table (TCP 80 and UDP 53 on the VIP, rr) by `method`, with only the real
/// servers `which` (indices into `RS`) and persistence `persistence_s`.
fn snapshot_with(
    generation: u64,
    method: Method,
    persistence_s: Option<u32>,
    which: &[usize],
) -> Arc<Snapshot> {
    let lab = golden::snapshot(method);
    let services = lab
        .services
        .iter()
        .map(|s| {
            let mut config = s.config.clone();
            config.persistence_s = persistence_s;
            config
                .dests
                .retain(|d| which.iter().any(|&i| d.addr == Addr::v4(RS[i])));
            config
        })
        .collect();
    Arc::new(Snapshot::build(generation, lab.interfaces.clone(), services).unwrap())
}

fn config(worker: u16, workers: u16, capacity: usize) -> ForwarderConfig {
    ForwarderConfig {
        worker,
        workers,
        capacity,
        seed: [1, 2],
        timeouts: Timeouts::default(),
        full_policy: FullPolicy::EvictOldestUnestablished,
        exception_rates: Vec::new(),
    }
}

fn fw(method: Method, worker: u16, workers: u16) -> Forwarder {
    let snapshot = snapshot_with(1, method, None, &[0, 1, 2]);
    Forwarder::new(&config(worker, workers, 1024), snapshot).unwrap()
}

fn run(fw: &mut Forwarder, f: &[u8], in_if: u16, now: u64) -> (Verdict, Vec<u8>) {
    let mut b = HeapBuf::new(f);
    let v = fw.process(&mut b, in_if, now);
    (v, b.data().to_vec())
}

/// A client port whose NAT owner among `workers` is `owner`.
fn cport_owned_by(client: [u8; 4], owner: u16, workers: u16) -> u16 {
    (40000..60000)
        .find(|&p| client_owner(&Addr::v4(client), p, workers) == owner)
        .unwrap()
}

fn tcp(sport: u16, dport: u16, flags: u8) -> L4 {
    L4::Tcp(Tcp {
        sport,
        dport,
        seq: 0x1000_0000,
        ack: 0x2000_0001,
        flags,
        window: 8192,
        mss: None,
    })
}

/// A frame of the client's, through the client-side router.
fn from_client(client: [u8; 4], l4: L4, payload: &[u8]) -> Vec<u8> {
    Pkt {
        src_mac: GW_MAC,
        dst_mac: IF0_MAC,
        ip: Ip::new(client, VIP, 1),
        l4,
        payload: payload.to_vec(),
        pad_to: 0,
    }
    .frame()
}

fn client_tcp(cport: u16, flags: u8) -> Vec<u8> {
    from_client(CLIENT, tcp(cport, 80, flags), b"hello")
}

fn client_udp(client: [u8; 4], cport: u16) -> Vec<u8> {
    let l4 = L4::Udp {
        sport: cport,
        dport: 53,
        zero_checksum: false,
    };
    from_client(client, l4, b"query")
}

/// The SYN-ACK the client got from the VIP (IP packet).
fn vip_syn_ack(cport: u16) -> Vec<u8> {
    let ip = Ip {
        ttl: 63,
        ..Ip::new(VIP, CLIENT, 2)
    };
    let l4 = tcp(80, cport, SYN | ACK);
    Pkt {
        src_mac: IF0_MAC,
        dst_mac: GW_MAC,
        ip,
        l4,
        payload: vec![],
        pad_to: 0,
    }
    .ip_bytes()
}

/// A frame carrying an ICMP message of type `ty` from `from` to `to`, quoting the first 28
/// bytes of the IP packet `quoted`.
fn icmp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    from: [u8; 4],
    to: [u8; 4],
    (ty, code, rest): (u8, u8, [u8; 4]),
    quoted: &[u8],
) -> Vec<u8> {
    Pkt {
        src_mac,
        dst_mac,
        ip: Ip::new(from, to, 3),
        l4: L4::Icmp { ty, code, rest },
        payload: quoted[..28.min(quoted.len())].to_vec(),
        pad_to: 0,
    }
    .frame()
}

/// Fragmentation needed, next-hop MTU 1400.
const FRAG_NEEDED: (u8, u8, [u8; 4]) = (3, 4, [0, 0, 0x05, 0x78]);
/// "Fragmentation needed" from a router beyond the client about the SYN-ACK it was sent.
fn client_side_frag_needed(cport: u16) -> Vec<u8> {
    let syn_ack = vip_syn_ack(cport);
    icmp_frame(GW_MAC, IF0_MAC, golden::ROUTER, VIP, FRAG_NEEDED, &syn_ack)
}

/// The server-side router's MAC.
const SERVER_GW_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0xfe];

/// NAT, 2 workers: RSS delivers every packet of a flow to the same worker. The client's SYN,
/// received by the worker that does not own the flow, is redirected to its owner, which
/// creates the session. The client's next segment (ACK, data), received by the same non-owner
/// worker, are redirected too.
#[test]
fn nat_client_ack_on_non_owner_worker_is_redirected() {
    let (mut w0, mut w1) = (fw(Method::Nat, 0, 2), fw(Method::Nat, 1, 2));
    let cport = cport_owned_by(CLIENT, 1, 2);
    let (v, _) = run(&mut w0, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Redirect(1), "the SYN goes to the owner");
    let (v, _) = run(&mut w1, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1), "the owner creates the session");
    // The handshake's ACK and the request arrive on worker 0 again (same RSS hash).
    let (v, _) = run(&mut w0, &client_tcp(cport, ACK), 0, 20);
    assert_eq!(
        v,
        Verdict::Redirect(1),
        "the client's ACK must reach the owner"
    );
}

/// NAT, 2 workers: an ICMP error about a flow owned by worker 1 (here: a router beyond the
/// client reports "fragmentation needed" about the VIP's reply) arrives at worker 0 (RSS hashes
/// ICMP by addresses only): it is redirected to the owner, or PMTU discovery would fail for
/// about half the flows.
#[test]
fn nat_icmp_error_on_non_owner_worker_is_redirected() {
    let (mut w0, mut w1) = (fw(Method::Nat, 0, 2), fw(Method::Nat, 1, 2));
    let cport = cport_owned_by(CLIENT, 1, 2);
    let (v, _) = run(&mut w1, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let err = client_side_frag_needed(cport);
    let (v, _) = run(&mut w1, &err, 0, 20);
    assert_eq!(v, Verdict::Transmit(1), "the owner translates it");
    let (v, _) = run(&mut w0, &err, 0, 20);
    assert_eq!(v, Verdict::Redirect(1), "a non-owner hands it to the owner");
}

/// FULLNAT, 2 workers: an ICMP error from the server side about a packet the box sent from
/// LADDR:lport reaches a worker other than `lport % workers` (ICMP is neither steered by the
/// TCP/UDP rte_flow rules nor RSS-hashed on the local port): it is redirected to the port's
/// owner, like a TCP/UDP reply that misses.
#[test]
fn fullnat_icmp_error_on_non_owner_worker_is_redirected() {
    let (mut w0, mut w1) = (fw(Method::FullNat, 0, 2), fw(Method::FullNat, 1, 2));
    let (v, out) = run(&mut w1, &client_tcp(40000, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    // The box sent LADDR:lport -> RS:8080; read lport and the server back from the output.
    let ip = &out[14..];
    let lport = u16::from_be_bytes([ip[20], ip[21]]);
    assert_eq!(local_port_owner(lport, 2), 1);
    let router = [10, 0, 1, 254];
    let err = icmp_frame(SERVER_GW_MAC, IF1_MAC, router, LADDR, FRAG_NEEDED, ip);
    let (v, _) = run(&mut w1, &err, 1, 20);
    assert_eq!(v, Verdict::Transmit(0), "the owner translates it");
    let (v, _) = run(&mut w0, &err, 1, 20);
    assert_eq!(
        v,
        Verdict::Redirect(1),
        "a non-owner hands it to lport's owner"
    );
}

/// NAT: an ICMP error whose ICMP checksum is wrong (corrupted in transit) is dropped, as IPVS
/// drops it; translated, it would leave with a fresh, valid checksum over damaged content.
#[test]
fn icmp_error_with_bad_checksum_is_not_forwarded_with_a_good_one() {
    let mut w = fw(Method::Nat, 0, 1);
    let cport = 40000;
    let (v, _) = run(&mut w, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let mut err = client_side_frag_needed(cport);
    // Corrupt the next-hop MTU (ICMP bytes 6..8) without fixing the ICMP checksum.
    err[14 + 20 + 6] ^= 0x40;
    let (v, _) = run(&mut w, &err, 0, 20);
    assert_eq!(v, Verdict::Drop(DropReason::BadL4Header));
    err[14 + 20 + 6] ^= 0x40;
    let (v, out) = run(&mut w, &err, 0, 21);
    assert_eq!(
        v,
        Verdict::Transmit(1),
        "the same error intact is translated"
    );
    assert_eq!(inet_checksum(&out[14 + 20..]), 0, "with a valid checksum");
}

/// TCP: after a connection to a server ends (client RST: CLOSE), the server is removed from the
/// service. The same client port opens a NEW connection (SYN) within the CLOSE timeout (10 s).
/// The SYN is scheduled to a server of the current table (IPVS's conn_reuse_mode expires the
/// old connection): a removed server gets no new connections.
#[test]
fn syn_reusing_a_closed_session_does_not_go_to_a_removed_server() {
    let mut w = fw(Method::Nat, 0, 1);
    let cport = 40000;
    let (v, out) = run(&mut w, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let first = [out[14 + 16], out[14 + 17], out[14 + 18], out[14 + 19]];
    let i = RS.iter().position(|r| *r == first).unwrap();
    let (v, _) = run(&mut w, &client_tcp(cport, RST | ACK), 0, 20);
    assert_eq!(v, Verdict::Transmit(1));
    // Remove that server.
    let rest: Vec<usize> = (0..3).filter(|&j| j != i).collect();
    w.set_snapshot(snapshot_with(2, Method::Nat, None, &rest));
    let (v, out) = run(&mut w, &client_tcp(cport, SYN), 0, 1_000);
    assert_eq!(v, Verdict::Transmit(1));
    let second = [out[14 + 16], out[14 + 17], out[14 + 18], out[14 + 19]];
    assert_ne!(
        second, first,
        "a new connection went to the removed server {first:?}"
    );
}

/// TCP: a plain SYN on a session that has ended (established, then the client's RST: CLOSE) is
/// a new connection, scheduled afresh (rr: the next server), not the old session revived; a
/// SYN retransmitted while the session is young goes where the first one went.
#[test]
fn a_syn_on_an_ended_session_is_a_new_connection() {
    let mut w = fw(Method::Nat, 0, 1);
    let server = |out: &[u8]| [out[14 + 16], out[14 + 17], out[14 + 18], out[14 + 19]];
    let (v, out) = run(&mut w, &client_tcp(40000, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let first = server(&out);
    assert_eq!(
        run(&mut w, &client_tcp(40000, SYN), 0, 11).1,
        out,
        "a retransmitted SYN"
    );
    // Established by the client's ACK, then ended by its RST (IPVS keeps SYN_RECV on a RST).
    let (v, _) = run(&mut w, &client_tcp(40000, ACK), 0, 15);
    assert_eq!(v, Verdict::Transmit(1));
    let (v, _) = run(&mut w, &client_tcp(40000, RST | ACK), 0, 20);
    assert_eq!(v, Verdict::Transmit(1));
    let (v, out) = run(&mut w, &client_tcp(40000, SYN), 0, 1_000);
    assert_eq!(v, Verdict::Transmit(1));
    assert_ne!(server(&out), first, "scheduled afresh");
    assert_eq!(w.sessions().len(), 1, "the old session is gone");
}

/// TCP: a segment with SYN and RST set opens no session (IPVS's tcp_conn_schedule requires
/// `th->syn && !th->rst`).
#[test]
fn syn_rst_does_not_open_a_session() {
    let mut w = fw(Method::Nat, 0, 1);
    let (v, _) = run(&mut w, &client_tcp(40000, SYN | RST), 0, 10);
    assert_eq!(w.sessions().len(), 0, "SYN+RST created a session ({v:?})");
    assert_eq!(v, Verdict::Drop(DropReason::NoSession));
}

/// Persistence with no room for the template (EvictOldestUnestablished, capacity 1): the new
/// connection takes the only slot and inserting its template evicts that very connection. The
/// SYN is dropped as `table_full` and the template does not keep the slot.
#[test]
fn template_insert_does_not_evict_the_connection_it_is_for() {
    let snap = snapshot_with(1, Method::Nat, Some(300), &[0, 1, 2]);
    let mut w = Forwarder::new(&config(0, 1, 1), snap).unwrap();
    let (v, _) = run(&mut w, &client_tcp(40000, SYN), 0, 10);
    assert_eq!(v, Verdict::Drop(DropReason::TableFull));
    assert_eq!(w.sessions().len(), 0, "nothing holds the slot");
}

/// NAT: an ICMP Redirect (type 5) from a router on the server side, quoting a packet the box
/// sent to a real server, is translated like an error and forwarded to the client, carrying the
/// server-side gateway address (bytes 4..8) out of the internal network. IPVS relates only
/// destination unreachable, source quench and time exceeded (ip_vs_in_icmp/ip_vs_out_icmp);
/// a redirect concerns the link it was sent on and is never passed on.
#[test]
fn icmp_redirect_about_a_flow_is_not_forwarded_to_the_client() {
    let mut w = fw(Method::Nat, 0, 1);
    let (v, out) = run(&mut w, &client_tcp(40000, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    // Type 5 code 1 (redirect for host), gateway 10.0.1.99.
    let redirect = (5, 1, [10, 0, 1, 99]);
    let router = [10, 0, 1, 254];
    let f = icmp_frame(SERVER_GW_MAC, IF1_MAC, router, CLIENT, redirect, &out[14..]);
    let (v, _) = run(&mut w, &f, 1, 20);
    assert_eq!(v, Verdict::Drop(DropReason::IcmpUnrelated));
}

/// NAT, 2 workers: the non-owner worker keeps handing a flow's packets to the owner, which
/// holds its session, after the service lost its NAT server: the server deleted while its
/// sessions drain (UDP), or switched to DR (`-e ... -g`; TCP: the established connection
/// keeps its method, as in IPVS).
#[test]
fn a_nat_flow_reaches_its_owner_after_its_service_changes() {
    let cport = cport_owned_by(CLIENT, 1, 2);
    let udp = client_udp(CLIENT, cport);
    let (mut w0, mut w1) = (fw(Method::Nat, 0, 2), fw(Method::Nat, 1, 2));
    let install = |w0: &mut Forwarder, w1: &mut Forwarder, table: Arc<Snapshot>| {
        w0.set_snapshot(table.clone());
        w1.set_snapshot(table);
    };
    assert_eq!(run(&mut w0, &udp, 0, 10).0, Verdict::Redirect(1));
    assert_eq!(run(&mut w1, &udp, 0, 10).0, Verdict::Transmit(1));
    install(&mut w0, &mut w1, snapshot_with(2, Method::Nat, None, &[]));
    assert_eq!(run(&mut w0, &udp, 0, 20).0, Verdict::Redirect(1), "deleted");
    assert_eq!(run(&mut w1, &udp, 0, 20).0, Verdict::Transmit(1), "deleted");

    let (mut w0, mut w1) = (fw(Method::Nat, 0, 2), fw(Method::Nat, 1, 2));
    let (syn, ack) = (client_tcp(cport, SYN), client_tcp(cport, ACK));
    let server_port = |frame: &[u8]| u16::from_be_bytes([frame[14 + 22], frame[14 + 23]]);
    assert_eq!(run(&mut w1, &syn, 0, 10).0, Verdict::Transmit(1));
    let (v, sent) = run(&mut w1, &ack, 0, 11);
    assert_eq!((v, server_port(&sent)), (Verdict::Transmit(1), NAT_HTTP));
    install(
        &mut w0,
        &mut w1,
        snapshot_with(2, Method::Dr, None, &[0, 1, 2]),
    );
    assert_eq!(run(&mut w0, &ack, 0, 20).0, Verdict::Redirect(1), "to DR");
    let (v, sent) = run(&mut w1, &ack, 0, 20);
    assert_eq!(
        (v, server_port(&sent)),
        (Verdict::Transmit(1), NAT_HTTP),
        "still NAT"
    );
}

/// Two workers of two on the golden lab's table by `method` with persistence `persistence_s`
/// and the real servers `which` (see [`snapshot_with`]).
fn two_workers(method: Method, persistence_s: Option<u32>, which: &[usize]) -> [Forwarder; 2] {
    [0, 1].map(|w| {
        let table = snapshot_with(1, method, persistence_s, which);
        Forwarder::new(&config(w, 2, 1024), table).unwrap()
    })
}

/// The SYN-ACK of NAT real server `RS[server]` to the client's port `cport`, as it reaches the box.
fn nat_server_syn_ack(server: usize, cport: u16) -> Vec<u8> {
    Pkt {
        src_mac: golden::RS_MAC[server],
        dst_mac: IF1_MAC,
        ip: Ip::new(RS[server], CLIENT, 3),
        l4: tcp(NAT_HTTP, cport, SYN | ACK),
        payload: vec![],
        pad_to: 0,
    }
    .frame()
}

/// Persistence, 2 workers: every connection of a persistent service's client goes to the worker
/// of its client network, wherever RSS delivers it, so that the client's template is found by
/// each of its connections (per-worker templates would send connections from other ports to
/// other servers).
#[test]
fn a_persistent_clients_connections_meet_its_template_on_one_worker() {
    let owner = client_owner(&Addr::v4(CLIENT), 0, 2);
    let other = 1 - owner;
    let mut ws = two_workers(Method::Dr, Some(300), &[0, 1, 2]);
    let server = |frame: &[u8]| [frame[30], frame[31], frame[32], frame[33]];
    let mut servers = vec![];
    // Client ports of both NAT owners: persistence owns by the client, not its port.
    for cport in [cport_owned_by(CLIENT, 0, 2), cport_owned_by(CLIENT, 1, 2)] {
        let syn = client_tcp(cport, SYN);
        let (v, _) = run(&mut ws[usize::from(other)], &syn, 0, 10);
        assert_eq!(
            v,
            Verdict::Redirect(owner),
            "port {cport} to the client's worker"
        );
        let (v, out) = run(&mut ws[usize::from(owner)], &syn, 0, 10);
        assert_eq!(v, Verdict::Transmit(1));
        servers.push(server(&out));
    }
    assert_eq!(
        servers[0], servers[1],
        "one server for the client (rr would move on)"
    );
}

/// Persistence with NAT, 2 workers: the server's reply is owned by the client's address, not
/// its port, so it reaches the worker that holds the session even when the client's port
/// names the other worker.
#[test]
fn a_persistent_nat_reply_reaches_the_clients_worker() {
    let owner = client_owner(&Addr::v4(CLIENT), 0, 2);
    let other = 1 - owner;
    let cport = cport_owned_by(CLIENT, other, 2);
    let mut ws = two_workers(Method::Nat, Some(300), &[0, 1, 2]);
    let syn = client_tcp(cport, SYN);
    assert_eq!(
        run(&mut ws[usize::from(other)], &syn, 0, 10).0,
        Verdict::Redirect(owner)
    );
    let (v, out) = run(&mut ws[usize::from(owner)], &syn, 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let rs = [out[30], out[31], out[32], out[33]];
    let reply = nat_server_syn_ack(RS.iter().position(|&r| r == rs).unwrap(), cport);
    assert_eq!(
        run(&mut ws[usize::from(other)], &reply, 1, 11).0,
        Verdict::Redirect(owner),
        "the reply goes to the client's worker"
    );
    assert_eq!(
        run(&mut ws[usize::from(owner)], &reply, 1, 11).0,
        Verdict::Transmit(0)
    );
}

/// `run` for a frame another worker handed over (it decided `Redirect`).
fn run_handed(fw: &mut Forwarder, f: &[u8], in_if: u16, now: u64) -> (Verdict, Vec<u8>) {
    run_handed_on(fw, f, in_if, now, 1)
}

/// `run` for a frame handed over `hops` times.
fn run_handed_on(
    fw: &mut Forwarder,
    f: &[u8],
    in_if: u16,
    now: u64,
    hops: u8,
) -> (Verdict, Vec<u8>) {
    let mut b = HeapBuf::new(f);
    let prepared = fw.prepare(b.data());
    let v = fw.process_prepared(&mut b, Arrival::new(in_if, hops), now, &prepared);
    (v, b.data().to_vec())
}

/// NAT, 2 workers: persistence set on a live service (`-E -p`) moves its flows' owner from the
/// client's port to the client's address. A connection opened before stays where its session
/// is: the new owner hands what it cannot decide to the owner by the former table, for the
/// client's packets and the server's replies alike.
#[test]
fn connections_survive_a_change_of_their_owner() {
    let net_owner = client_owner(&Addr::v4(CLIENT), 0, 2);
    let port_owner = 1 - net_owner;
    let cport = cport_owned_by(CLIENT, port_owner, 2);
    let mut ws = two_workers(Method::Nat, None, &[0]);
    let (syn, ack) = (client_tcp(cport, SYN), client_tcp(cport, ACK));
    assert_eq!(
        run(&mut ws[usize::from(port_owner)], &syn, 0, 10).0,
        Verdict::Transmit(1)
    );
    for w in &mut ws {
        w.set_snapshot(snapshot_with(2, Method::Nat, Some(300), &[0]));
    }
    let (new, old) = (usize::from(net_owner), usize::from(port_owner));
    assert_eq!(
        run(&mut ws[old], &ack, 0, 20).0,
        Verdict::Transmit(1),
        "its own"
    );
    assert_eq!(
        run(&mut ws[new], &ack, 0, 20).0,
        Verdict::Redirect(port_owner),
        "the new owner hands it to the former one"
    );
    assert_eq!(
        run_handed(&mut ws[old], &ack, 0, 20).0,
        Verdict::Transmit(1)
    );
    let reply = nat_server_syn_ack(0, cport);
    assert_eq!(
        run(&mut ws[new], &reply, 1, 21).0,
        Verdict::Redirect(port_owner)
    );
    assert_eq!(
        run_handed(&mut ws[old], &reply, 1, 21).0,
        Verdict::Transmit(0)
    );
}

/// Two workers of a persistent DR service, the owner of CLIENT's network, the other worker, and
/// a client port whose NAT owner is that other worker.
fn persistent_dr_pair() -> ([Forwarder; 2], u16, u16, u16) {
    let owner = client_owner(&Addr::v4(CLIENT), 0, 2);
    let other = 1 - owner;
    let ws = two_workers(Method::Dr, Some(300), &[0, 1]);
    (ws, owner, other, cport_owned_by(CLIENT, other, 2))
}

/// 2 workers, persistent DR service: a segment that belongs to no session (here an ACK nobody
/// opened) makes at most two hops, receiver -> owner -> fallback, and is dropped there; a
/// worker handed a SYN it does not own (the workers' tables differed for a moment) schedules
/// it rather than hand it back.
#[test]
fn a_packet_without_a_session_makes_at_most_two_hops() {
    let (mut ws, owner, other, cport) = persistent_dr_pair();
    let (o, x) = (usize::from(owner), usize::from(other));
    let ack = client_tcp(cport, ACK);
    assert_eq!(run(&mut ws[x], &ack, 0, 10).0, Verdict::Redirect(owner));
    assert_eq!(
        run_handed(&mut ws[o], &ack, 0, 10).0,
        Verdict::Redirect(other),
        "to the client's NAT owner"
    );
    assert_eq!(
        run_handed_on(&mut ws[x], &ack, 0, 10, 2).0,
        Verdict::Drop(DropReason::NoSession),
        "not handed back"
    );
    let syn = client_tcp(cport, SYN);
    assert_eq!(run_handed(&mut ws[x], &syn, 0, 11).0, Verdict::Transmit(1));
}

/// 2 workers, persistent DR service whose persistence is removed (`-E` without `-p`), installed
/// on one worker only so far: a segment without a session still makes at most two hops. The
/// worker that installed hands it to the client network's owner by the former table; that one,
/// still on the persistent table, owns it and hands it to its fallback (the client's NAT
/// owner, the first worker), which must decide it and not hand it on a third time.
#[test]
fn a_packet_makes_at_most_two_hops_while_persistence_is_removed() {
    let (mut ws, net_owner, other, cport) = persistent_dr_pair();
    let (o, x) = (usize::from(net_owner), usize::from(other));
    ws[x].set_snapshot(snapshot_with(2, Method::Dr, None, &[0, 1]));
    let ack = client_tcp(cport, ACK);
    assert_eq!(run(&mut ws[x], &ack, 0, 10).0, Verdict::Redirect(net_owner));
    assert_eq!(
        run_handed(&mut ws[o], &ack, 0, 10).0,
        Verdict::Redirect(other)
    );
    assert_eq!(
        run_handed_on(&mut ws[x], &ack, 0, 10, 2).0,
        Verdict::Drop(DropReason::NoSession),
        "not handed on a third time"
    );
}

/// NAT, 2 workers: after the service is deleted (`-D`; its sessions live on until they expire,
/// as in IPVS), a reply of its server that reaches the worker not holding the session is
/// still handed to the one that does, by the table before the change.
#[test]
fn a_nat_reply_reaches_its_session_after_the_service_is_deleted() {
    let cport = cport_owned_by(CLIENT, 1, 2);
    let [mut w0, mut w1] = two_workers(Method::Nat, None, &[0, 1, 2]);
    let (v, sent) = run(&mut w1, &client_tcp(cport, SYN), 0, 10);
    assert_eq!(v, Verdict::Transmit(1));
    let dst = [sent[30], sent[31], sent[32], sent[33]];
    let server = RS.iter().position(|rs| *rs == dst).expect("a lab server");
    let lab = golden::snapshot(Method::Nat);
    let deleted = Arc::new(Snapshot::build(2, lab.interfaces.clone(), vec![]).unwrap());
    w0.set_snapshot(deleted.clone());
    w1.set_snapshot(deleted);
    let reply = nat_server_syn_ack(server, cport);
    assert_eq!(run(&mut w0, &reply, 1, 20).0, Verdict::Redirect(1));
    assert_eq!(run(&mut w1, &reply, 1, 20).0, Verdict::Transmit(0));
}
