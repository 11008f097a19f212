//! Why the model refused a service table or a change to it: the field, by its path in the
//! table, and the broken rule. It reads two ways: [`fmt::Display`] as the config file states
//! its errors (`services[0].real_servers[2].weight = 70000: expected an integer in 0..=65535`),
//! [`ModelError::ipvsadm`] as ipvsadm words the same refusal (`Illegal weight specified`).

use super::MAX_WEIGHT;
use dataplane::sched::SchedulerKind;
use dataplane::snapshot::{Method, ServiceKey, SnapshotError, DEST_SLOTS};
use rvs_api::{MAX_THRESHOLD, MAX_TIMEOUT};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// ipvsadm's messages (libipvs `ipvs_strerror`).
pub const NO_SUCH_SERVICE: &str = "No such service";
pub const SERVICE_EXISTS: &str = "Service already exists";
pub const SERVICE_NOT_DEFINED: &str = "Service not defined";
pub const DEST_EXISTS: &str = "Destination already exists";
pub const NO_SUCH_DEST: &str = "No such destination";
pub const ZERO_PORT: &str = "Zero port specified for non-persistent service";

/// A refused table or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// Path of the offending field in the table: `services[1].real_servers[0].addr`,
    /// `services[0].local_addrs`, `services[2]` (the service as a whole), `services`.
    pub field: String,
    pub fault: Fault,
}

/// The rule a field breaks, with the values that break it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A request names a service the table does not have (service requests).
    NoSuchService,
    /// A request names a service the table does not have (real-server and local-address
    /// requests).
    ServiceNotDefined,
    /// A request names a real server the service does not have.
    NoSuchDest,
    /// A request names a local address the service does not have.
    NoSuchLocalAddr(IpAddr),
    /// A request that changes nothing in the table.
    NotAChange(String),
    /// An IPv6 service or real-server address.
    Ipv6,
    /// An IPv6 local address.
    Ipv6LocalAddr,
    /// Same protocol, VIP and port as `services[other]`.
    DuplicateService {
        key: ServiceKey,
        other: usize,
    },
    UnknownScheduler(String),
    /// A forwarding method name the config file does not know.
    UnknownMethod(String),
    /// Scheduler flag names that are not the scheduler's (why, in words).
    FlagNames {
        list: String,
        why: String,
    },
    /// Scheduler flags for a scheduler that has none.
    FlagsNotForScheduler(SchedulerKind),
    /// A persistence timeout outside 1..=[`MAX_TIMEOUT`].
    Persistence(i64),
    /// Port 0 (every port) without persistence.
    ZeroPort,
    /// A persistence netmask outside 0..=32.
    Netmask(i64),
    /// A weight outside 0..=[`MAX_WEIGHT`].
    Weight(i64),
    /// A connection threshold outside 0..=[`MAX_THRESHOLD`].
    Threshold(i64),
    /// A lower threshold above a (non-zero) upper one.
    ThresholdOrder {
        lower: u32,
        upper: u32,
    },
    /// DR and TUN forward the packet unchanged: the real server's port is the virtual one.
    PortMapping {
        method: Method,
        port: u16,
        virtual_port: u16,
    },
    /// The box cannot forward to this real server (why, in words).
    Unusable {
        addr: Ipv4Addr,
        why: String,
    },
    /// Same address and port as `services[service].real_servers[other]`.
    DuplicateDest {
        addr: IpAddr,
        service: usize,
        other: usize,
    },
    /// A FULLNAT real server (`real_servers[dest]`) of a service without local addresses.
    NoLocalAddr {
        key: ServiceKey,
        dest: String,
    },
    /// More real servers in the table than there are id slots.
    TooManyDests(IpAddr),
    /// A real server at an address the box answers for itself: `owner`'s VIP or one of its
    /// local addresses, which is the table's field `owner_field`.
    OwnAddress {
        addr: IpAddr,
        service: ServiceKey,
        owner: ServiceKey,
        owner_field: String,
        is_vip: bool,
    },
    /// A local address in no port's subnet (`subnets`: the ports' subnets, for the message).
    LocalAddrOffSubnet {
        addr: Ipv4Addr,
        subnets: String,
    },
    /// A request names a port the box does not have (`ports`: their names).
    NoSuchPort {
        name: String,
        ports: String,
    },
    /// A local address outside the subnets of the port a request names.
    LocalAddrNotOnPort {
        addr: Ipv4Addr,
        port: String,
    },
    /// A local address the service already has.
    LocalAddrTwice(Ipv4Addr),
    /// What only [`dataplane::snapshot::Snapshot::build`] refuses (scheduler construction,
    /// real-server ids).
    Snapshot(SnapshotError),
}

