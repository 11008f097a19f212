//! VRRP with keepalived (`[vrrp]`): keepalived adds and removes the floating addresses (the
//! VIPs, FULLNAT local addresses and `[vrrp] addrs`, such as the NAT servers' gateway) on rvs's
//! kernel interfaces as its instances become MASTER or BACKUP; rvsd follows which of them its
//! kernel interfaces hold, from rtnetlink's address events, and serves only those.

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// rtnetlink's multicast group of IPv4 address changes (`RTMGRP_IPV4_IFADDR`).
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
/// The addresses are read again at least this often, events or not.
const REREAD: Duration = Duration::from_secs(1);

/// Which addresses rvs's kernel interfaces hold.
pub struct Ownership {
    events: Socket,
    interfaces: Vec<String>,
    held: BTreeSet<Ipv4Addr>,
    next_read: Instant,
}

impl Ownership {
    /// Subscribes to address events, then reads what `interfaces` hold now.
    pub fn open(interfaces: Vec<String>) -> io::Result<Ownership> {
        let mut events = Socket::new(NETLINK_ROUTE)?;
        events.bind(&SocketAddr::new(0, RTMGRP_IPV4_IFADDR))?;
        events.set_non_blocking(true)?;
        let held = read(&interfaces)?;
        Ok(Ownership {
            events,
            interfaces,
            held,
            next_read: Instant::now() + REREAD,
        })
    }

    /// The IPv4 addresses the kernel interfaces hold.
    pub fn held(&self) -> &BTreeSet<Ipv4Addr> {
        &self.held
    }

    /// Reads the addresses again if the kernel reported an address change (or a second
    /// passed); true when what the interfaces hold changed.
    pub fn poll(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let mut changed = false;
        while let Ok(n) = self.events.recv(&mut &mut buf[..], 0) {
            changed |= n > 0;
        }
        if !changed && Instant::now() < self.next_read {
            return false;
        }
        self.next_read = Instant::now() + REREAD;
        // A failed read keeps what was known: no address is given up on an error.
        let Ok(held) = read(&self.interfaces) else {
            return false;
        };
        if held == self.held {
            return false;
        }
        self.held = held;
        true
    }
}

/// The IPv4 addresses of `interfaces`.
fn read(interfaces: &[String]) -> io::Result<BTreeSet<Ipv4Addr>> {
    Ok(nix::ifaddrs::getifaddrs()?
        .filter(|a| interfaces.contains(&a.interface_name))
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
        .collect())
}
