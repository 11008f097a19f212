//! Prometheus metrics on `metrics.listen`, named like node_exporter's `node_ipvs_*` family under
//! an `rvs_` prefix, plus per-worker drop, occupancy and redirect counters, each port's device
//! counters (`rvs_port_*`: what the NIC received and sent, and what it dropped before any worker
//! saw it), the health checks' (`rvs_backend_up`, `rvs_health_checks_total`) and the sync
//! daemons' (`rvs_sync_*`). The worker metrics (`rvs_worker_*`), their types and help texts come
//! from the table in `dataplane::worker::counters`. Values are set from the control thread every
//! `stats::RATE_INTERVAL` from counters the workers and the devices already keep: no metrics call
//! on the packet path.

use crate::admin::service_id;
use crate::daemon::Daemon;
use crate::stats::Estimator;
use dataplane::worker::{Kind, WorkerCounters};
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;

/// The Prometheus name of a worker metric (`dataplane::worker::counters::Metric::name`).
fn worker_metric(name: &str) -> String {
    format!("rvs_worker_{name}")
}

pub struct Metrics {
    pub listen: SocketAddr,
}

impl Metrics {
    /// Starts the HTTP listener (its own thread).
    pub fn install(listen: SocketAddr) -> Result<Metrics, String> {
        PrometheusBuilder::new()
            .with_http_listener(listen)
            .install()
            .map_err(|e| format!("metrics.listen {listen}: {e}"))?;
        for m in WorkerCounters::metrics() {
            let name = worker_metric(m.name);
            match m.kind {
                Kind::Counter => describe_counter!(name, m.help),
                Kind::Gauge => describe_gauge!(name, m.help),
            }
        }
        Ok(Metrics { listen })
    }

    /// Publishes the current values.
    pub fn update(&self, d: &Daemon, est: &Estimator) {
        let mut total = est.retired_total();
        for s in d.services() {
            let id = service_id(&s.key);
            let proto = id.protocol.name().to_string();
            let (vip, vport) = (id.addr.to_string(), id.port.to_string());
            let mut svc = est.retired(&s.key);
            for dest in &s.dests {
                let (st, _, active, inactive) = est.dest(dest.id);
                svc += st;
                let port = if dest.port == 0 {
                    s.key.port
                } else {
                    dest.port
                };
                let labels = [
                    ("proto", proto.clone()),
                    ("local_address", vip.clone()),
                    ("local_port", vport.clone()),
                    ("remote_address", dest.addr.to_ip().to_string()),
                    ("remote_port", port.to_string()),
                ];
                counter!("rvs_ipvs_backend_connections_total", &labels).absolute(st.conns);
                counter!("rvs_ipvs_backend_incoming_packets_total", &labels)
                    .absolute(st.in_packets);
                counter!("rvs_ipvs_backend_outgoing_packets_total", &labels)
                    .absolute(st.out_packets);
                counter!("rvs_ipvs_backend_incoming_bytes_total", &labels).absolute(st.in_bytes);
                counter!("rvs_ipvs_backend_outgoing_bytes_total", &labels).absolute(st.out_bytes);
                gauge!("rvs_ipvs_backend_connections_active", &labels).set(active as f64);
                gauge!("rvs_ipvs_backend_connections_inactive", &labels).set(inactive as f64);
                gauge!("rvs_ipvs_backend_weight", &labels).set(f64::from(dest.weight));
            }
            let labels = [
                ("proto", proto),
                ("local_address", vip),
                ("local_port", vport),
            ];
            counter!("rvs_ipvs_service_connections_total", &labels).absolute(svc.conns);
            counter!("rvs_ipvs_service_incoming_packets_total", &labels).absolute(svc.in_packets);
            counter!("rvs_ipvs_service_outgoing_packets_total", &labels).absolute(svc.out_packets);
            counter!("rvs_ipvs_service_incoming_bytes_total", &labels).absolute(svc.in_bytes);
            counter!("rvs_ipvs_service_outgoing_bytes_total", &labels).absolute(svc.out_bytes);
            total += svc;
        }
        counter!("rvs_ipvs_connections_total").absolute(total.conns);
        counter!("rvs_ipvs_incoming_packets_total").absolute(total.in_packets);
        counter!("rvs_ipvs_outgoing_packets_total").absolute(total.out_packets);
        counter!("rvs_ipvs_incoming_bytes_total").absolute(total.in_bytes);
        counter!("rvs_ipvs_outgoing_bytes_total").absolute(total.out_bytes);
        for (w, c) in d.counters().iter().enumerate() {
            for s in c.samples() {
                let mut labels = vec![("worker", w.to_string())];
                if let Some(reason) = s.reason {
                    labels.push(("reason", reason.name().to_string()));
                }
                let name = worker_metric(s.metric.name);
                match s.metric.kind {
                    Kind::Counter => counter!(name, &labels).absolute(s.value),
                    Kind::Gauge => gauge!(name, &labels).set(s.value as f64),
                }
            }
        }
        for (name, c) in d.exception_counts() {
            let port = [("port", name.to_string())];
            counter!("rvs_exception_rx_total", &port).absolute(c.rx);
            counter!("rvs_exception_tx_total", &port).absolute(c.tx);
            counter!("rvs_exception_dropped_total", &port).absolute(c.dropped);
        }
        health(d);
        sync(d);
        for (name, stats) in d.port_stats() {
            let Some(p) = stats else { continue };
            let port = [("port", name.to_string())];
            counter!("rvs_port_rx_packets_total", &port).absolute(p.rx_packets);
            counter!("rvs_port_tx_packets_total", &port).absolute(p.tx_packets);
            counter!("rvs_port_rx_bytes_total", &port).absolute(p.rx_bytes);
            counter!("rvs_port_tx_bytes_total", &port).absolute(p.tx_bytes);
            counter!("rvs_port_rx_missed_total", &port).absolute(p.rx_missed);
            counter!("rvs_port_rx_no_mbuf_total", &port).absolute(p.rx_no_mbuf);
            counter!("rvs_port_rx_errors_total", &port).absolute(p.rx_errors);
            counter!("rvs_port_tx_errors_total", &port).absolute(p.tx_errors);
        }
    }
}

