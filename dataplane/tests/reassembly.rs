//! IPv4 fragments to services through DPDK's reassembler (`dpdk::FragTable`) and the packet
//! core, in mbufs, as a worker handles them (`worker::frag`): the datagram is reassembled,
//! scheduled and rewritten as one packet and fragmented again where its output MTU needs it.
//! Inputs and expected outputs are built with etherparse (the golden tables' builders), the
//! expected fragments cut by the tables' own RFC 791 code, checksums verified independently.
//! The counters add up after every frame: a held fragment counts nothing until its fate is
//! known; the fragment that completes a datagram counts as the datagram (one rx, one fate), the
//! others in `reassembled`; a datagram sent in fragments is one packet sent.

mod common;
#[path = "golden/mod.rs"]
mod golden;

use dataplane::dpdk::{FragTable, Mbuf, Mempool, SOCKET_ANY};
use dataplane::forward::{Arrival, Forwarder, ForwarderConfig};
use dataplane::snapshot::Method;
use dataplane::verdict::{DropReason, Verdict};
use dataplane::worker::{frag, reassembly, Fragments};
use golden::{Ip, Pkt, CLIENT, GW_MAC, IF0_MAC, IF1_MAC, L4, LADDR, RS, RS_MAC, VIP};

const TIMEOUT_MS: u64 = 1000;

fn pools() -> (Mempool, Mempool) {
    use std::sync::OnceLock;
    static POOLS: OnceLock<(Mempool, Mempool)> = OnceLock::new();
    *POOLS.get_or_init(|| {
        let big = Mempool::create(
            common::eal(),
            &common::unique("reasm"),
            63,
            0,
            reassembly::DATA_ROOM,
            SOCKET_ANY,
        )
        .expect("reassembly pool");
        (common::pool(1023), big)
    })
}

/// One worker of `workers`: its forwarder on the lab table of `method` and its reassembler.
struct Worker {
    fw: Forwarder,
    frags: Fragments,
}

/// A frame that leaves the box: (port, bytes).
type Out = Vec<(u16, Vec<u8>)>;

impl Worker {
    fn new(method: Method, worker: u16, workers: u16, max_datagrams: u32) -> Worker {
        let (pool, big) = pools();
        let config = ForwarderConfig {
            worker,
            workers,
            ..golden::config()
        };
        let snapshot = std::sync::Arc::new(golden::snapshot(method));
        let table = FragTable::new(common::eal(), max_datagrams, TIMEOUT_MS, big, SOCKET_ANY)
            .expect("frag table");
        Worker {
            fw: Forwarder::new(&config, snapshot).expect("forwarder"),
            frags: Fragments { table, pool },
        }
    }

    /// Decides `frame` as received on `in_if` (or handed over, `arrival`), then acts on the
    /// verdict as the worker does; returns what leaves, or the verdict that was not a send.
    fn feed(&mut self, frame: &[u8], arrival: Arrival, now: u64) -> Result<Out, Verdict> {
        let mut m = mbuf(frame);
        let prepared = self.fw.prepare(m.data());
        let verdict = self.fw.process_prepared(&mut m, arrival, now, &prepared);
        let out = self.act(m, verdict, arrival, now);
        self.check_counters();
        out
    }

    fn act(
        &mut self,
        m: Mbuf,
        verdict: Verdict,
        arrival: Arrival,
        now: u64,
    ) -> Result<Out, Verdict> {
        match verdict {
            Verdict::Transmit(o) => Ok(vec![(o, m.data().to_vec())]),
            Verdict::Fragment(out_if) => {
                let iface = &self.fw.snapshot().interfaces[usize::from(out_if)];
                let (port, mtu) = (iface.port, iface.mtu);
                let mut sent = Vec::new();
                let pool = self.frags.pool;
                let n = dataplane::xmit::frag::Fragmenter::new(m.data(), mtu)
                    .unwrap()
                    .count();
                frag::fragment(&m, mtu, &pool, |f| {
                    // Only the last fragment counts the packet if lost in a tx buffer.
                    assert_eq!(frag::is_counted(&f), sent.len() + 1 == n);
                    sent.push((port, f.data().to_vec()));
                    true
                })
                .expect("fragments");
                Ok(sent)
            }
            Verdict::Reassemble => {
                match frag::reassemble(&mut self.fw, &mut self.frags, m, arrival, now) {
                    Some((d, v)) => self.act(d, v, Arrival::received(arrival.in_if()), now),
                    None => Ok(Vec::new()),
                }
            }
            other => Err(other),
        }
    }

    fn expire(&mut self, now: u64) {
        let n = self.frags.table.expire(now);
        if n > 0 {
            self.fw
                .count_fragments(DropReason::FragTimeout, u64::from(n));
        }
        self.check_counters();
    }

