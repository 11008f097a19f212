//! Health checks: keepalived's checker half inside rvsd, for the virtual servers of the
//! keepalived.conf named in the config (`[keepalived] config`).
//!
//! [`Health::start`] resolves every checker's settings (the checker's own, else its real
//! server's, else its virtual server's, else keepalived's defaults) and starts the checker
//! thread ([`runner`]). The control thread calls [`Health::poll`] each round: it folds the
//! reports into each checker's state, logs every change in keepalived's words, and edits the
//! running table as keepalived edits IPVS: a real server with a failed checker is removed (set
//! to weight 0 with `inhibit_on_failure`) and comes back when all its checkers pass; while the
//! alive real servers' weight is under the service's quorum, the sorry server takes new
//! connections. Only the servers whose state changed are touched, so rvsadm's own edits stay.

mod datagram;
mod http;
mod ping;
pub mod probe;
mod runner;

use crate::model::{DestDraft, MethodDraft, ModelError, Network, Table};
use dataplane::snapshot::{DestConfig, ServiceConfig, ServiceKey};
use runner::Runner;
use rvs_api::keepalived::checker::{CheckKind, Checker};
use rvs_api::keepalived::{RealServer, VirtualServer};
use rvs_api::Protocol;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// One attempt's outcome: up (with the weight a `misc_dynamic` script set), or down and why.
pub type Verdict = Result<Option<u32>, String>;

/// keepalived's defaults (check_api.c, check_data.c, and each checker's own).
const DELAY_LOOP: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
const HTTP_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(3);

/// keepalived's `retry` of a checker kind: DNS 3, MISC 0, the others 1.
fn default_retry(kind: &CheckKind) -> u32 {
    match kind {
        CheckKind::Dns { .. } => 3,
        CheckKind::Misc { .. } => 0,
        _ => 1,
    }
}

/// What one checker checks, every default resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: CheckKind,
    pub connect: SocketAddr,
    pub bindto: Option<SocketAddr>,
    pub connect_timeout: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    pub delay_loop: Duration,
    pub warmup: Duration,
}

/// A checker's outcome after its retries.
#[derive(Debug)]
pub struct Report {
    /// Index of the checker in [`Health::checkers`].
    pub checker: usize,
    pub verdict: Verdict,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not checked yet: counts as up, or as down with `alpha`.
    Warmup,
    Up,
    Down,
}

/// A checker as `rvsadm --health` shows it.
#[derive(Debug, Clone)]
pub struct CheckerState {
    pub kind: &'static str,
    pub target: Target,
    /// The service and real server it checks (`[10.20.0.12]:tcp:80`).
    pub service: String,
    pub server: String,
    pub state: State,
    pub alive: bool,
    pub since: Instant,
    /// The last outcome's words.
    pub last: String,
    pub runs: u64,
    pub failures: u64,
}

struct Server {
    draft: DestDraft,
    name: String,
    inhibit: bool,
    checkers: Vec<usize>,
    alive: bool,
    /// The weight a `misc_dynamic` script set.
    dynamic: Option<u32>,
    notify_up: Option<String>,
    notify_down: Option<String>,
}

struct Sorry {
    draft: DestDraft,
    name: String,
    inhibit: bool,
}

struct Service {
    key: ServiceKey,
    name: String,
    servers: Vec<Server>,
    sorry: Option<Sorry>,
    quorum: u32,
    hysteresis: u32,
    has_quorum: bool,
    quorum_up: Option<String>,
    quorum_down: Option<String>,
    /// At shutdown, run the down scripts of what is up (`omega`).
    omega: bool,
}

/// The health of the keepalived.conf's real servers and the checker thread that checks them.
pub struct Health {
    runner: Runner,
    checkers: Vec<CheckerState>,
    /// Each checker's service and server index.
    owners: Vec<(usize, usize)>,
    services: Vec<Service>,
    scripts: Vec<std::process::Child>,
}

