//! The command line: ipvsadm's syntax (and DPVS's local-address commands) parsed into a
//! [`Command`], without touching the daemon.
//!
//! The parser is popt-like, as ipvsadm's is: short options may be clustered (`-Ln`, `-Lnc`,
//! `-At VIP:port`), a short option's argument may be attached (`-p600`, `-w3`), long options take
//! `--name value` or `--name=value`, and `-p`/`--persistent` takes an optional value (the next
//! word, when it does not start with `-`). The checks and their messages are ipvsadm 1.31's: the
//! option/command table (`Illegal 'x' option with the 'y' command`, `You need to supply ...`),
//! value errors (`illegal weight specified`, ...) and the zero-port rule. Every error here is a
//! usage error (exit status 2).

use rvs_api::sysctl::Sysctl;
use rvs_api::{
    DestSpec, LocalAddr, Method, Protocol, Request, SchedFlags, ServiceId, ServiceSpec, SyncDaemon,
    SyncRole, Timeouts,
};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

pub use rvs_api::MAX_TIMEOUT;
/// Persistence timeout when `-p` has no value.
pub const DEFAULT_PERSISTENCE: u32 = 300;
/// Scheduler when `-s` is not given.
pub use rvs_api::DEFAULT_SCHEDULER;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `--socket PATH`, when given (else `RVS_SOCKET`, else the default).
    pub socket: Option<PathBuf>,
    pub command: Command,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    /// One mutating request: -A -E -D -C -a -e -d -Z --set --add-laddr --del-laddr.
    Exec(Request),
    /// -L / -l.
    List {
        what: ListWhat,
        format: Format,
    },
    /// -S (always numeric; `-n` is accepted).
    Save,
    /// -R: rules from stdin.
    Restore,
    /// --get-laddr [-t|-u service].
    GetLocalAddrs(Option<ServiceId>),
    /// --import-keepalived FILE [--dry-run].
    ImportKeepalived {
        path: PathBuf,
        dry_run: bool,
    },
    /// --health: every health checker and its state (rvs's own).
    Health,
    /// --sysctl NAME: an IPVS sysctl's value (rvs's own; `--sysctl NAME=VALUE` is an Exec).
    GetSysctl(Sysctl),
}

/// What -L lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListWhat {
    All,
    Service(ServiceId),
    Connections,
    Timeouts,
    /// --daemon: the sync daemons.
    Daemons,
}

/// Listing flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    /// -n (addresses are always printed numerically; accepted for compatibility).
    pub numeric: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    /// --exact: no K/M/G/T scaling.
    pub exact: bool,
    pub nosort: bool,
}

/// A usage error: the message ipvsadm prints (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn fail<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// ipvsadm's answer to a command line without a command.
pub const TRY_HELP: &str = "Try `rvsadm -h' or 'rvsadm --help' for more information.";

// Commands, in the order of the option table below (ipvsadm's order, then DPVS's, then ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Set,
    Restore,
    Save,
    Zero,
    AddLaddr,
    DelLaddr,
    GetLaddr,
    Import,
    Health,
    StartDaemon,
    StopDaemon,
    Sysctl,
    Help,
    Version,
}

const CMD_NAMES: [&str; 20] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "restore",
    "save",
    "zero",
    "add-laddr",
    "del-laddr",
    "get-laddr",
    "import-keepalived",
    "health",
    "start-daemon",
    "stop-daemon",
    "sysctl",
];

// Option bits (ipvsadm's order for the ones it has).
const O_NUMERIC: usize = 0;
const O_CONNECTION: usize = 1;
const O_SERVICE: usize = 2;
const O_SCHEDULER: usize = 3;
const O_PERSISTENT: usize = 4;
const O_NETMASK: usize = 5;
const O_SERVER: usize = 6;
const O_FORWARD: usize = 7;
const O_WEIGHT: usize = 8;
const O_UTHRESHOLD: usize = 9;
const O_LTHRESHOLD: usize = 10;
const O_TIMEOUT: usize = 11;
const O_STATS: usize = 12;
const O_RATE: usize = 13;
const O_THRESHOLDS: usize = 14;
const O_NOSORT: usize = 15;
const O_EXACT: usize = 16;
const O_LADDR: usize = 17;
const O_IFNAME: usize = 18;
const O_DRY_RUN: usize = 19;
const O_SCHED_FLAGS: usize = 20;
const O_DAEMON: usize = 21;
const O_MCAST_IF: usize = 22;
const O_SYNCID: usize = 23;
const O_SYNC_MAXLEN: usize = 24;
const O_MCAST_GROUP: usize = 25;
const O_MCAST_PORT: usize = 26;
const O_MCAST_TTL: usize = 27;
const N_OPTS: usize = 28;

