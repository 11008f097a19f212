//! keepalived's health checkers as written in a `real_server` block (keepalived.conf(5)):
//! `TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `UDP_CHECK`, `DNS_CHECK`, `PING_CHECK` and `MISC_CHECK`,
//! with the options every checker shares. A timer is in seconds with up to six decimals.

use super::{arg, err, value, Node, ParseError};
use std::net::IpAddr;
use std::time::Duration;

/// Longest timer accepted (keepalived's own limit is about 4,294 s; a day is plenty).
const MAX_TIMER_SECS: u64 = 86_400;

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checker {
    /// Line of its keyword (1-based).
    pub line: usize,
    pub kind: CheckKind,
    /// The options every checker shares; `None`: the real server's or the service's value, or
    /// keepalived's default.
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub delay_loop: Option<Duration>,
    pub warmup: Option<Duration>,
    pub alpha: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Tcp,
    /// `HTTP_GET` (`tls` false) or `SSL_GET`.
    Http {
        tls: bool,
        urls: Vec<Url>,
        virtualhost: Option<String>,
    },
    Udp {
        payload: Vec<u8>,
        require_reply: Option<Vec<u8>>,
    },
    Dns {
        /// The query type's name (`A`, `SOA`, ...; keepalived's default `SOA`).
        query_type: String,
        /// keepalived's default `.`.
        name: String,
    },
    Ping,
    Misc {
        path: String,
        /// keepalived's default: the checker's delay_loop.
        timeout: Option<Duration>,
        /// Exit codes 2..=255 set the weight to code - 2.
        dynamic: bool,
        user: Option<String>,
    },
}

impl CheckKind {
    /// The block keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http { tls: false, .. } => "HTTP_GET",
            CheckKind::Http { tls: true, .. } => "SSL_GET",
            CheckKind::Udp { .. } => "UDP_CHECK",
            CheckKind::Dns { .. } => "DNS_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Misc { .. } => "MISC_CHECK",
        }
    }
}

/// An `url { }` block of `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub path: String,
    /// Lower-case hex MD5 of the body, if required.
    pub digest: Option<String>,
    /// Accepted status codes; empty: any 2xx (keepalived's default).
    pub status_codes: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
}

/// Keywords of keepalived's checkers that rvs does not implement: refused with their line.
const UNSUPPORTED_CHECKERS: [&str; 4] = ["SMTP_CHECK", "BFD_CHECK", "FILE_CHECK", "EXTERNAL"];

/// Whether `keyword` opens a checker block (supported or not).
pub fn is_checker(keyword: &str) -> bool {
    keyword.ends_with("_CHECK") || keyword == "HTTP_GET" || keyword == "SSL_GET"
}

/// Reads the checker block `node`.
pub(super) fn checker(node: &Node) -> Result<Checker, ParseError> {
    let kw = node.keyword.as_str();
    let mut kind = match kw {
        "TCP_CHECK" => CheckKind::Tcp,
        "HTTP_GET" | "SSL_GET" => CheckKind::Http {
            tls: kw == "SSL_GET",
            urls: Vec::new(),
            virtualhost: None,
        },
        "UDP_CHECK" => CheckKind::Udp {
            payload: Vec::new(),
            require_reply: None,
        },
        "DNS_CHECK" => CheckKind::Dns {
            query_type: "SOA".into(),
            name: ".".into(),
        },
        "PING_CHECK" => CheckKind::Ping,
        "MISC_CHECK" => CheckKind::Misc {
            path: String::new(),
            timeout: None,
            dynamic: false,
            user: None,
        },
        _ if UNSUPPORTED_CHECKERS.contains(&kw) => {
            return err(node.line, format!("{kw} is not supported by rvs"))
        }
        _ => return err(node.line, format!("unknown checker {kw}")),
    };
    let mut c = Checker {
        line: node.line,
        kind: CheckKind::Tcp,
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        connect_timeout: None,
        retry: None,
        delay_before_retry: None,
        delay_loop: None,
        warmup: None,
        alpha: None,
    };
    for n in node.block.iter().flatten() {
        if !common_option(&mut c, n)? {
            kind_option(&mut kind, n)?;
        }
    }
    match &kind {
        CheckKind::Misc { path, .. } if path.is_empty() => {
            return err(node.line, "MISC_CHECK needs a misc_path")
        }
        CheckKind::Http { urls, .. } if urls.is_empty() => {
            return err(node.line, format!("{kw} needs at least one url block"))
        }
        _ => {}
    }
    c.kind = kind;
    Ok(c)
}