impl Health {
    /// Starts checking the real servers of `virtual_servers` (the keys their services have in
    /// the table: `keys`, in the same order).
    /// Checkers that check what one of `previous`'s did, the same way, keep its state.
    pub fn start(
        virtual_servers: &[VirtualServer],
        keys: &[ServiceKey],
        previous: Option<&Health>,
    ) -> std::io::Result<Health> {
        let now = Instant::now();
        let (mut checkers, mut owners, mut services) = (Vec::new(), Vec::new(), Vec::new());
        for (vs, key) in virtual_servers.iter().zip(keys) {
            let si = services.len();
            let mut service = watched_service(vs, *key);
            for rs in &vs.real_servers {
                let mut server = watched_server(vs, rs);
                for c in &rs.checkers {
                    server.checkers.push(checkers.len());
                    owners.push((si, service.servers.len()));
                    checkers.push(CheckerState {
                        kind: c.kind.keyword(),
                        target: target(vs, rs, c),
                        service: service.name.clone(),
                        server: server.name.clone(),
                        state: State::Warmup,
                        alive: !alpha(vs, rs, c),
                        since: now,
                        last: String::new(),
                        runs: 0,
                        failures: 0,
                    });
                }
                server.alive = starts_alive(vs, rs);
                service.servers.push(server);
            }
            services.push(service);
        }
        let targets = checkers.iter().map(|c| c.target.clone()).collect();
        let mut h = Health {
            runner: Runner::start(targets)?,
            checkers,
            owners,
            services,
            scripts: Vec::new(),
        };
        if let Some(old) = previous {
            h.carry(old);
        }
        Ok(h)
    }

    pub fn checkers(&self) -> &[CheckerState] {
        &self.checkers
    }

    /// Whether the checked service `key` has its quorum of live real servers; None for a
    /// service the keepalived.conf does not check.
    pub fn has_quorum(&self, key: &ServiceKey) -> Option<bool> {
        self.services
            .iter()
            .find(|s| s.key == *key)
            .map(|s| s.has_quorum)
    }

    /// Folds the new reports in and returns the table they ask for, if it differs from
    /// `current`.
    pub fn poll(
        &mut self,
        current: &[ServiceConfig],
        net: Network,
    ) -> Result<Option<Vec<ServiceConfig>>, ModelError> {
        self.scripts
            .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
        let reports: Vec<Report> = self.runner.reports().collect();
        self.fold(reports, current, net)
    }

    /// [`Self::poll`] with `reports` in place of the checker thread's.
    fn fold(
        &mut self,
        reports: Vec<Report>,
        current: &[ServiceConfig],
        net: Network,
    ) -> Result<Option<Vec<ServiceConfig>>, ModelError> {
        let mut moved: Vec<(usize, usize)> = Vec::new();
        for r in reports {
            if let Some(server) = self.record(r) {
                moved.push(server);
            }
        }
        if moved.is_empty() {
            return Ok(None);
        }
        let mut table = Table::new(current.to_vec(), net, crate::model::Front::Ipvsadm);
        for &(si, ri) in &moved {
            self.server_changed(&mut table, si, ri)?;
        }
        for si in 0..self.services.len() {
            self.quorum(&mut table, si, false)?;
        }
        let mut new = table.into_services();
        self.keep_config_order(&mut new);
        Ok((new != current).then_some(new))
    }

    /// `services` as the health states have it, at start or on reload: each server in or out
    /// (weight 0 with `inhibit_on_failure`) as it is alive, and the sorry server in where the
    /// quorum is not met. Quiet: these states are not changes.
    pub fn settle(
        &mut self,
        services: Vec<ServiceConfig>,
        net: Network,
    ) -> Result<Vec<ServiceConfig>, ModelError> {
        let mut table = Table::new(services, net, crate::model::Front::Ipvsadm);
        for s in &self.services {
            let Some(i) = table.find(&s.key) else {
                continue;
            };
            for r in &s.servers {
                put(&mut table, i, &r.draft, wanted_weight(r))?;
            }
        }
        for si in 0..self.services.len() {
            self.quorum(&mut table, si, true)?;
        }
        let mut services = table.into_services();
        self.keep_config_order(&mut services);
        Ok(services)
    }

    /// Puts the real servers of each checked service in the keepalived.conf's order (the sorry
    /// server after them, others last), whatever order they failed and came back in: boxes
    /// with the same keepalived.conf then build the same `mh` table, and a flow moved between
    /// them meets the same server.
    fn keep_config_order(&self, services: &mut [ServiceConfig]) {
        for s in &self.services {
            let Some(svc) = services.iter_mut().find(|c| c.key == s.key) else {
                continue;
            };
            let rank = |d: &DestConfig| {
                let is = |draft: &DestDraft| {
                    d.addr.to_ip() == draft.addr && (d.port == draft.port || draft.port == 0)
                };
                let sorry = s.sorry.as_ref().is_some_and(|x| is(&x.draft));
                s.servers
                    .iter()
                    .position(|r| is(&r.draft))
                    .unwrap_or(s.servers.len() + usize::from(!sorry))
            };
            svc.dests.sort_by_key(rank);
        }
    }

