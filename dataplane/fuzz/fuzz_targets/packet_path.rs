//! The whole packet path: each input is one frame, run through a Forwarder per forwarding mode.
//!
//! Input: byte 0 is control, the rest is the Ethernet frame.
//! - bits 0-1: input interface (0 client side, 1 server side, 2-3 unknown interfaces);
//! - bit 7: advance the clock by `((b >> 2) & 0x1f) * 30 s` and run session expiry first;
//!   otherwise the clock advances 1 ms.
//!
//! The Forwarders live in a thread_local, so sessions accumulate across inputs: a client's SYN in
//! one input makes the server's reply or an ICMP error in a later input hit a session. Checked on
//! every call: one verdict, counters add up, a transmit goes to an existing interface and a
//! redirect to another existing worker.
#![no_main]

use dataplane::buf::{HeapBuf, PacketBuf};
use dataplane::conn::{Addr, FullPolicy, Timeouts, PROTO_TCP, PROTO_UDP};
use dataplane::forward::{Forwarder, ForwarderConfig};
use dataplane::sched::{SchedParams, SchedulerKind};
use dataplane::snapshot::{DestConfig, Interface, Method, ServiceConfig, ServiceKey, Snapshot};
use dataplane::verdict::Verdict;
use dataplane::wire::ethernet::MacAddr;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::sync::Arc;

const VIP: [u8; 4] = [10, 0, 0, 100];
const VIP_ALL_PORTS: [u8; 4] = [10, 0, 0, 101];
const LADDR: [u8; 4] = [10, 0, 1, 200];
/// The golden tables' lab (tests/golden/mod.rs), so its frames (the seed corpus) hit sessions,
/// plus a fourth server for the mixed-method table.
const RS: [[u8; 4]; 4] = [
    [10, 0, 1, 11],
    [10, 0, 1, 12],
    [10, 0, 1, 13],
    [10, 0, 1, 14],
];

fn v4(o: [u8; 4]) -> Addr {
    Addr::v4(o)
}

fn dest(id: u32, i: usize, port: u16, method: Method) -> DestConfig {
    DestConfig {
        id,
        addr: v4(RS[i]),
        port,
        weight: 1 + i as u32,
        method,
        // A low threshold on one server exercises overload accounting.
        upper_threshold: if i == 2 { 4 } else { 0 },
        lower_threshold: 0,
        mac: MacAddr([2, 0, 0, 0, 1, 0x11 + i as u8]),
        interface: 1,
    }
}

/// Services of one forwarding mode (`None`: each service mixes all four, one per server): the
/// golden lab's VIP:80/TCP (NAT/FULLNAT map it to 8080) and VIP:53/UDP, plus a persistent
/// all-ports service on 10.0.0.101 for TCP and UDP.
fn snapshot(method: Option<Method>) -> Arc<Snapshot> {
    let interfaces = vec![
        Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec![v4([10, 0, 0, 1])],
            mtu: 1500,
            port: 0,
            vlan: None,
        },
        Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            addrs: vec![v4([10, 0, 1, 1])],
            mtu: 1500,
            port: 1,
            vlan: None,
        },
        // VLAN 100 on port 0, so that tagged frames reach the whole path too.
        Interface {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec![v4([10, 0, 100, 1])],
            mtu: 1500,
            port: 0,
            vlan: Some(100),
        },
    ];
    let methods = [Method::Nat, Method::FullNat, Method::Dr, Method::Tunnel];
    let mut next_id = 0;
    let mut dests = |mapped: bool| -> Vec<DestConfig> {
        (0..RS.len())
            .map(|i| {
                let m = method.unwrap_or(methods[i % 4]);
                let port = if mapped && matches!(m, Method::Nat | Method::FullNat) {
                    8080
                } else {
                    0
                };
                next_id += 1;
                dest(next_id, i, port, m)
            })
            .collect()
    };
    let service = |protocol, vip, port, scheduler, persistence_s, dests| ServiceConfig {
        key: ServiceKey {
            protocol,
            vip: v4(vip),
            port,
        },
        scheduler,
        sched_params: SchedParams::default(),
        persistence_s,
        persistence_prefix: 24,
        dests,
        local_addrs: vec![v4(LADDR)],
    };
    let configs = vec![
        // rr as in the golden lab; the mixed table uses the connection-counting schedulers.
        service(
            PROTO_TCP,
            VIP,
            80,
            if method.is_some() {
                SchedulerKind::Rr
            } else {
                SchedulerKind::Wlc
            },
            None,
            dests(true),
        ),
        service(
            PROTO_UDP,
            VIP,
            53,
            if method.is_some() {
                SchedulerKind::Rr
            } else {
                SchedulerKind::Sed
            },
            None,
            dests(false),
        ),
        service(
            PROTO_TCP,
            VIP_ALL_PORTS,
            0,
            SchedulerKind::Sh,
            Some(60),
            dests(false),
        ),
        service(
            PROTO_UDP,
            VIP_ALL_PORTS,
            0,
            SchedulerKind::Wrr,
            Some(60),
            dests(false),
        ),
    ];
    Arc::new(Snapshot::build(1, interfaces, configs).expect("valid fuzz snapshot"))
}

