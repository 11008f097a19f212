//! Listing layouts against golden text (columns computed with C printf semantics, as
//! ipvsadm 1.31 prints them), and -S / -R round trips.

use rvs_api::{
    CheckerInfo, ConnInfo, DestInfo, DestSpec, Info, LocalAddr, Method, Protocol, Rates, Request,
    SchedFlags, ServiceId, ServiceInfo, ServiceSpec, Stats, Timeouts,
};
use rvsadm::args::{parse_rules, Format};
use rvsadm::format;

fn lines(ls: &[&str]) -> String {
    let mut s = ls.join("\n");
    s.push('\n');
    s
}

fn id(protocol: Protocol, addr: &str, port: u16) -> ServiceId {
    ServiceId {
        protocol,
        addr: addr.parse().unwrap(),
        port,
    }
}

fn service(
    id: ServiceId,
    scheduler: &str,
    persistence: Option<u32>,
    netmask: u8,
    dests: Vec<DestInfo>,
) -> ServiceInfo {
    ServiceInfo {
        spec: ServiceSpec {
            id,
            scheduler: scheduler.into(),
            persistence,
            netmask,
            sched_flags: Default::default(),
        },
        local_addrs: Vec::new(),
        stats: Stats::default(),
        rates: Rates::default(),
        dests,
    }
}

fn dest(
    addr: &str,
    port: u16,
    method: Method,
    weight: u32,
    active: u64,
    inactive: u64,
) -> DestInfo {
    DestInfo {
        spec: DestSpec {
            addr: addr.parse().unwrap(),
            port,
            method,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        },
        active_conns: active,
        inactive_conns: inactive,
        stats: Stats::default(),
        rates: Rates::default(),
    }
}

fn info() -> Info {
    Info {
        version: "0.1.0".into(),
        conn_table_size: 4096,
        workers: 2,
    }
}

/// Four services given out of order, with real servers out of order.
fn table() -> Vec<ServiceInfo> {
    vec![
        service(
            id(Protocol::Tcp, "2001:db8::1", 80),
            "mh",
            Some(10),
            64,
            vec![dest("2001:db8::10", 8080, Method::FullNat, 2, 0, 0)],
        ),
        service(
            id(Protocol::Udp, "10.10.0.100", 53),
            "wlc",
            Some(300),
            24,
            vec![dest("10.20.0.21", 5353, Method::Masq, 100, 0, 12345678901)],
        ),
        service(
            id(Protocol::Tcp, "10.10.0.100", 80),
            "rr",
            None,
            32,
            vec![
                dest("10.20.0.12", 80, Method::Masq, 1, 3, 7),
                dest("10.20.0.11", 80, Method::Masq, 1, 0, 0),
            ],
        ),
        service(
            id(Protocol::Tcp, "10.10.0.99", 443),
            "sh",
            Some(60),
            32,
            // Port 0: the service's port.
            vec![dest("10.20.0.31", 0, Method::Route, 0, 0, 0)],
        ),
    ]
}

#[test]
fn list_numeric_matches_ipvsadm() {
    let out = format::list_all(&info(), &table(), &Format::default());
    assert_eq!(
        out,
        lines(&[
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  10.10.0.99:443 sh persistent 60",
            "  -> 10.20.0.31:443               Route   0      0          0         ",
            "TCP  10.10.0.100:80 rr",
            "  -> 10.20.0.11:80                Masq    1      0          0         ",
            "  -> 10.20.0.12:80                Masq    1      3          7         ",
            "UDP  10.10.0.100:53 wlc persistent 300 mask 255.255.255.0",
            "  -> 10.20.0.21:5353              Masq    100    0          12345678901",
            "TCP  [2001:db8::1]:80 mh persistent 10 mask 64",
            "  -> [2001:db8::10]:8080          FullNat 2      0          0         ",
        ])
    );
}

#[test]
fn brief_example_and_nosort() {
    let t = vec![service(
        id(Protocol::Tcp, "10.10.0.100", 80),
        "rr",
        None,
        32,
        vec![
            dest("10.20.0.12", 80, Method::Masq, 1, 0, 0),
            dest("10.20.0.11", 80, Method::Masq, 1, 0, 0),
        ],
    )];
    let nosort = Format {
        nosort: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_all(&info(), &t, &nosort),
        lines(&[
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  10.10.0.100:80 rr",
            "  -> 10.20.0.12:80                Masq    1      0          0         ",
            "  -> 10.20.0.11:80                Masq    1      0          0         ",
        ])
    );
    // One service (-L -t): no version line.
    assert_eq!(
        format::list_services(&t[..1], &Format::default()),
        lines(&[
            "Prot LocalAddress:Port Scheduler Flags",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
            "TCP  10.10.0.100:80 rr",
            "  -> 10.20.0.11:80                Masq    1      0          0         ",
            "  -> 10.20.0.12:80                Masq    1      0          0         ",
        ])
    );
}

