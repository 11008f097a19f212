//! Output in ipvsadm's layout: the service table (-L, --stats, --rate, --thresholds, --exact),
//! connections (-Lc), timeouts (--timeout), rules (-S) and DPVS-like local addresses
//! (--get-laddr). Addresses are always numeric (ipvsadm -n); services and real servers are
//! sorted as ipvsadm sorts them unless --nosort.

use crate::args::Format;
use rvs_api::sysctl::Sysctl;
use rvs_api::{
    CheckerInfo, ConnInfo, DestInfo, DestSpec, Info, Protocol, Request, ServiceId, ServiceInfo,
    ServiceSpec, SyncDaemon, SyncRole, Timeouts,
};
use std::cmp::Ordering;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The IPVS version ipvsadm's header reports (the kernel's for years).
pub const IPVS_VERSION: &str = "1.2.1";

/// `addr:port`, IPv6 in brackets (ipvsadm's numeric addrport_to_anyname).
pub fn addr_port(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

/// ipvsadm's order: IPv4 before IPv6, then protocol, address, port.
fn cmp_services(a: &ServiceId, b: &ServiceId) -> Ordering {
    (a.addr.is_ipv6(), a.protocol, a.addr, a.port).cmp(&(
        b.addr.is_ipv6(),
        b.protocol,
        b.addr,
        b.port,
    ))
}

fn dest_port(service: &ServiceId, d: &DestSpec) -> u16 {
    if d.port == 0 {
        service.port
    } else {
        d.port
    }
}

fn sorted_services(services: &[ServiceInfo], nosort: bool) -> Vec<&ServiceInfo> {
    let mut v: Vec<&ServiceInfo> = services.iter().collect();
    if !nosort {
        v.sort_by(|a, b| cmp_services(&a.spec.id, &b.spec.id));
    }
    v
}

fn sorted_dests(svc: &ServiceInfo, nosort: bool) -> Vec<&DestInfo> {
    let mut v: Vec<&DestInfo> = svc.dests.iter().collect();
    if !nosort {
        let id = &svc.spec.id;
        v.sort_by_key(|d| (d.spec.addr.is_ipv6(), d.spec.addr, dest_port(id, &d.spec)));
    }
    v
}

/// ipvsadm's print_largenum: 9 columns, scaled to K/M/G/T from 100 million on, or exact.
pub fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let s = i.to_string();
        let width = if s.len() <= 8 { 9 } else { s.len() + 1 };
        return format!("{s:>width$}");
    }
    if i < 100_000_000 {
        format!("{i:>9}")
    } else if i < 1_000_000_000 {
        format!("{:>8}K", i / 1_000)
    } else if i < 100_000_000_000 {
        format!("{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        format!("{:>8}G", i / 1_000_000_000)
    } else {
        format!("{:>8}T", i / 1_000_000_000_000)
    }
}

fn dotted_mask(prefix: u8) -> Ipv4Addr {
    let bits = match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    };
    Ipv4Addr::from(bits)
}

/// ` mask M` (listing) or ` -M M` (rules) when the persistence granularity is not a host.
fn mask_suffix(spec: &ServiceSpec, word: &str) -> String {
    match spec.id.addr {
        IpAddr::V4(_) if spec.netmask != 32 => format!(" {word} {}", dotted_mask(spec.netmask)),
        IpAddr::V6(_) if spec.netmask != 128 => format!(" {word} {}", spec.netmask),
        _ => String::new(),
    }
}

