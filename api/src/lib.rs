//! The rvsd control protocol, shared by the daemon (server) and `rvsadm` (client). It does not
//! depend on DPDK, so `rvsadm` links none of it.
//!
//! Transport: a unix stream socket. Each message is a 4-byte big-endian length followed by that
//! many bytes of JSON. A connection carries any number of request/response pairs, in order.
//! Requests are capped at [`MAX_REQUEST`] bytes, responses at [`MAX_RESPONSE`]; the server
//! closes a connection that stays silent for longer than its timeout.
//!
//! Versioning: every request and response carries [`VERSION`]; a server refuses a request of a
//! version it does not speak with an error naming both versions, and adding a request variant
//! or an optional field (`#[serde(default)]`) does not change it.
//!
//! These are the protocol's own types (the wire form an operator's tool speaks, in ipvsadm's
//! terms); the daemon maps them to its service model and back.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

pub mod client;
pub mod keepalived;
pub mod sysctl;

/// Protocol version spoken by this build.
pub const VERSION: u32 = 1;
/// Largest request accepted (bytes of JSON).
pub const MAX_REQUEST: u32 = 1 << 20;
/// Largest response accepted (a connection listing can be large).
pub const MAX_RESPONSE: u32 = 256 << 20;
/// The scheduler of a service that names none (ipvsadm's).
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// A persistence netmask as ipvsadm takes it (`-M`, keepalived's `persistence_granularity`):
/// a prefix length, or for IPv4 a dotted mask; the length, or ipvsadm's message.
pub fn netmask_len(s: &str, v6: bool) -> Result<u8, &'static str> {
    let len = |max: u8| s.parse::<u8>().ok().filter(|n| *n <= max);
    if v6 {
        return len(128)
            .filter(|n| *n >= 1)
            .ok_or("illegal ipv6 netmask specified");
    }
    let bad = "illegal virtual server persistent mask specified";
    if let Some(n) = len(32) {
        return Ok(n);
    }
    let bits = u32::from(s.parse::<std::net::Ipv4Addr>().map_err(|_| bad)?);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(bad);
    }
    Ok(bits.leading_ones() as u8)
}

/// Longest persistence (and `--set`) timeout ipvsadm accepts, in seconds (31 days).
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// Largest connection threshold (`-x`, `-y`) ipvsadm accepts (INT_MAX).
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;
/// Environment variable naming the daemon's socket for `rvsadm`.
pub const SOCKET_ENV: &str = "RVS_SOCKET";
/// Default socket path (also rvsd's default `control.socket`).
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// ipvsadm's spelling in listings.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// A virtual service: protocol, VIP and port (port 0 only for persistent services).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceId {
    pub protocol: Protocol,
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.protocol.name(),
            SocketAddr::new(self.addr, self.port)
        )
    }
}

/// How a real server is reached (ipvsadm -m / -g / -i, DPVS -b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    Masq,
    Route,
    Tunnel,
    FullNat,
}

impl Method {
    /// ipvsadm's "Forward" column.
    pub fn name(self) -> &'static str {
        match self {
            Method::Masq => "Masq",
            Method::Route => "Route",
            Method::Tunnel => "Tunnel",
            Method::FullNat => "FullNat",
        }
    }

    /// ipvsadm's option letter (-S output).
    pub fn flag(self) -> &'static str {
        match self {
            Method::Masq => "-m",
            Method::Route => "-g",
            Method::Tunnel => "-i",
            Method::FullNat => "-b",
        }
    }
}

/// A service as the operator specifies it (ipvsadm -A/-E).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub id: ServiceId,
    /// ipvsadm scheduler name (rr, wrr, lc, wlc, sh, mh, ...).
    pub scheduler: String,
    /// Persistence timeout in seconds (-p); None = not persistent.
    #[serde(default)]
    pub persistence: Option<u32>,
    /// Persistence netmask length (-M), 32 by default.
    #[serde(default = "default_netmask")]
    pub netmask: u8,
    /// Scheduler flags (ipvsadm `--sched-flags`).
    #[serde(default)]
    pub sched_flags: SchedFlags,
}

