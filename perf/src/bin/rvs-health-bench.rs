//! What rvsd's health checks cost: `rvs-health-bench [--servers N] [--seconds S]` checks N real
//! servers (default 1,000) with `TCP_CHECK` at `delay_loop 1`, each a listener on its own address
//! in a network namespace of its own (needs root), and prints the checker thread's cpu time per
//! second of wall time (the share of one core) and per check. keepalived.conf's text is built,
//! parsed and started as rvsd does it (`Health::start`).

use clap::Parser;
use control::health::Health;
use dataplane::conn::PROTO_TCP;
use dataplane::snapshot::ServiceKey;
use rvs_api::keepalived;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Real servers to check.
    #[arg(long, default_value_t = 1000)]
    servers: u32,
    /// Seconds measured, after one of warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

fn main() {
    let args = Args::parse();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare (needs root)");
    ip(&["link", "set", "lo", "up"]);
    let addrs: Vec<Ipv4Addr> = (0..args.servers)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 30, 0, 1)) + i))
        .collect();
    let mut conf = String::from("virtual_server 10.10.0.100 80 {\n    delay_loop 1\n");
    let mut listeners = Vec::new();
    for a in &addrs {
        ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
        listeners.push(TcpListener::bind((*a, 80)).expect("listen"));
        conf += &format!(
            "    real_server {a} 80 {{\n        TCP_CHECK {{ connect_timeout 1 }}\n    }}\n"
        );
    }
    conf += "}\n";
    let vs = keepalived::parse(&conf)
        .expect("keepalived.conf")
        .virtual_servers;
    let key = ServiceKey {
        protocol: PROTO_TCP,
        vip: dataplane::conn::Addr::v4([10, 10, 0, 100]),
        port: 80,
    };
    let mut health = Health::start(&vs, &[key], None).expect("health");
    // Accepted and closed as they come, so that no accept queue fills.
    for l in &listeners {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let drain = |ls: &[TcpListener]| ls.iter().for_each(|l| while l.accept().is_ok() {});
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        drain(&listeners);
        std::thread::sleep(Duration::from_millis(50));
    }
    let tid = checker_thread().expect("the rvs-health thread");
    let (cpu0, wall0, runs0) = (cpu_ticks(tid), Instant::now(), runs(&mut health));
    let end = wall0 + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        drain(&listeners);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (cpu, wall, checks) = (
        cpu_ticks(tid) - cpu0,
        wall0.elapsed(),
        runs(&mut health) - runs0,
    );
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let cpu_s = cpu as f64 / hz;
    let failed: u64 = health.checkers().iter().map(|c| c.failures).sum();
    println!(
        "health checks: {} real servers, TCP_CHECK, delay_loop 1: {checks} checks ({failed} failed) in {:.1} s; \
         checker thread {:.2} s cpu = {:.2} % of a core, {:.1} us per check",
        args.servers,
        wall.as_secs_f64(),
        cpu_s,
        100.0 * cpu_s / wall.as_secs_f64(),
        1e6 * cpu_s / checks.max(1) as f64
    );
}

/// Checks run so far (reports folded in by a poll, as the control thread does).
fn runs(h: &mut Health) -> u64 {
    let net = control::model::Network {
        ports: &[],
        routes: &[],
    };
    let _ = h.poll(&[], net);
    h.checkers().iter().map(|c| c.runs).sum()
}

/// The thread id of the checker thread ("rvs-health").
fn checker_thread() -> Option<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    tasks.flatten().find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        (comm.trim() == "rvs-health").then(|| t.file_name().to_str()?.parse().ok())?
    })
}

/// utime + stime of thread `tid`, in clock ticks.
fn cpu_ticks(tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the ")" that ends field 2.
    let at = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(11) + at(12)
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {}", args.join(" "));
}
