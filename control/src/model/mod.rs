//! The service model: what a valid service table is, with every rule stated once.
//!
//! Two front ends build a table: the config file ([`crate::config`], `[[services]]`) and
//! rvsadm's requests ([`crate::admin`]; `rvsadm --import-keepalived` sends such requests
//! too). Each reads its syntax into a [`ServiceDraft`] or a [`DestDraft`] (numbers as
//! written, names not yet looked up) and hands it to a [`Table`] operation, which checks it
//! against the table and the box ([`Network`]) and applies it, or refuses it with a
//! [`ModelError`] naming the field by its path and leaves the table as it was ([`Front`]
//! sets which rule a change that breaks several is refused for). After the last operation
//! [`Table::check`] applies the rule that spans services. [`validate`] runs every rule on a
//! finished table; the daemon runs it on every table it is given. A valid table is what
//! [`dataplane::snapshot::Snapshot::build`] compiles; `build` itself refuses only what would
//! break what it builds (unknown protocols, id slots, interfaces, scheduler tables), which
//! [`compiles`] runs for the config file.

mod error;
pub mod network;

pub use error::{
    method_name, Fault, ModelError, DEST_EXISTS, NO_SUCH_DEST, NO_SUCH_SERVICE, SERVICE_EXISTS,
    SERVICE_NOT_DEFINED, ZERO_PORT,
};

use dataplane::conn::Addr;
use dataplane::sched::{SchedParams, SchedulerKind};
use dataplane::snapshot::{
    DestConfig, Interface, Method, ServiceConfig, ServiceKey, Snapshot, DEST_SLOTS,
};
use dataplane::wire::ethernet::MacAddr;
use network::{connected, is_own, subnets, PortSpec, RouteSpec};
use rvs_api::{SchedFlags, MAX_THRESHOLD, MAX_TIMEOUT};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

/// Highest real-server weight (IPVS's).
pub const MAX_WEIGHT: u32 = 65535;
/// The scheduler of a service that names none (ipvsadm's).
pub const DEFAULT_SCHEDULER: SchedulerKind = SchedulerKind::Wlc;
/// The persistence netmask of a service that gives none.
pub const DEFAULT_NETMASK: u8 = 32;

/// A service as a front end read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDraft {
    pub key: ServiceKey,
    /// An ipvsadm scheduler name; None: [`DEFAULT_SCHEDULER`].
    pub scheduler: Option<String>,
    pub sched_flags: FlagsDraft,
    /// Persistence timeout in seconds; None: not persistent.
    pub persistence: Option<i64>,
    /// Persistence netmask length; None: [`DEFAULT_NETMASK`].
    pub netmask: Option<i64>,
}

/// Scheduler flags as a front end read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagsDraft {
    Flags(SchedFlags),
    /// ipvsadm's comma-separated names (`sh-port,flag-1`), read for the service's scheduler.
    Names(String),
}

/// A forwarding method as a front end read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodDraft {
    Method(Method),
    /// The config file's name ([`method_name`]).
    Name(String),
}

/// A real server as a front end read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestDraft {
    pub addr: IpAddr,
    /// 0: the service's port.
    pub port: u16,
    pub method: MethodDraft,
    pub weight: i64,
    /// 0: none.
    pub upper_threshold: i64,
    /// 0: none.
    pub lower_threshold: i64,
}

/// The box the rules judge real servers and local addresses against.
#[derive(Debug, Clone, Copy)]
pub struct Network<'a> {
    pub ports: &'a [PortSpec],
    pub routes: &'a [RouteSpec],
}

/// The front end a [`Table`] serves, whose order of checks a refusal follows when a change
/// breaks several rules: rvsd has always checked a request's real-server port mapping before
/// its values, and a service's persistence timeout after its netmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Config,
    Ipvsadm,
}

/// A service table under change. Every operation either applies whole or refuses with the
/// table unchanged; the rules within a service hold after each, those across services
/// after [`Table::check`]. Field paths are `services[i]...` by the table's order.
pub struct Table<'a> {
    services: Vec<ServiceConfig>,
    net: Network<'a>,
    front: Front,
    /// Real servers in `services`.
    dests: usize,
}

