//! keepalived.conf's LVS part (DPVS dialect included), read by rvsd (`[keepalived] config`)
//! and by `rvsadm --import-keepalived`.
//!
//! Read: `virtual_server IP PORT { ... }` with `lb_algo`/`lvs_sched`, `lb_kind`/`lvs_method`
//! (NAT, DR, TUN, FNAT), `persistence_timeout`, `persistence_granularity`, `protocol`,
//! `laddr_group_name`, the scheduler flags (`sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`,
//! `flag-1`, `flag-2`), the health keywords (`delay_loop`, `sorry_server`, `quorum`, ...), and
//! `real_server IP [PORT] { weight, uthreshold, lthreshold, inhibit_on_failure, notify_up,
//! notify_down, checkers }` ([`checker`]); and DPVS's `local_address_group NAME { IP[-LAST]
//! IFNAME ... }`. Every other top-level block (global_defs, vrrp_*, ...) is keepalived's own and
//! skipped, nested braces included. Inside a virtual server an unknown keyword, a checker rvs
//! does not implement or a service kind it does not serve is an error with its line; a keyword
//! that has no effect in rvs (`smtp_alert`, ...) is a warning with its line. `#` and `!` start
//! comments.

pub mod checker;

use crate::{DestSpec, LocalAddr, Method, Protocol, Request, SchedFlags, ServiceId, ServiceSpec};
use crate::{DEFAULT_SCHEDULER, MAX_THRESHOLD, MAX_TIMEOUT};
use checker::{flag, timer, Checker};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The LVS configuration found in a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub virtual_servers: Vec<VirtualServer>,
    pub local_address_groups: Vec<LocalAddressGroup>,
    /// Keywords read but without effect in rvs, with their lines.
    pub warnings: Vec<ParseError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// Line of the `virtual_server` keyword (1-based).
    pub line: usize,
    pub id: ServiceId,
    pub scheduler: String,
    /// Scheduler flag keywords, as written.
    pub sched_flags: Vec<String>,
    /// lb_kind (keepalived's default is NAT).
    pub method: Method,
    pub persistence: Option<u32>,
    /// persistence_granularity as a prefix length (32 / 128 when absent).
    pub netmask: u8,
    /// laddr_group_name (DPVS FULLNAT).
    pub laddr_group: Option<String>,
    pub real_servers: Vec<RealServer>,
    pub health: ServiceHealth,
}

/// A virtual server's health settings; the checker options here are its real servers'
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceHealth {
    pub delay_loop: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub alpha: bool,
    /// At shutdown, run the down scripts of what is up.
    pub omega: bool,
    pub inhibit_on_failure: bool,
    pub virtualhost: Option<String>,
    /// Serves new connections while the real servers' alive weight is under the quorum.
    pub sorry_server: Option<SorryServer>,
    /// The sum of the alive real servers' weights the service needs (keepalived's default 1).
    pub quorum: Option<u32>,
    pub hysteresis: u32,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    /// Accepted, no effect: rvsd's checks run on every box (a backup's too).
    pub ha_suspend: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryServer {
    pub line: usize,
    pub addr: IpAddr,
    pub port: u16,
    /// Kept in the table with weight 0 while not in use (`sorry_server_inhibit`).
    pub inhibit: bool,
    pub method: Option<Method>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub line: usize,
    pub addr: IpAddr,
    /// 0 when the configuration gives none (the service's port).
    pub port: u16,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// A per-server lb_kind/lvs_method, when given.
    pub method: Option<Method>,
    /// None: the service's.
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    /// The real server's defaults for its checkers (None: the service's).
    pub delay_loop: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub alpha: Option<bool>,
    pub virtualhost: Option<String>,
    pub checkers: Vec<Checker>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddressGroup {
    pub name: String,
    pub line: usize,
    pub addrs: Vec<LocalAddr>,
}

/// A configuration error at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

#[derive(Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'#' | b'!' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' | b'}' => {
                out.push(Token {
                    tok: if c == b'{' { Tok::Open } else { Tok::Close },
                    line,
                });
                i += 1;
            }
            b'"' => {
                i += 1;
                let body = i;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\n' {
                        return err(line, "unterminated quoted string");
                    }
                    i += 1;
                }
                if i == bytes.len() {
                    return err(line, "unterminated quoted string");
                }
                out.push(Token {
                    tok: Tok::Word(src[body..i].to_string()),
                    line,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !matches!(bytes[i], b'{' | b'}' | b'"')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(src[start..i].to_string()),
                    line,
                });
            }
        }
    }
    Ok(out)
}