fn default_netmask() -> u8 {
    32
}

/// ipvsadm's scheduler flags, which sh and mh use (the kernel's `IP_VS_SVC_F_SCHED1` and
/// `SCHED2`). Named by scheduler: `sh-fallback`/`mh-fallback`/`flag-1`, `sh-port`/`mh-port`/
/// `flag-2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedFlags {
    /// When the hashed server is unavailable, try the next ones instead of refusing the flow.
    pub fallback: bool,
    /// Hash the client's port with its address.
    pub port: bool,
}

impl SchedFlags {
    /// The names of the two flags for `scheduler` (fallback, port); None for a scheduler
    /// without flags.
    fn names_for(scheduler: &str) -> Option<(&'static str, &'static str)> {
        match scheduler {
            "sh" => Some(("sh-fallback", "sh-port")),
            "mh" => Some(("mh-fallback", "mh-port")),
            _ => None,
        }
    }

    /// Parses ipvsadm's comma-separated list for `scheduler` (`flag-1` and `flag-2` being the
    /// generic names). Errors name the flag and what was expected.
    pub fn parse(list: &str, scheduler: &str) -> Result<SchedFlags, String> {
        let Some((fallback, port)) = Self::names_for(scheduler) else {
            return Err(format!(
                "scheduler flags apply to the sh and mh schedulers, not {scheduler}"
            ));
        };
        let mut f = SchedFlags::default();
        for name in list.split(',') {
            if name == fallback || name == "flag-1" {
                f.fallback = true;
            } else if name == port || name == "flag-2" {
                f.port = true;
            } else {
                return Err(format!(
                    "invalid scheduler flag `{name}' for {scheduler} (expected {fallback}, {port}, flag-1 or flag-2)"
                ));
            }
        }
        Ok(f)
    }

    /// The flags set, comma-separated as ipvsadm prints them for `scheduler` (fallback first).
    pub fn list(&self, scheduler: &str) -> String {
        let (fallback, port) = Self::names_for(scheduler).unwrap_or(("flag-1", "flag-2"));
        let set = [(self.fallback, fallback), (self.port, port)];
        let names: Vec<&str> = set.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
        names.join(",")
    }

    pub fn is_empty(&self) -> bool {
        !self.fallback && !self.port
    }
}

/// A real server as the operator specifies it (ipvsadm -a/-e).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestSpec {
    pub addr: IpAddr,
    /// 0 = the service's port.
    pub port: u16,
    pub method: Method,
    pub weight: u32,
    /// Upper connection threshold (-x), 0 = none.
    #[serde(default)]
    pub upper_threshold: u32,
    /// Lower connection threshold (-y), 0 = none.
    #[serde(default)]
    pub lower_threshold: u32,
}

/// Traffic counters (ipvsadm --stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.conns += o.conns;
        self.in_packets += o.in_packets;
        self.out_packets += o.out_packets;
        self.in_bytes += o.in_bytes;
        self.out_bytes += o.out_bytes;
    }
}

/// Rates per second over the last estimation interval (ipvsadm --rate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestInfo {
    pub spec: DestSpec,
    pub active_conns: u64,
    pub inactive_conns: u64,
    pub stats: Stats,
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub spec: ServiceSpec,
    /// FULLNAT local addresses and the port (interface) each is on.
    pub local_addrs: Vec<LocalAddr>,
    pub stats: Stats,
    pub rates: Rates,
    pub dests: Vec<DestInfo>,
}

/// A FULLNAT local address of a service (DPVS laddr) and the box's port it lives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddr {
    pub addr: IpAddr,
    pub interface: String,
}

/// One connection (ipvsadm -Lnc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub protocol: Protocol,
    /// Seconds until it expires.
    pub expire_s: u64,
    /// IPVS state name (ESTABLISHED, SYN_RECV, ..., UDP).
    pub state: String,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub dest: SocketAddr,
    /// FULLNAT: the local address and port the real server sees.
    #[serde(default)]
    pub local: Option<SocketAddr>,
}