const OPT_NAMES: [&str; N_OPTS] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "timeout",
    "stats",
    "rate",
    "thresholds",
    "nosort",
    "exact",
    "local-address",
    "ifname",
    "dry-run",
    "sched-flags",
    "daemon",
    "mcast-interface",
    "syncid",
    "sync-maxlen",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
];

// Legal combinations of commands and options, as ipvsadm's commands_v_options:
// '+' compulsory, 'x' illegal, '1' exclusive (at most one '1' option), ' ' optional.
#[rustfmt::skip]
const TABLE: [&[u8; N_OPTS]; 20] = [
    //  n c s S p M r f w x y T s r t n e z F d s d m s s m m m
    //  u o v c e a e w e u l i t a h o x l i r f a i i m g p t
    b"xx+   xxxxxxxxxxxxxx xxxxxxx", // add-service
    b"xx+   xxxxxxxxxxxxxx xxxxxxx", // edit-service
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxx", // delete-service
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxx1     xxxx1xxxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxx", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxx", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxx", // zero
    b"xx+xxxxxxxxxxxxxx++xxxxxxxxx", // add-laddr
    b"xx+xxxxxxxxxxxxxx+ xxxxxxxxx", // del-laddr
    b" x xxxxxxxxxxxxxxxxxxxxxxxxx", // get-laddr
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxx", // import-keepalived
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxx", // health
    b"xxxxxxxxxxxxxxxxxxxxxx      ", // start-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxx", // sysctl
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Cmd(Cmd),
    Service(Protocol),
    Scheduler,
    SchedFlags,
    Persistent,
    Netmask,
    Server,
    Forward(Method),
    Weight,
    UThreshold,
    LThreshold,
    Flag(usize),
    Sort,
    Laddr,
    Ifname,
    Socket,
    /// A sync daemon option (its bit).
    Sync(usize),
    /// An ipvsadm/DPVS option rvs has no use for (fwmark services, the sync daemon, ...).
    Unsupported,
}

struct Spec {
    long: &'static str,
    short: Option<char>,
    arg: Arg,
    opt: Opt,
}

const fn spec(long: &'static str, short: Option<char>, arg: Arg, opt: Opt) -> Spec {
    Spec {
        long,
        short,
        arg,
        opt,
    }
}