/// One statement: a keyword, its arguments on the same line, and maybe a block.
#[derive(Debug)]
struct Node {
    keyword: String,
    args: Vec<String>,
    line: usize,
    block: Option<Vec<Node>>,
}

fn parse_nodes(
    tokens: &[Token],
    pos: &mut usize,
    opened_at: Option<usize>,
) -> Result<Vec<Node>, ParseError> {
    let mut nodes = Vec::new();
    loop {
        let Some(t) = tokens.get(*pos) else {
            return match opened_at {
                Some(line) => err(line, "missing '}' for the block opened here"),
                None => Ok(nodes),
            };
        };
        *pos += 1;
        match &t.tok {
            Tok::Close => {
                return match opened_at {
                    Some(_) => Ok(nodes),
                    None => err(t.line, "unexpected '}'"),
                }
            }
            Tok::Open => return err(t.line, "'{' without a keyword"),
            Tok::Word(keyword) => {
                let mut node = Node {
                    keyword: keyword.clone(),
                    args: Vec::new(),
                    line: t.line,
                    block: None,
                };
                while let Some(Token {
                    tok: Tok::Word(w),
                    line,
                }) = tokens.get(*pos)
                {
                    if *line != t.line {
                        break;
                    }
                    node.args.push(w.clone());
                    *pos += 1;
                }
                if let Some(Token { tok: Tok::Open, .. }) = tokens.get(*pos) {
                    *pos += 1;
                    node.block = Some(parse_nodes(tokens, pos, Some(t.line))?);
                }
                nodes.push(node);
            }
        }
    }
}

fn arg(node: &Node, i: usize) -> Result<&str, ParseError> {
    match node.args.get(i) {
        Some(a) => Ok(a),
        None => err(node.line, format!("{} needs a value", node.keyword)),
    }
}

/// The one value of `node` (more is an error: keepalived reads a keyword's values from its
/// line, so a second keyword on the line would be lost).
fn value(node: &Node) -> Result<&str, ParseError> {
    if node.args.len() > 1 {
        return err(
            node.line,
            format!("{} takes one value, not {}", node.keyword, node.args.len()),
        );
    }
    arg(node, 0)
}

fn number(node: &Node, min: u32, max: u32) -> Result<u32, ParseError> {
    let s = value(node)?;
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => err(
            node.line,
            format!("{} `{s}' is not a number in {min}..{max}", node.keyword),
        ),
    }
}

fn method(node: &Node) -> Result<Method, ParseError> {
    let s = value(node)?;
    Ok(match s.to_ascii_uppercase().as_str() {
        "NAT" => Method::Masq,
        "DR" => Method::Route,
        "TUN" => Method::Tunnel,
        "FNAT" | "FULLNAT" => Method::FullNat,
        _ => return err(node.line, format!("unknown {} `{s}'", node.keyword)),
    })
}

fn port_arg(node: &Node, s: &str) -> Result<u16, ParseError> {
    s.parse()
        .or_else(|_| err(node.line, format!("invalid port `{s}'")))
}

/// `IP [PORT]` of a `real_server` or `sorry_server` (port 0: none given).
fn address_port(node: &Node) -> Result<(IpAddr, u16), ParseError> {
    let a = arg(node, 0)?;
    let Ok(addr) = a.parse::<IpAddr>() else {
        return err(node.line, format!("invalid {} address `{a}'", node.keyword));
    };
    let port = match node.args.get(1) {
        Some(p) => port_arg(node, p)?,
        None => 0,
    };
    Ok((addr, port))
}

