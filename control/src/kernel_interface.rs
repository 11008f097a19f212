//! The box's kernel interface of each port (`ports[].kernel_interface`): a DPDK `net_tap`
//! device in rvsd's network namespace, with the port's MAC, the port's MTU (at most 1500:
//! `net_tap`'s limit in DPDK 22.11), the port's own addresses (not its VIPs) and the configured
//! routes whose gateway is on the port. It is up while the port's link is up: the daemon
//! checks the links every second ([`KernelInterface::follow_link`]). The control thread owns the tap ports;
//! dropping one closes the tap, and the kernel removes the interface with its addresses and
//! routes (also when rvsd dies).
//!
//! Frames: what the workers hand to the control thread (frames for the box that rvs does not
//! handle, and ARP replies after rvs learned from them) goes to the kernel interface of the
//! port it came in on ([`KernelInterface::hand_to_kernel`]); what the kernel sends on the interface
//! goes out of the port through worker 0 ([`KernelInterface::from_kernel`]).

use crate::config::Config;
use crate::netlink::{self, Netlink};
use dataplane::dpdk::{
    Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, Producer, RxQueue, TxQueue,
};
use dataplane::snapshot::Interface;
use dataplane::wire::ethernet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

/// `net_tap`'s largest MTU in DPDK 22.11 (`max_rx_pktlen` 1522 less the Ethernet header, tag
/// and CRC).
pub const TAP_MAX_MTU: u16 = 1500;

/// Bursts of 32 frames the control thread takes from a kernel interface per iteration: with an
/// iteration every [`crate::control_loop::BUSY_INTERVAL`] while they come, 256,000 frames/s.
const FROM_KERNEL_BURSTS: usize = 8;

/// A port's kernel interface: its tap device (closing it removes the interface).
pub struct KernelInterface {
    pub name: String,
    /// Index of the port in the config's interfaces.
    pub port: u16,
    pub tap: Port,
    /// The kernel's interface index.
    index: u32,
    mtu: u16,
    /// Whether the interface is up: it follows its port's link ([`Self::follow_link`]).
    up: bool,
    /// The configured routes through the port: (destination, prefix length, gateway).
    routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    rx: RxQueue,
    tx: TxQueue,
    /// Frames handed to the kernel (`rvs_exception_rx_total`), frames the kernel sent out of
    /// the port (`rvs_exception_tx_total`), and frames lost either way: the tap or worker 0's
    /// ring full (`rvs_exception_dropped_total`).
    pub counts: ExceptionCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExceptionCounts {
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
}

impl KernelInterface {
    /// Hands `m`, received on this interface's port, to the kernel; a tagged frame is not the
    /// kernel's (VLAN sub-interfaces have no kernel interface).
    pub fn hand_to_kernel(&mut self, m: Mbuf) {
        let untagged =
            ethernet::Packet::new_checked(m.data()).is_ok_and(|e| e.vlan_tci().is_none());
        if !untagged {
            return;
        }
        let mut burst = MbufBurst::<1>::new();
        let _ = burst.push(m);
        if self.tx.tx_burst(&mut burst) == 1 {
            self.counts.rx += 1;
        } else {
            self.counts.dropped += 1;
            burst.free_all();
        }
    }

    /// Sends what the kernel sent on the interface out of DPDK port `port_id`, through worker
    /// 0 (`to_worker`); at most [`FROM_KERNEL_BURSTS`] bursts per call. True if it took that
    /// many (more may be waiting).
    pub fn from_kernel(&mut self, port_id: u16, to_worker: &mut Producer<Mbuf>) -> bool {
        let mut burst = MbufBurst::<32>::new();
        for _ in 0..FROM_KERNEL_BURSTS {
            if self.rx.rx_burst(&mut burst) == 0 {
                return false;
            }
            for mut m in burst.drain() {
                m.set_port(port_id);
                match to_worker.push(m) {
                    Ok(()) => self.counts.tx += 1,
                    Err(_) => self.counts.dropped += 1,
                }
            }
        }
        true
    }