#[rustfmt::skip]
const SPECS: &[Spec] = &[
    spec("add-service", Some('A'), Arg::None, Opt::Cmd(Cmd::Add)),
    spec("edit-service", Some('E'), Arg::None, Opt::Cmd(Cmd::Edit)),
    spec("delete-service", Some('D'), Arg::None, Opt::Cmd(Cmd::Del)),
    spec("clear", Some('C'), Arg::None, Opt::Cmd(Cmd::Flush)),
    spec("list", Some('L'), Arg::None, Opt::Cmd(Cmd::List)),
    spec("list", Some('l'), Arg::None, Opt::Cmd(Cmd::List)),
    spec("zero", Some('Z'), Arg::None, Opt::Cmd(Cmd::Zero)),
    spec("add-server", Some('a'), Arg::None, Opt::Cmd(Cmd::AddDest)),
    spec("edit-server", Some('e'), Arg::None, Opt::Cmd(Cmd::EditDest)),
    spec("delete-server", Some('d'), Arg::None, Opt::Cmd(Cmd::DelDest)),
    spec("set", None, Arg::None, Opt::Cmd(Cmd::Set)),
    spec("help", Some('h'), Arg::None, Opt::Cmd(Cmd::Help)),
    spec("version", Some('v'), Arg::None, Opt::Cmd(Cmd::Version)),
    spec("restore", Some('R'), Arg::None, Opt::Cmd(Cmd::Restore)),
    spec("save", Some('S'), Arg::None, Opt::Cmd(Cmd::Save)),
    spec("add-laddr", Some('P'), Arg::None, Opt::Cmd(Cmd::AddLaddr)),
    spec("del-laddr", Some('Q'), Arg::None, Opt::Cmd(Cmd::DelLaddr)),
    spec("get-laddr", Some('G'), Arg::None, Opt::Cmd(Cmd::GetLaddr)),
    spec("import-keepalived", None, Arg::Required, Opt::Cmd(Cmd::Import)),
    spec("health", None, Arg::None, Opt::Cmd(Cmd::Health)),
    spec("start-daemon", None, Arg::Required, Opt::Cmd(Cmd::StartDaemon)),
    spec("stop-daemon", None, Arg::Required, Opt::Cmd(Cmd::StopDaemon)),
    spec("sysctl", None, Arg::Required, Opt::Cmd(Cmd::Sysctl)),
    spec("daemon", None, Arg::None, Opt::Flag(O_DAEMON)),
    spec("mcast-interface", None, Arg::Required, Opt::Sync(O_MCAST_IF)),
    spec("syncid", None, Arg::Required, Opt::Sync(O_SYNCID)),
    spec("sync-maxlen", None, Arg::Required, Opt::Sync(O_SYNC_MAXLEN)),
    spec("mcast-group", None, Arg::Required, Opt::Sync(O_MCAST_GROUP)),
    spec("mcast-port", None, Arg::Required, Opt::Sync(O_MCAST_PORT)),
    spec("mcast-ttl", None, Arg::Required, Opt::Sync(O_MCAST_TTL)),
    spec("tcp-service", Some('t'), Arg::Required, Opt::Service(Protocol::Tcp)),
    spec("udp-service", Some('u'), Arg::Required, Opt::Service(Protocol::Udp)),
    spec("scheduler", Some('s'), Arg::Required, Opt::Scheduler),
    spec("persistent", Some('p'), Arg::Optional, Opt::Persistent),
    spec("netmask", Some('M'), Arg::Required, Opt::Netmask),
    spec("real-server", Some('r'), Arg::Required, Opt::Server),
    spec("masquerading", Some('m'), Arg::None, Opt::Forward(Method::Masq)),
    spec("gatewaying", Some('g'), Arg::None, Opt::Forward(Method::Route)),
    spec("ipip", Some('i'), Arg::None, Opt::Forward(Method::Tunnel)),
    spec("fullnat", Some('b'), Arg::None, Opt::Forward(Method::FullNat)),
    spec("weight", Some('w'), Arg::Required, Opt::Weight),
    spec("u-threshold", Some('x'), Arg::Required, Opt::UThreshold),
    spec("l-threshold", Some('y'), Arg::Required, Opt::LThreshold),
    spec("numeric", Some('n'), Arg::None, Opt::Flag(O_NUMERIC)),
    spec("connection", Some('c'), Arg::None, Opt::Flag(O_CONNECTION)),
    spec("timeout", None, Arg::None, Opt::Flag(O_TIMEOUT)),
    spec("stats", None, Arg::None, Opt::Flag(O_STATS)),
    spec("rate", None, Arg::None, Opt::Flag(O_RATE)),
    spec("thresholds", None, Arg::None, Opt::Flag(O_THRESHOLDS)),
    spec("nosort", None, Arg::None, Opt::Flag(O_NOSORT)),
    spec("sort", None, Arg::None, Opt::Sort),
    spec("exact", Some('X'), Arg::None, Opt::Flag(O_EXACT)),
    spec("laddr", Some('z'), Arg::Required, Opt::Laddr),
    spec("ifname", Some('F'), Arg::Required, Opt::Ifname),
    spec("dry-run", None, Arg::None, Opt::Flag(O_DRY_RUN)),
    // ipvsadm's -b, which DPVS's syntax (and rvs's) gives to FULLNAT.
    spec("sched-flags", None, Arg::Required, Opt::SchedFlags),
    spec("socket", None, Arg::Required, Opt::Socket),
    // Known to ipvsadm or DPVS, not to rvs.
    spec("fwmark-service", Some('f'), Arg::Required, Opt::Unsupported),
    spec("sctp-service", None, Arg::Required, Opt::Unsupported),
    spec("ipv6", Some('6'), Arg::None, Opt::Unsupported),
    spec("ops", Some('o'), Arg::None, Opt::Unsupported),
    spec("pe", None, Arg::Required, Opt::Unsupported),
    spec("persistent-conn", None, Arg::None, Opt::Unsupported),
];

/// One option occurrence: how it was written and its value.
struct Event {
    name: String,
    opt: Opt,
    value: Option<String>,
}

