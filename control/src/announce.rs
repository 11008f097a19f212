//! The VIPs' announcements for BGP (`[announce]`). While every service of a VIP can serve,
//! rvsd keeps a route `VIP/32` in the box's routing table `table`, on link through the kernel
//! interface of the VIP's port; BIRD's kernel protocol learns that table and exports it to the
//! routers. The route lives on the kernel interface, which lives as long as rvsd: when rvsd dies
//! the kernel removes both and BIRD withdraws the VIP without rvsd's help (and with BFD, the
//! routers notice a hung rvsd, whose exception path carries BIRD's packets, just as fast).

use crate::netlink::Netlink;
use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

/// The announced VIPs, each with the kernel interface index its route goes through.
pub type Announced = BTreeMap<Ipv4Addr, u32>;

pub struct Announcer {
    table: u32,
    netlink: Netlink,
    announced: Announced,
}

impl Announcer {
    pub fn open(table: u32) -> io::Result<Announcer> {
        Ok(Announcer {
            table,
            netlink: Netlink::open()?,
            announced: Announced::new(),
        })
    }

    /// Makes the announced routes `wanted`: withdraws the routes not wanted (or through
    /// another interface now), then announces the new ones; each change is logged. A route
    /// the kernel refuses is logged and tried again at the next call.
    pub fn update(&mut self, wanted: &Announced) {
        let gone: Vec<(Ipv4Addr, u32)> = self
            .announced
            .iter()
            .filter(|&(vip, index)| wanted.get(vip) != Some(index))
            .map(|(&vip, &index)| (vip, index))
            .collect();
        for (vip, index) in gone {
            match self.netlink.host_route(index, vip, self.table, false) {
                Ok(()) => {
                    self.announced.remove(&vip);
                    eprintln!("rvsd: announce: withdrawing {vip}");
                }
                Err(e) => eprintln!("rvsd: announce: withdrawing {vip}: {e}"),
            }
        }
        for (&vip, &index) in wanted {
            if self.announced.contains_key(&vip) {
                continue;
            }
            match self.netlink.host_route(index, vip, self.table, true) {
                Ok(()) => {
                    self.announced.insert(vip, index);
                    eprintln!("rvsd: announce: announcing {vip}");
                }
                Err(e) if crate::netlink::already_exists(&e) => {
                    self.announced.insert(vip, index);
                }
                Err(e) => eprintln!("rvsd: announce: announcing {vip}: {e}"),
            }
        }
    }

    /// What is announced now.
    pub fn announced(&self) -> &Announced {
        &self.announced
    }
}
