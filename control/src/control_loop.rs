//! The control thread's loop, run on the main lcore once [`Daemon::start`] has set everything
//! up: it is the only owner of the [`Daemon`]. Each round it runs the daemon's housekeeping
//! ([`Daemon::poll`]), refreshes rates and metrics every [`RATE_INTERVAL`], reloads the
//! configuration when asked (SIGHUP), and answers at most one call from the control socket
//! ([`crate::api`]), auditing the mutating ones.

use crate::admin;
use crate::api::{ApiServer, AuditLog, Call};
use crate::config;
use crate::daemon::Daemon;
use crate::metrics::Metrics;
use crate::stats::{Estimator, RATE_INTERVAL};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// How long the control thread waits for a call before its next housekeeping round: learning
/// the ARP the workers hand over (the control ring, 1024 frames, is read this often), neighbour
/// requests and gratuitous ARP, snapshot acknowledgements and reclaim, resending commands a
/// full command ring held back, and noticing shutdown. Calls are answered as they arrive, and
/// requests to the workers poll on their own. 10 ms keeps the thread's wake-ups (~100/s) off
/// the cpu it shares with other processes, where 1 ms cost ~1000 preemptions a second.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(10);
/// The wait instead while a kernel interface sends more than an iteration takes (the sync
/// master's messages at a high connection rate, a routing daemon's burst).
pub const BUSY_INTERVAL: Duration = Duration::from_millis(1);

/// Runs the control thread until `stop` is set. Without a `server` it only does housekeeping
/// and rates; without `metrics` nothing is exported. `reload`: a flag (set by SIGHUP) and the
/// config file to reload then.
pub fn run(
    d: &mut Daemon,
    server: Option<&ApiServer>,
    audit: &mut AuditLog,
    metrics: Option<&Metrics>,
    stop: &AtomicBool,
    reload: Option<(&AtomicBool, &Path)>,
) {
    let mut est = Estimator::default();
    let mut next_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some((flag, path)) = reload {
            if flag.swap(false, Ordering::Relaxed) {
                reload_from(d, path);
            }
        }
        let busy = d.poll();
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + RATE_INTERVAL;
            sample(d, &mut est, metrics);
        }
        let wait = if busy {
            BUSY_INTERVAL
        } else {
            HOUSEKEEPING_INTERVAL
        };
        if let Some(call) = next_call(server, wait) {
            answer(d, &mut est, audit, call);
        }
    }
}

/// Reloads the configuration at `path` into `d`; a file or change that is refused leaves the
/// running configuration exactly as it was.
fn reload_from(d: &mut Daemon, path: &Path) {
    let shown = path.display();
    let result = config::load(path)
        .map_err(|e| e.to_string())
        .and_then(|c| d.reload(c));
    match result {
        Ok(()) => eprintln!("rvsd: reloaded {shown}: {} service(s)", d.services().len()),
        Err(e) => {
            eprintln!("rvsd: reload of {shown} refused, the running configuration stays: {e}")
        }
    }
}

/// Samples the workers' per-server counters into `est` and, if that worked, publishes the
/// metrics. A late worker skips this round: rates keep their last estimate.
fn sample(d: &mut Daemon, est: &mut Estimator, metrics: Option<&Metrics>) {
    let Ok(sample) = d.dest_stats() else {
        return;
    };
    est.tick(sample, Instant::now());
    if let Some(m) = metrics {
        m.update(d, est);
    }
}

/// The next call, waiting at most `wait`.
fn next_call(server: Option<&ApiServer>, wait: Duration) -> Option<Call> {
    match server {
        Some(s) => match s.calls().recv_timeout(wait) {
            Ok(c) => Some(c),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        },
        None => {
            std::thread::sleep(wait);
            None
        }
    }
}

/// Runs `call` against the daemon, records it if it is mutating, and sends the answer back.
fn answer(d: &mut Daemon, est: &mut Estimator, audit: &mut AuditLog, call: Call) {
    let mutating = call.request.is_mutating();
    let request = call.request.clone();
    let result = admin::handle(d, est, call.request);
    if mutating {
        audit.record(&call.peer, &request, &result);
    }
    let _ = call.answer.send(result);
}