/// Splits argv (without the program name) into option events and positional words.
fn scan(args: &[String]) -> Result<(Vec<Event>, Vec<String>), UsageError> {
    let mut events = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let shown = format!("--{name}");
            let Some(spec) = SPECS.iter().find(|s| s.long == name) else {
                return fail(format!("{shown}: unknown option"));
            };
            let value = match spec.arg {
                Arg::None => {
                    if inline.is_some() {
                        return fail(format!("{shown}: option does not take an argument"));
                    }
                    None
                }
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => match args.get(i) {
                        Some(v) => {
                            i += 1;
                            Some(v.clone())
                        }
                        None => return fail(format!("{shown}: missing argument")),
                    },
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None => take_optional(args, &mut i),
                },
            };
            events.push(Event {
                name: shown,
                opt: spec.opt,
                value,
            });
        } else if arg.len() > 1 && arg.starts_with('-') {
            let cluster: Vec<char> = arg[1..].chars().collect();
            let mut k = 0;
            while k < cluster.len() {
                let c = cluster[k];
                k += 1;
                let shown = format!("-{c}");
                let Some(spec) = SPECS.iter().find(|s| s.short == Some(c)) else {
                    return fail(format!("{shown}: unknown option"));
                };
                let rest: String = cluster[k..].iter().collect();
                let value = match spec.arg {
                    Arg::None => None,
                    Arg::Required => {
                        k = cluster.len();
                        if !rest.is_empty() {
                            Some(rest)
                        } else {
                            match args.get(i) {
                                Some(v) => {
                                    i += 1;
                                    Some(v.clone())
                                }
                                None => return fail(format!("{shown}: missing argument")),
                            }
                        }
                    }
                    Arg::Optional => {
                        k = cluster.len();
                        if !rest.is_empty() {
                            Some(rest)
                        } else {
                            take_optional(args, &mut i)
                        }
                    }
                };
                events.push(Event {
                    name: shown,
                    opt: spec.opt,
                    value,
                });
            }
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((events, positional))
}

/// popt's optional argument: the next word, unless it is missing or looks like an option.
fn take_optional(args: &[String], i: &mut usize) -> Option<String> {
    match args.get(*i) {
        Some(v) if !v.starts_with('-') => {
            *i += 1;
            Some(v.clone())
        }
        _ => None,
    }
}

/// ipvsadm's string_to_number: a whole decimal number within `min..=max`.
fn number(s: &str, min: i64, max: i64) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| (min..=max).contains(n))
}

fn parse_timeout(s: &str, min: u32) -> Result<u32, UsageError> {
    match number(s, i64::from(min), i64::from(MAX_TIMEOUT)) {
        Some(n) => Ok(n as u32),
        None => fail(format!("invalid timeout value `{s}' specified")),
    }
}

/// A few well-known port names (ipvsadm asks getservbyname; rvsadm does no lookups).
fn service_port(name: &str) -> Option<u16> {
    Some(match name {
        "ftp" => 21,
        "ssh" => 22,
        "smtp" => 25,
        "domain" | "dns" => 53,
        "http" | "www" => 80,
        "pop3" => 110,
        "imap" => 143,
        "https" => 443,
        "imaps" => 993,
        "pop3s" => 995,
        "mysql" => 3306,
        _ => return None,
    })
}

/// ipvsadm's parse_service: `IPv4[:port]`, `IPv6`, `[IPv6]:port`. The port is `None` when the
/// argument has none. `None` overall when it is not an address.
pub fn parse_addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = |p: &str| -> Option<u16> {
        number(p, 0, 65535)
            .map(|n| n as u16)
            .or_else(|| service_port(p))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let p = tail.strip_prefix(':')?;
        let addr: std::net::Ipv6Addr = addr.parse().ok()?;
        return Some((IpAddr::V6(addr), Some(port(p)?)));
    }
    if let Ok(v6) = s.parse::<std::net::Ipv6Addr>() {
        return Some((IpAddr::V6(v6), None));
    }
    match s.rsplit_once(':') {
        Some((a, p)) => {
            let a: Ipv4Addr = a.parse().ok()?;
            Some((IpAddr::V4(a), Some(port(p)?)))
        }
        None => Some((IpAddr::V4(s.parse().ok()?), None)),
    }
}

/// A bare address, possibly in brackets (`-z`).
fn parse_addr(s: &str) -> Option<IpAddr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse().ok()
}

/// A persistence netmask for a service of `addr`'s family: a dotted IPv4 mask (contiguous) or a
/// prefix length.
pub fn parse_netmask(s: &str, v6: bool) -> Result<u8, UsageError> {
    rvs_api::netmask_len(s, v6).or_else(fail)
}

/// The state ipvsadm's parse_options builds.
#[derive(Default)]
struct State {
    cmd: Option<Cmd>,
    options: u32,
    service: Option<(Protocol, IpAddr, u16)>,
    scheduler: Option<String>,
    sched_flags: Option<String>,
    persistence: Option<u32>,
    netmask: Option<String>,
    server: Option<(IpAddr, Option<u16>)>,
    method: Option<Method>,
    weight: Option<u32>,
    upper: u32,
    lower: u32,
    laddr: Option<IpAddr>,
    ifname: Option<String>,
    socket: Option<PathBuf>,
    import: Option<PathBuf>,
    role: Option<SyncRole>,
    daemon: SyncDaemon,
    /// --sysctl's NAME, and VALUE when given.
    sysctl: Option<(Sysctl, Option<u32>)>,
}