impl ModelError {
    pub fn new(field: impl Into<String>, fault: Fault) -> ModelError {
        ModelError {
            field: field.into(),
            fault,
        }
    }

    /// The refusal as ipvsadm words it (rvsadm prints it).
    pub fn ipvsadm(&self) -> String {
        use Fault::*;
        match &self.fault {
            NoSuchService => NO_SUCH_SERVICE.into(),
            ServiceNotDefined => SERVICE_NOT_DEFINED.into(),
            NoSuchDest => NO_SUCH_DEST.into(),
            NoSuchLocalAddr(a) => format!("no such local address {a}"),
            NotAChange(what) => format!("not a configuration change: {what}"),
            Ipv6 => "IPv6 is not supported yet".into(),
            Ipv6LocalAddr => "IPv6 local addresses are not supported yet".into(),
            DuplicateService { .. } => SERVICE_EXISTS.into(),
            UnknownScheduler(name) => format!(
                "Scheduler or persistence engine not found: {name} (schedulers: rr wrr lc wlc sed nq sh dh mh)"
            ),
            UnknownMethod(name) => format!("unknown forwarding method {name:?}"),
            FlagNames { why, .. } => why.clone(),
            FlagsNotForScheduler(kind) => flags_not_for(*kind),
            Persistence(p) => format!(
                "invalid timeout value `{p}' specified (persistence: 1..={MAX_TIMEOUT})"
            ),
            ZeroPort => ZERO_PORT.into(),
            Netmask(n) => format!("Illegal persistence netmask /{n}"),
            Weight(_) => "Illegal weight specified".into(),
            Threshold(_) => format!("Illegal threshold specified (at most {MAX_THRESHOLD})"),
            ThresholdOrder { .. } => "Lower threshold is above the upper threshold".into(),
            PortMapping {
                method,
                port,
                virtual_port,
            } => format!(
                "Port mapping is not possible with {} forwarding: real server port {port} differs from the virtual port {virtual_port}",
                if *method == Method::Dr { "direct routing" } else { "tunnel" },
            ),
            Unusable { addr, why } => format!("real server {addr}: {why}"),
            DuplicateDest { .. } => DEST_EXISTS.into(),
            NoLocalAddr { key, .. } => {
                format!("service {key}: local_addrs is empty but a destination uses FULLNAT")
            }
            TooManyDests(_) => format!(
                "dests: more than {} real servers in the table",
                DEST_SLOTS - 1
            ),
            OwnAddress {
                addr,
                service,
                owner,
                is_vip,
                ..
            } => format!(
                "service {service}: real server {addr} is {} {owner}, an address of the box's own; expected a real server's",
                if *is_vip { "the VIP of" } else { "a local address of" }
            ),
            LocalAddrOffSubnet { addr, subnets } => {
                format!("local address {addr} is in no port's subnet ({subnets})")
            }
            NoSuchPort { name, ports } => format!("no port named {name:?} (ports: {ports})"),
            LocalAddrNotOnPort { addr, port } => {
                format!("local address {addr} is not in a subnet of port {port}")
            }
            LocalAddrTwice(a) => format!("local address {a} already exists"),
            Snapshot(e) => e.to_string(),
        }
    }