    /// Takes the states of `old`'s checkers that check the same thing the same way (same
    /// service, server and settings), and so the aliveness of unchanged servers.
    fn carry(&mut self, old: &Health) {
        for c in &mut self.checkers {
            let same = old
                .checkers
                .iter()
                .find(|o| o.service == c.service && o.server == c.server && o.target == c.target);
            if let Some(o) = same {
                *c = o.clone();
            }
        }
        for s in &mut self.services {
            for r in &mut s.servers {
                r.alive = r.checkers.iter().all(|&k| self.checkers[k].alive);
            }
            if let Some(o) = old.services.iter().find(|o| o.name == s.name) {
                s.has_quorum = o.has_quorum;
            }
        }
    }

    /// Records `r`; the server whose aliveness it changed, if any.
    fn record(&mut self, r: Report) -> Option<(usize, usize)> {
        let c = self.checkers.get_mut(r.checker)?;
        c.runs += 1;
        let up = r.verdict.is_ok();
        if !up {
            c.failures += 1;
        }
        let was = c.state;
        c.state = if up { State::Up } else { State::Down };
        c.last = match &r.verdict {
            Ok(_) => probe::success(&c.target),
            Err(e) => e.clone(),
        };
        if c.state != was {
            c.since = r.at;
        }
        if c.alive != up {
            eprintln!("rvsd: {}", c.last);
            c.alive = up;
        }
        let (si, ri) = self.owners[r.checker];
        let server = &mut self.services[si].servers[ri];
        let dynamic = r.verdict.ok().flatten();
        let weight_moved = dynamic.is_some() && dynamic != server.dynamic;
        server.dynamic = dynamic.or(server.dynamic);
        let alive = server.checkers.iter().all(|&k| self.checkers[k].alive);
        if alive == server.alive && !weight_moved {
            return None;
        }
        server.alive = alive;
        Some((si, ri))
    }

    /// Puts server `ri` of service `si` in `table` as its aliveness says.
    fn server_changed(&mut self, t: &mut Table, si: usize, ri: usize) -> Result<(), ModelError> {
        let s = &self.services[si];
        let Some(i) = t.find(&s.key) else {
            return Ok(());
        };
        let r = &s.servers[ri];
        let want = wanted_weight(r);
        let (verb, script) = match (r.alive, r.inhibit) {
            (true, false) => ("Adding service {} to VS {}", &r.notify_up),
            (true, true) => ("Enabling service {} of VS {}", &r.notify_up),
            (false, false) => ("Removing service {} from VS {}", &r.notify_down),
            (false, true) => ("Disabling service {} of VS {}", &r.notify_down),
        };
        let line = verb.replacen("{}", &r.name, 1).replacen("{}", &s.name, 1);
        eprintln!("rvsd: {line}");
        put(t, i, &r.draft, want)?;
        let script = script.clone();
        self.run_script(script.as_deref());
        Ok(())
    }

    /// Re-evaluates service `si`'s quorum: the sorry server in or out.
    /// `settling` ([`Self::settle`]): from scratch and quiet.
    fn quorum(&mut self, t: &mut Table, si: usize, settling: bool) -> Result<(), ModelError> {
        let s = &self.services[si];
        let Some(i) = t.find(&s.key) else {
            return Ok(());
        };
        let alive: u64 = s
            .servers
            .iter()
            .filter(|r| r.alive)
            .map(|r| r.dynamic.map_or(r.draft.weight.max(0) as u64, u64::from))
            .sum();
        let (q, hy) = (u64::from(s.quorum), u64::from(s.hysteresis));
        let gained = (!s.has_quorum || settling) && alive >= q + hy;
        let lost = (s.has_quorum || settling) && (alive == 0 || alive + hy < q);
        if !gained && !lost {
            return Ok(());
        }
        let (name, has) = (s.name.clone(), gained);
        if !settling && has {
            let up = q + hy;
            eprintln!("rvsd: Gained quorum {q}+{hy}={up} <= {alive} for VS {name}");
        } else if !settling {
            let down = q.saturating_sub(hy);
            eprintln!("rvsd: Lost quorum {q}-{hy}={down} > {alive} for VS {name}");
        }
        if let Some(sorry) = &s.sorry {
            let want = match (has, sorry.inhibit) {
                (false, _) => Some(sorry.draft.weight.max(1)),
                (true, true) => Some(0),
                (true, false) => None,
            };
            if !settling {
                let (verb, to) = match (has, sorry.inhibit) {
                    (true, false) => ("Removing", "from"),
                    (true, true) => ("Disabling", "from"),
                    (false, false) => ("Adding", "to"),
                    (false, true) => ("Enabling", "to"),
                };
                eprintln!("rvsd: {verb} sorry server {} {to} VS {name}", sorry.name);
            }
            put(t, i, &sorry.draft, want)?;
        }
        let script = if has {
            s.quorum_up.clone()
        } else {
            s.quorum_down.clone()
        };
        self.services[si].has_quorum = has;
        if !settling {
            self.run_script(script.as_deref());
        }
        Ok(())
    }