/// Session timeouts in seconds (ipvsadm --set / -L --timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcpfin: u32,
    pub udp: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// rvs version.
    pub version: String,
    /// Connection table capacity (all workers).
    pub conn_table_size: u64,
    pub workers: u32,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    // Read-only.
    GetInfo,
    /// Every service, or one; with counters and rates.
    ListServices {
        service: Option<ServiceId>,
    },
    ListConnections,
    GetTimeouts,
    // Mutating.
    AddService(ServiceSpec),
    EditService(ServiceSpec),
    DeleteService(ServiceId),
    /// Remove every service (ipvsadm -C).
    Clear,
    AddDest {
        service: ServiceId,
        dest: DestSpec,
    },
    EditDest {
        service: ServiceId,
        dest: DestSpec,
    },
    DeleteDest {
        service: ServiceId,
        addr: IpAddr,
        port: u16,
    },
    /// Zero counters of one service or of all (ipvsadm -Z).
    ZeroStats {
        service: Option<ServiceId>,
    },
    /// ipvsadm --set tcp tcpfin udp (0 = unchanged).
    SetTimeouts(Timeouts),
    AddLocalAddr {
        service: ServiceId,
        laddr: LocalAddr,
    },
    DeleteLocalAddr {
        service: ServiceId,
        addr: IpAddr,
    },
    /// Remove every connection (sessions) on every worker.
    FlushConnections,
    /// Every health checker with its state (`rvsadm --health`).
    ListHealth,
    /// ipvsadm --start-daemon master|backup and its options.
    StartDaemon {
        role: SyncRole,
        daemon: SyncDaemon,
    },
    /// ipvsadm --stop-daemon master|backup.
    StopDaemon(SyncRole),
    /// ipvsadm -L --daemon.
    ListDaemons,
    /// `sysctl net.ipv4.vs.NAME`.
    GetSysctl(sysctl::Sysctl),
    /// `sysctl -w net.ipv4.vs.NAME=VALUE` (the value checked by `Sysctl::parse_value`).
    SetSysctl(sysctl::Sysctl, u32),
}

impl Request {
    /// Whether the request changes the running configuration (audited, needs write access).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            Request::GetInfo
                | Request::ListServices { .. }
                | Request::ListConnections
                | Request::GetTimeouts
                | Request::ListHealth
                | Request::ListDaemons
                | Request::GetSysctl(_)
        )
    }
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Done,
    Info(Info),
    Services(Vec<ServiceInfo>),
    Connections(Vec<ConnInfo>),
    Timeouts(Timeouts),
    Health(Vec<CheckerInfo>),
    Daemons(Vec<(SyncRole, SyncDaemon)>),
    Sysctl(sysctl::Sysctl, u32),
}

/// A connection sync daemon (IPVS's): the master sends its connections, the backup installs
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    /// As ipvsadm writes it.
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

/// A sync daemon's parameters: ipvsadm's `--mcast-interface`, `--syncid`, `--sync-maxlen`,
/// `--mcast-group`, `--mcast-port`, `--mcast-ttl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// The interface the messages leave and arrive on (a kernel interface of rvs's ports).
    pub mcast_interface: String,
    /// 0: a backup takes every syncid, a master sends 0.
    pub syncid: u8,
    /// Largest message (UDP payload) a master sends.
    pub maxlen: u16,
    pub group: std::net::Ipv4Addr,
    pub port: u16,
    pub ttl: u8,
}

/// ipvsadm's: on `eth0`.
impl Default for SyncDaemon {
    fn default() -> SyncDaemon {
        SyncDaemon::on("eth0")
    }
}