fn title(f: &Format) -> String {
    const PROT: &str = "Prot LocalAddress:Port";
    const REMOTE: &str = "  -> RemoteAddress:Port";
    let columns = |names: [&str; 5]| {
        let [a, b, c, d, e] = names;
        format!("{PROT:<33} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}\n{REMOTE}\n")
    };
    if f.stats {
        columns(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"])
    } else if f.rate {
        columns(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"])
    } else if f.thresholds {
        format!(
            "{PROT:<33} {:<10} {:<10} {:<10} {:<10}\n{REMOTE}\n",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else {
        format!("{PROT} Scheduler Flags\n{REMOTE}           Forward Weight ActiveConn InActConn\n")
    }
}

/// `TCP  10.0.0.1:80` (ipvsadm cuts IPv4 names at 33 characters).
fn service_name(id: &ServiceId) -> String {
    let mut s = format!("{}  {}", id.protocol.name(), addr_port(id.addr, id.port));
    if id.addr.is_ipv4() {
        s.truncate(33);
    }
    s
}

fn service_entry(out: &mut String, svc: &ServiceInfo, f: &Format) {
    let spec = &svc.spec;
    let name = service_name(&spec.id);
    let nums = |out: &mut String, v: [u64; 5]| {
        for n in v {
            out.push_str(&largenum(n, f.exact));
        }
    };
    if f.stats {
        let s = &svc.stats;
        let _ = write!(out, "{name:<33}");
        nums(
            out,
            [
                s.conns,
                s.in_packets,
                s.out_packets,
                s.in_bytes,
                s.out_bytes,
            ],
        );
    } else if f.rate {
        let r = &svc.rates;
        let _ = write!(out, "{name:<33}");
        nums(out, [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps]);
    } else {
        let _ = write!(out, "{name} {}", spec.scheduler);
        if !spec.sched_flags.is_empty() {
            let _ = write!(out, " ({})", spec.sched_flags.list(&spec.scheduler));
        }
        if let Some(timeout) = spec.persistence {
            let _ = write!(out, " persistent {timeout}{}", mask_suffix(spec, "mask"));
        }
    }
    out.push('\n');

    for d in sorted_dests(svc, f.nosort) {
        let mut dname = addr_port(d.spec.addr, dest_port(&spec.id, &d.spec));
        if d.spec.addr.is_ipv4() {
            dname.truncate(28);
        }
        if f.stats {
            let s = &d.stats;
            let _ = write!(out, "  -> {dname:<28}");
            nums(
                out,
                [
                    s.conns,
                    s.in_packets,
                    s.out_packets,
                    s.in_bytes,
                    s.out_bytes,
                ],
            );
        } else if f.rate {
            let r = &d.rates;
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}{}{}",
                r.cps,
                r.in_pps,
                r.out_pps,
                largenum(r.in_bps, f.exact),
                largenum(r.out_bps, f.exact)
            );
        } else if f.thresholds {
            let _ = write!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.spec.upper_threshold, d.spec.lower_threshold, d.active_conns, d.inactive_conns
            );
        } else {
            let _ = write!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                d.spec.method.name(),
                d.spec.weight,
                d.active_conns,
                d.inactive_conns
            );
        }
        out.push('\n');
    }
}

/// `-L` without a service: the version line, the title, every service.
pub fn list_all(info: &Info, services: &[ServiceInfo], f: &Format) -> String {
    let mut out = format!(
        "IP Virtual Server version {IPVS_VERSION} (size={})\n",
        info.conn_table_size
    );
    out.push_str(&list_services(services, f));
    out
}

/// `-L -t|-u service`: the title and the service(s), no version line (as ipvsadm).
pub fn list_services(services: &[ServiceInfo], f: &Format) -> String {
    let mut out = title(f);
    for svc in sorted_services(services, f.nosort) {
        service_entry(&mut out, svc, f);
    }
    out
}

/// `-Lc`: ipvsadm's connection listing; a `local` column (FULLNAT) is added at the end when
/// any connection has a local address.
pub fn connections(conns: &[ConnInfo]) -> String {
    let fullnat = conns.iter().any(|c| c.local.is_some());
    let mut out = String::from("IPVS connection entries\n");
    if fullnat {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} local",
            "state", "source", "virtual", "destination"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for c in conns {
        let expire = format!("{:02}:{:02}", c.expire_s / 60, c.expire_s % 60);
        let _ = write!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} ",
            c.protocol.name(),
            expire,
            c.state,
            c.client.to_string(),
            c.virtual_addr.to_string()
        );
        if fullnat {
            let local = c.local.map_or_else(|| "-".to_string(), |l| l.to_string());
            let _ = writeln!(out, "{:<18} {local}", c.dest.to_string());
        } else {
            let _ = writeln!(out, "{}", c.dest);
        }
    }
    out
}

/// `--health`: one line per checker: its virtual and real server, kind, state, seconds in it,
/// runs, failures and the last result's words.
pub fn health(checkers: &[CheckerInfo]) -> String {
    let mut out = format!(
        "{:<24} {:<24} {:<10} {:<6} {:>7} {:>7} {:>7}  {}\n",
        "Virtual server",
        "Real server",
        "Checker",
        "State",
        "Since",
        "Runs",
        "Failed",
        "Last result"
    );
    for c in checkers {
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:<10} {:<6} {:>6}s {:>7} {:>7}  {}",
            c.service, c.server, c.kind, c.state, c.since_secs, c.runs, c.failures, c.last
        );
    }
    out
}

/// `-L --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcpfin, t.udp
    )
}

/// `--get-laddr`: one line per (service, local address, interface), DPVS-like columns.
pub fn local_addrs(services: &[ServiceInfo]) -> String {
    let mut out = format!(
        "{:<4} {:<22} {:<6} {:<40} {}\n",
        "Prot", "VIP:VPORT", "TOTAL", "SNAT_IP", "IFNAME"
    );
    for svc in sorted_services(services, false) {
        let id = &svc.spec.id;
        let total = svc.local_addrs.len();
        for l in &svc.local_addrs {
            let _ = writeln!(
                out,
                "{:<4} {:<22} {:<6} {:<40} {}",
                id.protocol.name(),
                addr_port(id.addr, id.port),
                total,
                l.addr.to_string(),
                l.interface
            );
        }
    }
    out
}