    /// At rvsd's shutdown: for each service with `omega`, the `notify_down` of every server
    /// that is up and the `quorum_down` if it has its quorum, as keepalived does.
    pub fn shutdown(&mut self) {
        let mut scripts = Vec::new();
        for s in self.services.iter().filter(|s| s.omega) {
            let up = s.servers.iter().filter(|r| r.alive);
            scripts.extend(up.filter_map(|r| r.notify_down.clone()));
            scripts.extend(s.quorum_down.clone().filter(|_| s.has_quorum));
        }
        for script in scripts {
            self.run_script(Some(&script));
        }
    }

    /// Starts `script` (keepalived's notify_up/down, quorum_up/down) without waiting for it.
    fn run_script(&mut self, script: Option<&str>) {
        let Some(script) = script else {
            return;
        };
        match std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .spawn()
        {
            Ok(child) => self.scripts.push(child),
            Err(e) => eprintln!("rvsd: cannot run `{script}': {e}"),
        }
    }
}

/// The weight `r` has in the table as its state is (None: out of it).
fn wanted_weight(r: &Server) -> Option<i64> {
    match (r.alive, r.inhibit) {
        (true, _) => Some(r.dynamic.map_or(r.draft.weight, i64::from)),
        (false, true) => Some(0),
        (false, false) => None,
    }
}

/// Makes real server `draft` of service `i` absent (`None`) or present with `weight`.
fn put(t: &mut Table, i: usize, draft: &DestDraft, weight: Option<i64>) -> Result<(), ModelError> {
    let s = &t.services()[i];
    let present = s
        .dests
        .iter()
        .any(|d| d.addr.to_ip() == draft.addr && (d.port == draft.port || draft.port == 0));
    match (weight, present) {
        (None, true) => t.delete_dest(i, draft.addr, draft.port),
        (None, false) => Ok(()),
        (Some(w), present) => {
            let d = DestDraft {
                weight: w,
                ..draft.clone()
            };
            if present {
                t.edit_dest(i, &d)
            } else {
                t.add_dest(i, &d)
            }
        }
    }
}

/// `[10.10.0.100]:tcp:80`.
pub fn service_name(protocol: Protocol, addr: IpAddr, port: u16) -> String {
    let p = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    format!("[{addr}]:{p}:{port}")
}

fn watched_service(vs: &VirtualServer, key: ServiceKey) -> Service {
    let h = &vs.health;
    Service {
        key,
        name: service_name(vs.id.protocol, vs.id.addr, vs.id.port),
        servers: Vec::new(),
        sorry: h.sorry_server.as_ref().map(|s| {
            let port = if s.port == 0 { vs.id.port } else { s.port };
            Sorry {
                draft: dest_draft(s.addr, port, s.method.unwrap_or(vs.method), 1),
                name: service_name(vs.id.protocol, s.addr, port),
                inhibit: s.inhibit,
            }
        }),
        quorum: h.quorum.unwrap_or(1),
        hysteresis: h.hysteresis,
        has_quorum: true,
        quorum_up: h.quorum_up.clone(),
        quorum_down: h.quorum_down.clone(),
        omega: h.omega,
    }
}