struct Rig {
    /// (forwarder, its worker count)
    fws: Vec<(Forwarder, u16)>,
    now: u64,
    buf: HeapBuf,
}

fn rig() -> Rig {
    let config = |worker, workers, capacity, full_policy| ForwarderConfig {
        worker,
        workers,
        capacity,
        seed: [0x5eed, 0xf00d],
        timeouts: Timeouts::default(),
        full_policy,
        exception_rates: Vec::new(),
    };
    let mut fws = Vec::new();
    for method in [Method::Nat, Method::FullNat, Method::Dr, Method::Tunnel] {
        let fw = Forwarder::new(
            &config(0, 1, 512, FullPolicy::EvictOldestUnestablished),
            snapshot(Some(method)),
        );
        fws.push((fw.expect("forwarder"), 1));
    }
    // Worker 1 of 2 (redirects), small tables that fill up (refusal and eviction paths).
    for method in [Method::Nat, Method::FullNat] {
        let fw = Forwarder::new(
            &config(1, 2, 64, FullPolicy::Refuse),
            snapshot(Some(method)),
        );
        fws.push((fw.expect("forwarder"), 2));
    }
    let fw = Forwarder::new(
        &config(0, 1, 64, FullPolicy::EvictOldestUnestablished),
        snapshot(None),
    );
    fws.push((fw.expect("forwarder"), 1));
    Rig {
        fws,
        now: 0,
        buf: HeapBuf::new(&[]),
    }
}

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(rig());
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, frame)) = data.split_first() else {
        return;
    };
    let in_if = u16::from(control & 3);
    RIG.with(|rig| {
        let rig = &mut *rig.borrow_mut();
        if control & 0x80 != 0 {
            rig.now += u64::from((control >> 2) & 0x1f) * 30_000;
            for (fw, _) in &mut rig.fws {
                fw.expire(rig.now, 256);
            }
        } else {
            rig.now += 1;
        }
        for (fw, workers) in &mut rig.fws {
            rig.buf.reset(frame);
            let before = *fw.stats();
            let verdict = fw.process(&mut rig.buf, in_if, rig.now);
            let s = fw.stats();
            // A fragment held for reassembly counts nothing until its datagram's fate does.
            let held = verdict == Verdict::Reassemble;
            assert_eq!(s.rx, before.rx + u64::from(!held));
            assert_eq!(
                s.rx,
                s.tx + s.redirected + s.local + s.reassembled + s.drops.total(),
                "counters add up"
            );
            match verdict {
                Verdict::Transmit(out_if) | Verdict::Fragment(out_if) => {
                    assert!(usize::from(out_if) < fw.snapshot().interfaces.len());
                    assert_eq!(s.tx, before.tx + 1);
                    assert!(rig.buf.data().len() >= 14);
                }
                Verdict::Redirect(w) => {
                    assert!(w < *workers);
                    assert_eq!(s.redirected, before.redirected + 1);
                    assert_eq!(
                        rig.buf.data(),
                        frame,
                        "a redirected packet is handed on unchanged"
                    );
                }
                Verdict::Local => {
                    assert_eq!(s.local, before.local + 1);
                    assert_eq!(rig.buf.data(), frame, "handed to control unchanged");
                }
                Verdict::Reassemble => {
                    assert_eq!(rig.buf.data(), frame, "held for reassembly unchanged");
                }
                Verdict::Drop(reason) => {
                    assert_eq!(s.drops.get(reason), before.drops.get(reason) + 1)
                }
            }
        }
    });
});