    /// The kernel's index of the interface.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether the interface is up (its port's link is).
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Sets the interface up (with its routes back) or down as its port's link `port_up` is,
    /// if that changed.
    pub fn follow_link(&mut self, nl: &mut Netlink, port_up: bool) -> Result<(), String> {
        if port_up == self.up {
            return Ok(());
        }
        let name = &self.name;
        if port_up {
            nl.set_up(self.index, u32::from(self.mtu))
                .map_err(|e| format!("{name}: setting it up: {e}"))?;
            self.add_routes(nl).map_err(|e| format!("{name}: {e}"))?;
        } else {
            nl.set_down(self.index)
                .map_err(|e| format!("{name}: setting it down: {e}"))?;
        }
        self.up = port_up;
        eprintln!(
            "rvsd: kernel interface {name} set {}, following its port's link",
            if port_up { "up" } else { "down" }
        );
        Ok(())
    }

    /// Adds the configured routes through the port; one the kernel has already (a management
    /// port's default) stays as it is.
    fn add_routes(&self, nl: &mut Netlink) -> Result<(), String> {
        let name = &self.name;
        for &(dst, len, via) in &self.routes {
            match nl.add_route(self.index, dst, len, Some(via)) {
                Ok(()) => {}
                Err(e) if netlink::already_exists(&e) => eprintln!(
                    "rvsd: {name}: the kernel has a route to {dst}/{len} already; not adding it"
                ),
                Err(e) => return Err(format!("adding route {dst}/{len} via {via}: {e}")),
            }
        }
        Ok(())
    }
}

/// Opens and configures the kernel interface of every port that has one. `interfaces`: the
/// snapshot's interfaces (the ports come first, in config order).
pub fn open(
    eal: &Eal,
    config: &Config,
    interfaces: &[Interface],
    pool: Mempool,
) -> Result<Vec<KernelInterface>, String> {
    let mut opened = Vec::new();
    let mut nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
    for (i, spec) in config.ports.iter().enumerate() {
        let Some(name) = &spec.kernel_interface else {
            continue;
        };
        let at = format!("ports[{i}].kernel_interface {name}");
        if netlink::index(name).is_ok() {
            return Err(format!("{at}: an interface of that name exists already"));
        }
        let mac = interfaces
            .get(i)
            .map(|f| f.mac)
            .ok_or(format!("{at}: no port"))?;
        let mut tap = Port::open_vdev(eal, &devargs(name, mac.0), &PortConfig::new(pool))
            .map_err(|e| format!("{at}: {e}"))?;
        tap.start().map_err(|e| format!("{at}: starting: {e}"))?;
        let (Some(rx), Some(tx)) = (tap.rx_queue(0), tap.tx_queue(0)) else {
            return Err(format!("{at}: no queues"));
        };
        let index = netlink::index(name).map_err(|e| format!("{at}: {e}"))?;
        let mtu = spec.mtu.min(TAP_MAX_MTU);
        nl.set_up(index, u32::from(mtu))
            .map_err(|e| format!("{at}: setting it up with MTU {mtu}: {e}"))?;
        for p in &spec.addrs {
            nl.add_address(index, p.addr, p.len)
                .map_err(|e| format!("{at}: adding {}/{}: {e}", p.addr, p.len))?;
        }
        let routes = config.routes.iter().filter(|r| usize::from(r.port) == i);
        let k = KernelInterface {
            name: name.clone(),
            port: i as u16,
            tap,
            index,
            mtu,
            up: true,
            routes: routes
                .map(|r| (r.prefix.addr, r.prefix.len, r.via))
                .collect(),
            rx,
            tx,
            counts: ExceptionCounts::default(),
        };
        k.add_routes(&mut nl).map_err(|e| format!("{at}: {e}"))?;
        opened.push(k);
    }
    Ok(opened)
}

/// The `net_tap` devargs of a kernel interface named `name` with `mac`; the vdev name is unique
/// in the process (tests start several daemons).
fn devargs(name: &str, mac: [u8; 6]) -> String {
    static TAPS: AtomicU32 = AtomicU32::new(0);
    let n = TAPS.fetch_add(1, Ordering::Relaxed);
    let m = mac.map(|b| format!("{b:02x}")).join(":");
    format!("net_tap_rvs{n},iface={name},mac={m}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devargs_carry_the_name_and_mac() {
        let a = devargs("wan", [2, 0, 0, 0, 0, 0x1f]);
        let b = devargs("wan", [2, 0, 0, 0, 0, 0x1f]);
        assert!(a.starts_with("net_tap_rvs") && a.ends_with(",iface=wan,mac=02:00:00:00:00:1f"));
        assert_ne!(a, b, "vdev names are unique");
    }
}
