//! The daemon's configuration file (`rvsd --config FILE`, TOML).
//!
//! [`parse`] and [`load`] work in two passes:
//! 1. serde fills private raw structs; every table refuses unknown keys. Syntax errors, wrong
//!    types, missing and unknown keys keep the toml crate's message (line, column, key).
//! 2. A semantic pass checks every value and converts it to the typed [`Config`]. The services
//!    are read into the service model ([`crate::model`]), which holds their rules, then
//!    compiled with [`dataplane::snapshot::Snapshot::build`] (a stub interface per port and VLAN),
//!    so whatever a snapshot would refuse is refused here too.
//!
//! A returned [`Config`] is valid as a whole. Every semantic error names the field by its path
//! (`services[0].real_servers[2].weight`), the bad value and what was expected. No input panics.
//!
//! The schema, with defaults (see `deploy/rvsd-*.toml` for complete examples):
//!
//! ```toml
//! [eal]                 # optional
//! args = []             # extra EAL arguments (not lcore, allow-list or vdev options)
//! [cores]               # required
//! main = 0              # main lcore (control thread)
//! workers = [1]         # worker lcores: >= 1, distinct, none equal to main
//! cpus = [1]            # optional: cpu of each worker lcore (default: the lcore id)
//! main_cpu = 0          # optional: cpu of the main lcore (default: main)
//! [dataplane]           # optional
//! mbufs = 16383
//! rx_desc = 1024
//! tx_desc = 1024
//! burst_drain_us = 100
//! mbuf_data_room = 2176 # bytes per mbuf, headroom included (af_packet: frames up to this - 128)
//! idle_sleep_us = 0     # a worker idle for 1 ms sleeps this long between polls; 0 = never
//! [sessions]            # optional; capacity is per worker
//! capacity = 1048576
//! full_policy = "refuse"  # or "evict"
//! tcp = 900             # ipvsadm --set tcp tcpfin udp, seconds
//! tcpfin = 120
//! udp = 300
//! [control]             # optional
//! socket = "/run/rvs/rvsd.sock"
//! group = "rvsadm"      # optional
//! audit_log = "/var/log/rvs/audit.log"  # optional
//! [metrics]             # optional; absent = no metrics endpoint
//! listen = "127.0.0.1:9469"
//! [[ports]]             # >= 1
//! name = "wan"          # [a-z0-9_-]{1,15}, unique
//! device = "0000:03:00.0"  # PCI address (DDDD:BB:DD.F[,devargs]) or a vdev "net_...,devargs"
//! addrs = ["10.10.0.1/24"] # own addresses with prefix length, >= 1
//! vips = ["10.10.0.100"]   # announced by gratuitous ARP; default []
//! mac = "02:00:00:00:00:01"  # optional override
//! mtu = 1500
//! kernel_interface = "wan"  # the box's kernel interface for the port (net_tap); default
//!                         # the port's name, "" for none
//! exception_rate = 200000  # frames/s to the kernel interface (default); the rest dropped
//! [[ports.vlans]]       # optional: a VLAN sub-interface "wan.100" (the port's MAC and MTU)
//! id = 100              # 802.1Q VLAN id, 1..=4094, unique on the port
//! addrs = ["10.10.100.1/24"]  # as a port's; subnets disjoint from every other interface's
//! vips = []             # default []
//! [[routes]]
//! prefix = "0.0.0.0/0"
//! via = "10.10.0.254"   # must lie in a connected subnet of an interface
//! [[neighbours]]        # static ARP entries
//! addr = "10.20.0.11"
//! mac = "02:00:00:00:00:11"
//! port = "lan"         # an interface: a port, or a VLAN like "wan.100"
//! [[services]]
//! protocol = "tcp"      # tcp | udp
//! vip = "10.10.0.100"
//! port = 80             # 0 (every port) only with persistence
//! scheduler = "wlc"     # ipvsadm names
//! sched_flags = ["mh-port"]  # optional: sh-fallback, sh-port (sh); mh-fallback, mh-port (mh)
//! persistence = 300     # optional, seconds
//! persistence_netmask = 32  # optional, needs persistence
//! local_addrs = ["10.20.0.250"]  # FULLNAT local addresses
//! [[services.real_servers]]
//! addr = "10.20.0.11"
//! port = 80             # optional: default the service port
//! weight = 1            # 0..=65535
//! method = "dr"         # nat | fullnat | dr | tunnel
//! upper_threshold = 0   # 0 = none
//! lower_threshold = 0
//! [sync]                # optional: the connection sync daemons (ipvsadm --start-daemon)
//! refresh_period = 60   # the master sends long-lived sessions again this often; 0 = never
//! [sync.master]
//! mcast_interface = "lan"  # a port's kernel_interface (or lo)
//! syncid = 0            # 0..=255; optional: maxlen = 1472, group = "224.0.0.81",
//!                       # port = 8848, ttl = 1
//! [sync.backup]         # the same keys
//! mcast_interface = "lan"
//! [vrrp]                # optional: keepalived's VRRP moves the VIPs and local addresses (and
//!                       # `addrs`) between boxes; rvsd serves them while a kernel interface
//! addrs = ["10.20.0.1"] # holds them. addrs: other floating addresses (NAT servers' gateway)
//! [sysctl]              # optional: IPVS's net.ipv4.vs.* that rvs has
//! sloppy_tcp = 0        # 1: a TCP segment without a session (not a RST) starts one
//! [announce]            # optional: a route VIP/32 in this table on the VIP's port's kernel
//! table = 100           # interface while every service of the VIP has its quorum (for BIRD)
//! ```

use crate::model::network::{connected, is_own, subnets};
use crate::model::{
    DestDraft, FlagsDraft, Front, MethodDraft, ModelError, Network, ServiceDraft, Table,
};
use crate::sync::{SyncDaemon, SyncRole};
use dataplane::conn::{Addr, FullPolicy, Timeouts, MAX_CAPACITY, PROTO_TCP, PROTO_UDP};
use dataplane::snapshot::{Method, ServiceConfig, ServiceKey};
use dataplane::wire::ethernet::MacAddr;
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// Default mbuf pool size.
pub const DEFAULT_MBUFS: u32 = 16383;
/// Default RX and TX descriptors per queue.
pub const DEFAULT_DESC: u16 = 1024;
/// Default mbuf data room: 2048 bytes of packet plus DPDK's 128 of headroom.
pub const DEFAULT_MBUF_DATA_ROOM: u16 = 2048 + 128;
/// Default TX drain deadline, in microseconds.
pub const DEFAULT_BURST_DRAIN_US: u32 = 100;
/// `[sync] refresh_period` unless set: a backup started later has every long-lived session
/// within a minute.
pub const DEFAULT_SYNC_REFRESH_S: u32 = 60;
/// Default session table capacity per worker.
pub const DEFAULT_CAPACITY: usize = 1 << 20;
/// Default control socket.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";
/// Default port MTU.
pub const DEFAULT_MTU: u16 = 1500;
/// `ports[].exception_rate` when absent: frames per second to the kernel interface.
pub const DEFAULT_EXCEPTION_RATE: u32 = 200_000;

/// Highest cpu (and lcore) id accepted: Linux's `CPU_SETSIZE` - 1. The EAL further refuses
/// lcore ids at or above its build's `RTE_MAX_LCORE`.
const MAX_CPU: i64 = 1023;
/// Longest timeout in seconds: timeouts are kept in milliseconds in a `u32`.
const MAX_TIMEOUT_S: i64 = (u32::MAX / 1000) as i64;
/// `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub eal: EalConfig,
    pub cores: CoresConfig,
    pub dataplane: DataplaneConfig,
    pub sessions: SessionsConfig,
    pub control: ControlConfig,
    /// None: no metrics endpoint.
    pub metrics: Option<MetricsConfig>,
    /// The box's interfaces, each at its interface number in snapshots: every `[[ports]]` in
    /// file order (at least one), then their VLAN sub-interfaces, port by port.
    pub ports: Vec<PortSpec>,
    pub routes: Vec<RouteSpec>,
    pub neighbours: Vec<NeighbourSpec>,
    /// The configured services, accepted by the service model and
    /// [`dataplane::snapshot::Snapshot::build`]. Real servers are numbered
    /// `id` 1, 2, ... in file order across the whole file; their `mac` is
    /// [`MacAddr::ZERO`] and `interface` 0: the daemon fills both in from neighbour
    /// resolution before publishing.
    pub services: Vec<ServiceConfig>,
    /// `[keepalived]`: the keepalived.conf whose virtual servers [`load`] adds to `services`
    /// and whose checkers rvsd runs ([`crate::keepalived`]).
    pub keepalived: Option<KeepalivedConfig>,
    /// `[sync.master]`, `[sync.backup]`: the connection sync daemons started with rvsd.
    pub sync: Vec<(SyncRole, SyncDaemon)>,
    /// `[sync] refresh_period`: the master sends its long-lived sessions again this often
    /// (seconds; 0: never), as IPVS's `sync_refresh_period`.
    pub sync_refresh_s: u32,
    /// `[vrrp]`: keepalived's VRRP moves the floating addresses ([`crate::vrrp`]).
    pub vrrp: Option<VrrpConfig>,
    /// `[sysctl] sloppy_tcp` (IPVS's `net.ipv4.vs.sloppy_tcp`).
    pub sloppy_tcp: bool,
    /// `[announce]`: the VIPs are announced for BGP ([`crate::announce`]).
    pub announce: Option<AnnounceConfig>,
}

/// `[announce]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// The kernel routing table that holds a route per announced VIP (BIRD's kernel protocol
    /// learns it).
    pub table: u32,
}

/// `[vrrp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpConfig {
    /// Floating addresses besides the VIPs and FULLNAT local addresses (the NAT servers'
    /// gateway): rvs answers ARP for them while a kernel interface holds them.
    pub addrs: Vec<Ipv4Addr>,
}

/// `[keepalived]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedConfig {
    /// `config`: the keepalived.conf (absolute).
    pub path: PathBuf,
    /// Its virtual servers, once read, with the key each has in `services`.
    pub virtual_servers: Vec<(ServiceKey, rvs_api::keepalived::VirtualServer)>,
}

/// `[eal]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EalConfig {
    /// Extra EAL arguments, appended after the generated ones.
    pub args: Vec<String>,
}

/// `[cores]`: lcores and the cpus they run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoresConfig {
    /// The main lcore (control thread).
    pub main: u32,
    /// The cpu the main lcore is pinned to.
    pub main_cpu: u32,
    /// Worker lcores: at least one, distinct, none equal to `main`.
    pub workers: Vec<u32>,
    /// `cpus[i]` is the cpu of `workers[i]` (same length; distinct).
    pub cpus: Vec<u32>,
}