impl<'a> Table<'a> {
    /// A table starting from `services`, which must satisfy the model (the running table,
    /// or none). Real servers added get id 0: their owner numbers them.
    pub fn new(services: Vec<ServiceConfig>, net: Network<'a>, front: Front) -> Table<'a> {
        let dests = services.iter().map(|s| s.dests.len()).sum();
        Table {
            services,
            net,
            front,
            dests,
        }
    }

    pub fn services(&self) -> &[ServiceConfig] {
        &self.services
    }

    pub fn into_services(self) -> Vec<ServiceConfig> {
        self.services
    }

    /// The position of the service with this key.
    pub fn find(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.key == *key)
    }

    /// Adds a service without real servers or local addresses, last.
    pub fn add_service(&mut self, draft: &ServiceDraft) -> Result<(), ModelError> {
        let i = self.services.len();
        if let Some(other) = self.find(&draft.key) {
            let fault = Fault::DuplicateService {
                key: draft.key,
                other,
            };
            return Err(ModelError::new(format!("services[{i}]"), fault));
        }
        let mut s = ServiceConfig {
            key: draft.key,
            scheduler: DEFAULT_SCHEDULER,
            sched_params: SchedParams::default(),
            persistence_s: None,
            persistence_prefix: DEFAULT_NETMASK,
            dests: Vec::new(),
            local_addrs: Vec::new(),
        };
        settings(&mut s, i, draft, self.front)?;
        self.services.push(s);
        Ok(())
    }

    /// Changes service `i`'s scheduler and persistence (`draft.key` is its key).
    pub fn edit_service(&mut self, i: usize, draft: &ServiceDraft) -> Result<(), ModelError> {
        let mut s = self.services[i].clone();
        settings(&mut s, i, draft, self.front)?;
        self.services[i] = s;
        Ok(())
    }

    pub fn delete_service(&mut self, i: usize) {
        self.dests -= self.services.remove(i).dests.len();
    }

    pub fn clear(&mut self) {
        self.services.clear();
        self.dests = 0;
    }

    /// Adds a FULLNAT local address to service `i`: in a subnet of the port named `port`, or
    /// of any port when None.
    pub fn add_local_addr(
        &mut self,
        i: usize,
        ip: IpAddr,
        port: Option<&str>,
    ) -> Result<(), ModelError> {
        let s = &self.services[i];
        let field = format!("services[{i}].local_addrs[{}]", s.local_addrs.len());
        let fail = |fault| Err(ModelError::new(field.clone(), fault));
        let IpAddr::V4(ip) = ip else {
            return fail(Fault::Ipv6LocalAddr);
        };
        if let Some(fault) = local_addr_off_port(self.net.ports, ip, port) {
            return fail(fault);
        }
        if s.local_addrs.contains(&Addr::from(ip)) {
            return fail(Fault::LocalAddrTwice(ip));
        }
        self.services[i].local_addrs.push(Addr::from(ip));
        Ok(())
    }

    /// Removes local address `ip` from service `i`.
    pub fn delete_local_addr(&mut self, i: usize, ip: IpAddr) -> Result<(), ModelError> {
        let field = format!("services[{i}].local_addrs");
        let a = addr(ip).map_err(|f| ModelError::new(field.clone(), f))?;
        let s = &mut self.services[i];
        let Some(at) = s.local_addrs.iter().position(|x| *x == a) else {
            return Err(ModelError::new(field, Fault::NoSuchLocalAddr(ip)));
        };
        let removed = s.local_addrs.remove(at);
        if let Some(e) = fullnat_without_local_addr(i, s) {
            s.local_addrs.insert(at, removed);
            return Err(e);
        }
        Ok(())
    }