impl State {
    fn set_command(&mut self, cmd: Cmd) -> Result<(), UsageError> {
        if self.cmd.is_some() {
            return fail("multiple commands specified");
        }
        self.cmd = Some(cmd);
        Ok(())
    }

    fn set_option(&mut self, bit: usize) -> Result<(), UsageError> {
        if self.options & (1 << bit) != 0 {
            return fail(format!("multiple '{}' options specified", OPT_NAMES[bit]));
        }
        self.options |= 1 << bit;
        Ok(())
    }

    fn has(&self, bit: usize) -> bool {
        self.options & (1 << bit) != 0
    }

    fn apply(&mut self, ev: Event) -> Result<(), UsageError> {
        let given = ev.value.is_some();
        let value = ev.value.unwrap_or_default();
        match ev.opt {
            Opt::Cmd(cmd) => {
                self.set_command(cmd)?;
                if cmd == Cmd::Import {
                    self.import = Some(PathBuf::from(&value));
                }
                if cmd == Cmd::Sysctl {
                    self.sysctl = Some(parse_sysctl(&value)?);
                }
                if matches!(cmd, Cmd::StartDaemon | Cmd::StopDaemon) {
                    self.role = Some(match value.as_str() {
                        "master" => SyncRole::Master,
                        "backup" => SyncRole::Backup,
                        _ => {
                            return fail(format!(
                                "illegal {} parameter specified",
                                CMD_NAMES[cmd as usize]
                            ))
                        }
                    });
                }
            }
            Opt::Service(proto) => {
                self.set_option(O_SERVICE)?;
                match parse_addr_port(&value) {
                    Some((addr, port)) => self.service = Some((proto, addr, port.unwrap_or(0))),
                    None => return fail("illegal virtual server address[:port] specified"),
                }
            }
            Opt::Scheduler => {
                self.set_option(O_SCHEDULER)?;
                self.scheduler = Some(value);
            }
            Opt::SchedFlags => {
                self.set_option(O_SCHED_FLAGS)?;
                self.sched_flags = Some(value);
            }
            Opt::Persistent => {
                self.set_option(O_PERSISTENT)?;
                self.persistence = Some(if given {
                    parse_timeout(&value, 1)?
                } else {
                    DEFAULT_PERSISTENCE
                });
            }
            Opt::Netmask => {
                self.set_option(O_NETMASK)?;
                self.netmask = Some(value);
            }
            Opt::Server => {
                self.set_option(O_SERVER)?;
                match parse_addr_port(&value) {
                    Some(a) => self.server = Some(a),
                    None => return fail("illegal real server address[:port] specified"),
                }
            }
            Opt::Forward(m) => {
                self.set_option(O_FORWARD)?;
                self.method = Some(m);
            }
            Opt::Weight => {
                self.set_option(O_WEIGHT)?;
                match number(&value, 0, 65535) {
                    Some(w) => self.weight = Some(w as u32),
                    None => return fail("illegal weight specified"),
                }
            }
            Opt::UThreshold => {
                self.set_option(O_UTHRESHOLD)?;
                match number(&value, 0, i64::from(rvs_api::MAX_THRESHOLD)) {
                    Some(n) => self.upper = n as u32,
                    None => return fail("illegal u_threshold specified"),
                }
            }
            Opt::LThreshold => {
                self.set_option(O_LTHRESHOLD)?;
                match number(&value, 0, i64::from(rvs_api::MAX_THRESHOLD)) {
                    Some(n) => self.lower = n as u32,
                    None => return fail("illegal l_threshold specified"),
                }
            }
            Opt::Flag(bit) => self.set_option(bit)?,
            Opt::Sort => {}
            Opt::Laddr => {
                self.set_option(O_LADDR)?;
                match parse_addr(&value) {
                    Some(a) => self.laddr = Some(a),
                    None => return fail("illegal local address"),
                }
            }
            Opt::Ifname => {
                self.set_option(O_IFNAME)?;
                if value.is_empty() {
                    return fail("illegal ifname specified");
                }
                self.ifname = Some(value);
            }
            Opt::Socket => {
                if self.socket.is_some() {
                    return fail("multiple 'socket' options specified");
                }
                self.socket = Some(PathBuf::from(value));
            }
            Opt::Sync(bit) => {
                self.set_option(bit)?;
                self.sync_option(bit, &value)?;
            }
            Opt::Unsupported => return fail(format!("{}: not supported by rvs", ev.name)),
        }
        Ok(())
    }

