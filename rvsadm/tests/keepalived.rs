//! keepalived.conf import: a realistic configuration with NAT, DR, TUN and FNAT virtual
//! servers, comments, health checks, skipped blocks and DPVS local address groups.

use rvs_api::keepalived::checker::CheckKind;
use rvs_api::keepalived::{parse, to_requests, ParseError};
use rvs_api::{DestSpec, LocalAddr, Method, Protocol, Request, ServiceId, ServiceSpec};
use rvsadm::format;
use std::net::IpAddr;
use std::time::Duration;

const CONF: &str = r#"! Configuration File for keepalived
global_defs {
   notification_email {
     ops@example.com
   }
   router_id LB1   # trailing comment
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        10.10.0.100
    }
}

# NAT web service, persistent per /24
virtual_server 10.10.0.100 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    protocol TCP

    sorry_server 10.20.0.99 80

    real_server 10.20.0.11 8080 {
        weight 3
        uthreshold 1000
        lthreshold 100
        HTTP_GET {
            url {
              path /health
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            connect_timeout 3
            retry 3
        }
    }
    real_server 10.20.0.12 8080 {
        weight 1
        TCP_CHECK { connect_timeout 3 }
    }
}

virtual_server 10.10.0.101 443 {
    lb_algo wrr
    lb_kind DR
    real_server 10.20.0.21 8443 {   ! DR keeps the service port
        MISC_CHECK {
            misc_path "/usr/local/bin/check --port 443"
        }
    }
}

virtual_server 10.10.0.102 53 {
    lb_algo sh
    lb_kind TUN
    protocol UDP
    real_server 10.20.0.31 53 {
        weight 0
    }
}

virtual_server 2001:db8::1 80
{
    lvs_sched mh
    lvs_method FNAT
    laddr_group_name laddr_g1
    real_server 2001:db8::10 8080 {
        weight 2
    }
    real_server 2001:db8::11 {
    }
}

virtual_server 10.10.0.103 8080 {
    lb_kind FNAT
    laddr_group_name laddr_g2
    real_server 10.20.0.41 80 {
        weight 5
        TCP_CHECK {
            connect_port 80
        }
    }
}

local_address_group laddr_g1 {
    2001:db8::100 dpdk0
    2001:db8::101 dpdk1
}

local_address_group laddr_g2 {
    192.168.100.200-202 dpdk0   # a DPVS range
}
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sid(protocol: Protocol, addr: &str, port: u16) -> ServiceId {
    ServiceId {
        protocol,
        addr: ip(addr),
        port,
    }
}