    /// Adds a real server to service `i`, last.
    pub fn add_dest(&mut self, i: usize, draft: &DestDraft) -> Result<(), ModelError> {
        let s = &self.services[i];
        let j = s.dests.len();
        let field = |name: &str| format!("services[{i}].real_servers[{j}].{name}");
        let d = dest(s.key, draft, self.net, self.front)
            .map_err(|(name, f)| ModelError::new(field(name), f))?;
        if let Some(other) = s.dests.iter().position(|o| same_dest(s.key, o, &d)) {
            let fault = Fault::DuplicateDest {
                addr: draft.addr,
                service: i,
                other,
            };
            return Err(ModelError::new(field("addr"), fault));
        }
        self.services[i].dests.push(d);
        let refused = fullnat_without_local_addr(i, &self.services[i]).or_else(|| {
            let full = self.dests >= (DEST_SLOTS - 1) as usize;
            full.then(|| ModelError::new(field("addr"), Fault::TooManyDests(draft.addr)))
        });
        if let Some(e) = refused {
            self.services[i].dests.pop();
            return Err(e);
        }
        self.dests += 1;
        Ok(())
    }

    /// Replaces the real server of service `i` at `draft`'s address and port (its id stays).
    pub fn edit_dest(&mut self, i: usize, draft: &DestDraft) -> Result<(), ModelError> {
        let s = &self.services[i];
        let probe = addr(draft.addr).ok().map(|a| DestConfig {
            addr: a,
            port: draft.port,
            ..blank_dest()
        });
        let at = probe.and_then(|p| s.dests.iter().position(|o| same_dest(s.key, o, &p)));
        let j = at.unwrap_or(s.dests.len());
        let field = |name: &str| format!("services[{i}].real_servers[{j}].{name}");
        let d = dest(s.key, draft, self.net, self.front)
            .map_err(|(name, f)| ModelError::new(field(name), f))?;
        let Some(j) = at else {
            return Err(ModelError::new(field("addr"), Fault::NoSuchDest));
        };
        let old = std::mem::replace(&mut self.services[i].dests[j], d);
        self.services[i].dests[j].id = old.id;
        if let Some(e) = fullnat_without_local_addr(i, &self.services[i]) {
            self.services[i].dests[j] = old;
            return Err(e);
        }
        Ok(())
    }

    /// Removes the real server of service `i` at `ip` and `port` (0: the service's).
    pub fn delete_dest(&mut self, i: usize, ip: IpAddr, port: u16) -> Result<(), ModelError> {
        let field = format!("services[{i}].real_servers");
        let a = addr(ip).map_err(|f| ModelError::new(field.clone(), f))?;
        let s = &mut self.services[i];
        let probe = DestConfig {
            addr: a,
            port,
            ..blank_dest()
        };
        let k = s.key;
        let Some(at) = s.dests.iter().position(|o| same_dest(k, o, &probe)) else {
            return Err(ModelError::new(field, Fault::NoSuchDest));
        };
        s.dests.remove(at);
        self.dests -= 1;
        Ok(())
    }

    /// The rule across services: no real server is at an address the box answers for itself
    /// (a service's VIP or local address).
    pub fn check(&self) -> Result<(), ModelError> {
        own_address(&self.services).map_or(Ok(()), Err)
    }
}

/// Sets service `i`'s scheduler and persistence from `draft`; on error `s` is partly set.
fn settings(
    s: &mut ServiceConfig,
    i: usize,
    draft: &ServiceDraft,
    front: Front,
) -> Result<(), ModelError> {
    let at =
        |name: &'static str| move |fault| ModelError::new(format!("services[{i}].{name}"), fault);
    s.scheduler = match &draft.scheduler {
        None => DEFAULT_SCHEDULER,
        Some(name) => scheduler(name).map_err(at("scheduler"))?,
    };
    let flags = match &draft.sched_flags {
        FlagsDraft::Flags(flags) => *flags,
        FlagsDraft::Names(list) => SchedFlags::parse(list, s.scheduler.as_str())
            .map_err(|why| Fault::FlagNames {
                list: list.clone(),
                why,
            })
            .map_err(at("sched_flags"))?,
    };
    s.sched_params = sched_params(s.scheduler, flags).map_err(at("sched_flags"))?;
    let persistence = || {
        let timeout = |v| int(v, 1..=i64::from(MAX_TIMEOUT), Fault::Persistence);
        draft
            .persistence
            .map(timeout)
            .transpose()
            .map_err(at("persistence"))
    };
    let zero_port = || match (draft.key.port, draft.persistence) {
        (0, None) => Err(at("port")(Fault::ZeroPort)),
        _ => Ok(()),
    };
    let netmask = || match draft.netmask {
        None => Ok(DEFAULT_NETMASK),
        Some(v) => int(v, 0..=32, Fault::Netmask).map_err(at("persistence_netmask")),
    };
    // The config file checks the timeout before the port, rvsd's requests after the netmask.
    let timeout_first = front == Front::Config;
    if timeout_first {
        s.persistence_s = persistence()?;
    }
    zero_port()?;
    s.persistence_prefix = netmask()?;
    if !timeout_first {
        s.persistence_s = persistence()?;
    }
    Ok(())
}

