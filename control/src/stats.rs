//! Per-real-server counters and rates as ipvsadm shows them (--stats, --rate): the control
//! thread samples the workers' counters every [`RATE_INTERVAL`] and derives per-second rates
//! from two samples, like the kernel's estimator (which uses 2 s too).
//!
//! Service and total counters never go back when servers leave (Prometheus counters must not,
//! and IPVS keeps them per service): a departing server's last counters are retired into its
//! service's and the total's, until `-Z` zeroes them or the service is deleted.

use crate::daemon::Daemon;
use crate::publish::RequestError;
use dataplane::forward::DestStats;
use dataplane::snapshot::{ServiceConfig, ServiceKey};
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
    /// What departed servers had counted, per service.
    retired: HashMap<ServiceKey, api::Stats>,
    /// What departed servers and deleted services had counted.
    retired_total: api::Stats,
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

    /// After the counters of `ids` (None: all) were zeroed: estimate them afresh, and zero
    /// what the services of `services` (None: all) keep of departed servers.
    pub fn forget(&mut self, ids: Option<&[u32]>, services: Option<&[ServiceKey]>) {
        match ids {
            None => {
                self.current.clear();
                self.previous = None;
                self.rates.clear();
            }
            Some(ids) => {
                for id in ids {
                    self.current.remove(id);
                    if let Some((_, old)) = &mut self.previous {
                        old.remove(id);
                    }
                    self.rates.remove(id);
                }
            }
        }
        match services {
            None => {
                self.retired.clear();
                self.retired_total = api::Stats::default();
            }
            Some(keys) => {
                for k in keys {
                    self.retired.remove(k);
                }
            }
        }
    }

    /// After the table went from `old` to `new`: the last counters of each server that left a
    /// remaining service are kept in that service's, those of a deleted service only in the
    /// total. Call with counters refreshed just before the change.
    pub fn retire(&mut self, old: &[ServiceConfig], new: &[ServiceConfig]) {
        for s in old {
            let kept = new.iter().find(|n| n.key == s.key);
            for d in &s.dests {
                if kept.is_some_and(|n| n.dests.iter().any(|x| x.id == d.id)) {
                    continue;
                }
                let (stats, ..) = self.dest(d.id);
                self.retired_total += stats;
                if kept.is_some() {
                    *self.retired.entry(s.key).or_default() += stats;
                }
                self.current.remove(&d.id);
                self.rates.remove(&d.id);
            }
            if kept.is_none() {
                self.retired.remove(&s.key);
            }
        }
    }

    /// Whether the change from `old` to `new` takes a server out of a service.
    pub fn departs(old: &[ServiceConfig], new: &[ServiceConfig]) -> bool {
        old.iter().any(|s| {
            let kept = new.iter().find(|n| n.key == s.key);
            s.dests
                .iter()
                .any(|d| !kept.is_some_and(|n| n.dests.iter().any(|x| x.id == d.id)))
        })
    }

    /// What the departed servers of service `key` had counted.
    pub fn retired(&self, key: &ServiceKey) -> api::Stats {
        self.retired.get(key).copied().unwrap_or_default()
    }

    /// What every departed server and deleted service had counted.
    pub fn retired_total(&self) -> api::Stats {
        self.retired_total
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