    fn check_counters(&self) {
        let s = self.fw.stats();
        assert_eq!(
            s.rx,
            s.tx + s.redirected + s.local + s.reassembled + s.drops.total(),
            "counters add up: {s:?}"
        );
    }
}

fn mbuf(frame: &[u8]) -> Mbuf {
    let mut m = pools().0.alloc().expect("mbuf");
    assert!(m.set_data(frame));
    m
}

fn rx(in_if: u16) -> Arrival {
    Arrival::received(in_if)
}

/// A UDP datagram of `len` IP bytes from the client (port `cport`) to VIP:53, DF clear.
fn client_datagram(cport: u16, ident: u16, len: usize) -> Pkt {
    Pkt {
        src_mac: GW_MAC,
        dst_mac: IF0_MAC,
        ip: Ip {
            df: false,
            ..Ip::new(CLIENT, VIP, ident)
        },
        l4: L4::Udp {
            sport: cport,
            dport: 53,
            zero_checksum: false,
        },
        payload: (0..len - 28).map(|i| (i * 7 + 3) as u8).collect(),
        pad_to: 0,
    }
}

/// The client's datagram `p` as it leaves towards real server 0 (the first rr pick): NAT
/// rewrites the destination, FULLNAT the source too (local port 65535, the first), TTL - 1.
fn at_server(p: &Pkt, method: Method) -> Vec<u8> {
    let mut q = p.clone();
    q.src_mac = IF1_MAC;
    q.dst_mac = RS_MAC[0];
    q.ip.dst = RS[0];
    q.ip.ttl -= 1;
    if method == Method::FullNat {
        q.ip.src = LADDR;
        q.l4 = L4::Udp {
            sport: 65535,
            dport: 53,
            zero_checksum: false,
        };
    }
    q.frame()
}

/// Real server 0's reply of `len` IP bytes to the client's datagram from `cport`, DF clear.
fn server_reply(method: Method, cport: u16, ident: u16, len: usize) -> Pkt {
    let (to, dport) = match method {
        Method::FullNat => (LADDR, 65535),
        _ => (CLIENT, cport),
    };
    Pkt {
        src_mac: RS_MAC[0],
        dst_mac: IF1_MAC,
        ip: Ip {
            df: false,
            ..Ip::new(RS[0], to, ident)
        },
        l4: L4::Udp {
            sport: 53,
            dport,
            zero_checksum: false,
        },
        payload: (0..len - 28).map(|i| (i * 5 + 1) as u8).collect(),
        pad_to: 0,
    }
}

/// The reply `p` as it leaves towards the client: from VIP:53 (FULLNAT: to client:cport).
fn at_client(p: &Pkt, cport: u16) -> Vec<u8> {
    let mut q = p.clone();
    q.src_mac = IF0_MAC;
    q.dst_mac = GW_MAC;
    q.ip.src = VIP;
    q.ip.dst = CLIENT;
    q.ip.ttl -= 1;
    q.l4 = L4::Udp {
        sport: 53,
        dport: cport,
        zero_checksum: false,
    };
    q.frame()
}

/// Asserts that `out` is exactly `want` (every frame out of `out_if`), byte for byte, each
/// with a valid IPv4 header checksum and, once put back together, valid L4 checksums.
fn assert_sent(out: &Out, out_if: u16, want: &[Vec<u8>]) {
    assert_eq!(out.len(), want.len(), "frames sent: {}", out.len());
    for (i, ((o, got), want)) in out.iter().zip(want).enumerate() {
        assert_eq!(*o, out_if, "frame {i}: interface");
        if let Err(e) = golden::compare(want, got) {
            panic!("frame {i}: {e}");
        }
        let hl = usize::from(got[14] & 0x0f) * 4;
        assert_eq!(golden::inet_checksum(&got[14..14 + hl]), 0, "frame {i}");
    }
}

/// A datagram's frame and the fragments of it a sender with a 1500-byte MTU sends.
fn split(p: &Pkt) -> (Vec<u8>, Vec<Vec<u8>>) {
    let frame = p.frame();
    let frags = golden::fragments(&frame, 1500);
    (frame, frags)
}