    /// The offending value as the config file writes it (strings quoted); empty when the
    /// problem is an absence or the whole table.
    pub fn value(&self) -> String {
        use Fault::*;
        let q = |s: &dyn fmt::Display| format!("{:?}", s.to_string());
        match &self.fault {
            NoSuchService | ServiceNotDefined | NoSuchDest | NotAChange(_) => String::new(),
            Ipv6 | Ipv6LocalAddr | FlagsNotForScheduler(_) | Snapshot(_) => String::new(),
            NoSuchLocalAddr(a) => q(a),
            DuplicateService { key, .. } => key.to_string(),
            UnknownScheduler(name) | UnknownMethod(name) | FlagNames { list: name, .. } => q(name),
            Persistence(v) | Netmask(v) | Weight(v) | Threshold(v) => v.to_string(),
            ZeroPort => "0".into(),
            ThresholdOrder { lower, .. } => lower.to_string(),
            PortMapping { port, .. } => port.to_string(),
            Unusable { addr, .. } => q(addr),
            DuplicateDest { addr, .. } | TooManyDests(addr) | OwnAddress { addr, .. } => q(addr),
            NoLocalAddr { .. } => "[]".into(),
            LocalAddrOffSubnet { addr, .. }
            | LocalAddrNotOnPort { addr, .. }
            | LocalAddrTwice(addr) => q(addr),
            NoSuchPort { name, .. } => q(name),
        }
    }

    /// What is wrong and what was expected, as the config file states it.
    pub fn reason(&self) -> String {
        use Fault::*;
        let range = |lo: i64, hi: i64| format!("expected an integer in {lo}..={hi}");
        match &self.fault {
            DuplicateService { other, .. } => {
                format!("same protocol, vip and port as services[{other}]")
            }
            UnknownScheduler(_) => {
                let names: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown scheduler; expected one of {}", names.join(", "))
            }
            UnknownMethod(_) => "expected \"nat\", \"fullnat\", \"dr\" or \"tunnel\"".into(),
            Persistence(_) => range(1, i64::from(MAX_TIMEOUT)),
            ZeroPort => {
                "port 0 (every port) needs persistence; expected 1..=65535 or a persistence timeout"
                    .into()
            }
            Netmask(_) => range(0, 32),
            Weight(_) => range(0, i64::from(MAX_WEIGHT)),
            Threshold(_) => range(0, i64::from(MAX_THRESHOLD)),
            ThresholdOrder { upper, .. } => {
                format!("above upper_threshold {upper}; expected at most {upper}")
            }
            PortMapping {
                method,
                virtual_port,
                ..
            } => format!(
                "{} forwarding cannot change the port; expected {virtual_port} or no port",
                method_name(*method)
            ),
            Unusable { why, .. } => why.clone(),
            DuplicateDest { service, other, .. } => {
                format!("same address and port as services[{service}].real_servers[{other}]")
            }
            NoLocalAddr { dest, .. } => {
                format!("{dest} uses fullnat; expected at least one local address")
            }
            TooManyDests(_) => format!(
                "too many real servers: at most {} in all services",
                DEST_SLOTS - 1
            ),
            OwnAddress { owner_field, .. } => {
                format!("also {owner_field}, an address of the box's own; expected a real server's")
            }
            LocalAddrOffSubnet { subnets, .. } => format!("in no port's subnet ({subnets})"),
            LocalAddrTwice(_) => "listed twice".into(),
            _ => self.ipvsadm(),
        }
    }
}

/// The config file's name of a forwarding method.
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Nat => "nat",
        Method::FullNat => "fullnat",
        Method::Dr => "dr",
        Method::Tunnel => "tunnel",
    }
}

fn flags_not_for(kind: SchedulerKind) -> String {
    format!(
        "scheduler flags apply to the sh and mh schedulers, not {}",
        kind.as_str()
    )
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value();
        if value.is_empty() {
            write!(f, "{}: {}", self.field, self.reason())
        } else {
            write!(f, "{} = {value}: {}", self.field, self.reason())
        }
    }
}

impl std::error::Error for ModelError {}

/// What [`dataplane::snapshot::Snapshot::build`] refused, as the whole table's fault.
impl From<SnapshotError> for ModelError {
    fn from(e: SnapshotError) -> ModelError {
        ModelError::new("services", Fault::Snapshot(e))
    }
}