/// `-t VIP:port` / `-u VIP:port`.
fn service_option(id: &ServiceId) -> String {
    let flag = match id.protocol {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
    };
    format!("{flag} {}", addr_port(id.addr, id.port))
}

fn service_rule(cmd: &str, spec: &ServiceSpec) -> String {
    let mut s = format!("{cmd} {} -s {}", service_option(&spec.id), spec.scheduler);
    // ipvsadm writes `-b FLAGS`; rvs's `-b` is FULLNAT (DPVS's syntax), so the long form.
    if !spec.sched_flags.is_empty() {
        let _ = write!(
            s,
            " --sched-flags {}",
            spec.sched_flags.list(&spec.scheduler)
        );
    }
    if let Some(timeout) = spec.persistence {
        let _ = write!(s, " -p {timeout}{}", mask_suffix(spec, "-M"));
    }
    s
}

fn dest_rule(cmd: &str, service: &ServiceId, d: &DestSpec) -> String {
    let mut s = format!(
        "{cmd} {} -r {} {} -w {}",
        service_option(service),
        addr_port(d.addr, dest_port(service, d)),
        d.method.flag(),
        d.weight
    );
    if d.upper_threshold != 0 {
        let _ = write!(s, " -x {}", d.upper_threshold);
    }
    if d.lower_threshold != 0 {
        let _ = write!(s, " -y {}", d.lower_threshold);
    }
    s
}

/// The command line (without the program name) that makes `req`, in `-S` style; `None` for
/// read-only requests and those rvsadm has no syntax for.
pub fn rule(req: &Request) -> Option<String> {
    Some(match req {
        Request::AddService(spec) => service_rule("-A", spec),
        Request::EditService(spec) => service_rule("-E", spec),
        Request::DeleteService(id) => format!("-D {}", service_option(id)),
        Request::Clear => "-C".to_string(),
        Request::AddDest { service, dest } => dest_rule("-a", service, dest),
        Request::EditDest { service, dest } => dest_rule("-e", service, dest),
        Request::DeleteDest {
            service,
            addr,
            port,
        } => format!(
            "-d {} -r {}",
            service_option(service),
            addr_port(*addr, *port)
        ),
        Request::ZeroStats { service: None } => "-Z".to_string(),
        Request::ZeroStats { service: Some(id) } => format!("-Z {}", service_option(id)),
        Request::SetTimeouts(t) => format!("--set {} {} {}", t.tcp, t.tcpfin, t.udp),
        Request::SetSysctl(name, value) => format!("--sysctl {}={value}", name.name()),
        Request::AddLocalAddr { service, laddr } => format!(
            "--add-laddr {} -z {} -F {}",
            service_option(service),
            laddr.addr,
            laddr.interface
        ),
        Request::DeleteLocalAddr { service, addr } => {
            format!("--del-laddr {} -z {addr}", service_option(service))
        }
        Request::GetInfo
        | Request::ListServices { .. }
        | Request::ListConnections
        | Request::GetTimeouts
        | Request::ListHealth
        | Request::StartDaemon { .. }
        | Request::StopDaemon(_)
        | Request::ListDaemons
        | Request::GetSysctl(_)
        | Request::FlushConnections => return None,
    })
}

/// `--sysctl NAME`: as `sysctl net.ipv4.vs.NAME` prints it.
pub fn sysctl(name: Sysctl, value: u32) -> String {
    format!("{}{} = {value}\n", rvs_api::sysctl::PREFIX, name.name())
}

/// `-L --daemon`: ipvsadm's lines, one per running sync daemon.
pub fn daemons(list: &[(SyncRole, SyncDaemon)]) -> String {
    list.iter()
        .map(|(role, d)| {
            format!(
                "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})\n",
                role.name(),
                d.mcast_interface,
                d.syncid,
                d.maxlen,
                d.group,
                d.port,
                d.ttl
            )
        })
        .collect()
}

/// The requests that rebuild `services`: per service, -A, its local addresses, its real servers.
pub fn rebuild_requests(services: &[ServiceInfo]) -> Vec<Request> {
    let mut out = Vec::new();
    for svc in sorted_services(services, false) {
        let id = svc.spec.id;
        out.push(Request::AddService(svc.spec.clone()));
        for l in &svc.local_addrs {
            out.push(Request::AddLocalAddr {
                service: id,
                laddr: l.clone(),
            });
        }
        for d in sorted_dests(svc, false) {
            let mut dest = d.spec.clone();
            dest.port = dest_port(&id, &dest);
            out.push(Request::AddDest { service: id, dest });
        }
    }
    out
}

/// `-S`: ipvsadm -Sn's rules, plus `--add-laddr` lines for FULLNAT local addresses.
pub fn save(services: &[ServiceInfo]) -> String {
    let mut out = String::new();
    for req in rebuild_requests(services) {
        if let Some(line) = rule(&req) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}