fn counted() -> Vec<ServiceInfo> {
    let mut s = service(
        id(Protocol::Tcp, "10.10.0.100", 80),
        "rr",
        None,
        32,
        vec![dest("10.20.0.11", 80, Method::Masq, 1, 3, 7)],
    );
    s.stats = Stats {
        conns: 1234,
        in_packets: 99_999_999,
        out_packets: 100_000_000,
        in_bytes: 123_456_789_012,
        out_bytes: 987_654_321_098_765,
    };
    s.rates = Rates {
        cps: 12,
        in_pps: 3456,
        out_pps: 7890,
        in_bps: 123_456_789,
        out_bps: 2_000_000_000,
    };
    let d = &mut s.dests[0];
    d.stats = Stats {
        conns: 1000,
        in_packets: 5_000_000,
        out_packets: 1_999_999_999,
        in_bytes: 45_000_000_000_000,
        out_bytes: 0,
    };
    d.rates = Rates {
        cps: 12,
        in_pps: 3456,
        out_pps: 123_456_789,
        in_bps: 123_456_789,
        out_bps: 2_000_000_000,
    };
    d.spec.upper_threshold = 100;
    d.spec.lower_threshold = 10;
    vec![s]
}

#[test]
fn stats_are_scaled_like_ipvsadm() {
    let f = Format {
        stats: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_all(&info(), &counted(), &f),
        lines(&[
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
            "  -> RemoteAddress:Port",
            "TCP  10.10.0.100:80                   1234 99999999  100000K     123G     987T",
            "  -> 10.20.0.11:80                    1000  5000000    1999M   45000G        0",
        ])
    );
}

#[test]
fn exact_stats_are_not_scaled() {
    let f = Format {
        stats: true,
        exact: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_all(&info(), &counted(), &f),
        lines(&[
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
            "  -> RemoteAddress:Port",
            "TCP  10.10.0.100:80                   1234 99999999 100000000 123456789012 987654321098765",
            "  -> 10.20.0.11:80                    1000  5000000 1999999999 45000000000000        0",
        ])
    );
}

#[test]
fn rates_match_ipvsadm() {
    let f = Format {
        rate: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_all(&info(), &counted(), &f),
        lines(&[
            "IP Virtual Server version 1.2.1 (size=4096)",
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
            "  -> RemoteAddress:Port",
            "TCP  10.10.0.100:80                     12     3456     7890  123456K    2000M",
            "  -> 10.20.0.11:80                      12     3456 123456789  123456K    2000M",
        ])
    );
}

#[test]
fn thresholds_match_ipvsadm() {
    let f = Format {
        thresholds: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_services(&counted(), &f),
        lines(&[
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ",
            "  -> RemoteAddress:Port",
            "TCP  10.10.0.100:80 rr",
            "  -> 10.20.0.11:80                100        10         3          7         ",
        ])
    );
}

#[test]
fn largenum_boundaries() {
    assert_eq!(format::largenum(0, false), "        0");
    assert_eq!(format::largenum(99_999_999, false), " 99999999");
    assert_eq!(format::largenum(100_000_000, false), "  100000K");
    assert_eq!(format::largenum(999_999_999, false), "  999999K");
    assert_eq!(format::largenum(1_000_000_000, false), "    1000M");
    assert_eq!(format::largenum(99_999_999_999, false), "   99999M");
    assert_eq!(format::largenum(100_000_000_000, false), "     100G");
    assert_eq!(format::largenum(100_000_000_000_000, false), "     100T");
    assert_eq!(format::largenum(12_345_678, true), " 12345678");
    assert_eq!(format::largenum(123_456_789, true), " 123456789");
}

fn conn(
    protocol: Protocol,
    expire_s: u64,
    state: &str,
    client: &str,
    virtual_addr: &str,
    dest: &str,
    local: Option<&str>,
) -> ConnInfo {
    ConnInfo {
        protocol,
        expire_s,
        state: state.into(),
        client: client.parse().unwrap(),
        virtual_addr: virtual_addr.parse().unwrap(),
        dest: dest.parse().unwrap(),
        local: local.map(|l| l.parse().unwrap()),
    }
}