fn watched_server(vs: &VirtualServer, rs: &RealServer) -> Server {
    let method = rs.method.unwrap_or(vs.method);
    let port = dest_port(vs, rs);
    Server {
        draft: DestDraft {
            upper_threshold: i64::from(rs.upper_threshold),
            lower_threshold: i64::from(rs.lower_threshold),
            ..dest_draft(rs.addr, port, method, rs.weight)
        },
        name: service_name(vs.id.protocol, rs.addr, port),
        inhibit: rs
            .inhibit_on_failure
            .unwrap_or(vs.health.inhibit_on_failure),
        checkers: Vec::new(),
        alive: true,
        dynamic: None,
        notify_up: rs.notify_up.clone(),
        notify_down: rs.notify_down.clone(),
    }
}

/// The real server's port as ipvsadm sets it: DR and TUN take the service's.
pub fn dest_port(vs: &VirtualServer, rs: &RealServer) -> u16 {
    match rs.method.unwrap_or(vs.method) {
        rvs_api::Method::Route | rvs_api::Method::Tunnel => vs.id.port,
        _ if rs.port == 0 => vs.id.port,
        _ => rs.port,
    }
}

fn dest_draft(addr: IpAddr, port: u16, method: rvs_api::Method, weight: u32) -> DestDraft {
    DestDraft {
        addr,
        port,
        method: MethodDraft::Method(crate::request::method_of(method)),
        weight: i64::from(weight),
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

/// Whether checker `c` starts down (`alpha`: the checker's, else the server's, else the
/// service's).
fn alpha(vs: &VirtualServer, rs: &RealServer, c: &Checker) -> bool {
    c.alpha.or(rs.alpha).unwrap_or(vs.health.alpha)
}

/// Whether real server `rs` of `vs` starts in the table: none of its checkers has `alpha`.
pub fn starts_alive(vs: &VirtualServer, rs: &RealServer) -> bool {
    !rs.checkers.iter().any(|c| alpha(vs, rs, c))
}

fn target(vs: &VirtualServer, rs: &RealServer, c: &Checker) -> Target {
    let h = &vs.health;
    let port = c.connect_port.unwrap_or_else(|| match dest_port(vs, rs) {
        0 => vs.id.port,
        p => p,
    });
    let kind = match &c.kind {
        CheckKind::Http {
            tls,
            urls,
            virtualhost,
        } => CheckKind::Http {
            tls: *tls,
            urls: urls.clone(),
            virtualhost: virtualhost
                .clone()
                .or_else(|| rs.virtualhost.clone())
                .or_else(|| h.virtualhost.clone()),
        },
        k => k.clone(),
    };
    let delay_loop = c
        .delay_loop
        .or(rs.delay_loop)
        .or(h.delay_loop)
        .unwrap_or(DELAY_LOOP);
    Target {
        kind,
        connect: SocketAddr::new(c.connect_ip.unwrap_or(rs.addr), port),
        bindto: c
            .bindto
            .map(|a| SocketAddr::new(a, c.bind_port.unwrap_or(0))),
        connect_timeout: c
            .connect_timeout
            .or(rs.connect_timeout)
            .or(h.connect_timeout)
            .unwrap_or(CONNECT_TIMEOUT),
        retry: c
            .retry
            .or(rs.retry)
            .or(h.retry)
            .unwrap_or_else(|| default_retry(&c.kind)),
        delay_before_retry: c
            .delay_before_retry
            .or(rs.delay_before_retry)
            .or(h.delay_before_retry)
            .unwrap_or(match c.kind {
                CheckKind::Http { .. } => HTTP_DELAY_BEFORE_RETRY,
                CheckKind::Dns { .. } => delay_loop,
                _ => DELAY_BEFORE_RETRY,
            }),
        delay_loop,
        // keepalived starts a checker at a random point of its warmup, by default its delay_loop.
        warmup: c.warmup.or(rs.warmup).or(h.warmup).unwrap_or(delay_loop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;
    use crate::config::{parse, with_keepalived};
    use std::path::Path;

    /// A config whose services come from `conf` (checks far in the future: only the reports a
    /// test folds in count), and its health.
    fn setup(conf: &str) -> (crate::config::Config, Health) {
        let toml = format!("{MINIMAL}[keepalived]\nconfig = \"/k.conf\"\n");
        let mut c = parse(&toml).expect("toml");
        with_keepalived(&mut c, Path::new("/r.toml"), conf).expect("keepalived.conf");
        let k = c.keepalived.clone().expect("keepalived");
        let (keys, vss): (Vec<_>, Vec<_>) = k.virtual_servers.into_iter().unzip();
        let h = Health::start(&vss, &keys, None).expect("health");
        (c, h)
    }

    fn report(checker: usize, verdict: Verdict) -> Report {
        Report {
            checker,
            verdict,
            at: Instant::now(),
        }
    }

    /// Folds `reports` into `h` and applies the result to `c`'s services; the table as
    /// (last octet, weight).
    fn fold(c: &mut crate::config::Config, h: &mut Health, reports: Vec<Report>) -> Vec<(u8, u32)> {
        let net = Network {
            ports: &c.ports,
            routes: &c.routes,
        };
        if let Some(s) = h.fold(reports, &c.services, net).expect("accepted") {
            c.services = s;
        }
        c.services[0]
            .dests
            .iter()
            .map(|d| (d.addr.to_v4().map_or(0, |a| a[3]), d.weight))
            .collect()
    }

    const SERVERS: &str = "virtual_server 192.0.2.100 80 {
    delay_loop 86400
    warmup 86400
    quorum 3
    hysteresis 1
    sorry_server 192.0.2.99 80
    real_server 192.0.2.11 80 {
        weight 2
        TCP_CHECK {
        }
    }
    real_server 192.0.2.12 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
        }
    }
    real_server 192.0.2.13 80 {
        MISC_CHECK {
            misc_path /bin/true
            misc_dynamic
        }
    }
}
";

    #[test]
    fn failed_servers_leave_and_the_sorry_server_follows_the_quorum_with_hysteresis() {
        let (mut c, mut h) = setup(SERVERS);
        let down = || Err("down".to_string());
        // Alive weight 5 of quorum 3: no sorry server.
        assert_eq!(fold(&mut c, &mut h, vec![]), [(11, 2), (12, 2), (13, 1)]);
        // .11 fails: out. Alive 3 >= 3 - 1.
        assert_eq!(
            fold(&mut c, &mut h, vec![report(0, down())]),
            [(12, 2), (13, 1)]
        );
        // .12 fails: weight 0 (inhibit_on_failure). Alive 1 < 3 - 1: quorum lost, sorry in.
        assert_eq!(
            fold(&mut c, &mut h, vec![report(1, down())]),
            [(12, 0), (13, 1), (99, 1)]
        );
        // .13's script sets weight 5 (exit 7): alive 5 >= 3 + 1, quorum back, sorry out.
        assert_eq!(
            fold(&mut c, &mut h, vec![report(2, Ok(Some(5)))]),
            [(12, 0), (13, 5)]
        );
        // .11 back at its weight, in its keepalived.conf place (the same mh table on every
        // box); a report that changes nothing changes nothing.
        assert_eq!(
            fold(
                &mut c,
                &mut h,
                vec![report(0, Ok(None)), report(2, Ok(Some(5)))]
            ),
            [(11, 2), (12, 0), (13, 5)]
        );
        let states: Vec<(State, u64, u64)> = h
            .checkers()
            .iter()
            .map(|c| (c.state, c.runs, c.failures))
            .collect();
        assert_eq!(
            states,
            [(State::Up, 2, 1), (State::Down, 1, 1), (State::Up, 2, 0)]
        );
    }

    #[test]
    fn alpha_servers_start_out_and_settle_puts_the_table_as_the_states_are() {
        let conf = SERVERS.replace("    quorum 3\n", "    alpha\n    quorum 3\n");
        let (mut c, mut h) = setup(&conf);
        assert!(c.services[0].dests.is_empty(), "alpha: all start down");
        let net = Network {
            ports: &c.ports,
            routes: &c.routes,
        };
        c.services = h.settle(c.services.clone(), net).expect("settled");
        let table: Vec<_> = c.services[0]
            .dests
            .iter()
            .map(|d| (d.addr.to_v4().map_or(0, |a| a[3]), d.weight))
            .collect();
        assert_eq!(
            table,
            [(12, 0), (99, 1)],
            "inhibited at 0, the sorry server in"
        );
        assert_eq!(
            fold(
                &mut c,
                &mut h,
                vec![report(0, Ok(None)), report(2, Ok(None))]
            ),
            [(11, 2), (12, 0), (13, 1), (99, 1)],
            "in the keepalived.conf's order, the sorry server last"
        );
    }
}