impl SyncDaemon {
    /// IPVS's defaults on an interface: syncid 0, group 224.0.0.81, port 8848, TTL 1, and the
    /// largest message a 1500-byte MTU carries.
    pub fn on(mcast_interface: &str) -> SyncDaemon {
        SyncDaemon {
            mcast_interface: mcast_interface.to_string(),
            syncid: 0,
            maxlen: 1500 - 20 - 8,
            group: std::net::Ipv4Addr::new(224, 0, 0, 81),
            port: 8848,
            ttl: 1,
        }
    }
}

/// One health checker of a real server, as `rvsadm --health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckerInfo {
    /// The virtual and real server as keepalived writes them: `[10.10.0.100]:tcp:80`.
    pub service: String,
    pub server: String,
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub kind: String,
    /// `UP`, `DOWN` or `WARMUP` (not checked yet).
    pub state: String,
    /// Seconds in that state.
    pub since_secs: u64,
    /// The last result's words (empty before the first).
    pub last: String,
    pub runs: u64,
    pub failures: u64,
}

/// A request on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMessage {
    pub version: u32,
    pub request: Request,
}

/// A response on the wire: the answer or an operator-facing error message (ipvsadm wording
/// where ipvsadm has one, e.g. "Service not defined").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub version: u32,
    pub result: Result<Response, String>,
}

/// Writes one length-prefixed JSON message.
pub fn write_message<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Reads one length-prefixed JSON message of at most `max` bytes. `Ok(None)` at a clean end of
/// stream (before a length prefix).
pub fn read_message<T: for<'de> Deserialize<'de>>(
    r: &mut impl Read,
    max: u32,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_flags_parse_and_print_by_scheduler() {
        let both = SchedFlags {
            fallback: true,
            port: true,
        };
        assert_eq!(SchedFlags::parse("sh-port,sh-fallback", "sh"), Ok(both));
        assert_eq!(SchedFlags::parse("flag-1,flag-2", "mh"), Ok(both));
        assert_eq!(
            SchedFlags::parse("mh-port", "mh"),
            Ok(SchedFlags {
                fallback: false,
                port: true
            })
        );
        assert_eq!(both.list("mh"), "mh-fallback,mh-port");
        assert_eq!(SchedFlags::default().list("sh"), "");
        let e = SchedFlags::parse("sh-port", "mh").unwrap_err();
        assert!(e.contains("`sh-port' for mh"), "{e}");
        let e = SchedFlags::parse("sh-port", "rr").unwrap_err();
        assert!(e.contains("not rr"), "{e}");
        assert!(SchedFlags::parse("sh-port,", "sh").is_err());
        assert!(SchedFlags::parse("flag-3", "sh").is_err());
    }

    #[test]
    fn messages_round_trip_and_oversize_is_refused() {
        let msg = RequestMessage {
            version: VERSION,
            request: Request::AddDest {
                service: ServiceId {
                    protocol: Protocol::Tcp,
                    addr: "10.0.0.1".parse().unwrap(),
                    port: 80,
                },
                dest: DestSpec {
                    addr: "10.0.1.1".parse().unwrap(),
                    port: 8080,
                    method: Method::Masq,
                    weight: 3,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            },
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &msg).unwrap();
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len, buf.len() - 4);
        let back: RequestMessage = read_message(&mut &buf[..], MAX_REQUEST).unwrap().unwrap();
        assert_eq!(back, msg);
        assert!(back.request.is_mutating());
        let err = read_message::<RequestMessage>(&mut &buf[..], 8).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit of 8"), "{err}");
        let none: Option<RequestMessage> = read_message(&mut &[][..], MAX_REQUEST).unwrap();
        assert!(none.is_none());
        let garbage = [0, 0, 0, 3, b'{', b'x', b'}'];
        assert!(read_message::<RequestMessage>(&mut &garbage[..], MAX_REQUEST).is_err());
    }

    #[test]
    fn read_only_requests_are_not_mutating() {
        assert!(!Request::ListConnections.is_mutating());
        assert!(!Request::GetTimeouts.is_mutating());
        assert!(Request::Clear.is_mutating());
        assert!(Request::FlushConnections.is_mutating());
    }
}
