//! Command-line parsing: every command form, defaults, option clusters, and ipvsadm's error
//! messages for invalid command lines.

use rvs_api::{
    DestSpec, LocalAddr, Method, Protocol, Request, SchedFlags, ServiceId, ServiceSpec, SyncDaemon,
    SyncRole, Timeouts,
};
use rvsadm::args::{parse, Command, Format, Invocation, ListWhat, UsageError};
use std::net::IpAddr;
use std::path::PathBuf;

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

fn invocation(line: &str) -> Invocation {
    parse(&words(line)).unwrap_or_else(|e| panic!("`{line}` refused: {e}"))
}

fn command(line: &str) -> Command {
    invocation(line).command
}

fn request(line: &str) -> Request {
    match command(line) {
        Command::Exec(r) => r,
        other => panic!("`{line}` is not a request: {other:?}"),
    }
}

fn error(line: &str) -> String {
    match parse(&words(line)) {
        Ok(inv) => panic!("`{line}` accepted: {inv:?}"),
        Err(UsageError(m)) => m,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(addr: &str, port: u16) -> ServiceId {
    ServiceId {
        protocol: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

fn udp(addr: &str, port: u16) -> ServiceId {
    ServiceId {
        protocol: Protocol::Udp,
        addr: ip(addr),
        port,
    }
}

fn svc(id: ServiceId, scheduler: &str, persistence: Option<u32>, netmask: u8) -> ServiceSpec {
    ServiceSpec {
        id,
        scheduler: scheduler.into(),
        persistence,
        netmask,
        sched_flags: Default::default(),
    }
}

fn dest(addr: &str, port: u16, method: Method, weight: u32) -> DestSpec {
    DestSpec {
        addr: ip(addr),
        port,
        method,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

#[test]
fn add_service_defaults_to_wlc_without_persistence() {
    assert_eq!(
        request("-A -t 10.0.0.1:80"),
        Request::AddService(svc(tcp("10.0.0.1", 80), "wlc", None, 32))
    );
}

#[test]
fn add_service_with_scheduler_and_persistence_forms() {
    let expect = |p| Request::AddService(svc(tcp("10.0.0.1", 80), "rr", p, 32));
    // -p alone: 300 s.
    assert_eq!(request("-A -t 10.0.0.1:80 -s rr -p"), expect(Some(300)));
    // -p followed by an option: still no value.
    assert_eq!(request("-A -t 10.0.0.1:80 -p -s rr"), expect(Some(300)));
    // -p with a value: separate, attached, long, long with '='.
    assert_eq!(request("-A -t 10.0.0.1:80 -s rr -p 600"), expect(Some(600)));
    assert_eq!(request("-A -t 10.0.0.1:80 -s rr -p600"), expect(Some(600)));
    assert_eq!(
        request("-A -t 10.0.0.1:80 -s rr --persistent 600"),
        expect(Some(600))
    );
    assert_eq!(
        request("-A -t 10.0.0.1:80 -s rr --persistent=600"),
        expect(Some(600))
    );
    assert_eq!(
        request("-A -t 10.0.0.1:80 -s rr --persistent"),
        expect(Some(300))
    );
}

#[test]
fn add_service_long_options_and_clusters() {
    let expect = Request::AddService(svc(tcp("10.0.0.1", 80), "rr", None, 32));
    assert_eq!(
        request("--add-service --tcp-service 10.0.0.1:80 --scheduler rr"),
        expect
    );
    assert_eq!(
        request("--add-service --tcp-service=10.0.0.1:80 --scheduler=rr"),
        expect
    );
    assert_eq!(request("-At 10.0.0.1:80 -s rr"), expect);
    assert_eq!(request("-At10.0.0.1:80 -srr"), expect);
    // A well-known port name.
    assert_eq!(request("-A -t 10.0.0.1:http -s rr"), expect);
}

#[test]
fn scheduler_flags_in_their_long_form() {
    let flags = |fallback, port| SchedFlags { fallback, port };
    assert_eq!(
        request("-A -t 10.0.0.1:80 -s mh --sched-flags mh-port,mh-fallback"),
        Request::AddService(ServiceSpec {
            sched_flags: flags(true, true),
            ..svc(tcp("10.0.0.1", 80), "mh", None, 32)
        })
    );
    assert_eq!(
        request("-E -t 10.0.0.1:80 -s sh --sched-flags=flag-2"),
        Request::EditService(ServiceSpec {
            sched_flags: flags(false, true),
            ..svc(tcp("10.0.0.1", 80), "sh", None, 32)
        })
    );
    let e = error("-A -t 10.0.0.1:80 --sched-flags sh-port");
    assert!(e.contains("not wlc"), "{e}");
    let e = error("-A -t 10.0.0.1:80 -s sh --sched-flags mh-port");
    assert!(e.contains("`mh-port' for sh"), "{e}");
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.1.1 --sched-flags sh-port"),
        "Illegal 'sched-flags' option with the 'add-server' command"
    );
}

#[test]
fn zero_port_persistent_udp_ipv6_and_netmasks() {
    assert_eq!(
        request("-A -t 10.0.0.1:0 -p"),
        Request::AddService(svc(tcp("10.0.0.1", 0), "wlc", Some(300), 32))
    );
    assert_eq!(
        request("-A -t 10.0.0.1 -p 60"),
        Request::AddService(svc(tcp("10.0.0.1", 0), "wlc", Some(60), 32))
    );
    assert_eq!(
        request("-A -u [2001:db8::1]:53 -s sh"),
        Request::AddService(svc(udp("2001:db8::1", 53), "sh", None, 128))
    );
    assert_eq!(
        request("--add-service --udp-service [2001:db8::1]:53 -p 30 -M 64"),
        Request::AddService(svc(udp("2001:db8::1", 53), "wlc", Some(30), 64))
    );
    assert_eq!(
        request("-A -t 10.0.0.1:443 -s sh -p 60 -M 255.255.255.0"),
        Request::AddService(svc(tcp("10.0.0.1", 443), "sh", Some(60), 24))
    );
    assert_eq!(
        request("-A -t 10.0.0.1:443 -M 16 -p 60"),
        Request::AddService(svc(tcp("10.0.0.1", 443), "wlc", Some(60), 16))
    );
}

#[test]
fn edit_and_delete_service() {
    // -E resets what it is not given, like ipvsadm (wlc, not persistent).
    assert_eq!(
        request("-E -t 10.0.0.1:80"),
        Request::EditService(svc(tcp("10.0.0.1", 80), "wlc", None, 32))
    );
    assert_eq!(
        request("--edit-service -u 10.0.0.1:53 -s mh -p 120"),
        Request::EditService(svc(udp("10.0.0.1", 53), "mh", Some(120), 32))
    );
    assert_eq!(
        request("-D -t 10.0.0.1:80"),
        Request::DeleteService(tcp("10.0.0.1", 80))
    );
    assert_eq!(
        request("--delete-service --udp-service 10.0.0.1:53"),
        Request::DeleteService(udp("10.0.0.1", 53))
    );
    assert_eq!(request("-C"), Request::Clear);
    assert_eq!(request("--clear"), Request::Clear);
}

#[test]
fn add_server_defaults_to_route_weight_one_and_the_service_port() {
    assert_eq!(
        request("-a -t 10.0.0.1:80 -r 10.0.1.1"),
        Request::AddDest {
            service: tcp("10.0.0.1", 80),
            dest: dest("10.0.1.1", 80, Method::Route, 1),
        }
    );
}

#[test]
fn add_server_methods_ports_weights_thresholds() {
    let service = tcp("10.0.0.1", 80);
    assert_eq!(
        request("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 100 -y 10"),
        Request::AddDest {
            service,
            dest: DestSpec {
                upper_threshold: 100,
                lower_threshold: 10,
                ..dest("10.0.1.1", 8080, Method::Masq, 3)
            },
        }
    );
    // Masquerading without a port: the service's.
    assert_eq!(
        request("-a -t 10.0.0.1:80 -r 10.0.1.1 -m"),
        Request::AddDest {
            service,
            dest: dest("10.0.1.1", 80, Method::Masq, 1)
        }
    );
    // DR and TUN: an explicit port is passed on (the daemon refuses a mapping) rather than
    // silently replaced as ipvsadm does.
    assert_eq!(
        request("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -g"),
        Request::AddDest {
            service,
            dest: dest("10.0.1.1", 8080, Method::Route, 1)
        }
    );
    assert_eq!(
        request("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 --ipip -w 0"),
        Request::AddDest {
            service,
            dest: dest("10.0.1.1", 8080, Method::Tunnel, 0)
        }
    );
    assert_eq!(
        request("--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.1.1:8080 --fullnat --weight 65535"),
        Request::AddDest {
            service,
            dest: dest("10.0.1.1", 8080, Method::FullNat, 65535)
        }
    );
    assert_eq!(
        request("-a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 --masquerading --u-threshold 5 --l-threshold 2"),
        Request::AddDest {
            service: udp("2001:db8::1", 53),
            dest: DestSpec {
                upper_threshold: 5,
                lower_threshold: 2,
                ..dest("2001:db8::2", 5353, Method::Masq, 1)
            },
        }
    );
    // A bare IPv6 real server takes the service's port.
    assert_eq!(
        request("-a -u [2001:db8::1]:53 -r 2001:db8::2 -b"),
        Request::AddDest {
            service: udp("2001:db8::1", 53),
            dest: dest("2001:db8::2", 53, Method::FullNat, 1)
        }
    );
}

#[test]
fn edit_and_delete_server() {
    assert_eq!(
        request("-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 5"),
        Request::EditDest {
            service: tcp("10.0.0.1", 80),
            dest: dest("10.0.1.1", 8080, Method::Masq, 5),
        }
    );
    assert_eq!(
        request("-d -t 10.0.0.1:80 -r 10.0.1.1"),
        Request::DeleteDest {
            service: tcp("10.0.0.1", 80),
            addr: ip("10.0.1.1"),
            port: 80
        }
    );
    assert_eq!(
        request("--delete-server -t 10.0.0.1:80 -r 10.0.1.1:8080"),
        Request::DeleteDest {
            service: tcp("10.0.0.1", 80),
            addr: ip("10.0.1.1"),
            port: 8080
        }
    );
}

fn list(line: &str) -> (ListWhat, Format) {
    match command(line) {
        Command::List { what, format } => (what, format),
        other => panic!("`{line}` is not a listing: {other:?}"),
    }
}

#[test]
fn list_forms() {
    let numeric = Format {
        numeric: true,
        ..Format::default()
    };
    assert_eq!(list("-L"), (ListWhat::All, Format::default()));
    assert_eq!(list("-l"), (ListWhat::All, Format::default()));
    assert_eq!(list("--list"), (ListWhat::All, Format::default()));
    assert_eq!(list("-Ln"), (ListWhat::All, numeric));
    assert_eq!(list("-L -n"), (ListWhat::All, numeric));
    assert_eq!(list("--list --numeric"), (ListWhat::All, numeric));
    assert_eq!(list("-Lnc"), (ListWhat::Connections, numeric));
    assert_eq!(list("-lcn"), (ListWhat::Connections, numeric));
    assert_eq!(
        list("-L --connection"),
        (ListWhat::Connections, Format::default())
    );
    assert_eq!(
        list("-L --timeout"),
        (ListWhat::Timeouts, Format::default())
    );
    assert_eq!(
        list("-Ln -t 10.0.0.1:80"),
        (ListWhat::Service(tcp("10.0.0.1", 80)), numeric)
    );
    assert_eq!(
        list("-Lnu 10.0.0.1:53"),
        (ListWhat::Service(udp("10.0.0.1", 53)), numeric)
    );
    assert_eq!(
        list("-Ln --stats"),
        (
            ListWhat::All,
            Format {
                stats: true,
                ..numeric
            }
        )
    );
    assert_eq!(
        list("-Ln --rate --exact"),
        (
            ListWhat::All,
            Format {
                rate: true,
                exact: true,
                ..numeric
            }
        )
    );
    assert_eq!(
        list("-L --stats -X --nosort --sort"),
        (
            ListWhat::All,
            Format {
                stats: true,
                exact: true,
                nosort: true,
                ..Format::default()
            }
        )
    );
    assert_eq!(
        list("-L --thresholds"),
        (
            ListWhat::All,
            Format {
                thresholds: true,
                ..Format::default()
            }
        )
    );
}

#[test]
fn no_arguments_lists_everything() {
    assert_eq!(
        parse(&[]).unwrap(),
        Invocation {
            socket: None,
            command: Command::List {
                what: ListWhat::All,
                format: Format::default()
            }
        }
    );
    assert_eq!(
        invocation("--socket /tmp/s"),
        Invocation {
            socket: Some(PathBuf::from("/tmp/s")),
            command: Command::List {
                what: ListWhat::All,
                format: Format::default()
            }
        }
    );
}

#[test]
fn zero_save_restore_set_help_version() {
    assert_eq!(request("-Z"), Request::ZeroStats { service: None });
    assert_eq!(
        request("--zero -t 10.0.0.1:80"),
        Request::ZeroStats {
            service: Some(tcp("10.0.0.1", 80))
        }
    );
    assert_eq!(command("-S"), Command::Save);
    assert_eq!(command("-Sn"), Command::Save);
    assert_eq!(command("--save --numeric"), Command::Save);
    assert_eq!(command("-R"), Command::Restore);
    assert_eq!(command("--restore"), Command::Restore);
    assert_eq!(
        request("--set 900 120 300"),
        Request::SetTimeouts(Timeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300
        })
    );
    assert_eq!(
        request("--set 0 0 60"),
        Request::SetTimeouts(Timeouts {
            tcp: 0,
            tcpfin: 0,
            udp: 60
        })
    );
    assert_eq!(command("-h"), Command::Help);
    assert_eq!(command("--help"), Command::Help);
    assert_eq!(command("-v"), Command::Version);
    assert_eq!(command("--version"), Command::Version);
}

#[test]
fn local_address_commands() {
    let laddr = |a: &str, i: &str| LocalAddr {
        addr: ip(a),
        interface: i.into(),
    };
    assert_eq!(
        request("--add-laddr -z 192.168.0.10 -t 10.0.0.1:80 -F dpdk0"),
        Request::AddLocalAddr {
            service: tcp("10.0.0.1", 80),
            laddr: laddr("192.168.0.10", "dpdk0")
        }
    );
    assert_eq!(
        request("-P -t 10.0.0.1:80 --laddr 192.168.0.10 --ifname eth1"),
        Request::AddLocalAddr {
            service: tcp("10.0.0.1", 80),
            laddr: laddr("192.168.0.10", "eth1")
        }
    );
    assert_eq!(
        request("--del-laddr -z 192.168.0.10 -t 10.0.0.1:80"),
        Request::DeleteLocalAddr {
            service: tcp("10.0.0.1", 80),
            addr: ip("192.168.0.10")
        }
    );
    assert_eq!(
        request("-Q -u [2001:db8::1]:53 -z [2001:db8::10] -F dpdk0"),
        Request::DeleteLocalAddr {
            service: udp("2001:db8::1", 53),
            addr: ip("2001:db8::10")
        }
    );
    assert_eq!(command("--get-laddr"), Command::GetLocalAddrs(None));
    assert_eq!(command("-G"), Command::GetLocalAddrs(None));
    assert_eq!(
        command("--get-laddr -t 10.0.0.1:80"),
        Command::GetLocalAddrs(Some(tcp("10.0.0.1", 80)))
    );
}

#[test]
fn socket_and_import() {
    assert_eq!(
        invocation("--socket /tmp/rvs.sock -Ln"),
        Invocation {
            socket: Some(PathBuf::from("/tmp/rvs.sock")),
            command: Command::List {
                what: ListWhat::All,
                format: Format {
                    numeric: true,
                    ..Format::default()
                }
            }
        }
    );
    assert_eq!(
        invocation("-C --socket=/tmp/x").socket,
        Some(PathBuf::from("/tmp/x"))
    );
    assert_eq!(
        command("--import-keepalived /etc/keepalived/keepalived.conf --dry-run"),
        Command::ImportKeepalived {
            path: "/etc/keepalived/keepalived.conf".into(),
            dry_run: true
        }
    );
    assert_eq!(
        command("--import-keepalived=k.conf"),
        Command::ImportKeepalived {
            path: "k.conf".into(),
            dry_run: false
        }
    );
    assert_eq!(command("--health"), Command::Health);
    assert_eq!(command("--health -n"), Command::Health);
}

#[test]
fn sysctl_shows_or_sets_with_the_kernel_names_and_refuses_precisely() {
    use rvs_api::sysctl::Sysctl;
    assert_eq!(
        command("--sysctl sloppy_tcp"),
        Command::GetSysctl(Sysctl::SloppyTcp)
    );
    assert_eq!(
        request("--sysctl net.ipv4.vs.sloppy_tcp=1"),
        Request::SetSysctl(Sysctl::SloppyTcp, 1)
    );
    assert_eq!(
        request("--sysctl=sloppy_tcp=0"),
        Request::SetSysctl(Sysctl::SloppyTcp, 0)
    );
    assert_eq!(
        error("--sysctl sloppy_tcp=yes"),
        "sloppy_tcp: invalid value 'yes': expected 0 or 1"
    );
    assert!(error("--sysctl sloppy_sctp=1").contains("SCTP"));
    assert!(error("--sysctl conntrack=1").starts_with("conntrack: not an IPVS sysctl"));
    assert!(error("--sysctl sloppy_tcp=1 -t 10.0.0.1:80").contains("sysctl"));
}

#[test]
fn invalid_command_lines_get_ipvsadm_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "-A",
            "You need to supply the 'service-address' option for the 'add-service' command",
        ),
        (
            "-A -t 10.0.0.1",
            "Zero port specified for non-persistent service",
        ),
        (
            "-E -t 10.0.0.1:0 -s rr",
            "Zero port specified for non-persistent service",
        ),
        (
            "-A -t 300.0.0.1:80",
            "illegal virtual server address[:port] specified",
        ),
        (
            "-A -t 10.0.0.1:65536",
            "illegal virtual server address[:port] specified",
        ),
        (
            "-A -t 8080",
            "illegal virtual server address[:port] specified",
        ),
        (
            "-A -u [2001:db8::1]",
            "illegal virtual server address[:port] specified",
        ),
        (
            "-a -t 10.0.0.1:80",
            "You need to supply the 'real-server' option for the 'add-server' command",
        ),
        (
            "-a -t 10.0.0.1:80 -r server1",
            "illegal real server address[:port] specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1:x",
            "illegal real server address[:port] specified",
        ),
        ("-a -t 10.0.0.1:80 -r 10.0.1.1 -w 65536", "illegal weight specified"),
        ("-a -t 10.0.0.1:80 -r 10.0.1.1 -w -1", "illegal weight specified"),
        ("-a -t 10.0.0.1:80 -r 10.0.1.1 -w heavy", "illegal weight specified"),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -x lots",
            "illegal u_threshold specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -y 2147483648",
            "illegal l_threshold specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -m -g",
            "multiple 'forwarding-method' options specified",
        ),
        (
            "-A -t 10.0.0.1:80 -u 10.0.0.1:53",
            "multiple 'service-address' options specified",
        ),
        ("-A -D -t 10.0.0.1:80", "multiple commands specified"),
        ("-Ln -C", "multiple commands specified"),
        (
            "-A -t 10.0.0.1:80 -p 0",
            "invalid timeout value `0' specified",
        ),
        (
            "-A -t 10.0.0.1:80 -p 2678401",
            "invalid timeout value `2678401' specified",
        ),
        (
            "-A -t 10.0.0.1:80 -p forever",
            "invalid timeout value `forever' specified",
        ),
        (
            "-A -t 10.0.0.1:80 -p -M 255.0.255.0",
            "illegal virtual server persistent mask specified",
        ),
        (
            "-A -u [2001:db8::1]:53 -p -M 129",
            "illegal ipv6 netmask specified",
        ),
        (
            "-A -t 10.0.0.1:80 -r 10.0.1.1",
            "Illegal 'real-server' option with the 'add-service' command",
        ),
        (
            "-D -t 10.0.0.1:80 -s rr",
            "Illegal 'scheduler' option with the 'delete-service' command",
        ),
        (
            "-d -t 10.0.0.1:80 -r 10.0.1.1 -m",
            "Illegal 'forwarding-method' option with the 'delete-server' command",
        ),
        ("-C -n", "Illegal 'numeric' option with the 'flush' command"),
        ("-S -c", "Illegal 'connection' option with the 'save' command"),
        ("-Z -n", "Illegal 'numeric' option with the 'zero' command"),
        (
            "-L -c -t 10.0.0.1:80",
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
        ),
        (
            "-L --timeout -c",
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command",
        ),
        ("-Lc --stats", "options conflicts in the list command"),
        ("-L --timeout --rate", "options conflicts in the list command"),
        ("--set 900 120", "--set option requires 3 timeout values"),
        ("--set 900 120 soon", "invalid timeout value `soon' specified"),
        ("--set 900 120 300 60", "unexpected argument 60"),
        ("-Ln everything", "unexpected argument everything"),
        ("--bogus", "--bogus: unknown option"),
        ("-LK", "-K: unknown option"),
        ("-A -t", "-t: missing argument"),
        ("-A --scheduler", "--scheduler: missing argument"),
        ("--numeric=yes -L", "--numeric: option does not take an argument"),
        (
            "-n",
            "Try `rvsadm -h' or 'rvsadm --help' for more information.",
        ),
        (
            "10.0.0.1",
            "Try `rvsadm -h' or 'rvsadm --help' for more information.",
        ),
        (
            "--add-laddr -t 10.0.0.1:80",
            "You need to supply the 'local-address' option for the 'add-laddr' command",
        ),
        (
            "--add-laddr -t 10.0.0.1:80 -z 192.168.0.10",
            "You need to supply the 'ifname' option for the 'add-laddr' command",
        ),
        (
            "--del-laddr -z 192.168.0.10",
            "You need to supply the 'service-address' option for the 'del-laddr' command",
        ),
        (
            "--add-laddr -t 10.0.0.1:80 -z gateway -F dpdk0",
            "illegal local address",
        ),
        ("-L --dry-run", "Illegal 'dry-run' option with the 'list' command"),
        (
            "--import-keepalived k.conf -n",
            "Illegal 'numeric' option with the 'import-keepalived' command",
        ),
        (
            "--health -t 10.0.0.1:80",
            "Illegal 'service-address' option with the 'health' command",
        ),
        ("-A -f 1", "-f: not supported by rvs"),
        ("-L --pe sip", "--pe: not supported by rvs"),
        (
            "-Ln --socket /a --socket /b",
            "multiple 'socket' options specified",
        ),
    ];
    assert!(cases.len() >= 20);
    for (line, message) in cases {
        assert_eq!(error(line), *message, "for `{line}`");
    }
}