/// Keywords keepalived knows that have no effect in rvs: a warning each.
const WITHOUT_EFFECT: [&str; 5] = [
    "smtp_alert",
    "ip_family",
    "ops",
    "log_all_failures",
    "nat_mask",
];

fn warn(warnings: &mut Vec<ParseError>, n: &Node) {
    warnings.push(ParseError {
        line: n.line,
        message: format!("{} has no effect in rvs", n.keyword),
    });
}

fn virtual_server(
    node: &Node,
    warnings: &mut Vec<ParseError>,
) -> Result<VirtualServer, ParseError> {
    let first = arg(node, 0)?;
    if matches!(first, "group" | "fwmark" | "match") {
        return err(
            node.line,
            format!("virtual_server {first} is not supported (only virtual_server IP PORT)"),
        );
    }
    let Ok(addr) = first.parse::<IpAddr>() else {
        return err(
            node.line,
            format!("invalid virtual_server address `{first}'"),
        );
    };
    let port = match node.args.get(1) {
        Some(p) => port_arg(node, p)?,
        None => 0,
    };
    let Some(block) = &node.block else {
        return err(node.line, "virtual_server without a { ... } block");
    };
    let mut vs = VirtualServer {
        line: node.line,
        id: ServiceId {
            protocol: Protocol::Tcp,
            addr,
            port,
        },
        scheduler: DEFAULT_SCHEDULER.to_string(),
        sched_flags: Vec::new(),
        method: Method::Masq,
        persistence: None,
        netmask: if addr.is_ipv6() { 128 } else { 32 },
        laddr_group: None,
        real_servers: Vec::new(),
        health: ServiceHealth::default(),
    };
    for n in block {
        if !service_health(&mut vs.health, n)? {
            virtual_server_option(&mut vs, n, warnings)?;
        }
    }
    if vs.id.port == 0 && vs.persistence.is_none() {
        return err(node.line, "Zero port specified for non-persistent service");
    }
    Ok(vs)
}

/// Reads a virtual server keyword other than the health ones into `vs`.
fn virtual_server_option(
    vs: &mut VirtualServer,
    n: &Node,
    warnings: &mut Vec<ParseError>,
) -> Result<(), ParseError> {
    match n.keyword.as_str() {
        "lb_algo" | "lvs_sched" => vs.scheduler = value(n)?.to_string(),
        "lb_kind" | "lvs_method" => vs.method = method(n)?,
        "persistence_timeout" => vs.persistence = Some(number(n, 1, MAX_TIMEOUT)?),
        "persistence_granularity" => {
            let v6 = vs.id.addr.is_ipv6();
            vs.netmask = crate::netmask_len(value(n)?, v6).or_else(|e| err(n.line, e))?;
        }
        "protocol" => {
            let p = value(n)?;
            vs.id.protocol = match p.to_ascii_uppercase().as_str() {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                _ => return err(n.line, format!("unsupported protocol `{p}'")),
            };
        }
        "laddr_group_name" => vs.laddr_group = Some(value(n)?.to_string()),
        flag @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2") => {
            vs.sched_flags.push(flag.to_string())
        }
        "real_server" => vs.real_servers.push(real_server(n, warnings)?),
        kw if WITHOUT_EFFECT.contains(&kw) => warn(warnings, n),
        kw => return err(n.line, format!("unknown keyword {kw} in virtual_server")),
    }
    Ok(())
}