    /// A sync daemon option, with ipvsadm's ranges and words.
    fn sync_option(&mut self, bit: usize, value: &str) -> Result<(), UsageError> {
        let d = &mut self.daemon;
        let n = |min, max, what: &str| match number(value, min, max) {
            Some(n) => Ok(n),
            None => fail(format!("illegal {what} specified")),
        };
        match bit {
            O_MCAST_IF if value.is_empty() || value.len() > 15 => {
                return fail("illegal mcast-interface specified")
            }
            O_MCAST_IF => d.mcast_interface = value.to_string(),
            O_SYNCID => d.syncid = n(0, 255, "syncid")? as u8,
            O_SYNC_MAXLEN => d.maxlen = n(1, 65535 - 20 - 8, "sync-maxlen")? as u16,
            O_MCAST_GROUP => match value.parse::<Ipv4Addr>() {
                Ok(g) if g.is_multicast() => d.group = g,
                _ => return fail("illegal mcast-group specified"),
            },
            O_MCAST_PORT => d.port = n(1, 65535, "mcast-port")? as u16,
            _ => d.ttl = n(1, 255, "mcast-ttl")? as u8,
        }
        Ok(())
    }

    /// ipvsadm's generic_opt_check.
    fn check(&self, cmd: Cmd) -> Result<(), UsageError> {
        let row = TABLE[cmd as usize];
        let name = CMD_NAMES[cmd as usize];
        let mut exclusive: Option<usize> = None;
        for (j, &rule) in row.iter().enumerate() {
            if !self.has(j) {
                if rule == b'+' {
                    return fail(format!(
                        "You need to supply the '{}' option for the '{name}' command",
                        OPT_NAMES[j]
                    ));
                }
                continue;
            }
            match rule {
                b'x' => {
                    return fail(format!(
                        "Illegal '{}' option with the '{name}' command",
                        OPT_NAMES[j]
                    ))
                }
                b'1' => match exclusive {
                    None => exclusive = Some(j),
                    Some(last) => {
                        return fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{name}' command",
                        OPT_NAMES[j], OPT_NAMES[last]
                    ))
                    }
                },
                _ => {}
            }
        }
        Ok(())
    }

    fn service_id(&self) -> Option<ServiceId> {
        self.service.map(|(protocol, addr, port)| ServiceId {
            protocol,
            addr,
            port,
        })
    }

    fn service_spec(&self, id: ServiceId) -> Result<ServiceSpec, UsageError> {
        let v6 = id.addr.is_ipv6();
        let netmask = match &self.netmask {
            Some(m) => parse_netmask(m, v6)?,
            None if v6 => 128,
            None => 32,
        };
        let scheduler = self
            .scheduler
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
        let sched_flags = match &self.sched_flags {
            Some(list) => SchedFlags::parse(list, &scheduler).map_err(UsageError)?,
            None => SchedFlags::default(),
        };
        Ok(ServiceSpec {
            id,
            scheduler,
            persistence: self.persistence,
            netmask,
            sched_flags,
        })
    }

    fn dest_spec(&self, id: ServiceId) -> DestSpec {
        let (addr, port) = self.server.expect("checked: -r is compulsory");
        let method = self.method.unwrap_or(Method::Route);
        // ipvsadm silently forces the service's port for direct routing and tunnelling; rvs
        // passes an explicit port on, so that the daemon refuses a port mapping it cannot do
        // instead of configuring something other than what the operator wrote.
        let port = port.unwrap_or(id.port);
        DestSpec {
            addr,
            port,
            method,
            weight: self.weight.unwrap_or(1),
            upper_threshold: self.upper,
            lower_threshold: self.lower,
        }
    }
}