#[test]
fn restore_lines_are_split_like_a_shell_and_numbered() {
    use rvsadm::args::{parse_rules, split_rule_line};
    assert_eq!(
        split_rule_line("  ipvsadm -A -t 10.0.0.1:80   -s rr # comment").unwrap(),
        words("-A -t 10.0.0.1:80 -s rr")
    );
    assert_eq!(
        split_rule_line("--add-laddr -t 10.0.0.1:80 -z 1.1.1.1 -F \"my if\"").unwrap(),
        vec![
            "--add-laddr",
            "-t",
            "10.0.0.1:80",
            "-z",
            "1.1.1.1",
            "-F",
            "my if"
        ]
    );
    assert!(split_rule_line("# only a comment").unwrap().is_empty());
    let text = "-A -t 10.0.0.1:80 -s rr\n\n# servers\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1\n";
    let rules = parse_rules(text).unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].0, 1);
    assert_eq!(rules[1].0, 4);
    let (line, e) =
        parse_rules("-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -w 70000\n").unwrap_err();
    assert_eq!((line, e.0.as_str()), (2, "illegal weight specified"));
    let (line, e) = parse_rules("-C\n-Ln\n").unwrap_err();
    assert_eq!(line, 2);
    assert_eq!(
        e.0,
        "only -A -E -D -C -a -e -d -Z --set --add-laddr --del-laddr rules can be restored"
    );
}