/// A real server of service `key` on its own: value ranges, thresholds, port mapping and
/// reachability. Errors name the draft's field.
fn dest(
    key: ServiceKey,
    draft: &DestDraft,
    net: Network,
    front: Front,
) -> Result<DestConfig, (&'static str, Fault)> {
    // rvsd's requests check the port mapping before the values (see `Front`).
    if let (Front::Ipvsadm, MethodDraft::Method(m)) = (front, &draft.method) {
        port_mapping(key, draft.port, *m)?;
    }
    let weight =
        int(draft.weight, 0..=i64::from(MAX_WEIGHT), Fault::Weight).map_err(|f| ("weight", f))?;
    let method = match &draft.method {
        MethodDraft::Method(m) => *m,
        MethodDraft::Name(name) => method(name).map_err(|f| ("method", f))?,
    };
    let threshold = |v| int(v, 0..=i64::from(MAX_THRESHOLD), Fault::Threshold);
    let upper: u32 = threshold(draft.upper_threshold).map_err(|f| ("upper_threshold", f))?;
    let lower: u32 = threshold(draft.lower_threshold).map_err(|f| ("lower_threshold", f))?;
    if upper != 0 && lower > upper {
        return Err(("lower_threshold", Fault::ThresholdOrder { lower, upper }));
    }
    let a = addr(draft.addr).map_err(|f| ("addr", f))?;
    port_mapping(key, draft.port, method)?;
    if let Some(ip) = a.to_v4().map(Ipv4Addr::from) {
        if let Some(why) = unusable_real_server(net.ports, net.routes, ip, method) {
            return Err(("addr", Fault::Unusable { addr: ip, why }));
        }
    }
    Ok(DestConfig {
        addr: a,
        port: draft.port,
        weight,
        method,
        upper_threshold: upper,
        lower_threshold: lower,
        ..blank_dest()
    })
}

/// DR and TUN forward the packet unchanged: a real server's port (0: the service's) is the
/// virtual one, unless that is 0 (every port).
fn port_mapping(key: ServiceKey, port: u16, method: Method) -> Result<(), (&'static str, Fault)> {
    let effective = if port == 0 { key.port } else { port };
    let unchanged = matches!(method, Method::Dr | Method::Tunnel);
    if unchanged && key.port != 0 && effective != key.port {
        let fault = Fault::PortMapping {
            method,
            port,
            virtual_port: key.port,
        };
        return Err(("port", fault));
    }
    Ok(())
}

/// FULLNAT needs a local address: refuses service `i`, at its first FULLNAT real server,
/// when it has none.
fn fullnat_without_local_addr(i: usize, s: &ServiceConfig) -> Option<ModelError> {
    if !s.local_addrs.is_empty() {
        return None;
    }
    let j = s.dests.iter().position(|d| d.method == Method::FullNat)?;
    let fault = Fault::NoLocalAddr {
        key: s.key,
        dest: format!("services[{i}].real_servers[{j}]"),
    };
    Some(ModelError::new(format!("services[{i}].local_addrs"), fault))
}

