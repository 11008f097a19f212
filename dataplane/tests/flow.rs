//! rte_flow steering of FULLNAT local ports (`dataplane::dpdk::flow`): devices without rte_flow
//! refuse cleanly, impossible partitions are refused before DPDK, and on net_tap (TC flower in
//! the kernel) the rules steer real packets sent by the kernel to the right rx queue.

mod common;

use common::*;
use dataplane::dpdk::flow::{flush, steer_local_ports, steer_workers, IPPROTO_TCP, IPPROTO_UDP};
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{Error, Mbuf, MbufBurst, Port, PortConfig, SOCKET_ANY};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const LADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

/// A started net_ring port with `queues` rx and tx queues (rings kept by the port).
fn ring_port(queues: u16) -> Port {
    let eal = eal();
    let mut rx = Vec::new();
    let mut tx = Vec::new();
    for _ in 0..queues {
        let (_p, c) =
            channel::<Mbuf>(eal, &unique("fl_in"), 64, Producers::Single, SOCKET_ANY).unwrap();
        let (p, _c) =
            channel::<Mbuf>(eal, &unique("fl_out"), 64, Producers::Single, SOCKET_ANY).unwrap();
        rx.push(c);
        tx.push(p);
    }
    let mut config = PortConfig::new(pool(255));
    config.rx_queues = queues;
    config.tx_queues = queues;
    let mut port = Port::open_rings(eal, &unique("net_ring_fl"), rx, tx, &config).unwrap();
    port.start().unwrap();
    port
}

