//! The model's rules, each refusing in both front ends' words.

use super::network::{Device, Prefix};
use super::*;
use dataplane::conn::PROTO_TCP;

fn ports() -> Vec<PortSpec> {
    let port = |name: &str, device: &str, addr: &str| PortSpec {
        name: name.into(),
        device: Device::Vdev(device.into()),
        addrs: vec![addr.parse().unwrap()],
        vips: vec![],
        mac: None,
        mtu: 1500,
        vlan: None,
        kernel_interface: None,
        exception_rate: 200_000,
    };
    vec![
        port("wan", "net_null0", "10.0.0.1/24"),
        port("lan", "net_null1", "10.0.2.254/24"),
    ]
}

fn routes() -> Vec<RouteSpec> {
    vec![RouteSpec {
        prefix: Prefix {
            addr: Ipv4Addr::new(10, 30, 0, 0),
            len: 16,
        },
        via: Ipv4Addr::new(10, 0, 2, 1),
        port: 1,
    }]
}

fn key(port: u16) -> ServiceKey {
    ServiceKey {
        protocol: PROTO_TCP,
        vip: Addr::v4([10, 0, 0, 100]),
        port,
    }
}

fn service(port: u16) -> ServiceDraft {
    ServiceDraft {
        key: key(port),
        scheduler: Some("rr".into()),
        sched_flags: FlagsDraft::Flags(SchedFlags::default()),
        persistence: None,
        netmask: None,
    }
}

