//! What each control request does to the running daemon, in ipvsadm's terms and with ipvsadm's
//! error messages. A change is a front end of the service model ([`crate::model`]): the request
//! is read into the model's drafts and applied to a copy of the service table, which is
//! published only if the model and the snapshot accept it, so a failed command leaves the
//! running configuration exactly as it was.

use crate::daemon::Daemon;
use crate::health::{CheckerState, State};
use crate::model::{self, Front, ModelError, Network, Table, NO_SUCH_SERVICE};
use crate::request::{apply, key};
use crate::stats::Estimator;
use dataplane::conn::{Addr, PROTO_TCP, PROTO_UDP};
use dataplane::snapshot::{Method, ServiceConfig, ServiceKey};
use rvs_api as api;
use rvs_api::{Request, Response};
use std::net::{IpAddr, SocketAddr};

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
            let only = service.map(|id| running(d.services(), &id)).transpose()?;
            est.refresh(d.dest_stats().map_err(|e| e.to_string())?);
            Ok(Response::Services(
                d.services()
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| only.unwrap_or(i) == i)
                    .map(|(_, s)| service_info(d, est, s))
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
                    let s = &d.services()[running(d.services(), &id)?];
                    Some((s.key, s.dests.iter().map(|x| x.id).collect()))
                }
            };
            d.zero_stats(zeroed.as_ref().map(|(_, ids)| ids.clone()))
                .map_err(|e| e.to_string())?;
            est.forget(zeroed.as_ref().map(|(k, ids)| (k, &ids[..])));
            Ok(Response::Done)
        }
        Request::ListHealth => Ok(Response::Health(
            d.health().iter().map(checker_info).collect(),
        )),
        Request::FlushConnections => {
            d.flush_sessions().map_err(|e| e.to_string())?;
            Ok(Response::Done)
        }
        Request::StartDaemon { role, daemon } => {
            d.start_sync(role, daemon)?;
            Ok(Response::Done)
        }
        Request::StopDaemon(role) => match d.stop_sync(role) {
            true => Ok(Response::Done),
            false => Err(format!("the {} sync daemon is not running", role.name())),
        },
        Request::ListDaemons => Ok(Response::Daemons(d.sync_daemons())),
        Request::GetSysctl(name) => Ok(Response::Sysctl(name, d.sysctl(name))),
        Request::SetSysctl(name, value) => {
            d.set_sysctl(name, value).map_err(|e| e.to_string())?;
            Ok(Response::Done)
        }
        change => {
            let old = d.services().to_vec();
            let services = edit(d, old.clone(), change).map_err(|e| e.ipvsadm())?;
            let departs = Estimator::departs(&old, &services);
            if departs {
                // The departing servers' last counters, kept for their services; if a worker
                // is late, the last sample (at most 2 s old) stands in: the change goes on.
                if let Ok(sample) = d.dest_stats() {
                    est.refresh(sample);
                }
            }
            d.set_services(services).map_err(|e| e.ipvsadm())?;
            if departs {
                est.retire(&old, d.services());
            }
            Ok(Response::Done)
        }
    }
}

/// Applies a mutating request to `services` (a copy of the running table) through the model.
fn edit(
    d: &Daemon,
    services: Vec<ServiceConfig>,
    request: Request,
) -> Result<Vec<ServiceConfig>, ModelError> {
    let c = d.config();
    let net = Network {
        ports: &c.ports,
        routes: &c.routes,
    };
    let mut table = Table::new(services, net, Front::Ipvsadm);
    apply(&mut table, request)?;
    table.check()?;
    Ok(table.into_services())
}

fn checker_info(c: &CheckerState) -> api::CheckerInfo {
    let state = match c.state {
        State::Warmup => "WARMUP",
        State::Up => "UP",
        State::Down => "DOWN",
    };
    api::CheckerInfo {
        service: c.service.clone(),
        server: c.server.clone(),
        kind: c.kind.to_string(),
        state: state.to_string(),
        since_secs: c.since.elapsed().as_secs(),
        last: c.last.clone(),
        runs: c.runs,
        failures: c.failures,
    }
}

/// The running service with this key (requests that only read).
fn running(services: &[ServiceConfig], id: &api::ServiceId) -> Result<usize, String> {
    let k = key(id).map_err(|f| ModelError::new("services", f).ipvsadm())?;
    services
        .iter()
        .position(|s| s.key == k)
        .ok_or_else(|| NO_SUCH_SERVICE.to_owned())
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
        sched_flags: model::sched_flags(s.scheduler, &s.sched_params),
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
