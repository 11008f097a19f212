//! FULLNAT (DPVS's FNAT, ipvsadm -b): client packets get DNAT to the real server and SNAT to a
//! local address/port of the box, so the server's replies come back to the box without any
//! routing change on the server; replies are reversed. TTL is decremented.
//!
//! Keys: in = client:cport -> VIP:vport; out = RS:rport -> LIP:lport.
//!
//! Local ports are partitioned between workers (the owner of a reply is computable from its
//! destination port alone: [`local_port_owner`]). Each worker keeps a free list of its ports
//! per local address ([`LocalPorts`]).

use super::{v4, Endpoints};
use crate::conn::{Addr, Direction, FlowKey};
use crate::forward::owner::local_port_owner;

/// First local port handed out (below are the well-known and registered ranges we leave alone).
pub const FIRST_PORT: u16 = 1024;

#[inline]
pub fn endpoints(dir: Direction, in_key: &FlowKey, out_key: &FlowKey) -> Endpoints {
    match dir {
        Direction::In => Endpoints {
            src: Some((v4(&out_key.dst), out_key.dst_port)),
            dst: Some((v4(&out_key.src), out_key.src_port)),
        },
        Direction::Out => Endpoints {
            src: Some((v4(&in_key.dst), in_key.dst_port)),
            dst: Some((v4(&in_key.src), in_key.src_port)),
        },
    }
}

/// The reply key of a FULLNAT session to `rs:rs_port` through `laddr:lport`.
#[inline]
pub fn out_key(in_key: &FlowKey, rs: Addr, rs_port: u16, laddr: Addr, lport: u16) -> FlowKey {
    FlowKey::new(in_key.protocol, rs, rs_port, laddr, lport)
}

/// Rewrites a packet of a FULLNAT session as NAT's transmit does, with `to` (its [`endpoints`]
/// in its direction) holding both new endpoints.
pub use super::nat::transmit;

/// One worker's free local ports, per local address. Preallocated; alloc/free are O(1).
#[derive(Debug, Clone)]
pub struct LocalPorts {
    worker: u16,
    workers: u16,
    pools: Vec<(Addr, Vec<u16>)>,
}

impl LocalPorts {
    pub fn new(worker: u16, workers: u16) -> Self {
        LocalPorts {
            worker,
            workers: workers.max(1),
            pools: Vec::new(),
        }
    }

    /// Makes sure `addr` has a pool (called when a snapshot is installed; allocates).
    pub fn ensure(&mut self, addr: Addr) -> usize {
        if let Some(i) = self.pools.iter().position(|(a, _)| *a == addr) {
            return i;
        }
        let (w, n) = (self.worker, self.workers);
        // Highest ports first out of the stack.
        let ports: Vec<u16> = (FIRST_PORT..=u16::MAX)
            .filter(|p| local_port_owner(*p, n) == w)
            .collect();
        self.pools.push((addr, ports));
        self.pools.len() - 1
    }

    /// Index of the pool for `addr`, if any.
    pub fn find(&self, addr: &Addr) -> Option<usize> {
        self.pools.iter().position(|(a, _)| a == addr)
    }

    /// Takes a free port from pool `pool`.
    #[inline]
    pub fn alloc(&mut self, pool: usize) -> Option<(Addr, u16)> {
        let (addr, free) = self.pools.get_mut(pool)?;
        free.pop().map(|p| (*addr, p))
    }

    /// Returns a port (ignored if it is not this worker's or the address has no pool).
    pub fn free(&mut self, addr: &Addr, port: u16) {
        if local_port_owner(port, self.workers) != self.worker || port < FIRST_PORT {
            return;
        }
        if let Some((_, free)) = self.pools.iter_mut().find(|(a, _)| a == addr) {
            free.push(port);
        }
    }

    /// Takes port `port` of `addr` out of the free ports (a synced session holds it): false if
    /// it is not free here. Scans from the top, where ports in use were taken from.
    pub fn take(&mut self, addr: &Addr, port: u16) -> bool {
        let Some((_, free)) = self.pools.iter_mut().find(|(a, _)| a == addr) else {
            return false;
        };
        match free.iter().rposition(|&p| p == port) {
            Some(i) => {
                free.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Free ports left in pool `pool`.
    pub fn available(&self, pool: usize) -> usize {
        self.pools.get(pool).map_or(0, |(_, f)| f.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_own_disjoint_port_slices() {
        let a = Addr::v4([10, 0, 1, 1]);
        let mut w0 = LocalPorts::new(0, 2);
        let mut w1 = LocalPorts::new(1, 2);
        let (p0, p1) = (w0.ensure(a), w1.ensure(a));
        assert_eq!(
            w0.available(p0) + w1.available(p1),
            usize::from(u16::MAX - FIRST_PORT) + 1
        );
        let (_, x) = w0.alloc(p0).unwrap();
        let (_, y) = w1.alloc(p1).unwrap();
        assert_eq!((local_port_owner(x, 2), local_port_owner(y, 2)), (0, 1));
        w0.free(&a, y);
        assert_eq!(
            w0.available(p0),
            32255,
            "a port of another worker is not taken in"
        );
        w0.free(&a, x);
        assert_eq!(w0.available(p0), 32256);
    }

    #[test]
    fn exhaustion_returns_none() {
        let a = Addr::v4([10, 0, 1, 1]);
        let mut w = LocalPorts::new(0, 1);
        let p = w.ensure(a);
        let n = w.available(p);
        for _ in 0..n {
            assert!(w.alloc(p).is_some());
        }
        assert_eq!(w.alloc(p), None);
        assert_eq!(w.alloc(7), None, "no such pool");
    }
}