#[test]
fn connections_match_ipvsadm() {
    let conns = vec![
        conn(
            Protocol::Tcp,
            898,
            "ESTABLISHED",
            "192.0.2.10:40000",
            "10.10.0.100:80",
            "10.20.0.11:80",
            None,
        ),
        conn(
            Protocol::Udp,
            5,
            "UDP",
            "[2001:db8::99]:5000",
            "[2001:db8::1]:53",
            "[2001:db8::10]:53",
            None,
        ),
        conn(
            Protocol::Tcp,
            7200,
            "SYN_RECV",
            "192.0.2.11:1",
            "10.10.0.100:80",
            "10.20.0.12:80",
            None,
        ),
    ];
    assert_eq!(
        format::connections(&conns),
        lines(&[
            "IPVS connection entries",
            "pro expire state       source             virtual            destination",
            "TCP 14:58  ESTABLISHED 192.0.2.10:40000   10.10.0.100:80     10.20.0.11:80",
            "UDP 00:05  UDP         [2001:db8::99]:5000 [2001:db8::1]:53   [2001:db8::10]:53",
            "TCP 120:00 SYN_RECV    192.0.2.11:1       10.10.0.100:80     10.20.0.12:80",
        ])
    );
    assert_eq!(
        format::connections(&[]),
        lines(&[
            "IPVS connection entries",
            "pro expire state       source             virtual            destination",
        ])
    );
}

#[test]
fn fullnat_connections_get_a_local_column() {
    let conns = vec![
        conn(
            Protocol::Tcp,
            60,
            "FIN_WAIT",
            "192.0.2.10:40000",
            "10.10.0.100:80",
            "10.20.0.11:80",
            Some("192.168.0.10:1028"),
        ),
        conn(
            Protocol::Tcp,
            0,
            "CLOSE",
            "192.0.2.10:40001",
            "10.10.0.100:80",
            "10.20.0.11:80",
            None,
        ),
    ];
    assert_eq!(
        format::connections(&conns),
        lines(&[
            "IPVS connection entries",
            "pro expire state       source             virtual            destination        local",
            "TCP 01:00  FIN_WAIT    192.0.2.10:40000   10.10.0.100:80     10.20.0.11:80      192.168.0.10:1028",
            "TCP 00:00  CLOSE       192.0.2.10:40001   10.10.0.100:80     10.20.0.11:80      -",
        ])
    );
}

#[test]
fn timeouts_line() {
    assert_eq!(
        format::timeouts(&Timeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300
        }),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
}

fn with_laddrs() -> Vec<ServiceInfo> {
    let mut s = service(
        id(Protocol::Tcp, "10.10.0.100", 80),
        "rr",
        None,
        32,
        vec![dest("10.20.0.11", 8080, Method::FullNat, 1, 0, 0)],
    );
    s.local_addrs = vec![
        LocalAddr {
            addr: "192.168.0.10".parse().unwrap(),
            interface: "dpdk0".into(),
        },
        LocalAddr {
            addr: "192.168.0.11".parse().unwrap(),
            interface: "dpdk1".into(),
        },
    ];
    let plain = service(id(Protocol::Udp, "10.10.0.100", 53), "rr", None, 32, vec![]);
    vec![plain, s]
}

#[test]
fn local_addresses_table() {
    assert_eq!(
        format::local_addrs(&with_laddrs()),
        lines(&[
            "Prot VIP:VPORT              TOTAL  SNAT_IP                                  IFNAME",
            "TCP  10.10.0.100:80         2      192.168.0.10                             dpdk0",
            "TCP  10.10.0.100:80         2      192.168.0.11                             dpdk1",
        ])
    );
}

#[test]
fn save_matches_ipvsadm_sn() {
    assert_eq!(
        format::save(&table()),
        lines(&[
            "-A -t 10.10.0.99:443 -s sh -p 60",
            "-a -t 10.10.0.99:443 -r 10.20.0.31:443 -g -w 0",
            "-A -t 10.10.0.100:80 -s rr",
            "-a -t 10.10.0.100:80 -r 10.20.0.11:80 -m -w 1",
            "-a -t 10.10.0.100:80 -r 10.20.0.12:80 -m -w 1",
            "-A -u 10.10.0.100:53 -s wlc -p 300 -M 255.255.255.0",
            "-a -u 10.10.0.100:53 -r 10.20.0.21:5353 -m -w 100",
            "-A -t [2001:db8::1]:80 -s mh -p 10 -M 64",
            "-a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -b -w 2",
        ])
    );
    assert_eq!(
        format::save(&with_laddrs()),
        lines(&[
            "-A -t 10.10.0.100:80 -s rr",
            "--add-laddr -t 10.10.0.100:80 -z 192.168.0.10 -F dpdk0",
            "--add-laddr -t 10.10.0.100:80 -z 192.168.0.11 -F dpdk1",
            "-a -t 10.10.0.100:80 -r 10.20.0.11:8080 -b -w 1",
            "-A -u 10.10.0.100:53 -s rr",
        ])
    );
}