/// Parses argv without the program name.
pub fn parse(args: &[String]) -> Result<Invocation, UsageError> {
    let (events, positional) = scan(args)?;
    let mut st = State::default();
    for ev in events {
        st.apply(ev)?;
    }
    let socket = st.socket.clone();
    let done = |command| {
        Ok(Invocation {
            socket: socket.clone(),
            command,
        })
    };

    let cmd = match st.cmd {
        Some(c) => c,
        // Like `ipvsadm` alone: list the table.
        None if st.options == 0 && positional.is_empty() => {
            return done(Command::List {
                what: ListWhat::All,
                format: Format::default(),
            })
        }
        None => return fail(TRY_HELP),
    };
    match cmd {
        Cmd::Help => return done(Command::Help),
        Cmd::Version => return done(Command::Version),
        _ => {}
    }

    let mut timeouts = None;
    let mut extra = positional.iter();
    if cmd == Cmd::Set {
        match (extra.next(), extra.next(), extra.next()) {
            (Some(tcp), Some(tcpfin), Some(udp)) => {
                timeouts = Some(Timeouts {
                    tcp: parse_timeout(tcp, 0)?,
                    tcpfin: parse_timeout(tcpfin, 0)?,
                    udp: parse_timeout(udp, 0)?,
                });
            }
            _ => return fail("--set option requires 3 timeout values"),
        }
    }
    if let Some(arg) = extra.next() {
        return fail(format!("unexpected argument {arg}"));
    }

    st.check(cmd)?;

    let service = st.service_id();
    let svc = || service.expect("checked: the service is compulsory");
    let format = Format {
        numeric: st.has(O_NUMERIC),
        stats: st.has(O_STATS),
        rate: st.has(O_RATE),
        thresholds: st.has(O_THRESHOLDS),
        exact: st.has(O_EXACT),
        nosort: st.has(O_NOSORT),
    };
    let command = match cmd {
        Cmd::Add | Cmd::Edit => {
            let id = svc();
            if id.port == 0 && st.persistence.is_none() {
                return fail("Zero port specified for non-persistent service");
            }
            let spec = st.service_spec(id)?;
            Command::Exec(if cmd == Cmd::Add {
                Request::AddService(spec)
            } else {
                Request::EditService(spec)
            })
        }
        Cmd::Del => Command::Exec(Request::DeleteService(svc())),
        Cmd::Flush => Command::Exec(Request::Clear),
        Cmd::List => {
            if (st.has(O_CONNECTION) || st.has(O_TIMEOUT))
                && (st.has(O_STATS) || st.has(O_RATE) || st.has(O_THRESHOLDS))
            {
                return fail("options conflicts in the list command");
            }
            let what = if st.has(O_DAEMON) {
                ListWhat::Daemons
            } else if st.has(O_CONNECTION) {
                ListWhat::Connections
            } else if let Some(id) = service {
                ListWhat::Service(id)
            } else if st.has(O_TIMEOUT) {
                ListWhat::Timeouts
            } else {
                ListWhat::All
            };
            Command::List { what, format }
        }
        Cmd::AddDest | Cmd::EditDest => {
            let id = svc();
            let dest = st.dest_spec(id);
            Command::Exec(if cmd == Cmd::AddDest {
                Request::AddDest { service: id, dest }
            } else {
                Request::EditDest { service: id, dest }
            })
        }
        Cmd::DelDest => {
            let id = svc();
            let (addr, port) = st.server.expect("checked: -r is compulsory");
            Command::Exec(Request::DeleteDest {
                service: id,
                addr,
                port: port.unwrap_or(id.port),
            })
        }
        Cmd::Set => Command::Exec(Request::SetTimeouts(
            timeouts.expect("parsed with the positional arguments"),
        )),
        Cmd::Restore => Command::Restore,
        Cmd::Save => Command::Save,
        Cmd::Zero => Command::Exec(Request::ZeroStats { service }),
        Cmd::AddLaddr => Command::Exec(Request::AddLocalAddr {
            service: svc(),
            laddr: LocalAddr {
                addr: st.laddr.expect("checked: -z is compulsory"),
                interface: st.ifname.clone().expect("checked: -F is compulsory"),
            },
        }),
        Cmd::DelLaddr => Command::Exec(Request::DeleteLocalAddr {
            service: svc(),
            addr: st.laddr.expect("checked: -z is compulsory"),
        }),
        Cmd::GetLaddr => Command::GetLocalAddrs(service),
        Cmd::Import => Command::ImportKeepalived {
            path: st.import.clone().expect("set with the command"),
            dry_run: st.has(O_DRY_RUN),
        },
        Cmd::Health => Command::Health,
        Cmd::StartDaemon => Command::Exec(Request::StartDaemon {
            role: st.role.expect("set with the command"),
            daemon: st.daemon.clone(),
        }),
        Cmd::StopDaemon => {
            Command::Exec(Request::StopDaemon(st.role.expect("set with the command")))
        }
        Cmd::Sysctl => match st.sysctl.expect("set with the command") {
            (name, Some(value)) => Command::Exec(Request::SetSysctl(name, value)),
            (name, None) => Command::GetSysctl(name),
        },
        Cmd::Help | Cmd::Version => unreachable!("returned above"),
    };
    done(command)
}

/// `--sysctl`'s argument: `NAME` or `NAME=VALUE`, NAME with or without `net.ipv4.vs.`.
fn parse_sysctl(arg: &str) -> Result<(Sysctl, Option<u32>), UsageError> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v)),
        None => (arg.trim(), None),
    };
    let sysctl = Sysctl::parse(name).or_else(fail)?;
    let value = value
        .map(|v| sysctl.parse_value(v))
        .transpose()
        .or_else(fail)?;
    Ok((sysctl, value))
}

