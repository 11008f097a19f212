//! Per-real-server counters and rates as ipvsadm shows them (--stats, --rate): the control
//! thread samples the workers' counters every [`RATE_INTERVAL`] and derives per-second rates
//! from two samples, like the kernel's estimator (which uses 2 s too).

use crate::daemon::Daemon;
use crate::publish::RequestError;
use dataplane::forward::DestStats;
use rvs_api as api;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often rates are estimated (and metrics refreshed).
pub const RATE_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Estimator {
    current: HashMap<u32, DestStats>,
    previous: Option<(Instant, HashMap<u32, DestStats>)>,
    rates: HashMap<u32, api::Rates>,
}

fn per_second(new: u64, old: u64, secs: f64) -> u64 {
    (new.saturating_sub(old) as f64 / secs).round() as u64
}

impl Estimator {
    /// Takes a new sample and derives rates against the previous one.
    pub fn tick(&mut self, d: &mut Daemon) -> Result<(), RequestError> {
        self.refresh(d)?;
        let now = Instant::now();
        if let Some((then, old)) = &self.previous {
            let secs = now.duration_since(*then).as_secs_f64().max(0.001);
            self.rates = self
                .current
                .iter()
                .map(|(id, n)| {
                    let o = old.get(id).copied().unwrap_or_default();
                    let r = api::Rates {
                        cps: per_second(n.conns, o.conns, secs),
                        in_pps: per_second(n.in_packets, o.in_packets, secs),
                        out_pps: per_second(n.out_packets, o.out_packets, secs),
                        in_bps: per_second(n.in_bytes, o.in_bytes, secs),
                        out_bps: per_second(n.out_bytes, o.out_bytes, secs),
                    };
                    (*id, r)
                })
                .collect();
        }
        self.previous = Some((now, self.current.clone()));
        Ok(())
    }

    /// Fresh counters (rates keep their last estimate).
    pub fn refresh(&mut self, d: &mut Daemon) -> Result<(), RequestError> {
        self.current = d.dest_stats()?.into_iter().map(|s| (s.id, s)).collect();
        Ok(())
    }

    /// After the counters were zeroed: start estimating afresh.
    pub fn forget(&mut self) {
        self.current.clear();
        self.previous = None;
        self.rates.clear();
    }

    /// Counters, rates, active and inactive connections of real server `id`.
    pub fn dest(&self, id: u32) -> (api::Stats, api::Rates, u64, u64) {
        let s = self.current.get(&id).copied().unwrap_or_default();
        let stats = api::Stats {
            conns: s.conns,
            in_packets: s.in_packets,
            out_packets: s.out_packets,
            in_bytes: s.in_bytes,
            out_bytes: s.out_bytes,
        };
        let rates = self.rates.get(&id).copied().unwrap_or_default();
        (stats, rates, s.active_conns, s.inactive_conns)
    }
}