/// Reads a health keyword of a virtual server into `h`; false if `n` is not one.
fn service_health(h: &mut ServiceHealth, n: &Node) -> Result<bool, ParseError> {
    match n.keyword.as_str() {
        "delay_loop" => h.delay_loop = Some(timer(n)?),
        "connect_timeout" => h.connect_timeout = Some(timer(n)?),
        "retry" | "nb_get_retry" => h.retry = Some(number(n, 0, 1_000_000)?),
        "delay_before_retry" => h.delay_before_retry = Some(timer(n)?),
        "warmup" => h.warmup = Some(timer(n)?),
        "alpha" => h.alpha = flag(n)?,
        "omega" => h.omega = flag(n)?,
        "inhibit_on_failure" => h.inhibit_on_failure = flag(n)?,
        "virtualhost" => h.virtualhost = Some(value(n)?.to_string()),
        "sorry_server" => {
            let (addr, port) = address_port(n)?;
            let (inhibit, method) = h
                .sorry_server
                .as_ref()
                .map_or((false, None), |s| (s.inhibit, s.method));
            h.sorry_server = Some(SorryServer {
                line: n.line,
                addr,
                port,
                inhibit,
                method,
            });
        }
        "sorry_server_inhibit" => sorry(h, n)?.inhibit = flag(n)?,
        "sorry_server_lvs_method" => sorry(h, n)?.method = Some(method(n)?),
        "quorum" => h.quorum = Some(number(n, 1, u32::MAX)?),
        "hysteresis" => h.hysteresis = number(n, 0, u32::MAX)?,
        "quorum_up" => h.quorum_up = Some(n.args.join(" ")),
        "quorum_down" => h.quorum_down = Some(n.args.join(" ")),
        "ha_suspend" => h.ha_suspend = flag(n)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The sorry server `sorry_server_inhibit` or `sorry_server_lvs_method` (after it) is about.
fn sorry<'a>(h: &'a mut ServiceHealth, n: &Node) -> Result<&'a mut SorryServer, ParseError> {
    match h.sorry_server.as_mut() {
        Some(s) => Ok(s),
        None => err(n.line, format!("{} before sorry_server", n.keyword)),
    }
}

fn real_server(node: &Node, warnings: &mut Vec<ParseError>) -> Result<RealServer, ParseError> {
    let (addr, port) = address_port(node)?;
    let mut rs = RealServer {
        line: node.line,
        addr,
        port,
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
        method: None,
        inhibit_on_failure: None,
        notify_up: None,
        notify_down: None,
        delay_loop: None,
        connect_timeout: None,
        retry: None,
        delay_before_retry: None,
        warmup: None,
        alpha: None,
        virtualhost: None,
        checkers: Vec::new(),
    };
    for n in node.block.iter().flatten() {
        match n.keyword.as_str() {
            "weight" => rs.weight = number(n, 0, 65535)?,
            "uthreshold" => rs.upper_threshold = number(n, 0, MAX_THRESHOLD)?,
            "lthreshold" => rs.lower_threshold = number(n, 0, MAX_THRESHOLD)?,
            "lb_kind" | "lvs_method" => rs.method = Some(method(n)?),
            "inhibit_on_failure" => rs.inhibit_on_failure = Some(flag(n)?),
            "notify_up" => rs.notify_up = Some(n.args.join(" ")),
            "notify_down" => rs.notify_down = Some(n.args.join(" ")),
            "delay_loop" => rs.delay_loop = Some(timer(n)?),
            "connect_timeout" => rs.connect_timeout = Some(timer(n)?),
            "retry" | "nb_get_retry" => rs.retry = Some(number(n, 0, 1_000_000)?),
            "delay_before_retry" => rs.delay_before_retry = Some(timer(n)?),
            "warmup" => rs.warmup = Some(timer(n)?),
            "alpha" => rs.alpha = Some(flag(n)?),
            "virtualhost" => rs.virtualhost = Some(value(n)?.to_string()),
            k if checker::is_checker(k) => rs.checkers.push(checker::checker(n)?),
            k if WITHOUT_EFFECT.contains(&k) => warn(warnings, n),
            k => return err(n.line, format!("unknown keyword {k} in real_server")),
        }
    }
    Ok(rs)
}