#[test]
fn parses_virtual_servers_real_servers_and_groups() {
    let cfg = parse(CONF).unwrap();
    assert_eq!(cfg.virtual_servers.len(), 5);

    let nat = &cfg.virtual_servers[0];
    assert_eq!(nat.line, 23);
    assert_eq!(nat.id, sid(Protocol::Tcp, "10.10.0.100", 80));
    assert_eq!(nat.scheduler, "rr");
    assert_eq!(nat.method, Method::Masq);
    assert_eq!(nat.persistence, Some(50));
    assert_eq!(nat.netmask, 24);
    assert_eq!(nat.real_servers.len(), 2);
    let rs = &nat.real_servers[0];
    assert_eq!((rs.addr, rs.port, rs.weight), (ip("10.20.0.11"), 8080, 3));
    assert_eq!((rs.upper_threshold, rs.lower_threshold), (1000, 100));
    assert_eq!(rs.checkers.len(), 1);
    let http = &rs.checkers[0];
    assert_eq!(
        (http.line, http.connect_timeout, http.retry),
        (37, Some(Duration::from_secs(3)), Some(3))
    );
    let CheckKind::Http {
        tls: false, urls, ..
    } = &http.kind
    else {
        panic!("{http:?}");
    };
    assert_eq!(urls[0].path, "/health");
    assert_eq!(
        urls[0].digest.as_deref(),
        Some("640205b7b0fc66c1ea91c463fac6334d")
    );
    let rs2 = &nat.real_servers[1];
    assert_eq!(rs2.checkers[0].kind, CheckKind::Tcp);
    assert_eq!(nat.health.delay_loop, Some(Duration::from_secs(6)));
    let sorry = nat.health.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.addr, sorry.port, sorry.line),
        (ip("10.20.0.99"), 80, 31)
    );

    let dr = &cfg.virtual_servers[1];
    assert_eq!((dr.method, dr.scheduler.as_str()), (Method::Route, "wrr"));
    assert_eq!(dr.persistence, None);
    assert_eq!(dr.real_servers[0].weight, 1, "keepalived's default weight");
    let CheckKind::Misc { path, .. } = &dr.real_servers[0].checkers[0].kind else {
        panic!("{:?}", dr.real_servers[0]);
    };
    assert_eq!(path, "/usr/local/bin/check --port 443");

    let tun = &cfg.virtual_servers[2];
    assert_eq!(tun.id, sid(Protocol::Udp, "10.10.0.102", 53));
    assert_eq!(tun.method, Method::Tunnel);
    assert_eq!(tun.real_servers[0].weight, 0);

    let fnat6 = &cfg.virtual_servers[3];
    assert_eq!(fnat6.id, sid(Protocol::Tcp, "2001:db8::1", 80));
    assert_eq!(fnat6.method, Method::FullNat);
    assert_eq!(fnat6.scheduler, "mh");
    assert_eq!(fnat6.netmask, 128);
    assert_eq!(fnat6.laddr_group.as_deref(), Some("laddr_g1"));
    assert_eq!(fnat6.real_servers[1].port, 0);

    let fnat4 = &cfg.virtual_servers[4];
    assert_eq!(fnat4.scheduler, "wlc", "ipvsadm's default scheduler");

    assert_eq!(cfg.local_address_groups.len(), 2);
    let g2 = &cfg.local_address_groups[1];
    assert_eq!(g2.name, "laddr_g2");
    assert_eq!(
        g2.addrs,
        ["192.168.100.200", "192.168.100.201", "192.168.100.202"]
            .iter()
            .map(|a| LocalAddr {
                addr: ip(a),
                interface: "dpdk0".into()
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn requests_and_dry_run_rules() {
    let cfg = parse(CONF).unwrap();
    let reqs = to_requests(&cfg).unwrap();
    let rules: Vec<String> = reqs.iter().map(|(_, r)| format::rule(r).unwrap()).collect();
    assert_eq!(
        rules,
        [
            "-A -t 10.10.0.100:80 -s rr -p 50 -M 255.255.255.0",
            "-a -t 10.10.0.100:80 -r 10.20.0.11:8080 -m -w 3 -x 1000 -y 100",
            "-a -t 10.10.0.100:80 -r 10.20.0.12:8080 -m -w 1",
            "-A -t 10.10.0.101:443 -s wrr",
            "-a -t 10.10.0.101:443 -r 10.20.0.21:443 -g -w 1",
            "-A -u 10.10.0.102:53 -s sh",
            "-a -u 10.10.0.102:53 -r 10.20.0.31:53 -i -w 0",
            "-A -t [2001:db8::1]:80 -s mh",
            "--add-laddr -t [2001:db8::1]:80 -z 2001:db8::100 -F dpdk0",
            "--add-laddr -t [2001:db8::1]:80 -z 2001:db8::101 -F dpdk1",
            "-a -t [2001:db8::1]:80 -r [2001:db8::10]:8080 -b -w 2",
            "-a -t [2001:db8::1]:80 -r [2001:db8::11]:80 -b -w 1",
            "-A -t 10.10.0.103:8080 -s wlc",
            "--add-laddr -t 10.10.0.103:8080 -z 192.168.100.200 -F dpdk0",
            "--add-laddr -t 10.10.0.103:8080 -z 192.168.100.201 -F dpdk0",
            "--add-laddr -t 10.10.0.103:8080 -z 192.168.100.202 -F dpdk0",
            "-a -t 10.10.0.103:8080 -r 10.20.0.41:80 -b -w 5",
        ]
    );
    // The first requests in full, with the lines they come from.
    assert_eq!(
        reqs[0],
        (
            23,
            Request::AddService(ServiceSpec {
                id: sid(Protocol::Tcp, "10.10.0.100", 80),
                scheduler: "rr".into(),
                persistence: Some(50),
                netmask: 24,
                sched_flags: Default::default(),
            })
        )
    );
    assert_eq!(
        reqs[4],
        (
            55,
            Request::AddDest {
                service: sid(Protocol::Tcp, "10.10.0.101", 443),
                dest: DestSpec {
                    addr: ip("10.20.0.21"),
                    port: 443,
                    method: Method::Route,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            }
        )
    );
}

fn error(conf: &str) -> ParseError {
    match parse(conf).and_then(|c| to_requests(&c)) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn scheduler_flags_are_read() {
    let cfg =
        parse("virtual_server 10.0.0.1 80 {\n  lb_algo mh\n  mh-port\n  mh-fallback\n}\n").unwrap();
    let reqs = to_requests(&cfg).unwrap();
    let Request::AddService(spec) = &reqs[0].1 else {
        panic!("{reqs:?}");
    };
    assert_eq!(
        spec.sched_flags,
        rvs_api::SchedFlags {
            fallback: true,
            port: true
        }
    );
}

#[test]
fn bad_configurations_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "virtual_server 10.0.0.1 80 {\n  lb_kind MAGIC\n}\n",
            2,
            "unknown lb_kind `MAGIC'",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n  protocol SCTP\n}\n",
            2,
            "unsupported protocol `SCTP'",
        ),
        (
            "virtual_server fwmark 1 {\n}\n",
            1,
            "virtual_server fwmark is not supported (only virtual_server IP PORT)",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n  weight 70000\n }\n}\n",
            3,
            "weight `70000' is not a number in 0..65535",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n",
            1,
            "missing '}' for the block opened here",
        ),
        ("global_defs {\n}\n}\n", 3, "unexpected '}'"),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind FNAT\n laddr_group_name nope\n}\n",
            1,
            "laddr_group_name nope: no local_address_group nope",
        ),
        (
            "local_address_group g {\n  10.0.0.5\n}\n",
            2,
            "local address `10.0.0.5' needs an interface name",
        ),
        (
            "virtual_server 10.0.0.1 0 {\n}\n",
            1,
            "Zero port specified for non-persistent service",
        ),
        (
            "virtual_server host.example 80 {\n}\n",
            1,
            "invalid virtual_server address `host.example'",
        ),
        (
            "include /etc/keepalived/*.conf\n",
            1,
            "include is not supported",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n  lb_algo sh\n  mh-port\n}\n",
            1,
            "invalid scheduler flag `mh-port' for sh (expected sh-fallback, sh-port, flag-1 or flag-2)",
        ),
    ];
    for (conf, line, message) in cases {
        let e = error(conf);
        assert_eq!((e.line, e.message.as_str()), (*line, *message), "{conf}");
    }
}