/// A 4000-byte UDP datagram each way, in order: each fragment but the last is held, the last
/// completes the datagram, which is scheduled, rewritten and sent in fragments (4028 > 1500).
fn both_ways(method: Method) {
    let mut w = Worker::new(method, 0, 1, 64);
    let q = client_datagram(6000, 0x4000, 4000);
    let (_, frags) = split(&q);
    assert_eq!(frags.len(), 3);
    let expected = at_server(&q, method);
    golden::verify_checksums(&expected).expect("expected datagram");
    let want = golden::fragments(&expected, 1500);
    for f in &frags[..2] {
        assert_eq!(w.feed(f, rx(0), 10), Ok(vec![]), "held");
    }
    let out = w.feed(&frags[2], rx(0), 11).expect("sent");
    assert_sent(&out, 1, &want);
    let s = w.fw.stats();
    assert_eq!(
        (s.rx, s.tx, s.reassembled),
        (3, 1, 2),
        "each fragment counted once, the datagram sent once"
    );

    let a = server_reply(method, 6000, 0x5000, 4000);
    let (_, frags) = split(&a);
    let expected = at_client(&a, 6000);
    golden::verify_checksums(&expected).expect("expected reply");
    for f in &frags[..2] {
        assert_eq!(w.feed(f, rx(1), 20), Ok(vec![]));
    }
    let out = w.feed(&frags[2], rx(1), 21).expect("sent");
    assert_sent(&out, 0, &golden::fragments(&expected, 1500));
    let s = w.fw.stats();
    assert_eq!((s.rx, s.tx, s.reassembled, s.drops.total()), (6, 2, 4, 0));
}

#[test]
fn nat_reassembles_and_refragments_both_ways() {
    both_ways(Method::Nat);
}

#[test]
fn fullnat_reassembles_and_refragments_both_ways() {
    both_ways(Method::FullNat);
}

/// Out of order (last first), the datagram completes all the same; a datagram that fits the
/// output MTU once reassembled (1000 bytes, sent by a client in 576-byte fragments) leaves whole.
#[test]
fn out_of_order_and_small_datagrams() {
    for method in [Method::Nat, Method::FullNat, Method::Dr] {
        let mut w = Worker::new(method, 0, 1, 64);
        let q = client_datagram(6001, 0x4001, 4000);
        let (frame, frags) = split(&q);
        assert_eq!(w.feed(&frags[2], rx(0), 10), Ok(vec![]));
        assert_eq!(w.feed(&frags[0], rx(0), 11), Ok(vec![]));
        let out = w.feed(&frags[1], rx(0), 12).expect("sent");
        let expected = match method {
            Method::Dr => {
                let mut f = frame.clone();
                f[..6].copy_from_slice(&RS_MAC[0]);
                f[6..12].copy_from_slice(&IF1_MAC);
                f
            }
            _ => at_server(&q, method),
        };
        assert_sent(&out, 1, &golden::fragments(&expected, 1500));

        let small = client_datagram(6002, 0x4002, 1000);
        let frags = golden::fragments(&small.frame(), 576);
        assert_eq!(frags.len(), 2);
        assert_eq!(w.feed(&frags[1], rx(0), 13), Ok(vec![]));
        let out = w.feed(&frags[0], rx(0), 14).expect("sent whole");
        let expected = match method {
            Method::Dr => {
                let mut f = small.frame();
                f[..6].copy_from_slice(&RS_MAC[1]);
                f[6..12].copy_from_slice(&IF1_MAC);
                f
            }
            _ => {
                // The second UDP flow goes to the next server (rr); FULLNAT's next local port.
                let mut f = at_server(&small, method);
                let mut p = small.clone();
                p.src_mac = IF1_MAC;
                p.dst_mac = RS_MAC[1];
                p.ip.dst = RS[1];
                p.ip.ttl -= 1;
                if method == Method::FullNat {
                    p.ip.src = LADDR;
                    p.l4 = L4::Udp {
                        sport: 65534,
                        dport: 53,
                        zero_checksum: false,
                    };
                }
                f.clear();
                f.extend(p.frame());
                f
            }
        };
        golden::verify_checksums(&out[0].1).expect("whole datagram checksums");
        assert_sent(&out, 1, &[expected]);
        let s = w.fw.stats();
        assert_eq!((s.rx, s.tx, s.reassembled), (5, 2, 3), "{method:?}");
    }
}