#[test]
fn scheduler_flags_are_listed_and_saved() {
    let mut services = table();
    for s in &mut services {
        match s.spec.scheduler.as_str() {
            "mh" => {
                s.spec.sched_flags = SchedFlags {
                    fallback: true,
                    port: true,
                }
            }
            "sh" => s.spec.sched_flags.port = true,
            _ => {}
        }
    }
    let listing = format::list_all(&info(), &services, &Format::default());
    assert!(
        listing.contains("\nTCP  10.10.0.99:443 sh (sh-port) persistent 60\n")
            && listing.contains(
                "\nTCP  [2001:db8::1]:80 mh (mh-fallback,mh-port) persistent 10 mask 64\n"
            ),
        "{listing}"
    );
    let saved = format::save(&services);
    assert!(
        saved.contains("-A -t 10.10.0.99:443 -s sh --sched-flags sh-port -p 60\n")
            && saved.contains(
                "-A -t [2001:db8::1]:80 -s mh --sched-flags mh-fallback,mh-port -p 10 -M 64\n"
            ),
        "{saved}"
    );
    let restored: Vec<Request> = parse_rules(&saved)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(restored, format::rebuild_requests(&services));
}

#[test]
fn save_then_restore_gives_the_same_requests() {
    let mut services = table();
    services.extend(with_laddrs());
    services[1].dests[0].spec.upper_threshold = 50;
    services[1].dests[0].spec.lower_threshold = 5;
    let expected = format::rebuild_requests(&services);
    assert_eq!(expected.len(), 14);
    let restored: Vec<Request> = parse_rules(&format::save(&services))
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(restored, expected);
}

#[test]
fn every_mutating_request_round_trips_through_its_rule() {
    let svc = id(Protocol::Udp, "10.0.0.1", 53);
    let v6 = id(Protocol::Tcp, "2001:db8::1", 0);
    let d = DestSpec {
        addr: "10.0.1.1".parse().unwrap(),
        port: 5353,
        method: Method::Masq,
        weight: 7,
        upper_threshold: 9,
        lower_threshold: 3,
    };
    let requests = vec![
        Request::AddService(ServiceSpec {
            id: svc,
            scheduler: "rr".into(),
            persistence: None,
            netmask: 32,
            sched_flags: Default::default(),
        }),
        Request::EditService(ServiceSpec {
            id: v6,
            scheduler: "sh".into(),
            persistence: Some(3600),
            netmask: 48,
            sched_flags: Default::default(),
        }),
        Request::DeleteService(svc),
        Request::Clear,
        Request::AddDest {
            service: svc,
            dest: d.clone(),
        },
        Request::EditDest {
            service: svc,
            dest: DestSpec {
                method: Method::Tunnel,
                port: 53,
                ..d.clone()
            },
        },
        Request::DeleteDest {
            service: svc,
            addr: d.addr,
            port: 5353,
        },
        Request::ZeroStats { service: None },
        Request::ZeroStats { service: Some(v6) },
        Request::SetTimeouts(Timeouts {
            tcp: 900,
            tcpfin: 0,
            udp: 300,
        }),
        Request::AddLocalAddr {
            service: v6,
            laddr: LocalAddr {
                addr: "2001:db8::100".parse().unwrap(),
                interface: "dpdk0".into(),
            },
        },
        Request::DeleteLocalAddr {
            service: v6,
            addr: "2001:db8::100".parse().unwrap(),
        },
    ];
    let text: String = requests
        .iter()
        .map(|r| format::rule(r).unwrap() + "\n")
        .collect();
    let back: Vec<Request> = parse_rules(&text)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(back, requests, "rules:\n{text}");
    assert_eq!(format::rule(&Request::ListConnections), None);
}

#[test]
fn health_lists_each_checker() {
    let c = |server: &str, state: &str, last: &str| CheckerInfo {
        service: "[10.10.0.100]:tcp:80".into(),
        server: server.into(),
        kind: "HTTP_GET".into(),
        state: state.into(),
        since_secs: 42,
        last: last.into(),
        runs: 7,
        failures: 2,
    };
    let out = format::health(&[
        c(
            "[10.20.0.11]:tcp:80",
            "UP",
            "HTTP status code success to [10.20.0.11]:tcp:80.",
        ),
        c(
            "[10.20.0.12]:tcp:80",
            "DOWN",
            "Error connecting server [10.20.0.12]:tcp:80 (Connection refused (os error 111)).",
        ),
    ]);
    assert_eq!(
        out,
        lines(&[
            "Virtual server           Real server              Checker    State    Since    Runs  Failed  Last result",
            "[10.10.0.100]:tcp:80     [10.20.0.11]:tcp:80      HTTP_GET   UP         42s       7       2  HTTP status code success to [10.20.0.11]:tcp:80.",
            "[10.10.0.100]:tcp:80     [10.20.0.12]:tcp:80      HTTP_GET   DOWN       42s       7       2  Error connecting server [10.20.0.12]:tcp:80 (Connection refused (os error 111)).",
        ])
    );
}
