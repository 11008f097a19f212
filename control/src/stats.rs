//! Per-real-server counters and rates as ipvsadm shows them (--stats, --rate): the control
//! thread samples the workers' counters every [`RATE_INTERVAL`] and derives per-second rates
//! from two samples, like the kernel's estimator (which uses 2 s too). The [`Estimator`] is fed
//! plain data: the caller reads the samples (`Daemon::dest_stats`) and says when.
//!
//! Service and total counters never go back when servers leave (Prometheus counters must not,
//! and IPVS keeps them per service): a departing server's last counters are retired into its
//! service's and the total's, until `-Z` zeroes them or the service is deleted.

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
    /// What departed servers had counted, per remaining service.
    retired: HashMap<ServiceKey, api::Stats>,
    /// What deleted services had counted.
    retired_total: api::Stats,
}

fn per_second(new: u64, old: u64, secs: f64) -> u64 {
    (new.saturating_sub(old) as f64 / secs).round() as u64
}

impl Estimator {
    /// Takes `sample` (the workers' per-server counters summed, as `Daemon::dest_stats` gives
    /// them), read at `now`, and derives rates against the previous sample.
    pub fn tick(&mut self, sample: Vec<DestStats>, now: Instant) {
        self.refresh(sample);
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
    }

    /// Fresh counters from `sample` (as for [`tick`](Self::tick)); rates keep their last
    /// estimate.
    pub fn refresh(&mut self, sample: Vec<DestStats>) {
        self.current = sample.into_iter().map(|s| (s.id, s)).collect();
    }

    /// After `-Z`: the counters of service `zeroed` (its key and its servers' ids), or of all
    /// (None), were zeroed: estimate their rates afresh and zero what they keep of departed
    /// servers.
    pub fn forget(&mut self, zeroed: Option<(&ServiceKey, &[u32])>) {
        match zeroed {
            None => {
                self.current.clear();
                self.previous = None;
                self.rates.clear();
                self.retired.clear();
                self.retired_total = api::Stats::default();
            }
            Some((key, ids)) => {
                for id in ids {
                    self.current.remove(id);
                    if let Some((_, old)) = &mut self.previous {
                        old.remove(id);
                    }
                    self.rates.remove(id);
                }
                self.retired.remove(key);
            }
        }
    }

    /// After the table went from `old` to `new`: the last counters of each server that left a
    /// remaining service are kept in that service's, and everything a deleted service had
    /// counted in the total. Call with counters sampled just before the change.
    pub fn retire(&mut self, old: &[ServiceConfig], new: &[ServiceConfig]) {
        for s in old {
            let kept = new.iter().find(|n| n.key == s.key);
            let mut gone = api::Stats::default();
            for d in s.dests.iter().filter(|d| !has(kept, d.id)) {
                gone += self.dest(d.id).0;
                self.current.remove(&d.id);
                self.rates.remove(&d.id);
            }
            match kept {
                Some(_) => *self.retired.entry(s.key).or_default() += gone,
                None => {
                    self.retired_total += gone;
                    self.retired_total += self.retired.remove(&s.key).unwrap_or_default();
                }
            }
        }
    }

    /// Whether the change from `old` to `new` takes a server out of a service.
    pub fn departs(old: &[ServiceConfig], new: &[ServiceConfig]) -> bool {
        old.iter().any(|s| {
            let kept = new.iter().find(|n| n.key == s.key);
            s.dests.iter().any(|d| !has(kept, d.id))
        })
    }

    /// What the departed servers of service `key` had counted.
    pub fn retired(&self, key: &ServiceKey) -> api::Stats {
        self.retired.get(key).copied().unwrap_or_default()
    }

    /// What deleted services had counted (the total is this plus every service's counters).
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

/// Whether server `id` is in service `kept` (None: the service is gone).
fn has(kept: Option<&ServiceConfig>, id: u32) -> bool {
    kept.is_some_and(|n| n.dests.iter().any(|x| x.id == id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::conn::{Addr, PROTO_TCP};
    use dataplane::snapshot::DestConfig;

    fn service(port: u16, ids: &[u32]) -> ServiceConfig {
        let dest = |id: u32| DestConfig {
            id,
            addr: Addr::v4([10, 0, 1, id as u8]),
            ..crate::model::blank_dest()
        };
        ServiceConfig {
            key: ServiceKey {
                protocol: PROTO_TCP,
                vip: Addr::v4([10, 0, 0, 100]),
                port,
            },
            scheduler: dataplane::sched::SchedulerKind::Rr,
            sched_params: Default::default(),
            persistence_s: None,
            persistence_prefix: 32,
            dests: ids.iter().copied().map(dest).collect(),
            local_addrs: vec![],
        }
    }

    /// Connections counted per service (what -L --stats shows) and in total (as the metrics
    /// add them up: deleted services' plus every service's).
    fn conns(est: &Estimator, table: &[ServiceConfig]) -> (Vec<u64>, u64) {
        let per: Vec<u64> = table
            .iter()
            .map(|s| {
                let live: u64 = s.dests.iter().map(|d| est.dest(d.id).0.conns).sum();
                est.retired(&s.key).conns + live
            })
            .collect();
        let total = est.retired_total().conns + per.iter().sum::<u64>();
        (per, total)
    }

    /// A server leaving keeps its count in its service's and the total once; a deleted service
    /// keeps everything it had counted in the total; -Z of a service zeroes its share only.
    #[test]
    fn departed_servers_count_once() {
        let mut est = Estimator::default();
        for (id, n) in [(1, 10), (2, 20), (3, 40)] {
            let conns = n;
            est.current.insert(
                id,
                DestStats {
                    id,
                    conns,
                    ..DestStats::default()
                },
            );
        }
        let t1 = vec![service(80, &[1, 2]), service(81, &[3])];
        assert_eq!(conns(&est, &t1), (vec![30, 40], 70));
        let t2 = vec![service(80, &[1]), service(81, &[3])];
        assert!(Estimator::departs(&t1, &t2));
        est.retire(&t1, &t2);
        assert_eq!(conns(&est, &t2), (vec![30, 40], 70), "server 2 left");
        let t3 = vec![service(81, &[3])];
        est.retire(&t2, &t3);
        assert_eq!(conns(&est, &t3), (vec![40], 70), "service 80 deleted");
        assert!(!Estimator::departs(&t3, &t3));
        est.forget(Some((&t3[0].key, &[3])));
        assert_eq!(conns(&est, &t3), (vec![0], 30), "-Z of service 81");
        est.forget(None);
        assert_eq!(conns(&est, &t3), (vec![0], 0), "-Z");
    }

    /// Rates are the difference of two samples over the time between them.
    #[test]
    fn rates_come_from_two_samples() {
        let sample = |conns, in_bytes| {
            vec![DestStats {
                id: 7,
                conns,
                in_bytes,
                ..DestStats::default()
            }]
        };
        let t0 = Instant::now();
        let mut est = Estimator::default();
        est.tick(sample(10, 1_000), t0);
        assert_eq!(
            est.dest(7).1,
            api::Rates::default(),
            "one sample: no rate yet"
        );
        est.tick(sample(30, 5_000), t0 + RATE_INTERVAL);
        let (stats, rates, _, _) = est.dest(7);
        assert_eq!((stats.conns, stats.in_bytes), (30, 5_000));
        assert_eq!((rates.cps, rates.in_bps), (10, 2_000));
        est.refresh(sample(50, 5_000));
        assert_eq!(est.dest(7).0.conns, 50);
        assert_eq!(est.dest(7).1.cps, 10, "a refresh keeps the last rates");
    }
}