/// Overlapping fragments and a duplicated first fragment drop their datagram (DPDK's rule),
/// every fragment of it counted once as `frag_refused`; fragments whose datagram never
/// completes (the first is missing) are dropped at the timeout and counted `frag_timeout`.
#[test]
fn overlap_duplicate_and_missing_fragments_are_counted() {
    let mut w = Worker::new(Method::Nat, 0, 1, 64);
    let q = client_datagram(6003, 0x4003, 4000);
    let (_, frags) = split(&q);
    // Overlap: the middle fragment starts 8 bytes early (offset 1472), 8 bytes too many.
    let mut overlapping = client_datagram(6003, 0x4003, 4000);
    overlapping.ip.mf = true;
    let whole = q.frame();
    let mut mid = frags[1].clone();
    mid[20..22].copy_from_slice(&(0x2000u16 | (1472 / 8)).to_be_bytes());
    mid[34..].copy_from_slice(&whole[34 + 1472..34 + 1472 + 1480]);
    mid[24..26].copy_from_slice(&[0, 0]);
    let c = golden::inet_checksum(&mid[14..34]);
    mid[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(w.feed(&frags[0], rx(0), 10), Ok(vec![]));
    assert_eq!(w.feed(&mid, rx(0), 11), Ok(vec![]));
    assert_eq!(w.feed(&frags[2], rx(0), 12), Ok(vec![]));
    let s = w.fw.stats();
    assert_eq!(s.drops.get(DropReason::FragRefused), 3, "{s:?}");
    assert_eq!((s.rx, s.tx, s.reassembled), (3, 0, 0));

    // Duplicate first fragment: both copies go; the rest never completes.
    let q = client_datagram(6004, 0x4004, 4000);
    let (_, frags) = split(&q);
    assert_eq!(w.feed(&frags[0], rx(0), 20), Ok(vec![]));
    assert_eq!(w.feed(&frags[0], rx(0), 21), Ok(vec![]));
    assert_eq!(w.fw.stats().drops.get(DropReason::FragRefused), 5);
    assert_eq!(w.feed(&frags[1], rx(0), 22), Ok(vec![]));
    assert_eq!(w.feed(&frags[2], rx(0), 23), Ok(vec![]));
    w.expire(22 + TIMEOUT_MS - 1);
    assert_eq!(
        w.fw.stats().drops.get(DropReason::FragTimeout),
        0,
        "not yet"
    );
    w.expire(23 + TIMEOUT_MS + 1);
    let s = w.fw.stats();
    assert_eq!(s.drops.get(DropReason::FragTimeout), 2, "{s:?}");
    assert_eq!((s.rx, s.tx, s.drops.total()), (7, 0, 7));

    // The same fragments again, complete this time: the datagram goes through.
    for (i, f) in frags.iter().enumerate() {
        let out = w.feed(f, rx(0), 2000 + i as u64).expect("no drop");
        assert_eq!(out.len(), if i == 2 { 3 } else { 0 });
    }
    let s = w.fw.stats();
    assert_eq!((s.rx, s.tx, s.reassembled), (10, 1, 2));
}

/// A full table refuses a new datagram's fragment (`frag_refused`) and keeps those it holds.
#[test]
fn a_full_table_refuses_new_datagrams() {
    let mut w = Worker::new(Method::Nat, 0, 1, 4);
    let mut firsts = Vec::new();
    for i in 0..5u16 {
        let q = client_datagram(6100 + i, 0x4100 + i, 4000);
        firsts.push(split(&q).1);
    }
    for (i, frags) in firsts.iter().enumerate() {
        assert_eq!(w.feed(&frags[0], rx(0), 10 + i as u64), Ok(vec![]));
    }
    let s = w.fw.stats();
    assert_eq!(s.drops.get(DropReason::FragRefused), 1, "{s:?}");
    assert_eq!(s.rx, 1, "the four held are not counted yet");
    // The first datagram held still completes.
    w.feed(&firsts[0][1], rx(0), 20).unwrap();
    let out = w.feed(&firsts[0][2], rx(0), 21).unwrap();
    assert_eq!(out.len(), 3);
}

/// With two workers, each fragment goes to the datagram's owner (one hop); there it is kept
/// and the datagram completes, whichever worker received each fragment.
#[test]
fn fragments_meet_on_their_owner() {
    let mut workers = [
        Worker::new(Method::Nat, 0, 2, 64),
        Worker::new(Method::Nat, 1, 2, 64),
    ];
    for ident in 0..8u16 {
        let q = client_datagram(6200 + ident, 0x4200 + ident, 4000);
        let (_, frags) = split(&q);
        let mut sent = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let first = (i + usize::from(ident)) % 2;
            match workers[first].feed(f, rx(0), 10) {
                Ok(out) => sent.extend(out),
                Err(Verdict::Redirect(owner)) => {
                    let handed = rx(0).handed_on();
                    let out = workers[usize::from(owner)].feed(f, handed, 10);
                    sent.extend(out.expect("kept by its owner"));
                }
                Err(v) => panic!("{v:?}"),
            }
        }
        assert_eq!(
            sent.len(),
            3,
            "datagram {ident}: reassembled once, sent in 3"
        );
    }
    let sum = |f: fn(&dataplane::forward::WorkerStats) -> u64| -> u64 {
        workers.iter().map(|w| f(w.fw.stats())).sum()
    };
    assert_eq!(sum(|s| s.drops.total()), 0);
    // 24 fragments received, those handed on counted again on their owner; 8 datagrams of 3
    // fragments, each one packet sent.
    assert_eq!(sum(|s| s.rx), 24 + sum(|s| s.redirected));
    assert_eq!((sum(|s| s.reassembled), sum(|s| s.tx)), (16, 8));
}
