//! Prometheus metrics on `metrics.listen`, named like node_exporter's `node_ipvs_*` family under
//! an `rvs_` prefix, plus per-worker drop, occupancy and redirect counters, and each port's
//! device counters (`rvs_port_*`: what the NIC received and sent, and what it dropped before any
//! worker saw it). Values are set from the control thread every `stats::RATE_INTERVAL` from
//! counters the workers and the devices already keep: no metrics call on the packet path.

use crate::admin::service_id;
use crate::daemon::Daemon;
use crate::stats::Estimator;
use metrics::{counter, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;

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
            let worker = [("worker", w.to_string())];
            counter!("rvs_worker_rx_packets_total", &worker).absolute(c.rx);
            counter!("rvs_worker_tx_packets_total", &worker).absolute(c.tx);
            counter!("rvs_worker_redirected_out_total", &worker).absolute(c.redirected_out);
            counter!("rvs_worker_redirected_in_total", &worker).absolute(c.redirected_in);
            counter!("rvs_worker_io_drops_total", &worker).absolute(c.io_drops());
            gauge!("rvs_worker_sessions", &worker).set(c.sessions as f64);
            gauge!("rvs_worker_session_capacity", &worker).set(c.capacity as f64);
            counter!("rvs_worker_sessions_created_total", &worker).absolute(c.sessions_created);
            counter!("rvs_worker_sessions_expired_total", &worker).absolute(c.sessions_expired);
            for &reason in dataplane::verdict::DropReason::ALL {
                let labels = [
                    ("worker", w.to_string()),
                    ("reason", reason.name().to_string()),
                ];
                counter!("rvs_worker_drops_total", &labels).absolute(c.drop_count(reason));
            }
        }
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