/// `[dataplane]`: packet buffers and queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Mbuf pool size; more than enough to fill every RX ring (ports x workers x rx_desc).
    pub mbufs: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// TX buffers are drained at the latest this long after their first packet.
    pub burst_drain_us: u32,
    /// Bytes per mbuf, headroom included. Larger where a driver hands over frames longer than
    /// 2048 bytes whole (net_af_packet: the kernel reassembles fragments for its sockets).
    pub mbuf_data_room: u16,
    /// A worker whose queues were empty for [`dataplane::worker::IDLE_AFTER_US`] sleeps this long
    /// between polls (0: it never sleeps), so that several rvsd share a small machine.
    pub idle_sleep_us: u32,
}

/// `[sessions]`: each worker's session table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionsConfig {
    /// Sessions per worker, `1..=MAX_CAPACITY`.
    pub capacity: usize,
    pub full_policy: FullPolicy,
    /// IPVS defaults with `tcp`, `tcpfin`, `udp` applied (`Timeouts::set_ipvsadm`).
    pub timeouts: Timeouts,
}

/// `[control]`: the unix-socket API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Absolute path, at most 107 bytes.
    pub socket: PathBuf,
    /// Unix group allowed to use the socket besides root.
    pub group: Option<String>,
    /// Absolute path of the audit log.
    pub audit_log: Option<PathBuf>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where the metrics endpoint listens (port not 0).
    pub listen: SocketAddr,
}

pub use crate::model::network::{
    Device, NeighbourSpec, ParsePrefixError, PortSpec, Prefix, RouteSpec, Vlan,
};

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// Not TOML, a wrong type, or a missing or unknown key: the toml crate's message, which
    /// gives the line, the column and the key.
    Syntax {
        file: Option<PathBuf>,
        message: String,
    },
    /// A well-formed value that is wrong.
    Invalid {
        file: Option<PathBuf>,
        /// Path of the field: `ports[1].addrs[0]`, `services[0].real_servers[2].weight`.
        field: String,
        /// The value as written (strings quoted); empty when the problem is an absence.
        value: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A service the service model refuses (its field path is in the error).
    Service {
        file: Option<PathBuf>,
        error: Box<ModelError>,
    },
    /// The keepalived.conf is wrong at `line` (0: as a whole).
    Keepalived {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

impl ConfigError {
    /// The path of the offending field, for [`ConfigError::Invalid`] and
    /// [`ConfigError::Service`].
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Service { error, .. } => Some(&error.field),
            _ => None,
        }
    }

    fn in_file(self, path: &Path) -> ConfigError {
        let f = Some(path.to_owned());
        match self {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { file: f, message },
            ConfigError::Invalid {
                field,
                value,
                reason,
                ..
            } => ConfigError::Invalid {
                file: f,
                field,
                value,
                reason,
            },
            ConfigError::Service { error, .. } => ConfigError::Service { file: f, error },
            e @ (ConfigError::Read { .. } | ConfigError::Keepalived { .. }) => e,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, error } => {
                write!(f, "{}: cannot read: {error}", file.display())
            }
            ConfigError::Keepalived {
                file,
                line: 0,
                message,
            } => write!(f, "{}: {message}", file.display()),
            ConfigError::Keepalived {
                file,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", file.display()),
            ConfigError::Syntax { file, message } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                f.write_str(message)
            }
            ConfigError::Invalid {
                file,
                field,
                value,
                reason,
            } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                if value.is_empty() {
                    write!(f, "{field}: {reason}")
                } else {
                    write!(f, "{field} = {value}: {reason}")
                }
            }
            ConfigError::Service { file, error } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                write!(f, "{error}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Reads and parses `path`; errors are prefixed with the path.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        file: path.to_owned(),
        error,
    })?;
    let mut config = parse(&text).map_err(|e| e.in_file(path))?;
    if let Some(k) = &config.keepalived {
        let file = k.path.clone();
        let text = std::fs::read_to_string(&file).map_err(|error| ConfigError::Read {
            file: file.clone(),
            error,
        })?;
        with_keepalived(&mut config, path, &text)?;
    }
    Ok(config)
}

/// Adds the virtual servers of `text`, the keepalived.conf `config.keepalived` names, to
/// `config.services` ([`crate::keepalived::merge`]); `path` is the config file's. On error
/// `config` is unchanged.
pub fn with_keepalived(config: &mut Config, path: &Path, text: &str) -> Result<(), ConfigError> {
    let Some(k) = &config.keepalived else {
        return Ok(());
    };
    let file = k.path.clone();
    let at = |line, message| ConfigError::Keepalived {
        file: file.clone(),
        line,
        message,
    };
    let net = Network {
        ports: &config.ports,
        routes: &config.routes,
    };
    let (toml, shown) = (path.display().to_string(), file.display().to_string());
    let (mut services, virtual_servers) =
        crate::keepalived::merge(&config.services, net, &toml, &shown, text)
            .map_err(|e| at(e.line, e.message))?;
    number_dests(&mut services);
    crate::model::compiles(&config.ports, &services).map_err(|e| at(0, e.ipvsadm()))?;
    config.services = services;
    if let Some(k) = &mut config.keepalived {
        k.virtual_servers = virtual_servers;
    }
    Ok(())
}

/// Parses and validates a configuration (see the module docs); a `[keepalived]` config file
/// is named, not read ([`load`] reads it).
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: None,
        message: e.to_string().trim_end().to_owned(),
    })?;
    raw.validate()
}

impl Config {
    /// The EAL command line: `program`, `--lcores main@main_cpu,w1@cpu1,...`,
    /// `--main-lcore main`, `-a ADDR` for each PCI port (or `--no-pci` when there is none),
    /// `--vdev DEVARGS` for each virtual port, then `[eal] args`.
    pub fn eal_args(&self, program: &str) -> Vec<String> {
        let c = &self.cores;
        let lcores: Vec<String> = std::iter::once((c.main, c.main_cpu))
            .chain(c.workers.iter().copied().zip(c.cpus.iter().copied()))
            .map(|(lcore, cpu)| format!("{lcore}@{cpu}"))
            .collect();
        let mut args = vec![
            program.to_owned(),
            "--lcores".to_owned(),
            lcores.join(","),
            "--main-lcore".to_owned(),
            c.main.to_string(),
        ];
        let mut pci = false;
        for p in self.devices() {
            if let Device::Pci(d) = &p.device {
                args.extend(["-a".to_owned(), d.clone()]);
                pci = true;
            }
        }
        if !pci {
            args.push("--no-pci".to_owned());
        }
        for p in self.devices() {
            if let Device::Vdev(d) = &p.device {
                args.extend(["--vdev".to_owned(), d.clone()]);
            }
        }
        args.extend(self.eal.args.iter().cloned());
        args
    }

    /// The `[[ports]]`: the interfaces that are devices (not VLANs), at the front of `ports`.
    pub fn devices(&self) -> impl Iterator<Item = &PortSpec> {
        self.ports.iter().take_while(|p| p.vlan.is_none())
    }
}

