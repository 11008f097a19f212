//! rvsd, the rvs daemon: `rvsd --config FILE`. Starts the EAL from the config, opens the ports,
//! launches one poll-mode worker per configured worker lcore and runs the control thread on
//! the main lcore until SIGTERM or SIGINT, then stops the workers, drains their tx buffers and
//! closes the ports. SIGHUP reloads the configuration (its services and the keepalived.conf).

use clap::Parser;
use control::api::{ApiServer, AuditLog};
use control::config;
use control::control_loop;
use control::daemon::{self, Daemon};
use control::metrics::Metrics;
use dataplane::dpdk::Eal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(version, about = "rvs load-balancer daemon")]
struct Args {
    /// The TOML configuration (see deploy/rvsd-*.toml).
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rvsd: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("rvsd: {} is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    match run(config, &args.config) {
        Ok(eal) => eal.cleanup_and_exit(0),
        Err(e) => {
            eprintln!("rvsd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT; returns the EAL once everything that used it is
/// gone, for its cleanup.
fn run(config: config::Config, path: &Path) -> Result<Eal, Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())?;
    let eal_args = config.eal_args("rvsd");
    eprintln!("rvsd: starting EAL: {}", eal_args.join(" "));
    let eal = Eal::init(&eal_args)?;
    let pool = daemon::create_pool(&eal, &config)?;
    let ports = daemon::open_ports(&eal, &config, pool)?;
    let mut d = Daemon::start(&eal, config, pool, ports)?;
    for (i, (spec, iface)) in d
        .config()
        .ports
        .iter()
        .zip(&d.snapshot().interfaces)
        .enumerate()
    {
        let what = match spec.vlan {
            None => format!("port {i}"),
            Some(v) => format!("interface {i}, VLAN {} of port {}", v.id, v.port),
        };
        eprintln!(
            "rvsd: {what} {} ({}) mac {} addrs {:?}",
            spec.name,
            spec.device.devargs(),
            iface.mac,
            spec.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>()
        );
    }
    eprintln!(
        "rvsd: {} worker(s) on lcores {:?}; {} service(s); FULLNAT replies: {}",
        d.config().cores.workers.len(),
        d.config().cores.workers,
        d.services().len(),
        d.steering()
    );
    let server = ApiServer::bind(
        &d.config().control.socket,
        d.config().control.group.as_deref(),
    )
    .map_err(|e| {
        format!(
            "control.socket {}: {e}",
            d.config().control.socket.display()
        )
    })?;
    eprintln!(
        "rvsd: control socket {} (root{})",
        d.config().control.socket.display(),
        d.config()
            .control
            .group
            .as_ref()
            .map(|g| format!(" and group {g}"))
            .unwrap_or_default()
    );
    let mut audit = AuditLog::open(d.config().control.audit_log.as_deref())
        .map_err(|e| format!("control.audit_log: {e}"))?;
    let metrics = match d.config().metrics.as_ref().map(|m| m.listen) {
        Some(listen) => {
            let m = Metrics::install(listen)?;
            eprintln!("rvsd: metrics on http://{listen}/metrics");
            Some(m)
        }
        None => None,
    };
    let reload = Some((&*reload, path));
    control_loop::run(
        &mut d,
        Some(&server),
        &mut audit,
        metrics.as_ref(),
        &stop,
        reload,
    );
    drop(server);
    eprintln!("rvsd: stopping");
    let counters = d.shutdown();
    // The identity's terms: rx = tx + redirected + to_control + reassembled + dropped (io: lost
    // after the verdict, included in dropped).
    for (w, c) in counters.iter().enumerate() {
        eprintln!("rvsd: worker {w}: {}", c.summary());
    }
    Ok(eal)
}