fn dest(addr: [u8; 4], port: u16, method: Method) -> DestDraft {
    DestDraft {
        addr: IpAddr::from(addr),
        port,
        method: MethodDraft::Method(method),
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

/// Service TCP 10.0.0.100:80 with local address 10.0.2.250 (on lan's subnet).
fn table<'a>(ports: &'a [PortSpec], routes: &'a [RouteSpec]) -> Table<'a> {
    let mut t = Table::new(Vec::new(), Network { ports, routes }, Front::Ipvsadm);
    t.add_service(&service(80)).unwrap();
    t.add_local_addr(0, IpAddr::from([10, 0, 2, 250]), None)
        .unwrap();
    t
}

/// Every rule refuses with the field's path, the config file's words and ipvsadm's.
#[test]
fn each_rule_names_the_field_in_both_front_ends_words() {
    let (ports, routes) = (ports(), routes());
    type Op = Box<dyn Fn(&mut Table) -> Result<(), ModelError>>;
    let cases: Vec<(Op, &str, &str)> = vec![
        (
            Box::new(|t| t.add_dest(0, &dest([10, 0, 2, 1], 8080, Method::Dr))),
            "services[0].real_servers[0].port = 8080: dr forwarding cannot change the port; expected 80 or no port",
            "Port mapping is not possible with direct routing forwarding: real server port 8080 differs from the virtual port 80",
        ),
        (
            Box::new(|t| t.add_dest(0, &dest([10, 0, 2, 1], 8080, Method::Tunnel))),
            "services[0].real_servers[0].port = 8080: tunnel forwarding cannot change the port; expected 80 or no port",
            "Port mapping is not possible with tunnel forwarding: real server port 8080 differs from the virtual port 80",
        ),
        (
            Box::new(|t| t.add_service(&service(80))),
            "services[1] = TCP 10.0.0.100:80: same protocol, vip and port as services[0]",
            SERVICE_EXISTS,
        ),
        (
            Box::new(|t| {
                t.add_dest(0, &dest([10, 0, 2, 1], 0, Method::Nat))?;
                t.add_dest(0, &dest([10, 0, 2, 1], 80, Method::Nat))
            }),
            "services[0].real_servers[1].addr = \"10.0.2.1\": same address and port as services[0].real_servers[0]",
            DEST_EXISTS,
        ),
        (
            Box::new(|t| t.add_service(&service(0))),
            "services[1].port = 0: port 0 (every port) needs persistence; expected 1..=65535 or a persistence timeout",
            ZERO_PORT,
        ),
        (
            Box::new(|t| {
                t.add_service(&service(81))?;
                t.add_dest(1, &dest([10, 0, 2, 1], 0, Method::FullNat))
            }),
            "services[1].local_addrs = []: services[1].real_servers[0] uses fullnat; expected at least one local address",
            "service TCP 10.0.0.100:81: local_addrs is empty but a destination uses FULLNAT",
        ),
        (
            Box::new(|t| {
                t.add_dest(0, &dest([10, 0, 2, 1], 0, Method::FullNat))?;
                t.delete_local_addr(0, IpAddr::from([10, 0, 2, 250]))
            }),
            "services[0].local_addrs = []: services[0].real_servers[0] uses fullnat; expected at least one local address",
            "service TCP 10.0.0.100:80: local_addrs is empty but a destination uses FULLNAT",
        ),
        (
            // Another service's real server at this service's local address.
            Box::new(|t| {
                t.add_service(&service(81))?;
                t.add_dest(1, &dest([10, 0, 2, 250], 0, Method::Dr))?;
                t.check()
            }),
            "services[1].real_servers[0].addr = \"10.0.2.250\": also services[0].local_addrs[0], an address of the box's own; expected a real server's",
            "service TCP 10.0.0.100:81: real server 10.0.2.250 is a local address of TCP 10.0.0.100:80, an address of the box's own; expected a real server's",
        ),
        (
            // A real server at another service's VIP, added after the server.
            Box::new(|t| {
                t.add_dest(0, &dest([10, 0, 2, 7], 0, Method::Dr))?;
                let mut other = service(80);
                other.key.vip = Addr::v4([10, 0, 2, 7]);
                t.add_service(&other)?;
                t.check()
            }),
            "services[0].real_servers[0].addr = \"10.0.2.7\": also services[1].vip, an address of the box's own; expected a real server's",
            "service TCP 10.0.0.100:80: real server 10.0.2.7 is the VIP of TCP 10.0.2.7:80, an address of the box's own; expected a real server's",
        ),
        (
            Box::new(|t| {
                let d = DestDraft {
                    upper_threshold: 5,
                    lower_threshold: 9,
                    ..dest([10, 0, 2, 1], 0, Method::Dr)
                };
                t.add_dest(0, &d)
            }),
            "services[0].real_servers[0].lower_threshold = 9: above upper_threshold 5; expected at most 5",
            "Lower threshold is above the upper threshold",
        ),
        (
            Box::new(|t| {
                let d = DestDraft {
                    weight: 70000,
                    ..dest([10, 0, 2, 1], 0, Method::Dr)
                };
                t.add_dest(0, &d)
            }),
            "services[0].real_servers[0].weight = 70000: expected an integer in 0..=65535",
            "Illegal weight specified",
        ),
        (
            Box::new(|t| {
                let d = DestDraft {
                    upper_threshold: i64::from(MAX_THRESHOLD) + 1,
                    ..dest([10, 0, 2, 1], 0, Method::Dr)
                };
                t.add_dest(0, &d)
            }),
            "services[0].real_servers[0].upper_threshold = 2147483648: expected an integer in 0..=2147483647",
            "Illegal threshold specified (at most 2147483647)",
        ),
        (
            Box::new(|t| t.add_dest(0, &dest([10, 0, 5, 1], 0, Method::Nat))),
            "services[0].real_servers[0].addr = \"10.0.5.1\": unreachable: in no connected subnet (wan 10.0.0.1/24, lan 10.0.2.254/24) and no route",
            "real server 10.0.5.1: unreachable: in no connected subnet (wan 10.0.0.1/24, lan 10.0.2.254/24) and no route",
        ),
        (
            Box::new(|t| t.add_dest(0, &dest([10, 30, 0, 1], 0, Method::Dr))),
            "services[0].real_servers[0].addr = \"10.30.0.1\": dr forwarding needs the real server on a connected subnet (wan 10.0.0.1/24, lan 10.0.2.254/24)",
            "real server 10.30.0.1: dr forwarding needs the real server on a connected subnet (wan 10.0.0.1/24, lan 10.0.2.254/24)",
        ),
        (
            Box::new(|t| {
                let d = DestDraft {
                    addr: "2001:db8::1".parse().unwrap(),
                    ..dest([0; 4], 0, Method::Nat)
                };
                t.add_dest(0, &d)
            }),
            "services[0].real_servers[0].addr: IPv6 is not supported yet",
            "IPv6 is not supported yet",
        ),
        (
            Box::new(|t| {
                let s = ServiceDraft {
                    scheduler: Some("fair".into()),
                    ..service(81)
                };
                t.add_service(&s)
            }),
            "services[1].scheduler = \"fair\": unknown scheduler; expected one of rr, wrr, lc, wlc, sh, dh, sed, nq, mh",
            "Scheduler or persistence engine not found: fair (schedulers: rr wrr lc wlc sed nq sh dh mh)",
        ),
        (
            Box::new(|t| {
                let s = ServiceDraft {
                    sched_flags: FlagsDraft::Flags(SchedFlags {
                        fallback: true,
                        port: false,
                    }),
                    ..service(81)
                };
                t.add_service(&s)
            }),
            "services[1].sched_flags: scheduler flags apply to the sh and mh schedulers, not rr",
            "scheduler flags apply to the sh and mh schedulers, not rr",
        ),
        (
            Box::new(|t| {
                let s = ServiceDraft {
                    persistence: Some(0),
                    ..service(0)
                };
                t.add_service(&s)
            }),
            "services[1].persistence = 0: expected an integer in 1..=2678400",
            "invalid timeout value `0' specified (persistence: 1..=2678400)",
        ),
        (
            Box::new(|t| {
                let s = ServiceDraft {
                    persistence: Some(300),
                    netmask: Some(33),
                    ..service(81)
                };
                t.edit_service(0, &s)
            }),
            "services[0].persistence_netmask = 33: expected an integer in 0..=32",
            "Illegal persistence netmask /33",
        ),
        (
            Box::new(|t| t.add_local_addr(0, IpAddr::from([10, 0, 9, 1]), None)),
            "services[0].local_addrs[1] = \"10.0.9.1\": in no port's subnet (wan 10.0.0.1/24, lan 10.0.2.254/24)",
            "local address 10.0.9.1 is in no port's subnet (wan 10.0.0.1/24, lan 10.0.2.254/24)",
        ),
        (
            Box::new(|t| t.add_local_addr(0, IpAddr::from([10, 0, 2, 250]), Some("lan"))),
            "services[0].local_addrs[1] = \"10.0.2.250\": listed twice",
            "local address 10.0.2.250 already exists",
        ),
        (
            Box::new(|t| t.add_local_addr(0, IpAddr::from([10, 0, 2, 251]), Some("wan"))),
            "services[0].local_addrs[1] = \"10.0.2.251\": local address 10.0.2.251 is not in a subnet of port wan",
            "local address 10.0.2.251 is not in a subnet of port wan",
        ),
        (
            Box::new(|t| t.add_local_addr(0, IpAddr::from([10, 0, 2, 251]), Some("dmz"))),
            "services[0].local_addrs[1] = \"dmz\": no port named \"dmz\" (ports: wan, lan)",
            "no port named \"dmz\" (ports: wan, lan)",
        ),
        (
            Box::new(|t| t.delete_local_addr(0, IpAddr::from([10, 0, 2, 251]))),
            "services[0].local_addrs = \"10.0.2.251\": no such local address 10.0.2.251",
            "no such local address 10.0.2.251",
        ),
        (
            Box::new(|t| t.edit_dest(0, &dest([10, 0, 2, 1], 0, Method::Nat))),
            "services[0].real_servers[0].addr: No such destination",
            NO_SUCH_DEST,
        ),
        (
            Box::new(|t| t.delete_dest(0, IpAddr::from([10, 0, 2, 1]), 0)),
            "services[0].real_servers: No such destination",
            NO_SUCH_DEST,
        ),
    ];
    for (op, config, ipvsadm) in cases {
        let mut t = table(&ports, &routes);
        let e = op(&mut t).expect_err(config);
        assert_eq!(e.to_string(), config);
        assert_eq!(e.ipvsadm(), ipvsadm);
    }
}

/// A refused operation leaves the table as it was.
#[test]
fn refused_operations_change_nothing() {
    let (ports, routes) = (ports(), routes());
    let mut t = table(&ports, &routes);
    t.add_dest(0, &dest([10, 0, 2, 1], 0, Method::FullNat))
        .unwrap();
    let before = t.services().to_vec();
    let bad_weight = DestDraft {
        weight: -1,
        ..dest([10, 0, 2, 1], 0, Method::Nat)
    };
    assert!(t.edit_dest(0, &bad_weight).is_err());
    assert!(t
        .delete_local_addr(0, IpAddr::from([10, 0, 2, 250]))
        .is_err());
    assert!(t
        .add_dest(0, &dest([10, 0, 2, 2], 8080, Method::Dr))
        .is_err());
    let zero = ServiceDraft {
        key: key(80),
        ..service(0)
    };
    assert!(t
        .edit_service(
            0,
            &ServiceDraft {
                persistence: Some(0),
                ..zero
            }
        )
        .is_err());
    assert_eq!(t.services(), before);
    // An edit keeps the server's id.
    t.services[0].dests[0].id = 7;
    let heavier = DestDraft {
        weight: 5,
        ..dest([10, 0, 2, 1], 80, Method::FullNat)
    };
    t.edit_dest(0, &heavier).unwrap();
    assert_eq!(
        (t.services()[0].dests[0].id, t.services()[0].dests[0].weight),
        (7, 5)
    );
}

/// A change that breaks several rules is refused for the one its front end checks first.
#[test]
fn each_front_end_keeps_its_order_of_checks() {
    let (ports, routes) = (ports(), routes());
    let net = Network {
        ports: &ports,
        routes: &routes,
    };
    let heavy_mapped = DestDraft {
        weight: 70000,
        ..dest([10, 0, 2, 1], 8080, Method::Dr)
    };
    let zero_bad_mask = ServiceDraft {
        persistence: Some(0),
        netmask: Some(33),
        ..service(80)
    };
    let mut order = Vec::new();
    for front in [Front::Config, Front::Ipvsadm] {
        let mut t = Table::new(Vec::new(), net, front);
        t.add_service(&service(80)).unwrap();
        let d = t.add_dest(0, &heavy_mapped).unwrap_err();
        let s = t.edit_service(0, &zero_bad_mask).unwrap_err();
        order.push((d.field, s.field));
    }
    let field = |f: &str| f.to_owned();
    assert_eq!(
        order,
        [
            (
                field("services[0].real_servers[0].weight"),
                field("services[0].persistence")
            ),
            (
                field("services[0].real_servers[0].port"),
                field("services[0].persistence_netmask")
            ),
        ]
    );
}

#[test]
fn a_port_of_zero_is_the_service_port() {
    let k = key(80);
    let at = |port| DestConfig {
        addr: Addr::v4([10, 0, 2, 1]),
        port,
        ..blank_dest()
    };
    assert!(same_dest(k, &at(0), &at(80)));
    assert!(!same_dest(k, &at(0), &at(8080)));
    assert!(!same_dest(
        k,
        &at(80),
        &DestConfig {
            addr: Addr::v4([10, 0, 2, 2]),
            ..at(80)
        }
    ));
}