/// Splits one line of `-R` input into words: whitespace-separated, `"..."`/`'...'` quoting, `#`
/// starting a comment at the beginning of a word. A leading `ipvsadm`/`rvsadm` word is dropped.
pub fn split_rule_line(line: &str) -> Result<Vec<String>, UsageError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' || c == '\'' {
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(q) => word.push(q),
                        None => return fail("unterminated quote"),
                    }
                }
            } else {
                word.push(c);
            }
        }
        words.push(word);
    }
    if words
        .first()
        .is_some_and(|w| w == "ipvsadm" || w == "rvsadm")
    {
        words.remove(0);
    }
    Ok(words)
}

/// Parses `-R` input: one rule per line (as `-S` prints them), blank lines and `#` comments
/// skipped. Each rule must be a mutating command; errors name the line (1-based).
pub fn parse_rules(text: &str) -> Result<Vec<(usize, Request)>, (usize, UsageError)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let words = split_rule_line(line).map_err(|e| (n, e))?;
        if words.is_empty() {
            continue;
        }
        let inv = parse(&words).map_err(|e| (n, e))?;
        match inv.command {
            Command::Exec(req) if inv.socket.is_none() => out.push((n, req)),
            _ => {
                return Err((
                    n,
                    UsageError(
                        "only -A -E -D -C -a -e -d -Z --set --add-laddr --del-laddr rules can be restored"
                            .into(),
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// The `-h` text.
pub fn usage() -> String {
    format!(
        "rvsadm {version} (ipvsadm-compatible)
Usage:
  rvsadm -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask]
  rvsadm -D -t|u service-address
  rvsadm -C
  rvsadm -R
  rvsadm -S [-n]
  rvsadm -a|e -t|u service-address -r server-address [options]
  rvsadm -d -t|u service-address -r server-address
  rvsadm -L|l [options]
  rvsadm -Z [-t|u service-address]
  rvsadm --set tcp tcpfin udp
  rvsadm --add-laddr -t|u service-address -z local-address -F ifname
  rvsadm --del-laddr -t|u service-address -z local-address
  rvsadm --get-laddr [-t|u service-address]
  rvsadm --import-keepalived file [--dry-run]
  rvsadm --health
  rvsadm --start-daemon {{master|backup}} [daemon-options]
  rvsadm --stop-daemon {{master|backup}}
  rvsadm --sysctl name[=value]
  rvsadm -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --add-laddr       -P        add a FULLNAT local address
  --del-laddr       -Q        delete a FULLNAT local address
  --get-laddr       -G        list FULLNAT local addresses
  --import-keepalived file    apply the virtual servers of a keepalived.conf
  --health                    list the health checkers of rvsd's keepalived.conf (rvs's own):
                              each with its state (UP, DOWN, WARMUP), since when, its runs,
                              failures and last result
  --start-daemon              start the connection synchronization daemon
  --stop-daemon               stop the connection synchronization daemon
  --sysctl name[=value]       show or set an IPVS sysctl of rvsd (rvs's own; IPVS's
                              net.ipv4.vs.NAME): sloppy_tcp 0|1
  --help            -h        display this help message
  --version         -v        display the version

Options:
  --tcp-service  -t service-address   service-address is host[:port]
  --udp-service  -u service-address   service-address is host[:port]
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|mh|...,
                                      the default scheduler is {DEFAULT_SCHEDULER}.
  --sched-flags     flags             sh-fallback,sh-port (sh); mh-fallback,mh-port (mh)
  --persistent   -p [timeout]         persistent service (default timeout {DEFAULT_PERSISTENCE})
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat      -b                   full NAT
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --laddr        -z local-address     FULLNAT local address
  --ifname       -F ifname            the port a local address lives on
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --numeric      -n                   numeric output of addresses and ports
  --daemon                            output of daemon information
  --dry-run                           with --import-keepalived: print the rules, apply nothing
  --mcast-interface interface         multicast interface for connection sync (default eth0:
                                      rvsd takes a kernel interface of its ports)
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                max sync message length (default=1472)
  --mcast-group address               IPv4 multicast group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     multicast TTL (default=1)
  --socket path                       rvsd's control socket (else ${env}, else {default})
",
        version = env!("CARGO_PKG_VERSION"),
        env = rvs_api::SOCKET_ENV,
        default = rvs_api::DEFAULT_SOCKET,
    )
}