#[test]
fn sync_daemons_in_ipvsadm_syntax() {
    assert_eq!(
        request("--start-daemon master --mcast-interface lan --syncid 7"),
        Request::StartDaemon {
            role: SyncRole::Master,
            daemon: SyncDaemon {
                syncid: 7,
                ..SyncDaemon::on("lan")
            },
        }
    );
    assert_eq!(
        request(
            "--start-daemon=backup --mcast-interface=wan --sync-maxlen 1200 --mcast-group \
             239.1.1.1 --mcast-port 9000 --mcast-ttl 3"
        ),
        Request::StartDaemon {
            role: SyncRole::Backup,
            daemon: SyncDaemon {
                maxlen: 1200,
                group: "239.1.1.1".parse().unwrap(),
                port: 9000,
                ttl: 3,
                ..SyncDaemon::on("wan")
            },
        }
    );
    // ipvsadm's default interface.
    assert_eq!(
        request("--start-daemon master"),
        Request::StartDaemon {
            role: SyncRole::Master,
            daemon: SyncDaemon::on("eth0"),
        }
    );
    assert_eq!(
        request("--stop-daemon backup"),
        Request::StopDaemon(SyncRole::Backup)
    );
    assert!(matches!(
        command("-L --daemon"),
        Command::List {
            what: ListWhat::Daemons,
            ..
        }
    ));
    assert!(matches!(
        command("-ln --daemon"),
        Command::List {
            what: ListWhat::Daemons,
            ..
        }
    ));
}

#[test]
fn sync_daemon_errors_name_the_option() {
    for (line, message) in [
        (
            "--start-daemon primary",
            "illegal start-daemon parameter specified",
        ),
        ("--stop-daemon x", "illegal stop-daemon parameter specified"),
        (
            "--start-daemon master --syncid 256",
            "illegal syncid specified",
        ),
        (
            "--start-daemon master --sync-maxlen 0",
            "illegal sync-maxlen specified",
        ),
        (
            "--start-daemon master --mcast-group 10.0.0.1",
            "illegal mcast-group specified",
        ),
        (
            "--start-daemon master --mcast-port 0",
            "illegal mcast-port specified",
        ),
        (
            "--start-daemon master --mcast-ttl 256",
            "illegal mcast-ttl specified",
        ),
        (
            "--stop-daemon master --syncid 1",
            "Illegal 'syncid' option with the 'stop-daemon' command",
        ),
        (
            "-L --daemon -c",
            "The option 'daemon' conflicts with the 'connection' option in the 'list' command",
        ),
        (
            "-A -t 10.0.0.1:80 --mcast-interface lan",
            "Illegal 'mcast-interface' option with the 'add-service' command",
        ),
    ] {
        assert_eq!(error(line), message, "{line}");
    }
}