fn local_address_group(node: &Node) -> Result<LocalAddressGroup, ParseError> {
    let name = arg(node, 0)?.to_string();
    let mut group = LocalAddressGroup {
        name,
        line: node.line,
        addrs: Vec::new(),
    };
    for n in node.block.iter().flatten() {
        if n.block.is_some() {
            return err(n.line, "unexpected block in local_address_group");
        }
        let Some(ifname) = n.args.first() else {
            return err(
                n.line,
                format!("local address `{}' needs an interface name", n.keyword),
            );
        };
        for addr in address_range(n)? {
            group.addrs.push(LocalAddr {
                addr,
                interface: ifname.clone(),
            });
        }
    }
    Ok(group)
}

/// `IP`, or DPVS's `a.b.c.d-e` (last octet from d to e).
fn address_range(node: &Node) -> Result<Vec<IpAddr>, ParseError> {
    let s = node.keyword.as_str();
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(vec![a]);
    }
    let bad = || err(node.line, format!("invalid local address `{s}'"));
    let Some((first, last)) = s.split_once('-') else {
        return bad();
    };
    let (Ok(first), Ok(last)) = (first.parse::<Ipv4Addr>(), last.parse::<u8>()) else {
        return bad();
    };
    let [a, b, c, d] = first.octets();
    if last < d {
        return bad();
    }
    Ok((d..=last)
        .map(|o| IpAddr::V4(Ipv4Addr::new(a, b, c, o)))
        .collect())
}

/// Parses a keepalived.conf.
pub fn parse(src: &str) -> Result<Config, ParseError> {
    let tokens = tokenize(src)?;
    let mut pos = 0;
    let nodes = parse_nodes(&tokens, &mut pos, None)?;
    let mut cfg = Config::default();
    for n in &nodes {
        match n.keyword.as_str() {
            "virtual_server" => {
                let vs = virtual_server(n, &mut cfg.warnings)?;
                cfg.virtual_servers.push(vs);
            }
            "local_address_group" => cfg.local_address_groups.push(local_address_group(n)?),
            "include" => return err(n.line, "include is not supported"),
            "virtual_server_group" => return err(n.line, "virtual_server_group is not supported"),
            _ => {}
        }
    }
    Ok(cfg)
}

/// The requests that apply `cfg`, each with the line it comes from: per virtual server its
/// AddService, its local addresses (FULLNAT with a laddr_group_name), then an AddDest per real
/// server. Ports as ipvsadm sets them: DR and TUN real servers take the service's port.
pub fn to_requests(cfg: &Config) -> Result<Vec<(usize, Request)>, ParseError> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        let id = vs.id;
        let sched_flags = if vs.sched_flags.is_empty() {
            SchedFlags::default()
        } else {
            SchedFlags::parse(&vs.sched_flags.join(","), &vs.scheduler)
                .or_else(|e| err(vs.line, e))?
        };
        out.push((
            vs.line,
            Request::AddService(ServiceSpec {
                id,
                scheduler: vs.scheduler.clone(),
                persistence: vs.persistence,
                netmask: vs.netmask,
                sched_flags,
            }),
        ));
        if let (Method::FullNat, Some(name)) = (vs.method, &vs.laddr_group) {
            let Some(group) = cfg.local_address_groups.iter().find(|g| &g.name == name) else {
                return err(
                    vs.line,
                    format!("laddr_group_name {name}: no local_address_group {name}"),
                );
            };
            for laddr in &group.addrs {
                out.push((
                    group.line,
                    Request::AddLocalAddr {
                        service: id,
                        laddr: laddr.clone(),
                    },
                ));
            }
        }
        for rs in &vs.real_servers {
            let method = rs.method.unwrap_or(vs.method);
            let port = match method {
                Method::Route | Method::Tunnel => id.port,
                Method::Masq | Method::FullNat if rs.port == 0 => id.port,
                Method::Masq | Method::FullNat => rs.port,
            };
            out.push((
                rs.line,
                Request::AddDest {
                    service: id,
                    dest: DestSpec {
                        addr: rs.addr,
                        port,
                        method,
                        weight: rs.weight,
                        upper_threshold: rs.upper_threshold,
                        lower_threshold: rs.lower_threshold,
                    },
                },
            ));
        }
    }
    Ok(out)
}
