//! What each control request does to the running daemon, in ipvsadm's terms and with ipvsadm's
//! error messages. Every change is computed on a copy of the service table and published only
//! if the whole new table is valid, so a failed command leaves the running configuration
//! exactly as it was.

use crate::daemon::Daemon;
use crate::stats::Estimator;
use dataplane::conn::{Addr, PROTO_TCP, PROTO_UDP};
use dataplane::snapshot::{DestConfig, Method, ServiceConfig, ServiceKey};
use dataplane::wire::ethernet::MacAddr;
use rvs_api as api;
use rvs_api::{Request, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// ipvsadm's messages (libipvs `ipvs_strerror`).
pub const NO_SUCH_SERVICE: &str = "No such service";
pub const SERVICE_EXISTS: &str = "Service already exists";
pub const SERVICE_NOT_DEFINED: &str = "Service not defined";
pub const DEST_EXISTS: &str = "Destination already exists";
pub const NO_SUCH_DEST: &str = "No such destination";
pub const ZERO_PORT: &str = "Zero port specified for non-persistent service";

/// Runs one request against the daemon.
pub fn handle(d: &mut Daemon, est: &mut Estimator, request: Request) -> Result<Response, String> {
    match request {
        Request::GetInfo => Ok(Response::Info(api::Info {
            version: env!("CARGO_PKG_VERSION").to_string(),
            conn_table_size: d.config().sessions.capacity as u64
                * d.config().cores.workers.len() as u64,
            workers: d.config().cores.workers.len() as u32,
        })),
        Request::ListServices { service } => {
            if let Some(id) = service {
                find(d.services(), &key(&id)?).ok_or(NO_SUCH_SERVICE)?;
            }
            est.refresh(d.dest_stats().map_err(|e| e.to_string())?);
            let only = service.map(|id| key(&id)).transpose()?;
            Ok(Response::Services(
                d.services()
                    .iter()
                    .filter(|s| match only {
                        Some(k) => s.key == k,
                        None => true,
                    })
                    .map(|s| service_info(d, est, s))
                    .collect(),
            ))
        }
        Request::ListConnections => {
            let sessions = d.list_sessions().map_err(|e| e.to_string())?;
            Ok(Response::Connections(
                sessions.iter().filter_map(conn_info).collect(),
            ))
        }
        Request::GetTimeouts => {
            let t = d.timeouts();
            Ok(Response::Timeouts(api::Timeouts {
                tcp: t.tcp_established / 1000,
                tcpfin: t.tcp_fin_wait / 1000,
                udp: t.udp / 1000,
            }))
        }
        Request::SetTimeouts(t) => {
            let mut timeouts = d.timeouts();
            timeouts.set_ipvsadm(t.tcp, t.tcpfin, t.udp);
            d.set_timeouts(timeouts).map_err(|e| e.to_string())?;
            Ok(Response::Done)
        }
        Request::ZeroStats { service } => {
            let zeroed: Option<(ServiceKey, Vec<u32>)> = match service {
                None => None,
                Some(id) => {
                    let k = key(&id)?;
                    let s = find(d.services(), &k).ok_or(NO_SUCH_SERVICE)?;
                    Some((k, d.services()[s].dests.iter().map(|x| x.id).collect()))
                }
            };
            d.zero_stats(zeroed.as_ref().map(|(_, ids)| ids.clone()))
                .map_err(|e| e.to_string())?;
            est.forget(zeroed.as_ref().map(|(k, ids)| (k, &ids[..])));
            Ok(Response::Done)
        }
        Request::FlushConnections => {
            d.flush_sessions().map_err(|e| e.to_string())?;
            Ok(Response::Done)
        }
        change => {
            let old = d.services().to_vec();
            let mut services = old.clone();
            edit(d, &mut services, change)?;
            let departs = Estimator::departs(&old, &services);
            if departs {
                // The departing servers' last counters, kept for their services; if a worker
                // is late, the last sample (at most 2 s old) stands in: the change goes on.
                if let Ok(sample) = d.dest_stats() {
                    est.refresh(sample);
                }
            }
            d.set_services(services).map_err(|e| snapshot_message(&e))?;
            if departs {
                est.retire(&old, d.services());
            }
            Ok(Response::Done)
        }
    }
}

/// Applies a mutating request to a copy of the table.
fn edit(d: &Daemon, services: &mut Vec<ServiceConfig>, request: Request) -> Result<(), String> {
    match request {
        Request::AddService(spec) => {
            let k = key(&spec.id)?;
            if find(services, &k).is_some() {
                return Err(SERVICE_EXISTS.into());
            }
            let mut s = ServiceConfig {
                key: k,
                scheduler: dataplane::sched::SchedulerKind::Rr,
                sched_params: Default::default(),
                persistence_s: None,
                persistence_prefix: 32,
                dests: Vec::new(),
                local_addrs: Vec::new(),
            };
            apply_spec(&mut s, &spec)?;
            services.push(s);
        }
        Request::EditService(spec) => {
            let i = find(services, &key(&spec.id)?).ok_or(NO_SUCH_SERVICE)?;
            apply_spec(&mut services[i], &spec)?;
        }
        Request::DeleteService(id) => {
            let i = find(services, &key(&id)?).ok_or(NO_SUCH_SERVICE)?;
            services.remove(i);
        }
        Request::Clear => services.clear(),
        Request::AddDest { service, dest } => {
            let i = find(services, &key(&service)?).ok_or(SERVICE_NOT_DEFINED)?;
            check_port_mapping(&service, &dest)?;
            let new = dest_config(&dest)?;
            check_reachable(d, &new)?;
            let s = &mut services[i];
            if s.dests.iter().any(|o| same_dest(s.key, o, &new)) {
                return Err(DEST_EXISTS.into());
            }
            s.dests.push(new);
        }
        Request::EditDest { service, dest } => {
            let i = find(services, &key(&service)?).ok_or(SERVICE_NOT_DEFINED)?;
            check_port_mapping(&service, &dest)?;
            let new = dest_config(&dest)?;
            check_reachable(d, &new)?;
            let s = &mut services[i];
            let k = s.key;
            let old = s
                .dests
                .iter_mut()
                .find(|o| same_dest(k, o, &new))
                .ok_or(NO_SUCH_DEST)?;
            *old = DestConfig { id: old.id, ..new };
        }
        Request::DeleteDest {
            service,
            addr,
            port,
        } => {
            let i = find(services, &key(&service)?).ok_or(SERVICE_NOT_DEFINED)?;
            let s = &mut services[i];
            let probe = DestConfig {
                addr: addr_of(addr)?,
                port,
                ..blank_dest()
            };
            let k = s.key;
            let at = s
                .dests
                .iter()
                .position(|o| same_dest(k, o, &probe))
                .ok_or(NO_SUCH_DEST)?;
            s.dests.remove(at);
        }
        Request::AddLocalAddr { service, laddr } => {
            let i = find(services, &key(&service)?).ok_or(SERVICE_NOT_DEFINED)?;
            let ip = match laddr.addr {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => return Err("IPv6 local addresses are not supported yet".into()),
            };
            check_laddr_port(d, ip, &laddr.interface)?;
            let a = Addr::v4(ip.octets());
            if services[i].local_addrs.contains(&a) {
                return Err(format!("local address {ip} already exists"));
            }
            services[i].local_addrs.push(a);
        }
        Request::DeleteLocalAddr { service, addr } => {
            let i = find(services, &key(&service)?).ok_or(SERVICE_NOT_DEFINED)?;
            let a = addr_of(addr)?;
            let at = services[i]
                .local_addrs
                .iter()
                .position(|x| *x == a)
                .ok_or_else(|| format!("no such local address {addr}"))?;
            services[i].local_addrs.remove(at);
        }
        other => return Err(format!("not a configuration change: {other:?}")),
    }
    Ok(())
}

/// DR and TUN forward the packet unchanged, so the real server's port is the virtual one.
fn check_port_mapping(service: &api::ServiceId, dest: &api::DestSpec) -> Result<(), String> {
    let unchanged = matches!(dest.method, api::Method::Route | api::Method::Tunnel);
    if unchanged && dest.port != 0 && service.port != 0 && dest.port != service.port {
        return Err(format!(
            "Port mapping is not possible with {} forwarding: real server port {} differs from the virtual port {}",
            if dest.method == api::Method::Route { "direct routing" } else { "tunnel" },
            dest.port,
            service.port
        ));
    }
    Ok(())
}

/// The config file's rule for real servers (`config::unusable_real_server`).
fn check_reachable(d: &Daemon, dest: &DestConfig) -> Result<(), String> {
    let Some(ip) = dest.addr.to_v4().map(Ipv4Addr::from) else {
        return Ok(());
    };
    let c = d.config();
    match crate::config::unusable_real_server(&c.ports, &c.routes, ip, dest.method) {
        Some(why) => Err(format!("real server {ip}: {why}")),
        None => Ok(()),
    }
}

fn check_laddr_port(d: &Daemon, ip: Ipv4Addr, interface: &str) -> Result<(), String> {
    let Some(port) = d.config().ports.iter().find(|p| p.name == interface) else {
        let names: Vec<&str> = d.config().ports.iter().map(|p| p.name.as_str()).collect();
        return Err(format!(
            "no port named {interface:?} (ports: {})",
            names.join(", ")
        ));
    };
    if !port.addrs.iter().any(|p| p.contains(ip)) {
        return Err(format!(
            "local address {ip} is not in a subnet of port {interface}"
        ));
    }
    Ok(())
}

fn apply_spec(s: &mut ServiceConfig, spec: &api::ServiceSpec) -> Result<(), String> {
    s.scheduler = spec.scheduler.parse().map_err(|_| {
        format!(
            "Scheduler or persistence engine not found: {} (schedulers: rr wrr lc wlc sed nq sh dh mh)",
            spec.scheduler
        )
    })?;
    s.sched_params = crate::config::sched_params(s.scheduler, spec.sched_flags)?;
    if spec.id.port == 0 && spec.persistence.is_none() {
        return Err(ZERO_PORT.into());
    }
    if spec.netmask > 32 {
        return Err(format!("Illegal persistence netmask /{}", spec.netmask));
    }
    if let Some(p) = spec.persistence.filter(|&p| p == 0 || p > api::MAX_TIMEOUT) {
        return Err(format!(
            "invalid timeout value `{p}' specified (persistence: 1..={})",
            api::MAX_TIMEOUT
        ));
    }
    s.persistence_s = spec.persistence;
    s.persistence_prefix = spec.netmask;
    Ok(())
}

/// A DR real server of weight 1 at 0.0.0.0, without thresholds: the base for filling in.
pub(crate) fn blank_dest() -> DestConfig {
    DestConfig {
        id: 0,
        addr: Addr::v4([0; 4]),
        port: 0,
        weight: 1,
        method: Method::Dr,
        upper_threshold: 0,
        lower_threshold: 0,
        mac: MacAddr::ZERO,
        interface: 0,
    }
}

fn dest_config(d: &api::DestSpec) -> Result<DestConfig, String> {
    if d.weight > 65535 {
        return Err("Illegal weight specified".into());
    }
    if d.upper_threshold > api::MAX_THRESHOLD || d.lower_threshold > api::MAX_THRESHOLD {
        return Err(format!(
            "Illegal threshold specified (at most {})",
            api::MAX_THRESHOLD
        ));
    }
    if d.upper_threshold != 0 && d.lower_threshold > d.upper_threshold {
        return Err("Lower threshold is above the upper threshold".into());
    }
    Ok(DestConfig {
        addr: addr_of(d.addr)?,
        port: d.port,
        weight: d.weight,
        method: match d.method {
            api::Method::Masq => Method::Nat,
            api::Method::Route => Method::Dr,
            api::Method::Tunnel => Method::Tunnel,
            api::Method::FullNat => Method::FullNat,
        },
        upper_threshold: d.upper_threshold,
        lower_threshold: d.lower_threshold,
        ..blank_dest()
    })
}

/// Same real server of service `k`: address and resolved port (0 is the service's).
pub(crate) fn same_dest(k: ServiceKey, a: &DestConfig, b: &DestConfig) -> bool {
    let port = |d: &DestConfig| if d.port == 0 { k.port } else { d.port };
    a.addr == b.addr && port(a) == port(b)
}

fn addr_of(ip: IpAddr) -> Result<Addr, String> {
    match ip {
        IpAddr::V4(v4) => Ok(Addr::v4(v4.octets())),
        IpAddr::V6(_) => Err("IPv6 is not supported yet".into()),
    }
}

fn key(id: &api::ServiceId) -> Result<ServiceKey, String> {
    Ok(ServiceKey {
        protocol: match id.protocol {
            api::Protocol::Tcp => PROTO_TCP,
            api::Protocol::Udp => PROTO_UDP,
        },
        vip: addr_of(id.addr)?,
        port: id.port,
    })
}

fn find(services: &[ServiceConfig], k: &ServiceKey) -> Option<usize> {
    services.iter().position(|s| s.key == *k)
}

fn snapshot_message(e: &dataplane::snapshot::SnapshotError) -> String {
    use dataplane::snapshot::SnapshotError as E;
    match e {
        E::ZeroPortNotPersistent(_) => ZERO_PORT.into(),
        E::DuplicateDest { .. } => DEST_EXISTS.into(),
        E::DuplicateService(_) => SERVICE_EXISTS.into(),
        other => other.to_string(),
    }
}

pub fn service_id(k: &ServiceKey) -> api::ServiceId {
    api::ServiceId {
        protocol: if k.protocol == PROTO_UDP {
            api::Protocol::Udp
        } else {
            api::Protocol::Tcp
        },
        addr: k.vip.to_ip(),
        port: k.port,
    }
}

pub fn method(m: Method) -> api::Method {
    match m {
        Method::Nat => api::Method::Masq,
        Method::Dr => api::Method::Route,
        Method::Tunnel => api::Method::Tunnel,
        Method::FullNat => api::Method::FullNat,
    }
}

pub fn service_spec(s: &ServiceConfig) -> api::ServiceSpec {
    api::ServiceSpec {
        id: service_id(&s.key),
        scheduler: s.scheduler.as_str().to_string(),
        persistence: s.persistence_s,
        netmask: s.persistence_prefix,
        sched_flags: crate::config::sched_flags(s.scheduler, &s.sched_params),
    }
}

fn service_info(d: &Daemon, est: &Estimator, s: &ServiceConfig) -> api::ServiceInfo {
    let mut stats = est.retired(&s.key);
    let mut rates = api::Rates::default();
    let dests = s
        .dests
        .iter()
        .map(|x| {
            let (st, r, active, inactive) = est.dest(x.id);
            stats += st;
            rates.cps += r.cps;
            rates.in_pps += r.in_pps;
            rates.out_pps += r.out_pps;
            rates.in_bps += r.in_bps;
            rates.out_bps += r.out_bps;
            api::DestInfo {
                spec: api::DestSpec {
                    addr: x.addr.to_ip(),
                    port: if x.port == 0 { s.key.port } else { x.port },
                    method: method(x.method),
                    weight: x.weight,
                    upper_threshold: x.upper_threshold,
                    lower_threshold: x.lower_threshold,
                },
                active_conns: active,
                inactive_conns: inactive,
                stats: st,
                rates: r,
            }
        })
        .collect();
    let local_addrs = s
        .local_addrs
        .iter()
        .map(|a| {
            let ip = a.to_ip();
            let interface = match ip {
                IpAddr::V4(v4) => d
                    .config()
                    .ports
                    .iter()
                    .find(|p| p.addrs.iter().any(|n| n.contains(v4)))
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                IpAddr::V6(_) => String::new(),
            };
            api::LocalAddr {
                addr: ip,
                interface,
            }
        })
        .collect();
    api::ServiceInfo {
        spec: service_spec(s),
        local_addrs,
        stats,
        rates,
        dests,
    }
}

fn conn_info(e: &dataplane::worker::SessionEntry) -> Option<api::ConnInfo> {
    // A persistence template's key (`FlowKey::template`) has protocol 0 and its service's
    // protocol in the client port's place; IPVS lists it with that protocol, client port 0
    // and state NONE.
    let (protocol, client_port) = match e.protocol {
        _ if e.template => (e.client.1 as u8, 0),
        p => (p, e.client.1),
    };
    let protocol = match protocol {
        PROTO_TCP => api::Protocol::Tcp,
        PROTO_UDP => api::Protocol::Udp,
        _ => return None,
    };
    let sock = |(a, p): (Addr, u16)| SocketAddr::new(a.to_ip(), p);
    Some(api::ConnInfo {
        protocol,
        expire_s: e.expires_ms.div_ceil(1000),
        state: e.state.name().to_string(),
        client: sock((e.client.0, client_port)),
        virtual_addr: sock(e.virtual_),
        dest: sock(e.dest),
        local: e.local.map(sock),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::conn::{Counters, State, PROTO_TEMPLATE};
    use dataplane::worker::SessionEntry;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
        Addr::v4([a, b, c, d])
    }

    /// A persistence template of a service of `protocol`, as a worker lists it (its key:
    /// `FlowKey::template`, the service's protocol in the client port's place).
    fn template(protocol: u8) -> SessionEntry {
        SessionEntry {
            protocol: PROTO_TEMPLATE,
            state: State::Template,
            expires_ms: 299_500,
            client: (v4(10, 1, 0, 0), u16::from(protocol)),
            virtual_: (v4(10, 10, 0, 100), 53),
            dest: (v4(10, 20, 0, 11), 53),
            local: None,
            method: Method::Nat,
            counters: Counters::default(),
            template: true,
        }
    }

    /// -Lnc shows a template as IPVS does: its service's protocol, client port 0, state NONE.
    #[test]
    fn templates_are_listed_with_their_service_protocol_and_no_client_port() {
        let sock = |s: &str| s.parse::<SocketAddr>().unwrap();
        for (protocol, name) in [
            (PROTO_UDP, api::Protocol::Udp),
            (PROTO_TCP, api::Protocol::Tcp),
        ] {
            let c = conn_info(&template(protocol)).expect("a template is listed");
            assert_eq!(c.protocol, name);
            assert_eq!(c.client, sock("10.1.0.0:0"));
            assert_eq!(c.virtual_addr, sock("10.10.0.100:53"));
            assert_eq!(c.dest, sock("10.20.0.11:53"));
            assert_eq!((c.state.as_str(), c.expire_s), ("NONE", 300));
        }
    }
}