/// `v` if it lies in `range` (and so fits `T`), else `fault(v)`.
fn int<T: TryFrom<i64>>(
    v: i64,
    range: RangeInclusive<i64>,
    fault: fn(i64) -> Fault,
) -> Result<T, Fault> {
    if !range.contains(&v) {
        return Err(fault(v));
    }
    T::try_from(v).map_err(|_| fault(v))
}

/// A service or real-server address: IPv4 only.
pub fn addr(ip: IpAddr) -> Result<Addr, Fault> {
    match ip {
        IpAddr::V4(v4) => Ok(Addr::from(v4)),
        IpAddr::V6(_) => Err(Fault::Ipv6),
    }
}

/// The forwarding method of a config-file name ([`method_name`]).
pub fn method(name: &str) -> Result<Method, Fault> {
    [Method::Nat, Method::FullNat, Method::Dr, Method::Tunnel]
        .into_iter()
        .find(|&m| method_name(m) == name)
        .ok_or_else(|| Fault::UnknownMethod(name.to_owned()))
}

/// The scheduler of an ipvsadm name.
pub fn scheduler(name: &str) -> Result<SchedulerKind, Fault> {
    name.parse()
        .map_err(|_| Fault::UnknownScheduler(name.to_owned()))
}

/// The packet core's parameters for scheduler flags (ipvsadm's `--sched-flags`): sh and mh
/// have them, the others none.
pub fn sched_params(kind: SchedulerKind, flags: SchedFlags) -> Result<SchedParams, Fault> {
    let p = SchedParams::default();
    match kind {
        SchedulerKind::Sh => Ok(SchedParams {
            sh_fallback: flags.fallback,
            sh_port: flags.port,
            ..p
        }),
        SchedulerKind::Mh => Ok(SchedParams {
            mh_fallback: flags.fallback,
            mh_port: flags.port,
            ..p
        }),
        _ if flags.is_empty() => Ok(p),
        _ => Err(Fault::FlagsNotForScheduler(kind)),
    }
}

/// The scheduler flags that `params` hold for `kind` (what `-S` saves).
pub fn sched_flags(kind: SchedulerKind, params: &SchedParams) -> SchedFlags {
    let (fallback, port) = match kind {
        SchedulerKind::Sh => (params.sh_fallback, params.sh_port),
        SchedulerKind::Mh => (params.mh_fallback, params.mh_port),
        _ => (false, false),
    };
    SchedFlags { fallback, port }
}

/// Why a local address is not on the port named `port` (or, when None, on any port).
fn local_addr_off_port(ports: &[PortSpec], ip: Ipv4Addr, port: Option<&str>) -> Option<Fault> {
    let Some(name) = port else {
        return connected(ports, ip)
            .is_none()
            .then(|| Fault::LocalAddrOffSubnet {
                addr: ip,
                subnets: subnets(ports),
            });
    };
    let Some(p) = ports.iter().find(|p| p.name == name) else {
        let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
        return Some(Fault::NoSuchPort {
            name: name.to_owned(),
            ports: names.join(", "),
        });
    };
    (!p.addrs.iter().any(|n| n.contains(ip))).then(|| Fault::LocalAddrNotOnPort {
        addr: ip,
        port: name.to_owned(),
    })
}

/// Why a box with these ports and routes cannot forward to real server `addr` by `method`
/// (None: it can).
pub fn unusable_real_server(
    ports: &[PortSpec],
    routes: &[RouteSpec],
    addr: Ipv4Addr,
    method: Method,
) -> Option<String> {
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() || addr.is_loopback() {
        return Some("not a unicast address; expected a real server's address".into());
    }
    if let Some(net) = ports
        .iter()
        .flat_map(|p| &p.addrs)
        .find(|n| n.len < 31 && addr == n.broadcast())
    {
        return Some(format!("the broadcast address of {net}"));
    }
    if is_own(ports, addr) || ports.iter().any(|p| p.vips.contains(&addr)) {
        return Some("one of the box's own addresses or VIPs; expected a real server's".into());
    }
    let connected = connected(ports, addr).is_some();
    if method == Method::Dr && !connected {
        return Some(format!(
            "dr forwarding needs the real server on a connected subnet ({})",
            subnets(ports)
        ));
    }
    if !connected && !routes.iter().any(|r| r.prefix.contains(addr)) {
        return Some(format!(
            "unreachable: in no connected subnet ({}) and no route",
            subnets(ports)
        ));
    }
    None
}