// ---------------------------------------------------------------------------------------------
// Pass 1: the file as written. Integers are i64 (TOML's) so that range errors name the field.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    eal: RawEal,
    cores: RawCores,
    #[serde(default)]
    dataplane: RawDataplane,
    #[serde(default)]
    sessions: RawSessions,
    #[serde(default)]
    control: RawControl,
    metrics: Option<RawMetrics>,
    #[serde(default)]
    ports: Vec<RawPort>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    services: Vec<RawService>,
    keepalived: Option<RawKeepalived>,
    #[serde(default)]
    sync: RawSync,
    vrrp: Option<RawVrrp>,
    #[serde(default)]
    sysctl: RawSysctl,
    announce: Option<RawAnnounce>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSysctl {
    sloppy_tcp: Option<i64>,
    sloppy_sctp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnounce {
    table: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVrrp {
    #[serde(default)]
    addrs: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    master: Option<RawSyncDaemon>,
    backup: Option<RawSyncDaemon>,
    refresh_period: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSyncDaemon {
    mcast_interface: String,
    syncid: Option<i64>,
    maxlen: Option<i64>,
    group: Option<String>,
    port: Option<i64>,
    ttl: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeepalived {
    config: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEal {
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCores {
    main: i64,
    workers: Vec<i64>,
    cpus: Option<Vec<i64>>,
    main_cpu: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    mbufs: Option<i64>,
    rx_desc: Option<i64>,
    tx_desc: Option<i64>,
    burst_drain_us: Option<i64>,
    mbuf_data_room: Option<i64>,
    idle_sleep_us: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    capacity: Option<i64>,
    full_policy: Option<String>,
    tcp: Option<i64>,
    tcpfin: Option<i64>,
    udp: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawControl {
    socket: Option<String>,
    group: Option<String>,
    audit_log: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: String,
    device: String,
    addrs: Vec<String>,
    #[serde(default)]
    vips: Vec<String>,
    mac: Option<String>,
    mtu: Option<i64>,
    kernel_interface: Option<String>,
    exception_rate: Option<i64>,
    #[serde(default)]
    vlans: Vec<RawVlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVlan {
    id: i64,
    addrs: Vec<String>,
    #[serde(default)]
    vips: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: String,
    via: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    addr: String,
    mac: String,
    port: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    protocol: String,
    vip: String,
    port: i64,
    scheduler: Option<String>,
    #[serde(default)]
    sched_flags: Vec<String>,
    persistence: Option<i64>,
    persistence_netmask: Option<i64>,
    #[serde(default)]
    local_addrs: Vec<String>,
    #[serde(default)]
    real_servers: Vec<RawRealServer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealServer {
    addr: String,
    port: Option<i64>,
    weight: Option<i64>,
    method: Option<String>,
    upper_threshold: Option<i64>,
    lower_threshold: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Pass 2: semantic checks and conversion.

type Res<T> = Result<T, ConfigError>;

fn invalid(
    field: impl Into<String>,
    value: impl fmt::Display,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        file: None,
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A string value as TOML shows it.
fn q(s: &str) -> String {
    format!("{s:?}")
}

fn int<T: TryFrom<i64>>(field: &str, v: i64, range: RangeInclusive<i64>) -> Res<T> {
    let bad = || {
        invalid(
            field,
            v,
            format!("expected an integer in {}..={}", range.start(), range.end()),
        )
    };
    if !range.contains(&v) {
        return Err(bad());
    }
    T::try_from(v).map_err(|_| bad())
}

fn ipv4(field: &str, s: &str) -> Res<Ipv4Addr> {
    s.parse()
        .map_err(|_| invalid(field, q(s), "expected an IPv4 address like 10.0.0.1"))
}

fn prefix(field: &str, s: &str) -> Res<Prefix> {
    s.parse().map_err(|e: ParsePrefixError| {
        invalid(
            field,
            q(s),
            format!("{e}; expected ADDRESS/LENGTH with LENGTH 0..=32, like 10.0.0.1/24"),
        )
    })
}

fn unicast_mac(field: &str, s: &str) -> Res<MacAddr> {
    let mac: MacAddr = s
        .parse()
        .map_err(|e| invalid(field, q(s), format!("{e}")))?;
    if mac.is_multicast() || mac == MacAddr::ZERO {
        return Err(invalid(
            field,
            q(s),
            "expected a unicast, non-zero MAC address",
        ));
    }
    Ok(mac)
}

fn timeout_s(field: &str, v: Option<i64>) -> Res<u32> {
    v.map_or(Ok(0), |v| int(field, v, 1..=MAX_TIMEOUT_S))
}

fn absolute(field: &str, s: &str) -> Res<PathBuf> {
    if !s.starts_with('/') || s.contains('\0') {
        return Err(invalid(field, q(s), "expected an absolute path"));
    }
    Ok(PathBuf::from(s))
}

fn port_index(i: usize) -> u16 {
    // Port counts are bounded by `ports()` to fit.
    u16::try_from(i).unwrap_or(u16::MAX)
}

impl Raw {
    fn validate(self) -> Res<Config> {
        let eal = eal(self.eal)?;
        let cores = cores(self.cores)?;
        let ports = ports(self.ports)?;
        let devices = ports.iter().take_while(|p| p.vlan.is_none()).count();
        let dataplane = dataplane(self.dataplane, devices, cores.workers.len())?;
        let sessions = sessions(self.sessions)?;
        let control = control(self.control)?;
        let metrics = self.metrics.map(metrics).transpose()?;
        let routes = routes(self.routes, &ports)?;
        let neighbours = neighbours(self.neighbours, &ports)?;
        let services = services(self.services, &ports, &routes)?;
        compiles(&ports, &services)?;
        let sync_refresh_s = self
            .sync
            .refresh_period
            .map_or(Ok(DEFAULT_SYNC_REFRESH_S), |v| {
                int("sync.refresh_period", v, 0..=86_400)
            })?;
        let sync = sync(self.sync, &ports)?;
        let vrrp = self.vrrp.map(|v| vrrp(v, &ports)).transpose()?;
        let sloppy_tcp = sysctl(self.sysctl)?;
        let announce = self.announce.map(|a| announce(a, &ports)).transpose()?;
        Ok(Config {
            eal,
            cores,
            dataplane,
            sessions,
            control,
            metrics,
            ports,
            routes,
            neighbours,
            services,
            keepalived: self
                .keepalived
                .map(|k| keepalived_config(&k.config))
                .transpose()?,
            sync,
            sync_refresh_s,
            vrrp,
            sloppy_tcp,
            announce,
        })
    }
}

/// `[sysctl]`: IPVS's sysctls by their names; `sloppy_tcp` is the only one rvs has.
fn sysctl(r: RawSysctl) -> Res<bool> {
    if let Some(v) = r.sloppy_sctp {
        return Err(invalid(
            "sysctl.sloppy_sctp",
            v,
            "rvs balances TCP and UDP only; there is no SCTP to be sloppy with",
        ));
    }
    let on: u8 = r
        .sloppy_tcp
        .map_or(Ok(0), |v| int("sysctl.sloppy_tcp", v, 0..=1))?;
    Ok(on == 1)
}

/// `[announce]`: a routing table of the box's own (not the kernel's local, main or default)
/// and a kernel interface for the routes to go through.
fn announce(r: RawAnnounce, ports: &[PortSpec]) -> Res<AnnounceConfig> {
    let table: u32 = int("announce.table", r.table, 1..=i64::from(u32::MAX))?;
    if (253..=255).contains(&table) {
        return Err(invalid(
            "announce.table",
            table,
            "253, 254 and 255 are the kernel's default, main and local tables: take another",
        ));
    }
    if ports.iter().all(|p| p.kernel_interface.is_none()) {
        return Err(invalid(
            "announce",
            "",
            "needs a port with a kernel_interface: the routes go through it",
        ));
    }
    Ok(AnnounceConfig { table })
}

/// `[vrrp]`: keepalived moves the floating addresses; they need a kernel interface to land on.
fn vrrp(r: RawVrrp, ports: &[PortSpec]) -> Res<VrrpConfig> {
    if ports.iter().all(|p| p.kernel_interface.is_none()) {
        return Err(invalid(
            "vrrp",
            "",
            "needs a port with a kernel_interface: keepalived puts the addresses there",
        ));
    }
    let mut addrs = Vec::with_capacity(r.addrs.len());
    for (i, a) in r.addrs.iter().enumerate() {
        let field = format!("vrrp.addrs[{i}]");
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| invalid(&field, q(a), "expected an IPv4 address"))?;
        if ports.iter().any(|p| p.addrs.iter().any(|o| o.addr == addr)) {
            return Err(invalid(
                &field,
                q(a),
                "is a port's own address: a floating address moves between boxes",
            ));
        }
        addrs.push(addr);
    }
    Ok(VrrpConfig { addrs })
}

/// `[sync.master]` and `[sync.backup]`: the sync daemons rvsd starts.
fn sync(r: RawSync, ports: &[PortSpec]) -> Res<Vec<(SyncRole, SyncDaemon)>> {
    let roles = [(SyncRole::Master, r.master), (SyncRole::Backup, r.backup)];
    let mut daemons = Vec::new();
    for (role, raw) in roles {
        if let Some(raw) = raw {
            daemons.push((
                role,
                sync_daemon(&format!("sync.{}", role.name()), raw, ports)?,
            ));
        }
    }
    Ok(daemons)
}

fn sync_daemon(field: &str, r: RawSyncDaemon, ports: &[PortSpec]) -> Res<SyncDaemon> {
    let f = |name: &str| format!("{field}.{name}");
    let known = ports
        .iter()
        .any(|p| p.kernel_interface.as_deref() == Some(r.mcast_interface.as_str()));
    if !known && r.mcast_interface != "lo" {
        return Err(invalid(
            f("mcast_interface"),
            q(&r.mcast_interface),
            "expected the kernel_interface of a port (or lo)",
        ));
    }
    let mut spec = SyncDaemon::on(&r.mcast_interface);
    if let Some(v) = r.syncid {
        spec.syncid = int(&f("syncid"), v, 0..=255)?;
    }
    if let Some(v) = r.maxlen {
        spec.maxlen = int(&f("maxlen"), v, 100..=65507)?;
    }
    if let Some(g) = r.group {
        spec.group = g.parse().map_err(|_| {
            invalid(
                f("group"),
                q(&g),
                "expected an IPv4 address, like 224.0.0.81",
            )
        })?;
    }
    if let Some(v) = r.port {
        spec.port = int(&f("port"), v, 1..=65535)?;
    }
    if let Some(v) = r.ttl {
        spec.ttl = int(&f("ttl"), v, 1..=255)?;
    }
    Ok(spec)
}

fn keepalived_config(path: &str) -> Res<KeepalivedConfig> {
    Ok(KeepalivedConfig {
        path: absolute("keepalived.config", path)?,
        virtual_servers: Vec::new(),
    })
}

/// Runs what only [`dataplane::snapshot::Snapshot::build`] refuses (see [`crate::model::compiles`]).
fn compiles(ports: &[PortSpec], services: &[ServiceConfig]) -> Res<()> {
    crate::model::compiles(ports, services).map_err(refused)
}

/// EAL options that the configuration generates itself.
const GENERATED_EAL: [&str; 14] = [
    "-l",
    "-c",
    "-a",
    "-b",
    "--lcores",
    "--main-lcore",
    "--master-lcore",
    "--allow",
    "--block",
    "--pci-whitelist",
    "--pci-blacklist",
    "--vdev",
    "--no-pci",
    "--",
];

fn eal(r: RawEal) -> Res<EalConfig> {
    for (i, a) in r.args.iter().enumerate() {
        let generated = GENERATED_EAL.iter().any(|o| {
            if o.starts_with("--") {
                a == o || a.starts_with(&format!("{o}="))
            } else {
                a.starts_with(o)
            }
        });
        if generated {
            return Err(invalid(
                format!("eal.args[{i}]"),
                q(a),
                "rvsd generates lcore, allow-list and vdev options from [cores] and [[ports]]; \
                 expected other EAL options",
            ));
        }
    }
    Ok(EalConfig { args: r.args })
}

fn cores(r: RawCores) -> Res<CoresConfig> {
    let main: u32 = int("cores.main", r.main, 0..=MAX_CPU)?;
    if r.workers.is_empty() {
        return Err(invalid(
            "cores.workers",
            "[]",
            "expected at least one worker lcore",
        ));
    }
    let mut workers: Vec<u32> = Vec::with_capacity(r.workers.len());
    for (i, &w) in r.workers.iter().enumerate() {
        let f = format!("cores.workers[{i}]");
        let w: u32 = int(&f, w, 0..=MAX_CPU)?;
        if w == main {
            return Err(invalid(
                f,
                w,
                format!(
                    "is the main lcore (cores.main); expected a worker lcore other than {main}"
                ),
            ));
        }
        if let Some(j) = workers.iter().position(|&x| x == w) {
            return Err(invalid(
                f,
                w,
                format!("already listed as cores.workers[{j}]"),
            ));
        }
        workers.push(w);
    }
    let cpus = match r.cpus {
        None => workers.clone(),
        Some(cpus) => {
            if cpus.len() != workers.len() {
                return Err(invalid(
                    "cores.cpus",
                    format!("{cpus:?}"),
                    format!(
                        "expected one cpu per worker lcore ({} entries, like cores.workers)",
                        workers.len()
                    ),
                ));
            }
            let mut out: Vec<u32> = Vec::with_capacity(cpus.len());
            for (i, &c) in cpus.iter().enumerate() {
                let f = format!("cores.cpus[{i}]");
                let c: u32 = int(&f, c, 0..=MAX_CPU)?;
                if let Some(j) = out.iter().position(|&x| x == c) {
                    return Err(invalid(
                        f,
                        c,
                        format!(
                            "already the cpu of cores.workers[{j}]; expected one cpu per worker"
                        ),
                    ));
                }
                out.push(c);
            }
            out
        }
    };
    let main_cpu = match r.main_cpu {
        None => main,
        Some(c) => int("cores.main_cpu", c, 0..=MAX_CPU)?,
    };
    Ok(CoresConfig {
        main,
        main_cpu,
        workers,
        cpus,
    })
}

fn dataplane(r: RawDataplane, ports: usize, workers: usize) -> Res<DataplaneConfig> {
    let rx_desc: u16 = r
        .rx_desc
        .map_or(Ok(DEFAULT_DESC), |v| int("dataplane.rx_desc", v, 1..=32768))?;
    let tx_desc: u16 = r
        .tx_desc
        .map_or(Ok(DEFAULT_DESC), |v| int("dataplane.tx_desc", v, 1..=32768))?;
    let burst_drain_us = r.burst_drain_us.map_or(Ok(DEFAULT_BURST_DRAIN_US), |v| {
        int("dataplane.burst_drain_us", v, 1..=1_000_000)
    })?;
    let mbuf_data_room = r.mbuf_data_room.map_or(Ok(DEFAULT_MBUF_DATA_ROOM), |v| {
        int(
            "dataplane.mbuf_data_room",
            v,
            i64::from(DEFAULT_MBUF_DATA_ROOM)..=i64::from(u16::MAX),
        )
    })?;
    let idle_sleep_us = r
        .idle_sleep_us
        .map_or(Ok(0), |v| int("dataplane.idle_sleep_us", v, 0..=100_000))?;
    // Every RX ring is filled with mbufs when its port starts: at least that many, plus one.
    let rx_fill = (ports as u64)
        .saturating_mul(workers as u64)
        .saturating_mul(u64::from(rx_desc));
    let min = i64::try_from(rx_fill.saturating_add(1)).unwrap_or(i64::MAX);
    let mbufs = match r.mbufs {
        None if i64::from(DEFAULT_MBUFS) >= min => DEFAULT_MBUFS,
        None => {
            return Err(invalid(
                "dataplane.mbufs",
                "",
                format!(
                    "the default {DEFAULT_MBUFS} cannot fill {ports} ports x {workers} workers x \
                     {rx_desc} rx_desc RX descriptors; expected mbufs >= {min}"
                ),
            ))
        }
        Some(v) => {
            let m: u32 = int("dataplane.mbufs", v, 1..=i64::from(u32::MAX))?;
            if i64::from(m) < min {
                return Err(invalid(
                    "dataplane.mbufs",
                    m,
                    format!(
                        "cannot fill {ports} ports x {workers} workers x {rx_desc} rx_desc RX \
                         descriptors; expected at least {min}"
                    ),
                ));
            }
            m
        }
    };
    Ok(DataplaneConfig {
        mbufs,
        rx_desc,
        tx_desc,
        burst_drain_us,
        mbuf_data_room,
        idle_sleep_us,
    })
}

fn sessions(r: RawSessions) -> Res<SessionsConfig> {
    let max = i64::try_from(MAX_CAPACITY).unwrap_or(i64::MAX);
    let capacity = r.capacity.map_or(Ok(DEFAULT_CAPACITY), |v| {
        int("sessions.capacity", v, 1..=max)
    })?;
    let full_policy = match r.full_policy.as_deref() {
        None | Some("refuse") => FullPolicy::Refuse,
        Some("evict") => FullPolicy::EvictOldestUnestablished,
        Some(other) => {
            return Err(invalid(
                "sessions.full_policy",
                q(other),
                "expected \"refuse\" or \"evict\"",
            ))
        }
    };
    let mut timeouts = Timeouts::default();
    timeouts.set_ipvsadm(
        timeout_s("sessions.tcp", r.tcp)?,
        timeout_s("sessions.tcpfin", r.tcpfin)?,
        timeout_s("sessions.udp", r.udp)?,
    );
    Ok(SessionsConfig {
        capacity,
        full_policy,
        timeouts,
    })
}

fn control(r: RawControl) -> Res<ControlConfig> {
    let socket = r.socket.as_deref().unwrap_or(DEFAULT_SOCKET);
    let socket_path = absolute("control.socket", socket)?;
    if socket.len() > MAX_SOCKET_PATH {
        return Err(invalid(
            "control.socket",
            q(socket),
            format!("a unix socket path is at most {MAX_SOCKET_PATH} bytes"),
        ));
    }
    if let Some(g) = &r.group {
        let ok = g.len() <= 32
            && g.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && g.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if !ok {
            return Err(invalid(
                "control.group",
                q(g),
                "expected a unix group name: a letter or '_', then letters, digits, '_', '-', '.' (at most 32)",
            ));
        }
    }
    let audit_log = r
        .audit_log
        .as_deref()
        .map(|a| absolute("control.audit_log", a))
        .transpose()?;
    Ok(ControlConfig {
        socket: socket_path,
        group: r.group,
        audit_log,
    })
}

fn metrics(r: RawMetrics) -> Res<MetricsConfig> {
    let listen: SocketAddr = r.listen.parse().map_err(|_| {
        invalid(
            "metrics.listen",
            q(&r.listen),
            "expected ADDRESS:PORT, like 127.0.0.1:9469",
        )
    })?;
    if listen.port() == 0 {
        return Err(invalid(
            "metrics.listen",
            q(&r.listen),
            "expected a port other than 0",
        ));
    }
    Ok(MetricsConfig { listen })
}

fn valid_port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// `DDDD:BB:DD.F`: hex domain, bus and device (0..=1f), function 0..=7.
fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && hex(0..4)
        && hex(5..7)
        && matches!(b[8], b'0' | b'1')
        && b[9].is_ascii_hexdigit()
        && (b'0'..=b'7').contains(&b[11])
}

fn device(field: &str, s: &str) -> Res<Device> {
    let head = s.split(',').next().unwrap_or(s);
    let no_space = !s.chars().any(char::is_whitespace);
    if no_space && is_pci_address(head) {
        return Ok(Device::Pci(s.to_owned()));
    }
    let driver_ok = head.len() > 4 && head.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if no_space && head.starts_with("net_") && driver_ok {
        return Ok(Device::Vdev(s.to_owned()));
    }
    Err(invalid(
        field,
        q(s),
        "expected a PCI address DDDD:BB:DD.F (like 0000:03:00.0, optionally followed by \
         ,devargs) or virtual-device devargs starting with net_ (like net_pcap0,rx_pcap=in.pcap)",
    ))
}

fn ports(raw: Vec<RawPort>) -> Res<Vec<PortSpec>> {
    if raw.is_empty() {
        return Err(invalid(
            "ports",
            "",
            "expected at least one [[ports]] table",
        ));
    }
    if raw.len() > usize::from(u16::MAX) {
        return Err(invalid("ports", raw.len(), "too many ports"));
    }
    let mut ports: Vec<PortSpec> = Vec::with_capacity(raw.len());
    // (port, index) of every VIP seen.
    let mut vips_seen: Vec<(Ipv4Addr, String)> = Vec::new();
    let mut vlans = Vec::with_capacity(raw.len());
    for (i, mut r) in raw.into_iter().enumerate() {
        vlans.push(std::mem::take(&mut r.vlans));
        let p = port(i, r, &ports, &mut vips_seen)?;
        ports.push(p);
    }
    // The VLAN sub-interfaces follow the ports, so that a port's number is its interface's.
    for (i, raw) in vlans.into_iter().enumerate() {
        for (k, r) in raw.into_iter().enumerate() {
            if ports.len() >= usize::from(u16::MAX) {
                return Err(invalid(
                    format!("ports[{i}].vlans"),
                    k,
                    "too many interfaces",
                ));
            }
            let v = vlan(i, k, r, &ports, &mut vips_seen)?;
            ports.push(v);
        }
    }
    Ok(ports)
}

/// `ports[i].vlans[k]`, after the interfaces before it (every port among them): the
/// sub-interface `PORT.ID` with the port's device, MAC and MTU.
fn vlan(
    i: usize,
    k: usize,
    r: RawVlan,
    ifaces: &[PortSpec],
    vips_seen: &mut Vec<(Ipv4Addr, String)>,
) -> Res<PortSpec> {
    let at = format!("ports[{i}].vlans[{k}]");
    let fid = format!("{at}.id");
    let id: u16 = int(&fid, r.id, 1..=4094)?;
    let vlan = Vlan {
        port: port_index(i),
        id,
    };
    if let Some(other) = ifaces.iter().find(|p| p.vlan == Some(vlan)) {
        return Err(invalid(
            fid,
            id,
            format!(
                "already the id of {}; expected ids unique on a port",
                other.name
            ),
        ));
    }
    let port = &ifaces[i];
    Ok(PortSpec {
        name: format!("{}.{id}", port.name),
        device: port.device.clone(),
        addrs: port_addrs(&format!("{at}.addrs"), &r.addrs, ifaces)?,
        vips: vips(&format!("{at}.vips"), &r.vips, vips_seen)?,
        mac: port.mac,
        mtu: port.mtu,
        vlan: Some(vlan),
        kernel_interface: None,
        exception_rate: DEFAULT_EXCEPTION_RATE,
    })
}

/// The VIPs at `field`, each announced on one interface only (`vips_seen` gains them).
fn vips(
    field: &str,
    raw: &[String],
    vips_seen: &mut Vec<(Ipv4Addr, String)>,
) -> Res<Vec<Ipv4Addr>> {
    let mut vips = Vec::with_capacity(raw.len());
    for (k, v) in raw.iter().enumerate() {
        let fv = format!("{field}[{k}]");
        let vip = ipv4(&fv, v)?;
        if let Some((_, at)) = vips_seen.iter().find(|(x, _)| *x == vip) {
            return Err(invalid(fv, q(v), format!("already announced as {at}")));
        }
        vips_seen.push((vip, fv));
        vips.push(vip);
    }
    Ok(vips)
}

/// `ports[i]`, after `ports` (the ones before it); `vips_seen` gains its VIPs.
fn port(
    i: usize,
    r: RawPort,
    ports: &[PortSpec],
    vips_seen: &mut Vec<(Ipv4Addr, String)>,
) -> Res<PortSpec> {
    let f = |name: &str| format!("ports[{i}].{name}");
    if !valid_port_name(&r.name) {
        return Err(invalid(
            f("name"),
            q(&r.name),
            "expected 1 to 15 characters of a-z, 0-9, '_', '-'",
        ));
    }
    if let Some(j) = ports.iter().position(|p| p.name == r.name) {
        return Err(invalid(
            f("name"),
            q(&r.name),
            format!("already the name of ports[{j}]; expected unique names"),
        ));
    }
    let device = device(&f("device"), &r.device)?;
    if let Some(j) = ports
        .iter()
        .position(|p| p.device.id().eq_ignore_ascii_case(device.id()))
    {
        return Err(invalid(
            f("device"),
            q(&r.device),
            format!("device {} is already ports[{j}]", device.id()),
        ));
    }
    let addrs = port_addrs(&f("addrs"), &r.addrs, ports)?;
    let vips = vips(&f("vips"), &r.vips, vips_seen)?;
    let mac = r
        .mac
        .as_deref()
        .map(|m| unicast_mac(&f("mac"), m))
        .transpose()?;
    let mtu = r.mtu.map_or(Ok(DEFAULT_MTU), |v| {
        int(&f("mtu"), v, 68..=i64::from(u16::MAX))
    })?;
    let kernel_interface = kernel_interface(&f("kernel_interface"), &r, ports)?;
    let exception_rate = r.exception_rate.map_or(Ok(DEFAULT_EXCEPTION_RATE), |v| {
        int(&f("exception_rate"), v, 1..=10_000_000)
    })?;
    Ok(PortSpec {
        name: r.name,
        device,
        addrs,
        vips,
        mac,
        mtu,
        vlan: None,
        kernel_interface,
        exception_rate,
    })
}

/// A port's `kernel_interface` (at `field`): the port's name unless set; `""` for none; unique
/// among the ports before it (`ports`).
fn kernel_interface(field: &str, r: &RawPort, ports: &[PortSpec]) -> Res<Option<String>> {
    let name = match r.kernel_interface.as_deref() {
        None => r.name.as_str(),
        Some("") => return Ok(None),
        Some(s) if valid_port_name(s) => s,
        Some(s) => {
            return Err(invalid(
                field,
                q(s),
                "expected 1 to 15 characters of a-z, 0-9, '_', '-', or \"\" for none",
            ))
        }
    };
    if let Some(j) = ports
        .iter()
        .position(|p| p.kernel_interface.as_deref() == Some(name))
    {
        return Err(invalid(
            field,
            q(name),
            format!("already the kernel interface of ports[{j}]; expected unique names"),
        ));
    }
    Ok(Some(name.to_string()))
}

/// An interface's `addrs` (at `field`): at least one, each new to the box and in a subnet no
/// other interface (`ports`: those before it) has.
fn port_addrs(field: &str, raw: &[String], ports: &[PortSpec]) -> Res<Vec<Prefix>> {
    if raw.is_empty() {
        return Err(invalid(
            field,
            "[]",
            "expected at least one address with prefix length, like 10.0.0.1/24",
        ));
    }
    let mut addrs: Vec<Prefix> = Vec::with_capacity(raw.len());
    for (k, a) in raw.iter().enumerate() {
        let fa = format!("{field}[{k}]");
        let p = prefix(&fa, a)?;
        if p.len == 0 {
            return Err(invalid(
                fa,
                q(a),
                "a /0 subnet would make every address on-link; expected a length in 1..=32",
            ));
        }
        if addrs.iter().any(|o| o.addr == p.addr) || is_own(ports, p.addr) {
            return Err(invalid(fa, q(a), "address already configured"));
        }
        for (j, other) in ports.iter().enumerate() {
            if let Some(o) = other.addrs.iter().find(|o| o.overlaps(&p)) {
                let which = match other.vlan {
                    None => format!("ports[{j}] ({})", other.name),
                    Some(_) => other.name.clone(),
                };
                return Err(invalid(
                    fa,
                    q(a),
                    format!(
                        "overlaps {o} of {which}; expected disjoint subnets on different interfaces"
                    ),
                ));
            }
        }
        addrs.push(p);
    }
    Ok(addrs)
}

fn routes(raw: Vec<RawRoute>, ports: &[PortSpec]) -> Res<Vec<RouteSpec>> {
    let mut routes: Vec<RouteSpec> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let fp = format!("routes[{i}].prefix");
        let p = prefix(&fp, &r.prefix)?;
        if !p.is_network() {
            return Err(invalid(
                fp,
                q(&r.prefix),
                format!(
                    "host bits set; expected the network address {}/{}",
                    p.network(),
                    p.len
                ),
            ));
        }
        if let Some(j) = routes.iter().position(|o| o.prefix == p) {
            return Err(invalid(
                fp,
                q(&r.prefix),
                format!("already routed by routes[{j}]"),
            ));
        }
        let fv = format!("routes[{i}].via");
        let via = ipv4(&fv, &r.via)?;
        if is_own(ports, via) {
            return Err(invalid(
                fv,
                q(&r.via),
                "is an address of this box; expected a gateway",
            ));
        }
        let Some(port) = connected(ports, via) else {
            return Err(invalid(
                fv,
                q(&r.via),
                format!(
                    "not in a connected subnet of any port ({}); expected a directly reachable gateway",
                    subnets(ports)
                ),
            ));
        };
        routes.push(RouteSpec {
            prefix: p,
            via,
            port: port_index(port),
        });
    }
    Ok(routes)
}

fn neighbours(raw: Vec<RawNeighbour>, ports: &[PortSpec]) -> Res<Vec<NeighbourSpec>> {
    let mut out: Vec<NeighbourSpec> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let f = |name: &str| format!("neighbours[{i}].{name}");
        let Some(port) = ports.iter().position(|p| p.name == r.port) else {
            let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
            return Err(invalid(
                f("port"),
                q(&r.port),
                format!("no such port; expected one of {}", names.join(", ")),
            ));
        };
        let addr = ipv4(&f("addr"), &r.addr)?;
        let p = &ports[port];
        if is_own(ports, addr) {
            return Err(invalid(
                f("addr"),
                q(&r.addr),
                "is an address of this box; expected a neighbour",
            ));
        }
        if !p.addrs.iter().any(|n| n.contains(addr)) {
            let nets: Vec<String> = p.addrs.iter().map(ToString::to_string).collect();
            return Err(invalid(
                f("addr"),
                q(&r.addr),
                format!(
                    "not in a connected subnet of port {} ({}); expected an on-link address",
                    p.name,
                    nets.join(", ")
                ),
            ));
        }
        if let Some(j) = out.iter().position(|n| n.addr == addr) {
            return Err(invalid(
                f("addr"),
                q(&r.addr),
                format!("already neighbours[{j}]"),
            ));
        }
        let mac = unicast_mac(&f("mac"), &r.mac)?;
        out.push(NeighbourSpec {
            addr,
            mac,
            port: port_index(port),
        });
    }
    Ok(out)
}

/// `[[services]]`: each service read into the service model's drafts, which a
/// [`Table`] checks and builds, in file order. Real servers are then numbered 1, 2, ...
fn services(
    raw: Vec<RawService>,
    ports: &[PortSpec],
    routes: &[RouteSpec],
) -> Res<Vec<ServiceConfig>> {
    let mut table = Table::new(Vec::new(), Network { ports, routes }, Front::Config);
    for (i, s) in raw.into_iter().enumerate() {
        service(&mut table, i, s)?;
    }
    table.check().map_err(refused)?;
    let mut services = table.into_services();
    number_dests(&mut services);
    Ok(services)
}

/// Numbers the real servers 1, 2, ... in order: slot = id, generation 0 (see
/// `DestConfig::id`); the model bounds the count.
fn number_dests(services: &mut [ServiceConfig]) {
    let dests = services.iter_mut().flat_map(|s| &mut s.dests);
    for (id, d) in (1..).zip(dests) {
        d.id = id;
    }
}

fn refused(error: ModelError) -> ConfigError {
    ConfigError::Service {
        file: None,
        error: Box::new(error),
    }
}

/// `services[i]`: its key, settings, local addresses, then its real servers.
fn service(table: &mut Table, i: usize, s: RawService) -> Res<()> {
    let f = |name: &str| format!("services[{i}].{name}");
    let draft = ServiceDraft {
        key: service_key(i, &s)?,
        scheduler: s.scheduler,
        sched_flags: if s.sched_flags.is_empty() {
            FlagsDraft::Flags(rvs_api::SchedFlags::default())
        } else {
            FlagsDraft::Names(s.sched_flags.join(","))
        },
        persistence: s.persistence,
        // Checked below when there is no persistence to apply it to.
        netmask: s.persistence.and(s.persistence_netmask),
    };
    table.add_service(&draft).map_err(refused)?;
    if let (None, Some(v)) = (s.persistence, s.persistence_netmask) {
        return Err(invalid(
            f("persistence_netmask"),
            v,
            "needs persistence; expected persistence to be set too",
        ));
    }
    for (k, a) in s.local_addrs.iter().enumerate() {
        let ip = ipv4(&format!("services[{i}].local_addrs[{k}]"), a)?;
        table
            .add_local_addr(i, IpAddr::V4(ip), None)
            .map_err(refused)?;
    }
    for (j, d) in s.real_servers.iter().enumerate() {
        let draft = dest_draft(&format!("services[{i}].real_servers[{j}]"), d)?;
        table.add_dest(i, &draft).map_err(refused)?;
    }
    Ok(())
}

fn service_key(i: usize, s: &RawService) -> Res<ServiceKey> {
    let f = |name: &str| format!("services[{i}].{name}");
    let protocol = match s.protocol.as_str() {
        "tcp" => PROTO_TCP,
        "udp" => PROTO_UDP,
        other => {
            return Err(invalid(
                f("protocol"),
                q(other),
                "expected \"tcp\" or \"udp\"",
            ))
        }
    };
    Ok(ServiceKey {
        protocol,
        vip: Addr::from(ipv4(&f("vip"), &s.vip)?),
        port: int(&f("port"), s.port, 0..=65535)?,
    })
}

/// One `[[services.real_servers]]` at `path`, with the defaults filled in.
fn dest_draft(path: &str, d: &RawRealServer) -> Res<DestDraft> {
    let g = |name: &str| format!("{path}.{name}");
    Ok(DestDraft {
        addr: IpAddr::V4(ipv4(&g("addr"), &d.addr)?),
        port: d.port.map_or(Ok(0), |v| int(&g("port"), v, 0..=65535))?,
        method: d
            .method
            .clone()
            .map_or(MethodDraft::Method(Method::Dr), MethodDraft::Name),
        weight: d.weight.unwrap_or(1),
        upper_threshold: d.upper_threshold.unwrap_or(0),
        lower_threshold: d.lower_threshold.unwrap_or(0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::sched_flags;
    use dataplane::sched::{SchedParams, SchedulerKind};
    use dataplane::snapshot::DestConfig;

    const FULL: &str = r#"
[eal]
args = ["--no-huge", "-m", "512"]

[cores]
main = 0
workers = [1, 2]
cpus = [3, 4]
main_cpu = 5

[dataplane]
mbufs = 8191
rx_desc = 512
tx_desc = 256
burst_drain_us = 50
idle_sleep_us = 200

[sessions]
capacity = 4096
full_policy = "evict"
tcp = 600
tcpfin = 30
udp = 20

[control]
socket = "/tmp/rvsd.sock"
group = "rvsadm"
audit_log = "/var/log/rvs/audit.log"

[metrics]
listen = "127.0.0.1:9469"

[[ports]]
name = "wan"
device = "0000:03:00.0"
addrs = ["10.10.0.1/24"]
vips = ["10.10.0.100", "10.10.0.101"]
mac = "02:00:00:00:00:01"
mtu = 9000

[[ports.vlans]]
id = 100
addrs = ["10.10.100.1/24"]
vips = ["10.10.100.100"]

[[ports.vlans]]
id = 200
addrs = ["10.10.200.1/24"]

[[ports]]
name = "lan"
device = "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"
addrs = ["10.20.0.1/24", "10.20.1.1/24"]

[[routes]]
prefix = "0.0.0.0/0"
via = "10.10.0.254"

[[routes]]
prefix = "10.30.0.0/16"
via = "10.20.1.254"

[[neighbours]]
addr = "10.20.0.11"
mac = "02:00:00:00:00:11"
port = "lan"

[[neighbours]]
addr = "10.10.200.11"
mac = "02:00:00:00:00:12"
port = "wan.200"

[[services]]
protocol = "tcp"
vip = "10.10.0.100"
port = 80
scheduler = "wrr"
local_addrs = ["10.20.0.250"]

[[services.real_servers]]
addr = "10.20.0.11"
port = 8080
weight = 3
method = "fullnat"
upper_threshold = 100
lower_threshold = 50

[[services.real_servers]]
addr = "10.30.0.12"
method = "nat"
weight = 0

[[services]]
protocol = "udp"
vip = "10.10.0.101"
port = 0
persistence = 300
persistence_netmask = 24

[[services.real_servers]]
addr = "10.20.0.13"
"#;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    #[test]
    fn full_config_parses_into_typed_values() {
        let c = parse(FULL).unwrap();
        assert_eq!(c.eal.args, ["--no-huge", "-m", "512"]);
        assert_eq!(
            c.cores,
            CoresConfig {
                main: 0,
                main_cpu: 5,
                workers: vec![1, 2],
                cpus: vec![3, 4]
            }
        );
        assert_eq!(
            c.dataplane,
            DataplaneConfig {
                mbufs: 8191,
                rx_desc: 512,
                tx_desc: 256,
                burst_drain_us: 50,
                mbuf_data_room: DEFAULT_MBUF_DATA_ROOM,
                idle_sleep_us: 200,
            }
        );
        assert_eq!(c.sessions.capacity, 4096);
        assert_eq!(c.sessions.full_policy, FullPolicy::EvictOldestUnestablished);
        let t = Timeouts {
            tcp_established: 600_000,
            tcp_fin_wait: 30_000,
            udp: 20_000,
            ..Timeouts::default()
        };
        assert_eq!(c.sessions.timeouts, t);
        assert_eq!(
            c.control,
            ControlConfig {
                socket: PathBuf::from("/tmp/rvsd.sock"),
                group: Some("rvsadm".into()),
                audit_log: Some(PathBuf::from("/var/log/rvs/audit.log")),
            }
        );
        assert_eq!(
            c.metrics,
            Some(MetricsConfig {
                listen: "127.0.0.1:9469".parse().unwrap()
            })
        );
        assert_eq!(
            c.ports,
            vec![
                PortSpec {
                    name: "wan".into(),
                    device: Device::Pci("0000:03:00.0".into()),
                    addrs: vec![Prefix {
                        addr: v4(10, 10, 0, 1),
                        len: 24
                    }],
                    vips: vec![v4(10, 10, 0, 100), v4(10, 10, 0, 101)],
                    mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
                    mtu: 9000,
                    vlan: None,
                    kernel_interface: Some("wan".into()),
                    exception_rate: DEFAULT_EXCEPTION_RATE,
                },
                PortSpec {
                    name: "lan".into(),
                    device: Device::Vdev("net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap".into()),
                    addrs: vec![
                        Prefix {
                            addr: v4(10, 20, 0, 1),
                            len: 24
                        },
                        Prefix {
                            addr: v4(10, 20, 1, 1),
                            len: 24
                        }
                    ],
                    vips: vec![],
                    mac: None,
                    mtu: 1500,
                    vlan: None,
                    kernel_interface: Some("lan".into()),
                    exception_rate: DEFAULT_EXCEPTION_RATE,
                },
                PortSpec {
                    name: "wan.100".into(),
                    device: Device::Pci("0000:03:00.0".into()),
                    addrs: vec![Prefix {
                        addr: v4(10, 10, 100, 1),
                        len: 24
                    }],
                    vips: vec![v4(10, 10, 100, 100)],
                    mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
                    mtu: 9000,
                    vlan: Some(Vlan { port: 0, id: 100 }),
                    kernel_interface: None,
                    exception_rate: DEFAULT_EXCEPTION_RATE,
                },
                PortSpec {
                    name: "wan.200".into(),
                    device: Device::Pci("0000:03:00.0".into()),
                    addrs: vec![Prefix {
                        addr: v4(10, 10, 200, 1),
                        len: 24
                    }],
                    vips: vec![],
                    mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
                    mtu: 9000,
                    vlan: Some(Vlan { port: 0, id: 200 }),
                    kernel_interface: None,
                    exception_rate: DEFAULT_EXCEPTION_RATE,
                },
            ]
        );
        assert_eq!(
            c.routes,
            vec![
                RouteSpec {
                    prefix: Prefix {
                        addr: v4(0, 0, 0, 0),
                        len: 0
                    },
                    via: v4(10, 10, 0, 254),
                    port: 0
                },
                RouteSpec {
                    prefix: Prefix {
                        addr: v4(10, 30, 0, 0),
                        len: 16
                    },
                    via: v4(10, 20, 1, 254),
                    port: 1
                },
            ]
        );
        assert_eq!(
            c.neighbours,
            vec![
                NeighbourSpec {
                    addr: v4(10, 20, 0, 11),
                    mac: MacAddr([2, 0, 0, 0, 0, 0x11]),
                    port: 1
                },
                NeighbourSpec {
                    addr: v4(10, 10, 200, 11),
                    mac: MacAddr([2, 0, 0, 0, 0, 0x12]),
                    port: 3
                }
            ]
        );
        let dest = |id, addr: Ipv4Addr, port, weight, method, upper, lower| DestConfig {
            id,
            addr: Addr::from(addr),
            port,
            weight,
            method,
            upper_threshold: upper,
            lower_threshold: lower,
            mac: MacAddr::ZERO,
            interface: 0,
        };
        assert_eq!(
            c.services,
            vec![
                ServiceConfig {
                    key: ServiceKey {
                        protocol: PROTO_TCP,
                        vip: Addr::v4([10, 10, 0, 100]),
                        port: 80
                    },
                    scheduler: SchedulerKind::Wrr,
                    sched_params: SchedParams::default(),
                    persistence_s: None,
                    persistence_prefix: 32,
                    dests: vec![
                        dest(1, v4(10, 20, 0, 11), 8080, 3, Method::FullNat, 100, 50),
                        dest(2, v4(10, 30, 0, 12), 0, 0, Method::Nat, 0, 0),
                    ],
                    local_addrs: vec![Addr::v4([10, 20, 0, 250])],
                },
                ServiceConfig {
                    key: ServiceKey {
                        protocol: PROTO_UDP,
                        vip: Addr::v4([10, 10, 0, 101]),
                        port: 0
                    },
                    scheduler: SchedulerKind::Wlc,
                    sched_params: SchedParams::default(),
                    persistence_s: Some(300),
                    persistence_prefix: 24,
                    dests: vec![dest(3, v4(10, 20, 0, 13), 0, 1, Method::Dr, 0, 0)],
                    local_addrs: vec![],
                },
            ]
        );
    }

    pub(crate) const MINIMAL: &str = r#"
[cores]
main = 0
workers = [1]

[[ports]]
name = "p0"
device = "net_null0"
addrs = ["192.0.2.1/24"]
"#;

    #[test]
    fn defaults_are_applied() {
        let c = parse(MINIMAL).unwrap();
        assert!(c.eal.args.is_empty());
        assert_eq!((c.cores.main_cpu, c.cores.cpus.clone()), (0, vec![1]));
        assert_eq!(
            c.dataplane,
            DataplaneConfig {
                mbufs: 16383,
                rx_desc: 1024,
                tx_desc: 1024,
                burst_drain_us: 100,
                mbuf_data_room: DEFAULT_MBUF_DATA_ROOM,
                idle_sleep_us: 0,
            }
        );
        assert_eq!(c.sessions.capacity, 1_048_576);
        assert_eq!(c.sessions.full_policy, FullPolicy::Refuse);
        assert_eq!(c.sessions.timeouts, Timeouts::default());
        assert_eq!(c.sessions.timeouts.tcp_established, 900_000);
        assert_eq!(c.control.socket, PathBuf::from("/run/rvs/rvsd.sock"));
        assert_eq!(
            (c.control.group.as_deref(), c.control.audit_log.as_deref()),
            (None, None)
        );
        assert_eq!(c.metrics, None);
        assert_eq!(
            (c.ports[0].mtu, c.ports[0].mac, c.ports[0].vips.len()),
            (1500, None, 0)
        );
        assert!(c.routes.is_empty() && c.neighbours.is_empty() && c.services.is_empty());

        let c = parse(&format!(
            "{MINIMAL}\n[[services]]\nprotocol = \"tcp\"\nvip = \"192.0.2.100\"\nport = 443\n\
             [[services.real_servers]]\naddr = \"192.0.2.11\"\n"
        ))
        .unwrap();
        let s = &c.services[0];
        assert_eq!(s.scheduler, SchedulerKind::Wlc);
        assert_eq!((s.persistence_s, s.persistence_prefix), (None, 32));
        let d = &s.dests[0];
        assert_eq!(
            (
                d.id,
                d.port,
                d.weight,
                d.method,
                d.upper_threshold,
                d.lower_threshold
            ),
            (1, 0, 1, Method::Dr, 0, 0)
        );
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let e = err(&format!("{MINIMAL}\nbogus = 1\n"));
        assert!(e.contains("bogus") && e.contains("unknown field"), "{e}");
        // Top-level keys must come before tables: put it first.
        let e = err(&format!("colour = \"red\"\n{MINIMAL}"));
        assert!(e.contains("colour") && e.contains("line 1"), "{e}");
        let e = err(&format!(
            "{MINIMAL}\n[[services]]\nprotocol = \"tcp\"\nvip = \"192.0.2.100\"\nport = 80\n\
             [[services.real_servers]]\naddr = \"192.0.2.11\"\nwieght = 1\n"
        ));
        assert!(e.contains("wieght") && e.contains("unknown field"), "{e}");
        let e = err(&MINIMAL.replace("[cores]", "[cores]\nmian = 0"));
        assert!(e.contains("mian"), "{e}");
        let e = err(&MINIMAL.replace("workers = [1]", "workers = 1"));
        assert!(e.contains("workers") || e.contains("sequence"), "{e}");
        let e = err(&FULL.replace("id = 100", "id = 100\nvid = 100"));
        assert!(e.contains("vid") && e.contains("unknown field"), "{e}");
    }

    #[test]
    fn sync_daemons_take_ipvsadm_defaults_and_refuse_bad_values_by_field() {
        let c = parse(&format!(
            "{MINIMAL}\n[sync.master]\nmcast_interface = \"p0\"\nsyncid = 7\n\
             [sync.backup]\nmcast_interface = \"p0\"\nport = 9000\n"
        ))
        .expect("valid");
        let mut master = SyncDaemon::on("p0");
        master.syncid = 7;
        let mut backup = SyncDaemon::on("p0");
        backup.port = 9000;
        assert_eq!(backup.group, Ipv4Addr::new(224, 0, 0, 81));
        assert_eq!(backup.maxlen, 1472);
        assert_eq!(
            c.sync,
            [(SyncRole::Master, master), (SyncRole::Backup, backup)]
        );
        for (edit, field) in [
            ("mcast_interface = \"eth9\"", "sync.master.mcast_interface"),
            (
                "mcast_interface = \"p0\"\nsyncid = 256",
                "sync.master.syncid",
            ),
            (
                "mcast_interface = \"p0\"\ngroup = \"x\"",
                "sync.master.group",
            ),
            ("mcast_interface = \"p0\"\nttl = 0", "sync.master.ttl"),
            (
                "mcast_interface = \"p0\"\nmaxlen = 10",
                "sync.master.maxlen",
            ),
        ] {
            let e = err(&format!("{MINIMAL}\n[sync.master]\n{edit}\n"));
            assert!(e.contains(field), "{edit}: {e}");
        }
        let e = err(&format!(
            "{MINIMAL}\n[sync.master]\nmcast_interface = \"p0\"\nsyncd = 1\n"
        ));
        assert!(e.contains("syncd"), "{e}");
    }

    #[test]
    fn sysctl_and_announce_take_kernel_names_and_refuse_bad_values_by_field() {
        let c = parse(MINIMAL).unwrap();
        assert!(!c.sloppy_tcp && c.announce.is_none());
        let c = parse(&format!(
            "{MINIMAL}\n[sysctl]\nsloppy_tcp = 1\n[announce]\ntable = 100\n"
        ))
        .unwrap();
        assert!(c.sloppy_tcp);
        assert_eq!(c.announce, Some(AnnounceConfig { table: 100 }));
        for (edit, field) in [
            ("[sysctl]\nsloppy_tcp = 2", "sysctl.sloppy_tcp"),
            ("[sysctl]\nsloppy_sctp = 1", "sysctl.sloppy_sctp"),
            ("[sysctl]\nexpire_nodest_conn = 1", "expire_nodest_conn"),
            ("[announce]\ntable = 254", "announce.table"),
            ("[announce]\ntable = 0", "announce.table"),
            ("[announce]", "table"),
        ] {
            let e = err(&format!("{MINIMAL}\n{edit}\n"));
            assert!(e.contains(field), "{edit}: {e}");
        }
        let no_kernel = MINIMAL.replace("addrs =", "kernel_interface = \"\"\naddrs =");
        let e = err(&format!("{no_kernel}\n[announce]\ntable = 100\n"));
        assert!(
            e.contains("announce") && e.contains("kernel_interface"),
            "{e}"
        );
    }

    #[test]
    fn kernel_interfaces_default_to_the_port_name() {
        let c = parse(&FULL.replacen(
            "name = \"lan\"",
            "name = \"lan\"\nkernel_interface = \"\"",
            1,
        ))
        .expect("valid");
        let names: Vec<_> = c.ports.iter().map(|p| p.kernel_interface.clone()).collect();
        assert_eq!(names, [Some("wan".to_string()), None, None, None]);
        let c = parse(&FULL.replacen(
            "name = \"wan\"",
            "name = \"wan\"\nkernel_interface = \"lan\"",
            1,
        ));
        let e = c.expect_err("lan twice").to_string();
        assert!(e.contains("ports[1].kernel_interface"), "{e}");
    }

    /// (edit of FULL, field path that must be named).
    fn semantic_cases() -> Vec<(String, &'static str)> {
        let r = |from: &str, to: &str| {
            assert!(FULL.contains(from), "{from}");
            FULL.replacen(from, to, 1)
        };
        vec![
            (r("name = \"lan\"", "name = \"wan\""), "ports[1].name"),
            (r("name = \"lan\"", "name = \"LAN!\""), "ports[1].name"),
            (
                r("name = \"lan\"", "name = \"a-very-long-port-name\""),
                "ports[1].name",
            ),
            (r("\"0000:03:00.0\"", "\"eth0\""), "ports[0].device"),
            (r("\"0000:03:00.0\"", "\"0000:03:00.9\""), "ports[0].device"),
            (r("net_pcap0,rx_pcap", "pcap0,rx_pcap"), "ports[1].device"),
            (r("10.20.1.1/24", "10.20.1.1/33"), "ports[1].addrs[1]"),
            (r("10.20.1.1/24", "10.20.1.1"), "ports[1].addrs[1]"),
            (r("10.20.1.1/24", "10.10.0.9/16"), "ports[1].addrs[1]"),
            (
                r("addrs = [\"10.20.0.1/24\", \"10.20.1.1/24\"]", "addrs = []"),
                "ports[1].addrs",
            ),
            (
                r("\"10.10.0.101\"]", "\"10.10.0.100\"]"),
                "ports[0].vips[1]",
            ),
            (r("02:00:00:00:00:01", "01:00:5e:00:00:01"), "ports[0].mac"),
            (
                r(
                    "name = \"lan\"",
                    "name = \"lan\"\nkernel_interface = \"Lan!\"",
                ),
                "ports[1].kernel_interface",
            ),
            (
                r(
                    "name = \"lan\"",
                    "name = \"lan\"\nkernel_interface = \"wan\"",
                ),
                "ports[1].kernel_interface",
            ),
            (r("mtu = 9000", "mtu = 70000"), "ports[0].mtu"),
            (r("id = 100", "id = 0"), "ports[0].vlans[0].id"),
            (r("id = 100", "id = 4095"), "ports[0].vlans[0].id"),
            (r("id = 200", "id = 100"), "ports[0].vlans[1].id"),
            (r("[\"10.10.100.1/24\"]", "[]"), "ports[0].vlans[0].addrs"),
            (
                r("[\"10.10.100.1/24\"]", "[\"10.20.0.9/16\"]"),
                "ports[0].vlans[0].addrs[0]",
            ),
            (
                r("[\"10.10.200.1/24\"]", "[\"10.10.100.7/25\"]"),
                "ports[0].vlans[1].addrs[0]",
            ),
            (
                r("[\"10.10.100.100\"]", "[\"10.10.0.101\"]"),
                "ports[0].vlans[0].vips[0]",
            ),
            (r("\"wan.200\"", "\"wan.300\""), "neighbours[1].port"),
            (
                r("addr = \"10.10.200.11\"", "addr = \"10.10.100.11\""),
                "neighbours[1].addr",
            ),
            (
                r("via = \"10.10.0.254\"", "via = \"10.99.0.254\""),
                "routes[0].via",
            ),
            (
                r("via = \"10.10.0.254\"", "via = \"10.10.0.1\""),
                "routes[0].via",
            ),
            (r("10.30.0.0/16", "10.30.0.1/16"), "routes[1].prefix"),
            (r("port = \"lan\"", "port = \"dmz\""), "neighbours[0].port"),
            (
                r("addr = \"10.20.0.11\"\nmac", "addr = \"10.10.0.11\"\nmac"),
                "neighbours[0].addr",
            ),
            (
                r("mac = \"02:00:00:00:00:11\"", "mac = \"02:00:00:00:00\""),
                "neighbours[0].mac",
            ),
            (r("workers = [1, 2]", "workers = []"), "cores.workers"),
            (
                r("workers = [1, 2]", "workers = [1, 1]"),
                "cores.workers[1]",
            ),
            (
                r("workers = [1, 2]", "workers = [1, 0]"),
                "cores.workers[1]",
            ),
            (
                r("workers = [1, 2]", "workers = [1, -2]"),
                "cores.workers[1]",
            ),
            (r("cpus = [3, 4]", "cpus = [3]"), "cores.cpus"),
            (r("cpus = [3, 4]", "cpus = [3, 3]"), "cores.cpus[1]"),
            (r("capacity = 4096", "capacity = 0"), "sessions.capacity"),
            (
                r("capacity = 4096", "capacity = 2147483648"),
                "sessions.capacity",
            ),
            (r("\"evict\"", "\"drop\""), "sessions.full_policy"),
            (r("tcpfin = 30", "tcpfin = 0"), "sessions.tcpfin"),
            (r("mbufs = 8191", "mbufs = 1000"), "dataplane.mbufs"),
            (r("rx_desc = 512", "rx_desc = 0"), "dataplane.rx_desc"),
            (r("/tmp/rvsd.sock", "rvsd.sock"), "control.socket"),
            (
                r("group = \"rvsadm\"", "group = \"bad group\""),
                "control.group",
            ),
            (r("127.0.0.1:9469", "localhost"), "metrics.listen"),
            (r("\"-m\"", "\"-l\""), "eal.args[1]"),
            (r("\"--no-huge\"", "\"--vdev=net_null0\""), "eal.args[0]"),
            (
                r(
                    "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
                    "0000:03:00.0,x=1",
                ),
                "ports[1].device",
            ),
            (
                r(
                    "scheduler = \"wrr\"",
                    "scheduler = \"wrr\"\npersistence_netmask = 24",
                ),
                "services[0].persistence_netmask",
            ),
            (
                r("weight = 3", "weight = 65536"),
                "services[0].real_servers[0].weight",
            ),
            (
                r("weight = 0", "weight = -1"),
                "services[0].real_servers[1].weight",
            ),
            (
                r("lower_threshold = 50", "lower_threshold = 101"),
                "services[0].real_servers[0].lower_threshold",
            ),
            (r("\"wrr\"", "\"weighted\""), "services[0].scheduler"),
            (
                r(
                    "scheduler = \"wrr\"",
                    "scheduler = \"wrr\"\nsched_flags = [\"sh-port\"]",
                ),
                "services[0].sched_flags",
            ),
            (
                r(
                    "scheduler = \"wrr\"",
                    "scheduler = \"sh\"\nsched_flags = [\"mh-port\"]",
                ),
                "services[0].sched_flags",
            ),
            (
                r("local_addrs = [\"10.20.0.250\"]", "local_addrs = []"),
                "services[0].local_addrs",
            ),
            (
                r("\"fullnat\"", "\"masq\""),
                "services[0].real_servers[0].method",
            ),
            (
                r("protocol = \"tcp\"", "protocol = \"sctp\""),
                "services[0].protocol",
            ),
            (
                r("vip = \"10.10.0.100\"", "vip = \"10.10.0.300\""),
                "services[0].vip",
            ),
            (r("port = 80", "port = 65536"), "services[0].port"),
            (r("persistence = 300\n", ""), "services[1].port"),
            (
                r("persistence = 300", "persistence = 2678401"),
                "services[1].persistence",
            ),
            (
                r("upper_threshold = 100", "upper_threshold = 2147483648"),
                "services[0].real_servers[0].upper_threshold",
            ),
            (
                r("lower_threshold = 50", "lower_threshold = 3000000000"),
                "services[0].real_servers[0].lower_threshold",
            ),
            (
                r("[\"10.20.0.250\"]", "[\"192.168.77.1\"]"),
                "services[0].local_addrs[0]",
            ),
            (
                // A real server at another service's local address, or at a VIP.
                r("addr = \"10.20.0.13\"", "addr = \"10.20.0.250\""),
                "services[1].real_servers[0].addr",
            ),
            (
                r("vip = \"10.10.0.101\"", "vip = \"10.20.0.13\""),
                "services[1].real_servers[0].addr",
            ),
            (
                r("addr = \"10.30.0.12\"", "addr = \"0.0.0.0\""),
                "services[0].real_servers[1].addr",
            ),
            (
                r("addr = \"10.30.0.12\"", "addr = \"224.0.0.1\""),
                "services[0].real_servers[1].addr",
            ),
            (
                r("addr = \"10.20.0.13\"", "addr = \"10.20.0.255\""),
                "services[1].real_servers[0].addr",
            ),
            (
                r("addr = \"10.20.0.13\"", "addr = \"10.20.0.1\""),
                "services[1].real_servers[0].addr",
            ),
            (
                r("addr = \"10.30.0.12\"", "addr = \"10.10.0.101\""),
                "services[0].real_servers[1].addr",
            ),
            (
                r("persistence_netmask = 24", "persistence_netmask = 33"),
                "services[1].persistence_netmask",
            ),
            (
                r(
                    "addr = \"10.30.0.12\"",
                    "addr = \"10.20.0.11\"\nport = 8080",
                ),
                "services[0].real_servers[1].addr",
            ),
            (
                r("addr = \"10.20.0.13\"", "addr = \"10.30.0.13\""),
                "services[1].real_servers[0].addr",
            ),
            (
                r("method = \"nat\"", "method = \"tunnel\"\nport = 8080"),
                "services[0].real_servers[1].port",
            ),
            (
                r(
                    "protocol = \"udp\"\nvip = \"10.10.0.101\"\nport = 0",
                    "protocol = \"tcp\"\nvip = \"10.10.0.100\"\nport = 80",
                ),
                "services[1]",
            ),
        ]
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = semantic_cases();
        assert!(cases.len() >= 12);
        for (text, field) in cases {
            let e = parse(&text)
                .err()
                .unwrap_or_else(|| panic!("accepted, want {field}"));
            let msg = e.to_string();
            assert_eq!(e.field(), Some(field), "{msg}");
            assert!(msg.starts_with(field), "{msg}");
        }
    }

    #[test]
    fn messages_show_value_and_expectation() {
        let e = err(&FULL.replacen("weight = 3", "weight = 70000", 1));
        assert_eq!(
            e,
            "services[0].real_servers[0].weight = 70000: expected an integer in 0..=65535"
        );
        let e = err(&FULL.replacen("\"wrr\"", "\"fair\"", 1));
        assert!(
            e.contains("\"fair\"") && e.contains("rr, wrr, lc, wlc, sh, dh, sed, nq, mh"),
            "{e}"
        );
        let e = err(&FULL.replacen("10.10.0.254", "10.99.0.254", 1));
        assert!(
            e.contains("\"10.99.0.254\"") && e.contains("wan 10.10.0.1/24"),
            "{e}"
        );
        let e = err(&FULL.replacen("10.20.1.1/24", "10.20.1.1/40", 1));
        assert!(e.contains("prefix length 40 > 32"), "{e}");
    }

    #[test]
    fn scheduler_flags_reach_the_scheduler_parameters() {
        let text = FULL.replacen(
            "scheduler = \"wrr\"",
            "scheduler = \"mh\"\nsched_flags = [\"mh-port\", \"flag-1\"]",
            1,
        );
        let c = parse(&text).unwrap();
        let p = c.services[0].sched_params;
        assert!(
            p.mh_port && p.mh_fallback && !p.sh_port && !p.sh_fallback,
            "{p:?}"
        );
        assert_eq!(
            sched_flags(c.services[0].scheduler, &p),
            rvs_api::SchedFlags {
                fallback: true,
                port: true
            }
        );
        assert_eq!(
            parse(FULL).unwrap().services[0].sched_params,
            SchedParams::default()
        );
    }

    #[test]
    fn snapshot_validation_runs_too() {
        // The semantic pass refuses everything Snapshot::build does, earlier and by path; what
        // remains (here: a dest interface no config can produce) is reported under `services`.
        let c = parse(FULL).unwrap();
        assert_eq!(compiles(&c.ports, &c.services).ok(), Some(()));
        let mut services = c.services.clone();
        services[1].dests[0].interface = 4;
        let e = compiles(&c.ports, &services).expect_err("refused");
        assert_eq!(e.field(), Some("services"));
        assert_eq!(
            e.to_string(),
            "services: service UDP 10.10.0.101:0: dests.interface 4 does not exist"
        );
    }

    #[test]
    fn syntax_errors_keep_line_and_file() {
        let e = err("[cores\nmain = 0");
        assert!(e.contains("line 1"), "{e}");
        let e = err(&MINIMAL.replace("main = 0", "main = \"zero\""));
        assert!(e.contains("main") && e.contains("line"), "{e}");
        let e = err("[[ports]]\nname = \"x\"\ndevice = \"net_null0\"\naddrs = [\"10.0.0.1/24\"]\n");
        assert!(e.contains("missing field `cores`"), "{e}");
        let e = err(&MINIMAL.replace("[[ports]]", "[[portz]]"));
        assert!(e.contains("portz"), "{e}");
        assert!(err("[cores]\nmain = 0\nworkers = [1]\n").starts_with("ports: "));

        let dir = std::env::temp_dir().join(format!("rvs-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, MINIMAL.replace("p0", "P0")).unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: ports[0].name", path.display())),
            "{e}"
        );
        std::fs::write(&path, "[cores]\nmain = 0\nworkers = [1]\nx = 1\n").unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: TOML parse error", path.display())),
            "{e}"
        );
        let missing = dir.join("missing.toml");
        let e = load(&missing).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: cannot read", missing.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eal_args_for_pcap_ports() {
        let text = MINIMAL
            .replace("net_null0", "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap")
            .replace("[cores]", "[eal]\nargs = [\"--no-huge\", \"-m\", \"512\"]\n[cores]")
            + "[[ports]]\nname = \"p1\"\ndevice = \"net_pcap1,iface=lo\"\naddrs = [\"198.51.100.1/24\"]\n";
        let c = parse(&text).unwrap();
        assert_eq!(
            c.eal_args("rvsd"),
            [
                "rvsd",
                "--lcores",
                "0@0,1@1",
                "--main-lcore",
                "0",
                "--no-pci",
                "--vdev",
                "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
                "--vdev",
                "net_pcap1,iface=lo",
                "--no-huge",
                "-m",
                "512"
            ]
        );
    }

    #[test]
    fn eal_args_for_pci_ports() {
        let c = parse(FULL).unwrap();
        assert_eq!(
            c.eal_args("/usr/sbin/rvsd"),
            [
                "/usr/sbin/rvsd",
                "--lcores",
                "0@5,1@3,2@4",
                "--main-lcore",
                "0",
                "-a",
                "0000:03:00.0",
                "--vdev",
                "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
                "--no-huge",
                "-m",
                "512"
            ]
        );
        let pci_only = FULL.replacen(
            "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
            "0000:81:00.1,txq_inline_max=128",
            1,
        );
        let args = parse(&pci_only).unwrap().eal_args("rvsd");
        assert_eq!(
            &args[5..9],
            [
                "-a",
                "0000:03:00.0",
                "-a",
                "0000:81:00.1,txq_inline_max=128"
            ]
        );
        assert!(!args.iter().any(|a| a == "--no-pci" || a == "--vdev"));
    }

    #[test]
    fn prefix_parses_displays_and_contains() {
        let p: Prefix = "10.20.0.1/24".parse().unwrap();
        assert_eq!(
            p,
            Prefix {
                addr: v4(10, 20, 0, 1),
                len: 24
            }
        );
        assert_eq!(p.to_string(), "10.20.0.1/24");
        assert_eq!(p.network(), v4(10, 20, 0, 0));
        assert!(p.contains(v4(10, 20, 0, 255)) && !p.contains(v4(10, 20, 1, 0)));
        assert!(!p.is_network());
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(v4(255, 255, 255, 255)) && all.is_network());
        let host: Prefix = "10.0.0.7/32".parse().unwrap();
        assert!(host.contains(v4(10, 0, 0, 7)) && !host.contains(v4(10, 0, 0, 6)));
        assert!(p.overlaps(&"10.0.0.0/8".parse().unwrap()));
        assert!(!p.overlaps(&"10.20.1.0/24".parse().unwrap()));
        let odd = Prefix {
            addr: v4(1, 2, 3, 4),
            len: 200,
        };
        assert!(odd.contains(v4(1, 2, 3, 4)) && !odd.contains(v4(1, 2, 3, 5)));
        for (s, e) in [
            ("10.0.0.1", ParsePrefixError::NoLength),
            ("10.0.0/8", ParsePrefixError::Address),
            ("10.0.0.1/", ParsePrefixError::Length),
            ("10.0.0.1/+8", ParsePrefixError::Length),
            ("10.0.0.1/33", ParsePrefixError::TooLong(33)),
            ("10.0.0.1/999", ParsePrefixError::TooLong(999)),
            ("10.0.0.1/99999", ParsePrefixError::Length),
        ] {
            assert_eq!(s.parse::<Prefix>(), Err(e), "{s}");
        }
    }

    #[test]
    fn deploy_examples_parse_with_their_method() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let c = load(&path).unwrap_or_else(|e| panic!("{e}"));
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let want = match stem {
                "rvsd-nat" => Method::Nat,
                "rvsd-fullnat" => Method::FullNat,
                "rvsd-dr" => Method::Dr,
                "rvsd-tun" => Method::Tunnel,
                _ => continue,
            };
            assert!(!c.services.is_empty(), "{stem}");
            for s in &c.services {
                assert_eq!(s.dests.len(), 3, "{stem}");
                assert!(s.dests.iter().all(|d| d.method == want), "{stem}");
            }
            assert_eq!(c.control.socket, PathBuf::from("/run/rvs/rvsd.sock"));
            assert_eq!(c.routes[0].via, v4(10, 10, 0, 254));
            // Its keepalived.conf example, named in the config.
            let mode = stem.trim_start_matches("rvsd-");
            let k = dir.join(format!("keepalived-{mode}.conf"));
            let mut c = c;
            c.keepalived = Some(KeepalivedConfig {
                path: k.clone(),
                virtual_servers: Vec::new(),
            });
            let text = std::fs::read_to_string(&k).unwrap();
            with_keepalived(&mut c, &path, &text).unwrap_or_else(|e| panic!("{e}"));
            let added = c.services.last().unwrap();
            assert_eq!(added.key.port, 8080, "{mode}");
            assert_eq!(added.dests.len(), 3, "{mode}");
            assert!(added.dests.iter().all(|d| d.method == want), "{mode}");
            seen.push(stem.to_owned());
        }
        seen.sort();
        assert_eq!(seen, ["rvsd-dr", "rvsd-fullnat", "rvsd-nat", "rvsd-tun"]);
    }
}
