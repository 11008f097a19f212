//! The box's kernel interface of each port (`ports[].kernel_interface`): a DPDK `net_tap`
//! device in rvsd's network namespace, with the port's MAC, up with the port's MTU (at most
//! 1500: `net_tap`'s limit in DPDK 22.11), the port's own addresses (not its VIPs) and the
//! configured routes whose gateway is on the port. The control thread owns the tap ports;
//! dropping one closes the tap, and the kernel removes the interface with its addresses and
//! routes (also when rvsd dies). Frames do not flow through them yet.

use crate::config::Config;
use crate::netlink::{self, Netlink};
use dataplane::dpdk::{Eal, Mempool, Port, PortConfig};
use dataplane::snapshot::Interface;
use std::sync::atomic::{AtomicU32, Ordering};

/// `net_tap`'s largest MTU in DPDK 22.11 (`max_rx_pktlen` 1522 less the Ethernet header, tag
/// and CRC).
pub const TAP_MAX_MTU: u16 = 1500;

/// A port's kernel interface: its tap device (closing it removes the interface).
pub struct KernelInterface {
    pub name: String,
    /// Index of the port in the config's interfaces.
    pub port: u16,
    pub tap: Port,
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
        let index = netlink::index(name).map_err(|e| format!("{at}: {e}"))?;
        let mtu = spec.mtu.min(TAP_MAX_MTU);
        nl.set_up(index, u32::from(mtu))
            .map_err(|e| format!("{at}: setting it up with MTU {mtu}: {e}"))?;
        for p in &spec.addrs {
            nl.add_address(index, p.addr, p.len)
                .map_err(|e| format!("{at}: adding {}/{}: {e}", p.addr, p.len))?;
        }
        for r in config.routes.iter().filter(|r| usize::from(r.port) == i) {
            let (dst, len) = (r.prefix.addr, r.prefix.len);
            nl.add_route(index, dst, len, Some(r.via))
                .map_err(|e| format!("{at}: adding route {dst}/{len} via {}: {e}", r.via))?;
        }
        opened.push(KernelInterface {
            name: name.clone(),
            port: i as u16,
            tap,
        });
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