/// The first real server (in table order) at an address the box answers for itself: the
/// first service holding the address names it, its VIP before its local addresses. One pass
/// over the real servers, whatever the number of services.
fn own_address(services: &[ServiceConfig]) -> Option<ModelError> {
    let mut own: HashMap<Addr, (usize, Option<usize>)> = HashMap::new();
    for (i, o) in services.iter().enumerate().rev() {
        for (k, &a) in o.local_addrs.iter().enumerate().rev() {
            own.insert(a, (i, Some(k)));
        }
        own.insert(o.key.vip, (i, None));
    }
    services.iter().enumerate().find_map(|(j, s)| {
        s.dests.iter().enumerate().find_map(|(m, d)| {
            let &(i, k) = own.get(&d.addr)?;
            let owner_field = match k {
                None => format!("services[{i}].vip"),
                Some(k) => format!("services[{i}].local_addrs[{k}]"),
            };
            let fault = Fault::OwnAddress {
                addr: d.addr.to_ip(),
                service: s.key,
                owner: services[i].key,
                owner_field,
                is_vip: k.is_none(),
            };
            Some(ModelError::new(
                format!("services[{j}].real_servers[{m}].addr"),
                fault,
            ))
        })
    })
}

/// Whether `services` satisfies every rule of the model: the table rebuilt service by
/// service through [`Table`]'s operations, then [`Table::check`]. Errors name the field as
/// the config file would.
pub fn validate(services: &[ServiceConfig], net: Network) -> Result<(), ModelError> {
    let mut t = Table::new(Vec::new(), net, Front::Config);
    for (i, s) in services.iter().enumerate() {
        let draft = ServiceDraft {
            key: s.key,
            scheduler: Some(s.scheduler.as_str().to_owned()),
            sched_flags: FlagsDraft::Flags(sched_flags(s.scheduler, &s.sched_params)),
            persistence: s.persistence_s.map(i64::from),
            netmask: Some(i64::from(s.persistence_prefix)),
        };
        t.add_service(&draft)?;
        for a in &s.local_addrs {
            t.add_local_addr(i, a.to_ip(), None)?;
        }
        for d in &s.dests {
            let draft = DestDraft {
                addr: d.addr.to_ip(),
                port: d.port,
                method: MethodDraft::Method(d.method),
                weight: i64::from(d.weight),
                upper_threshold: i64::from(d.upper_threshold),
                lower_threshold: i64::from(d.lower_threshold),
            };
            t.add_dest(i, &draft)?;
        }
    }
    t.check()
}

/// Runs what only [`Snapshot::build`] refuses, on one stub interface per port and VLAN.
pub fn compiles(ports: &[PortSpec], services: &[ServiceConfig]) -> Result<(), ModelError> {
    let interfaces = ports
        .iter()
        .enumerate()
        .map(|(i, p)| Interface {
            mac: p.mac.unwrap_or(MacAddr::ZERO),
            addrs: p.addrs.iter().map(|a| Addr::from(a.addr)).collect(),
            mtu: p.mtu,
            port: p.vlan.map_or(i as u16, |v| v.port),
            vlan: p.vlan.map(|v| v.id),
        })
        .collect();
    Snapshot::build(0, interfaces, services.to_vec())
        .map(drop)
        .map_err(|e| ModelError::new("services", Fault::Snapshot(e)))
}

/// A DR real server of weight 1 at 0.0.0.0, without thresholds: the base for filling in.
pub fn blank_dest() -> DestConfig {
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

/// Same real server of service `k`: address and resolved port (0 is the service's).
pub fn same_dest(k: ServiceKey, a: &DestConfig, b: &DestConfig) -> bool {
    let port = |d: &DestConfig| if d.port == 0 { k.port } else { d.port };
    a.addr == b.addr && port(a) == port(b)
}

#[cfg(test)]
mod tests;