/// Reads an option every checker has into `c`; false if `n` is not one.
fn common_option(c: &mut Checker, n: &Node) -> Result<bool, ParseError> {
    match n.keyword.as_str() {
        "connect_ip" => c.connect_ip = Some(address(n)?),
        "connect_port" => c.connect_port = Some(port(n)?),
        "bindto" => c.bindto = Some(address(n)?),
        "bind_port" => c.bind_port = Some(port(n)?),
        "connect_timeout" => c.connect_timeout = Some(timer(n)?),
        "retry" | "nb_get_retry" => c.retry = Some(count(n)?),
        "delay_before_retry" => c.delay_before_retry = Some(timer(n)?),
        "delay_loop" => c.delay_loop = Some(timer(n)?),
        "warmup" => c.warmup = Some(timer(n)?),
        "alpha" => c.alpha = Some(flag(n)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Reads an option of `kind`'s own into it; an error for any other keyword.
fn kind_option(kind: &mut CheckKind, n: &Node) -> Result<(), ParseError> {
    let kw = n.keyword.as_str();
    match (kind, kw) {
        (CheckKind::Http { urls, .. }, "url") => urls.push(url(n)?),
        (CheckKind::Http { virtualhost, .. }, "virtualhost") => {
            *virtualhost = Some(value(n)?.to_string())
        }
        (CheckKind::Udp { payload, .. }, "payload") => *payload = hex(n)?,
        (CheckKind::Udp { require_reply, .. }, "require_reply") => {
            *require_reply = Some(if n.args.is_empty() {
                Vec::new()
            } else {
                hex(n)?
            })
        }
        (CheckKind::Dns { query_type, .. }, "type") => {
            let t = value(n)?.to_ascii_uppercase();
            if !DNS_TYPES.iter().any(|(name, _)| *name == t) {
                return err(n.line, format!("unknown DNS type `{t}'"));
            }
            *query_type = t;
        }
        (CheckKind::Dns { name, .. }, "name") => *name = value(n)?.to_string(),
        (CheckKind::Misc { path, .. }, "misc_path") => *path = n.args.join(" "),
        (CheckKind::Misc { timeout, .. }, "misc_timeout") => *timeout = Some(timer(n)?),
        (CheckKind::Misc { dynamic, .. }, "misc_dynamic") => *dynamic = flag(n)?,
        (CheckKind::Misc { user, .. }, "user") => *user = Some(value(n)?.to_string()),
        (k, _) => return err(n.line, format!("unknown keyword {kw} in {}", k.keyword())),
    }
    Ok(())
}

/// The DNS query types `DNS_CHECK` accepts, with their numbers.
pub const DNS_TYPES: [(&str, u16); 10] = [
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("RRSIG", 46),
    ("DNSKEY", 48),
    ("ANY", 255),
];

fn url(node: &Node) -> Result<Url, ParseError> {
    let mut u = Url {
        path: String::new(),
        digest: None,
        status_codes: Vec::new(),
        virtualhost: None,
    };
    for n in node.block.iter().flatten() {
        match n.keyword.as_str() {
            "path" => u.path = value(n)?.to_string(),
            "digest" => {
                let d = value(n)?.to_ascii_lowercase();
                if d.len() != 32 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return err(n.line, format!("digest `{d}' is not 32 hex digits (MD5)"));
                }
                u.digest = Some(d);
            }
            "status_code" => {
                if n.args.is_empty() {
                    arg(n, 0)?;
                }
                for a in &n.args {
                    u.status_codes.push(status_range(n, a)?);
                }
            }
            "virtualhost" => u.virtualhost = Some(value(n)?.to_string()),
            kw => return err(n.line, format!("unknown keyword {kw} in url")),
        }
    }
    if u.path.is_empty() {
        return err(node.line, "url needs a path");
    }
    Ok(u)
}

/// `200` or `200-299`, each code in 100..=599.
fn status_range(n: &Node, a: &str) -> Result<(u16, u16), ParseError> {
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    let range = match a.split_once('-') {
        Some((lo, hi)) => code(lo).zip(code(hi)).filter(|(lo, hi)| lo <= hi),
        None => code(a).map(|c| (c, c)),
    };
    range.map_or_else(
        || {
            err(
                n.line,
                format!("status_code `{a}' is not an HTTP status (100..599) or range"),
            )
        },
        Ok,
    )
}

/// A timer: seconds, up to six decimals, at most a day.
pub(super) fn timer(n: &Node) -> Result<Duration, ParseError> {
    let s = value(n)?;
    let bad = || {
        err(
            n.line,
            format!("{} `{s}' is not a number of seconds", n.keyword),
        )
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 6 {
        return bad();
    }
    let Ok(secs) = whole.parse::<u64>() else {
        return bad();
    };
    let micros = format!("{frac:0<6}").parse::<u32>().unwrap_or(0);
    if secs > MAX_TIMER_SECS {
        return err(n.line, format!("{} `{s}' is more than a day", n.keyword));
    }
    Ok(Duration::new(secs, micros * 1000))
}

fn count(n: &Node) -> Result<u32, ParseError> {
    super::number(n, 0, 1_000_000)
}

/// A flag: no argument, or `true`/`false` (keepalived 2.x also takes `on`/`off`, `yes`/`no`).
pub(super) fn flag(n: &Node) -> Result<bool, ParseError> {
    match n.args.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("true" | "on" | "yes" | "1") => Ok(true),
        Some("false" | "off" | "no" | "0") => Ok(false),
        Some(other) => err(
            n.line,
            format!("{} `{other}' is not true or false", n.keyword),
        ),
    }
}

fn address(n: &Node) -> Result<IpAddr, ParseError> {
    let a = value(n)?;
    a.parse()
        .or_else(|_| err(n.line, format!("invalid {} address `{a}'", n.keyword)))
}

fn port(n: &Node) -> Result<u16, ParseError> {
    let p = value(n)?;
    p.parse()
        .or_else(|_| err(n.line, format!("invalid {} `{p}'", n.keyword)))
}

/// A hex string (`payload`, `require_reply`), even length.
fn hex(n: &Node) -> Result<Vec<u8>, ParseError> {
    let s = value(n)?;
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(n.line, format!("{} `{s}' is not hex bytes", n.keyword));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect())
}