/// Asserts `err` is the refusal of a driver that has no rte_flow at all.
fn assert_no_rte_flow(err: &Error) {
    match err {
        Error::Flow { op, code, message } => {
            assert_eq!(*op, "rte_flow_validate", "refused before any rule exists");
            assert_eq!(*code, libc::ENOSYS, "{err}");
            assert!(!message.is_empty(), "{err}");
        }
        other => panic!("expected an rte_flow refusal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("rte_flow_validate failed") && text.contains("not implemented"),
        "{text}"
    );
}

#[test]
fn ring_port_without_rte_flow_refuses_steering_cleanly() {
    let mut port = ring_port(2);
    for protocol in [IPPROTO_TCP, IPPROTO_UDP] {
        let err = steer_local_ports(&port, LADDR, protocol, 2, 1, 1).unwrap_err();
        assert_no_rte_flow(&err);
        let err = steer_workers(&port, LADDR, protocol, 2).unwrap_err();
        assert_no_rte_flow(&err);
    }
    let err = flush(&mut port).unwrap_err();
    assert!(
        matches!(err, Error::Flow { op: "rte_flow_flush", code, .. } if code == libc::ENOSYS),
        "{err:?}"
    );
    // The port is untouched: it still stops and its queues still work.
    port.stop().unwrap();
}

#[test]
fn null_vdev_without_rte_flow_refuses_steering_cleanly() {
    let mut config = PortConfig::new(pool(255));
    config.rx_queues = 2;
    config.tx_queues = 2;
    let name = unique("net_null_fl");
    let mut port = Port::open_vdev(eal(), &name, &config).unwrap();
    port.start().unwrap();
    let err = steer_workers(&port, LADDR, IPPROTO_TCP, 2).unwrap_err();
    assert_no_rte_flow(&err);
    port.stop().unwrap();
}

#[test]
fn worker_counts_that_are_not_powers_of_two_are_refused() {
    let port = ring_port(4);
    for workers in [0u16, 3, 5, 6, 7, 12] {
        let err = steer_local_ports(&port, LADDR, IPPROTO_TCP, workers, 0, 0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    what: "workers",
                    ..
                }
            ),
            "{workers}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("not a power of two"), "{text}");
        let err = steer_workers(&port, LADDR, IPPROTO_UDP, workers).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    what: "workers",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // The other arguments are checked before DPDK as well.
    let err = steer_local_ports(&port, LADDR, IPPROTO_TCP, 4, 4, 0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { what: "worker", .. }),
        "{err:?}"
    );
    let err = steer_local_ports(&port, LADDR, IPPROTO_TCP, 4, 1, 4).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { what: "queue", .. }),
        "{err:?}"
    );
    let err = steer_local_ports(&port, LADDR, 1, 4, 1, 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidArgument {
                what: "protocol",
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// net_tap: the kernel side of the tap sends UDP to a local address routed into the tap; the
// driver turns rte_flow rules into TC flower filters (skbedit queue_mapping) on the tap.

/// A started net_tap port with two rx queues, and the kernel's view of it.
struct Tap {
    port: Port,
    iface: String,
    /// The kernel's address on the tap; `laddr` (the "local address" the rules steer) is a
    /// neighbour behind it whose MAC is the DPDK port's.
    kernel_addr: Ipv4Addr,
    laddr: Ipv4Addr,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

impl Tap {
    /// Opens the tap, or returns why this environment cannot have one (printed as the skip
    /// reason). Failures that are not about the environment panic.
    fn open() -> Option<Tap> {
        if !Path::new("/dev/net/tun").exists() {
            println!("SKIP: /dev/net/tun does not exist: net_tap cannot create its interface");
            return None;
        }
        let iface = unique("rvsfl");
        let mut config = PortConfig::new(pool(1023));
        config.rx_queues = 2;
        config.tx_queues = 2;
        // net_tap fills every rx descriptor with an mbuf at setup.
        config.rx_descriptors = 256;
        config.tx_descriptors = 256;
        let devargs = format!("net_tap_{iface},iface={iface}");
        let port = match Port::open_vdev(eal(), &devargs, &config) {
            Ok(port) => port,
            Err(e) => {
                // Creating a tap needs CAP_NET_ADMIN: tell that apart from a real failure.
                let probe = unique("rvsfp");
                match run("ip", &["tuntap", "add", "dev", &probe, "mode", "tap"]) {
                    Err(why) => {
                        println!("SKIP: net_tap failed ({e}) and so does creating a tap: {why}");
                        return None;
                    }
                    Ok(()) => {
                        let _ = run("ip", &["link", "del", &probe]);
                        panic!("net_tap failed although this process can create taps: {e}");
                    }
                }
            }
        };
        // 198.18.0.0/15 (benchmarking): a /30-sized pair per tap, varied by process and tap.
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let x = (std::process::id() % 250) as u8;
        let y = NEXT.fetch_add(1, Ordering::Relaxed) % 60 * 4 + 1;
        Some(Tap {
            port,
            iface,
            kernel_addr: Ipv4Addr::new(198, 18, x, y),
            laddr: Ipv4Addr::new(198, 18, x, y + 1),
        })
    }

    /// Brings the kernel side up: an address on the tap and a permanent neighbour entry for
    /// `laddr` pointing at the DPDK port, so the kernel sends to it without ARP.
    fn configure_kernel(&self) {
        let mac = self.port.mac().unwrap();
        let mac = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let cidr = format!("{}/32", self.kernel_addr);
        let laddr = self.laddr.to_string();
        for args in [
            vec!["link", "set", "dev", &self.iface, "up"],
            vec!["addr", "add", &cidr, "dev", &self.iface],
            vec!["route", "add", &laddr, "dev", &self.iface],
            vec![
                "neigh",
                "replace",
                &laddr,
                "lladdr",
                &mac,
                "dev",
                &self.iface,
                "nud",
                "permanent",
            ],
        ] {
            run("ip", &args).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Sends one UDP datagram from the kernel to `laddr:lport` for each port and returns, per
    /// port, the rx queue it arrived on.
    fn send_and_receive(&mut self, lports: &[u16]) -> Vec<(u16, u16)> {
        self.configure_kernel();
        let socket = UdpSocket::bind((self.kernel_addr, 0)).unwrap();
        for &lport in lports {
            socket
                .send_to(&lport.to_be_bytes(), (self.laddr, lport))
                .unwrap();
        }
        let mut queues = [
            self.port.rx_queue(0).unwrap(),
            self.port.rx_queue(1).unwrap(),
        ];
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut burst = MbufBurst::<32>::new();
        while got.len() < lports.len() && Instant::now() < deadline {
            for rxq in &mut queues {
                rxq.rx_burst(&mut burst);
                for m in burst.drain() {
                    if let Some(lport) = udp_to(m.data(), self.laddr) {
                        got.push((lport, rxq.queue()));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for q in queues {
            self.port.return_rx_queue(q);
        }
        got.sort_unstable();
        got
    }
}

/// Why the kernel side of a tap cannot be configured here, if it cannot (`ip` from iproute2
/// drives it).
fn iproute2_missing() -> Option<String> {
    run("ip", &["-V"]).err()
}

/// The destination port of a UDP/IPv4 frame for `laddr`; None for anything else the kernel
/// sends (IPv6 neighbour discovery, ...).
fn udp_to(frame: &[u8], laddr: Ipv4Addr) -> Option<u16> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        return None;
    };
    if ip.header().destination_addr() != laddr {
        return None;
    }
    match p.transport {
        Some(TransportSlice::Udp(udp)) => Some(udp.destination_port()),
        _ => None,
    }
}

/// Why this kernel cannot run net_tap's rte_flow rules, if it cannot: net_tap puts a `multiq`
/// root qdisc on the tap and turns each rule into a `flower` filter with a `skbedit
/// queue_mapping` action. Each piece is probed with `tc` on a scratch tap (so the DPDK port is
/// not disturbed); the answer lists every missing one.
fn kernel_lacks_tc_flower() -> Option<String> {
    let scratch = unique("rvsft");
    if let Err(why) = run(
        "ip",
        &[
            "tuntap",
            "add",
            "dev",
            &scratch,
            "mode",
            "tap",
            "multi_queue",
        ],
    ) {
        return Some(why);
    }
    let dev = scratch.as_str();
    let probes: [&[&str]; 4] = [
        &["qdisc", "add", "dev", dev, "root", "handle", "1:", "multiq"],
        &["qdisc", "add", "dev", dev, "ingress"],
        &[
            "filter",
            "add",
            "dev",
            dev,
            "ingress",
            "protocol",
            "ip",
            "prio",
            "1",
            "flower",
            "dst_ip",
            "192.0.2.1",
        ],
        &[
            "filter",
            "add",
            "dev",
            dev,
            "ingress",
            "protocol",
            "ip",
            "prio",
            "2",
            "u32",
            "match",
            "ip",
            "dst",
            "192.0.2.1/32",
            "action",
            "skbedit",
            "queue_mapping",
            "1",
        ],
    ];
    let missing: Vec<String> = probes
        .iter()
        .filter_map(|args| run("tc", args).err())
        .collect();
    let _ = run("ip", &["link", "del", dev]);
    if missing.is_empty() {
        None
    } else {
        Some(missing.join("; "))
    }
}

#[test]
fn net_tap_delivers_kernel_packets_to_its_rx_queues() {
    // The harness of the steering tests below, without rules: every datagram the kernel sends
    // to laddr arrives exactly once, on one of the two queues. The EAL took the real-time
    // signals first, so net_tap's rx trigger is off: no tap raises a signal per frame, and an
    // rx burst reads what the kernel queued all the same.
    let Some(mut tap) = Tap::open() else { return };
    if let Some(why) = iproute2_missing() {
        println!("SKIP: cannot configure the tap's kernel side: {why}");
        return;
    }
    tap.port.start().unwrap();
    let lports: Vec<u16> = (30000..30064).collect();
    let got = tap.send_and_receive(&lports);
    let ports: Vec<u16> = got.iter().map(|&(p, _)| p).collect();
    assert_eq!(ports, lports, "each datagram arrives once");
    let (all, signalling) = tun_fds();
    assert!(!all.is_empty(), "the tap's queues are open on /dev/net/tun");
    assert_eq!(
        signalling,
        Vec::<String>::new(),
        "taps with O_ASYNC among {all:?}"
    );
    let on_1 = got.iter().filter(|&&(_, q)| q == 1).count();
    println!(
        "without rules the tap spread {} flows as {} on queue 0, {on_1} on queue 1",
        got.len(),
        got.len() - on_1
    );
    tap.port.stop().unwrap();
}

/// This process's file descriptors on /dev/net/tun, and those of them with O_ASYNC (the kernel
/// raises SIGIO for every frame queued on the tap), read from /proc.
fn tun_fds() -> (Vec<String>, Vec<String>) {
    const O_ASYNC: u32 = 0o20000;
    let (mut all, mut signalling) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let fd = entry.unwrap().file_name().into_string().unwrap();
        if std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
            != Some(Path::new("/dev/net/tun").into())
        {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
        if u32::from_str_radix(flags.trim(), 8).unwrap() & O_ASYNC != 0 {
            signalling.push(fd.clone());
        }
        all.push(fd);
    }
    (all, signalling)
}

#[test]
fn net_tap_two_workers_partial_port_mask() {
    let Some(mut tap) = Tap::open() else { return };
    tap.port.start().unwrap();
    match steer_workers(&tap.port, tap.laddr, IPPROTO_UDP, 2) {
        Ok(rules) => {
            // A driver that can mask ports (not net_tap of DPDK 22.11): the partition must hold
            // on real packets.
            if let Some(why) = iproute2_missing() {
                println!("SKIP: cannot configure the tap's kernel side: {why}");
                return;
            }
            let lports: Vec<u16> = (40000..40064).collect();
            let got = tap.send_and_receive(&lports);
            let want: Vec<(u16, u16)> = lports.iter().map(|&p| (p, p & 1)).collect();
            assert_eq!(got, want, "lport & 1 must select the rx queue");
            drop(rules);
        }
        Err(err) => {
            // DPDK 22.11's net_tap turns rules into TC flower filters, and flower has no partial
            // port masks: it validates the rule, then refuses to create it. That is the driver,
            // not this machine, so the clean refusal is what is asserted.
            println!("net_tap refused masked-port steering: {err}");
            match &err {
                Error::Flow { op, code, message } => {
                    assert_eq!(*op, "rte_flow_create", "validation passed: {err}");
                    assert_eq!(*code, libc::ENOTSUP, "{err}");
                    assert_eq!(message, "item not supported", "{err}");
                }
                other => panic!("expected an rte_flow refusal, got {other:?}"),
            }
        }
    }
    tap.port.stop().unwrap();
}

#[test]
fn net_tap_steers_a_whole_local_address_to_one_queue() {
    // One worker: mask 0, so every UDP port of laddr goes to the chosen queue (1). Without the
    // rule the tap spreads flows over both queues by its own hash.
    let Some(mut tap) = Tap::open() else { return };
    tap.port.start().unwrap();
    let rule = match steer_local_ports(&tap.port, tap.laddr, IPPROTO_UDP, 1, 0, 1) {
        Ok(rule) => rule,
        Err(err) => match kernel_lacks_tc_flower() {
            Some(why) => {
                println!(
                    "SKIP: this kernel cannot run net_tap's rte_flow rules ({why}); \
                     net_tap said: {err}"
                );
                return;
            }
            None => panic!("net_tap refused the rule although the kernel has TC flower: {err}"),
        },
    };
    assert_eq!(rule.queue(), 1);
    assert_eq!(rule.worker(), (0, 1));
    if let Some(why) = iproute2_missing() {
        println!("SKIP: cannot configure the tap's kernel side: {why}");
        return;
    }
    let lports: Vec<u16> = (50000..50064).collect();
    let got = tap.send_and_receive(&lports);
    let want: Vec<(u16, u16)> = lports.iter().map(|&p| (p, 1)).collect();
    assert_eq!(got, want, "every port of laddr must arrive on queue 1");
    rule.destroy().unwrap();
    // With the rule gone the driver can flush (nothing left) and the port stops.
    flush(&mut tap.port).unwrap();
    tap.port.stop().unwrap();
}
