//! `--import-keepalived`: the LVS part of a keepalived.conf (DPVS dialect included).
//!
//! Read: `virtual_server IP PORT { ... }` with `lb_algo`/`lvs_sched`, `lb_kind`/`lvs_method`
//! (NAT, DR, TUN, FNAT), `persistence_timeout`, `persistence_granularity`, `protocol`,
//! `laddr_group_name`, the scheduler flags (`sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`,
//! `flag-1`, `flag-2`), and `real_server IP [PORT] { weight, uthreshold, lthreshold, health
//! checks }`; and DPVS's `local_address_group NAME { IP[-LAST] IFNAME ... }`. Health-check
//! blocks (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `MISC_CHECK`, ...) are kept as raw text for a
//! later health-check feature. Every other block (global_defs, vrrp_*, ...) and keyword is
//! skipped, nested braces included. `#` and `!` start comments.

use crate::args::{parse_netmask, DEFAULT_SCHEDULER, MAX_TIMEOUT};
use rvs_api::{DestSpec, LocalAddr, Method, Protocol, Request, SchedFlags, ServiceId, ServiceSpec};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// The LVS configuration found in a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub virtual_servers: Vec<VirtualServer>,
    pub local_address_groups: Vec<LocalAddressGroup>,
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
    pub health_checks: Vec<HealthCheck>,
}

/// A health-check block, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub kind: String,
    pub line: usize,
    /// The block as written, from its keyword to its closing brace.
    pub raw: String,
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
    start: usize,
    end: usize,
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
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b'"' => {
                let start = i;
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
                    start,
                    end: i + 1,
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
                    start,
                    end: i,
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
    start: usize,
    end: usize,
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
                    start: t.start,
                    end: t.end,
                };
                while let Some(Token {
                    tok: Tok::Word(w),
                    line,
                    end,
                    ..
                }) = tokens.get(*pos)
                {
                    if *line != t.line {
                        break;
                    }
                    node.args.push(w.clone());
                    node.end = *end;
                    *pos += 1;
                }
                if let Some(Token { tok: Tok::Open, .. }) = tokens.get(*pos) {
                    *pos += 1;
                    node.block = Some(parse_nodes(tokens, pos, Some(t.line))?);
                    node.end = tokens[*pos - 1].end;
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

fn number(node: &Node, min: u32, max: u32) -> Result<u32, ParseError> {
    let s = arg(node, 0)?;
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => err(
            node.line,
            format!("{} `{s}' is not a number in {min}..{max}", node.keyword),
        ),
    }
}

fn method(node: &Node) -> Result<Method, ParseError> {
    let s = arg(node, 0)?;
    Ok(match s.to_ascii_uppercase().as_str() {
        "NAT" => Method::Masq,
        "DR" => Method::Route,
        "TUN" => Method::Tunnel,
        "FNAT" | "FULLNAT" => Method::FullNat,
        _ => return err(node.line, format!("unknown {} `{s}'", node.keyword)),
    })
}

fn is_health_check(keyword: &str) -> bool {
    keyword.ends_with("_CHECK") || keyword == "HTTP_GET" || keyword == "SSL_GET"
}

fn port_arg(node: &Node, s: &str) -> Result<u16, ParseError> {
    s.parse()
        .or_else(|_| err(node.line, format!("invalid port `{s}'")))
}

fn virtual_server(src: &str, node: &Node) -> Result<VirtualServer, ParseError> {
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
    };
    for n in block {
        match n.keyword.as_str() {
            "lb_algo" | "lvs_sched" => vs.scheduler = arg(n, 0)?.to_string(),
            "lb_kind" | "lvs_method" => vs.method = method(n)?,
            "persistence_timeout" => vs.persistence = Some(number(n, 1, MAX_TIMEOUT)?),
            "persistence_granularity" => {
                vs.netmask =
                    parse_netmask(arg(n, 0)?, addr.is_ipv6()).or_else(|e| err(n.line, e.0))?;
            }
            "protocol" => {
                let p = arg(n, 0)?;
                vs.id.protocol = match p.to_ascii_uppercase().as_str() {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    _ => return err(n.line, format!("unsupported protocol `{p}'")),
                };
            }
            "laddr_group_name" => vs.laddr_group = Some(arg(n, 0)?.to_string()),
            flag
            @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2") => {
                vs.sched_flags.push(flag.to_string())
            }
            "real_server" => vs.real_servers.push(real_server(src, n)?),
            _ => {}
        }
    }
    if vs.id.port == 0 && vs.persistence.is_none() {
        return err(node.line, "Zero port specified for non-persistent service");
    }
    Ok(vs)
}

fn real_server(src: &str, node: &Node) -> Result<RealServer, ParseError> {
    let a = arg(node, 0)?;
    let Ok(addr) = a.parse::<IpAddr>() else {
        return err(node.line, format!("invalid real_server address `{a}'"));
    };
    let port = match node.args.get(1) {
        Some(p) => port_arg(node, p)?,
        None => 0,
    };
    let mut rs = RealServer {
        line: node.line,
        addr,
        port,
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
        method: None,
        health_checks: Vec::new(),
    };
    for n in node.block.iter().flatten() {
        match n.keyword.as_str() {
            "weight" => rs.weight = number(n, 0, 65535)?,
            "uthreshold" => rs.upper_threshold = number(n, 0, rvs_api::MAX_THRESHOLD)?,
            "lthreshold" => rs.lower_threshold = number(n, 0, rvs_api::MAX_THRESHOLD)?,
            "lb_kind" | "lvs_method" => rs.method = Some(method(n)?),
            k if is_health_check(k) => rs.health_checks.push(HealthCheck {
                kind: k.to_string(),
                line: n.line,
                raw: src[n.start..n.end].to_string(),
            }),
            _ => {}
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
            "virtual_server" => cfg.virtual_servers.push(virtual_server(src, n)?),
            "local_address_group" => cfg.local_address_groups.push(local_address_group(n)?),
            "include" => return err(n.line, "include is not supported"),
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