/// The sync daemons' counters (`rvs_sync_*`); the workers' records are `rvs_worker_sync_*`.
fn sync(d: &Daemon) {
    let c = d.sync_counters();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    counter!("rvs_sync_messages_sent_total").absolute(get(&c.messages_sent));
    counter!("rvs_sync_conns_sent_total").absolute(get(&c.conns_sent));
    counter!("rvs_sync_send_errors_total").absolute(get(&c.send_errors));
    counter!("rvs_sync_messages_received_total").absolute(get(&c.messages_received));
    counter!("rvs_sync_conns_received_total").absolute(get(&c.conns_received));
    counter!("rvs_sync_conns_lost_total").absolute(get(&c.conns_lost));
    for (e, n) in dataplane::sync::wire::SyncError::ALL.iter().zip(&c.dropped) {
        counter!("rvs_sync_messages_dropped_total", "reason" => e.name()).absolute(get(n));
    }
}

/// `rvs_backend_up{virtual_server, real_server}` (1 while every checker of the real server
/// passes), and the checks run and failed by checker kind.
fn health(d: &Daemon) {
    let mut up: Vec<(&str, &str, bool)> = Vec::new();
    let mut kinds: Vec<(&str, u64, u64)> = Vec::new();
    for c in d.health() {
        match up
            .iter_mut()
            .find(|u| (u.0, u.1) == (&c.service, &c.server))
        {
            Some(u) => u.2 &= c.alive,
            None => up.push((&c.service, &c.server, c.alive)),
        }
        match kinds.iter_mut().find(|k| k.0 == c.kind) {
            Some(k) => (k.1, k.2) = (k.1 + c.runs, k.2 + c.failures),
            None => kinds.push((c.kind, c.runs, c.failures)),
        }
    }
    for (service, server, alive) in up {
        let labels = [
            ("virtual_server", service.to_string()),
            ("real_server", server.to_string()),
        ];
        gauge!("rvs_backend_up", &labels).set(if alive { 1.0 } else { 0.0 });
    }
    for (kind, runs, failures) in kinds {
        let labels = [("checker", kind.to_string())];
        counter!("rvs_health_checks_total", &labels).absolute(runs);
        counter!("rvs_health_check_failures_total", &labels).absolute(failures);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker metrics that scrapers (perf's rvs-bench, dashboards) read keep their names
    /// and types.
    #[test]
    fn worker_metric_names_stay() {
        let names: Vec<_> = WorkerCounters::metrics()
            .map(|m| (worker_metric(m.name), m.kind))
            .collect();
        for known in [
            ("rvs_worker_rx_packets_total", Kind::Counter),
            ("rvs_worker_tx_packets_total", Kind::Counter),
            ("rvs_worker_redirected_out_total", Kind::Counter),
            ("rvs_worker_redirected_in_total", Kind::Counter),
            ("rvs_worker_io_drops_total", Kind::Counter),
            ("rvs_worker_to_control_total", Kind::Counter),
            ("rvs_worker_sessions", Kind::Gauge),
            ("rvs_worker_session_capacity", Kind::Gauge),
            ("rvs_worker_sessions_created_total", Kind::Counter),
            ("rvs_worker_sessions_expired_total", Kind::Counter),
            ("rvs_worker_drops_total", Kind::Counter),
        ] {
            assert!(
                names.iter().any(|(n, k)| (n.as_str(), *k) == known),
                "{known:?} missing"
            );
        }
    }
}
