//! How FULLNAT replies reach the worker that owns their session (DPVS's sa_pool idea): worker
//! `w` allocates local ports with `lport % workers == w`, so the owner of a reply is known from
//! its destination port. Where every port can steer that partition to rx queue `w` with
//! rte_flow, the NIC does it; otherwise (virtual devices, NICs without rte_flow, a worker count
//! that is not a power of two) the worker that receives a reply it does not own hands it to the
//! owner's redirect ring. Redirection stays enabled in both cases, so a reply that slips past
//! the rules (e.g. before they are installed) still completes.

use dataplane::dpdk::flow::{steer_workers, FlowRule};
use dataplane::dpdk::Port;
use std::fmt;
use std::net::Ipv4Addr;

/// The steering in force.
pub enum Steering {
    /// One worker: every reply is already on its owner.
    SingleWorker,
    /// rte_flow rules on every port for every local address, TCP and UDP.
    Flow(Vec<FlowRule>),
    /// Software redirection between workers, and why rte_flow is not used.
    Software(String),
}

impl Steering {
    /// Installs rules for every (port, local address, protocol), all or none.
    pub fn install(ports: &[Port], laddrs: &[Ipv4Addr], workers: u16) -> Steering {
        if workers <= 1 {
            return Steering::SingleWorker;
        }
        if laddrs.is_empty() {
            return Steering::Software("no FULLNAT local addresses".into());
        }
        let mut rules = Vec::new();
        for port in ports {
            for &laddr in laddrs {
                for protocol in [6u8, 17] {
                    match steer_workers(port, laddr, protocol, workers) {
                        Ok(r) => rules.extend(r),
                        Err(e) => {
                            // Dropping `rules` destroys what was made: all or none.
                            return Steering::Software(format!("{}: {e}", port.name()));
                        }
                    }
                }
            }
        }
        Steering::Flow(rules)
    }
}

impl fmt::Display for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Steering::SingleWorker => f.write_str("single worker (no steering needed)"),
            Steering::Flow(r) => write!(f, "rte_flow ({} rules)", r.len()),
            Steering::Software(why) => write!(f, "software redirect ring ({why})"),
        }
    }
}
