//! Next-hop lookup for the box's own traffic: which interface, which address to ARP for, and
//! which of the box's addresses to use as the source.
//!
//! **Control plane only.** The table holds the handful of connected subnets and static routes of
//! an LVS-style box (typically one or two subnets per port and a default route), kept in a `Vec`
//! sorted so that the first match is the best one; a lookup is a linear scan. The control thread
//! uses it to find the next hop of each real server (and of the FULLNAT/tunnel traffic the box
//! originates) before resolving it with [`neigh`](crate::neigh); the packet path never calls it
//! (it reads the resolved MAC and interface from the snapshot).
//!
//! # Rules
//! - Longest prefix wins.
//! - At equal length, a connected subnet wins over a static route.
//! - At equal length and kind, the first one given wins (the first address of a subnet on an
//!   interface is its primary address and the source of traffic routed through that subnet, as
//!   Linux uses the primary address).
//! - A static route leaves through the interface whose connected subnet contains its gateway
//!   (the longest such subnet); a route whose gateway is on no connected subnet, or is one of the
//!   box's own addresses, is refused when the table is built.
//! - A static prefix with host bits set, a prefix length above 32, a static prefix given twice,
//!   and the same subnet connected to two different interfaces are refused too: each is a
//!   configuration mistake that would otherwise make a lookup depend on the order of the lines.
//!
//! The box's own addresses are not special: a lookup for one of them returns it as an on-link
//! next hop.

use core::cmp::Reverse;
use core::fmt;
use std::net::Ipv4Addr;

/// Where to send a packet for some destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// The interface (port index) to send through.
    pub interface: u16,
    /// The address to ARP for: the destination itself when it is on-link, else the gateway.
    pub addr: Ipv4Addr,
    /// The box's address on the interface's subnet that matched (the one containing `addr`).
    pub src: Ipv4Addr,
}

/// One row of the built table, for listings (`rvsadm`), in lookup order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// The network (host bits cleared).
    pub prefix: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub len: u8,
    /// The interface the route leaves through.
    pub interface: u16,
    /// The gateway, or `None` for a connected subnet.
    pub via: Option<Ipv4Addr>,
    /// The box's address used as the source.
    pub src: Ipv4Addr,
}

/// Why a table was refused. Each variant names the line at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteError {
    /// A connected subnet with a prefix length above 32.
    BadConnectedPrefixLen {
        interface: u16,
        addr: Ipv4Addr,
        len: u8,
    },
    /// A static route with a prefix length above 32.
    BadPrefixLen { prefix: Ipv4Addr, len: u8 },
    /// A static route whose prefix has bits set beyond its length (e.g. 10.0.0.1/8).
    HostBitsSet { prefix: Ipv4Addr, len: u8 },
    /// The same static prefix given twice.
    DuplicateRoute { prefix: Ipv4Addr, len: u8 },
    /// The same subnet connected to two interfaces.
    SubnetOnTwoInterfaces {
        prefix: Ipv4Addr,
        len: u8,
        first: u16,
        second: u16,
    },
    /// A static route whose gateway is on no connected subnet.
    GatewayNotOnLink {
        prefix: Ipv4Addr,
        len: u8,
        via: Ipv4Addr,
    },
    /// A static route whose gateway is one of the box's own addresses.
    GatewayIsLocal {
        prefix: Ipv4Addr,
        len: u8,
        via: Ipv4Addr,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RouteError::BadConnectedPrefixLen {
                interface,
                addr,
                len,
            } => write!(
                f,
                "address {addr}/{len} on interface {interface}: prefix length above 32"
            ),
            RouteError::BadPrefixLen { prefix, len } => {
                write!(f, "route {prefix}/{len}: prefix length above 32")
            }
            RouteError::HostBitsSet { prefix, len } => write!(
                f,
                "route {prefix}/{len}: host bits set (the network is {}/{len})",
                Ipv4Addr::from(u32::from(prefix) & mask(len.min(32)))
            ),
            RouteError::DuplicateRoute { prefix, len } => {
                write!(f, "route {prefix}/{len}: given twice")
            }
            RouteError::SubnetOnTwoInterfaces {
                prefix,
                len,
                first,
                second,
            } => write!(
                f,
                "subnet {prefix}/{len} is connected to interfaces {first} and {second}"
            ),
            RouteError::GatewayNotOnLink { prefix, len, via } => write!(
                f,
                "route {prefix}/{len} via {via}: the gateway is on no connected subnet"
            ),
            RouteError::GatewayIsLocal { prefix, len, via } => write!(
                f,
                "route {prefix}/{len} via {via}: the gateway is one of the box's own addresses"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

/// The netmask of a prefix length (`len` must be at most 32).
#[inline]
fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    network: u32,
    len: u8,
    /// `None` for a connected subnet (sorts before `Some`: connected first at equal length).
    via: Option<Ipv4Addr>,
    interface: u16,
    src: Ipv4Addr,
}

impl Entry {
    #[inline]
    fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.len) == self.network
    }

    fn route(&self) -> Route {
        Route {
            prefix: Ipv4Addr::from(self.network),
            len: self.len,
            interface: self.interface,
            via: self.via,
            src: self.src,
        }
    }
}

/// The box's routing table (see the [module documentation](self) for the rules).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Sorted by length (longest first), then connected before static, then input order.
    entries: Vec<Entry>,
}

impl RouteTable {
    /// Builds the table from the connected subnets, `(interface, the box's address, prefix
    /// length)`, and the static routes, `(prefix, length, gateway)`. Refuses the whole table on
    /// the first mistake, naming it.
    pub fn new(
        connected: &[(u16, Ipv4Addr, u8)],
        routes: &[(Ipv4Addr, u8, Ipv4Addr)],
    ) -> Result<RouteTable, RouteError> {
        let mut conn: Vec<Entry> = Vec::with_capacity(connected.len());
        for &(interface, addr, len) in connected {
            if len > 32 {
                return Err(RouteError::BadConnectedPrefixLen {
                    interface,
                    addr,
                    len,
                });
            }
            let network = u32::from(addr) & mask(len);
            if let Some(other) = conn
                .iter()
                .find(|e| e.network == network && e.len == len && e.interface != interface)
            {
                return Err(RouteError::SubnetOnTwoInterfaces {
                    prefix: Ipv4Addr::from(network),
                    len,
                    first: other.interface,
                    second: interface,
                });
            }
            conn.push(Entry {
                network,
                len,
                via: None,
                interface,
                src: addr,
            });
        }
        // Longest connected subnet first, stable: the first address of a subnet stays primary.
        conn.sort_by_key(|e| Reverse(e.len));

        let mut entries = conn.clone();
        let mut statics: Vec<Entry> = Vec::with_capacity(routes.len());
        for &(prefix, len, via) in routes {
            if len > 32 {
                return Err(RouteError::BadPrefixLen { prefix, len });
            }
            let network = u32::from(prefix) & mask(len);
            if network != u32::from(prefix) {
                return Err(RouteError::HostBitsSet { prefix, len });
            }
            if statics.iter().any(|e| e.network == network && e.len == len) {
                return Err(RouteError::DuplicateRoute { prefix, len });
            }
            if connected.iter().any(|&(_, a, _)| a == via) {
                return Err(RouteError::GatewayIsLocal { prefix, len, via });
            }
            let Some(gw) = conn.iter().find(|e| e.contains(via)) else {
                return Err(RouteError::GatewayNotOnLink { prefix, len, via });
            };
            statics.push(Entry {
                network,
                len,
                via: Some(via),
                interface: gw.interface,
                src: gw.src,
            });
        }
        entries.extend(statics);
        // Stable: equal (length, kind) keep input order.
        entries.sort_by_key(|e| (Reverse(e.len), e.via.is_some()));
        Ok(RouteTable { entries })
    }

    /// The next hop for `dst`, or `None` when no subnet or route covers it (no default route).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        let e = self.entries.iter().find(|e| e.contains(dst))?;
        Some(NextHop {
            interface: e.interface,
            addr: e.via.unwrap_or(dst),
            src: e.src,
        })
    }

    /// The rows in lookup order.
    pub fn routes(&self) -> impl Iterator<Item = Route> + '_ {
        self.entries.iter().map(Entry::route)
    }

    /// Number of rows (connected subnets and static routes).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table has no row at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// if 0: 10.0.0.1/24 and 10.0.0.2/24 (secondary); if 1: 192.168.1.10/24 and 172.16.0.1/16.
    /// Routes: default via 192.168.1.1, 10.20.0.0/16 via 10.0.0.254, 10.20.30.0/24 via
    /// 172.16.5.5, 10.0.0.0/24 via 192.168.1.1 (shadowed by the connected /24),
    /// 10.0.0.128/25 via 192.168.1.1 (more specific than the connected /24).
    fn table() -> RouteTable {
        RouteTable::new(
            &[
                (0, ip("10.0.0.1"), 24),
                (0, ip("10.0.0.2"), 24),
                (1, ip("192.168.1.10"), 24),
                (1, ip("172.16.0.1"), 16),
            ],
            &[
                (ip("0.0.0.0"), 0, ip("192.168.1.1")),
                (ip("10.20.0.0"), 16, ip("10.0.0.254")),
                (ip("10.20.30.0"), 24, ip("172.16.5.5")),
                (ip("10.0.0.0"), 24, ip("192.168.1.1")),
                (ip("10.0.0.128"), 25, ip("192.168.1.1")),
            ],
        )
        .unwrap()
    }

    fn hop(interface: u16, addr: &str, src: &str) -> Option<NextHop> {
        Some(NextHop {
            interface,
            addr: ip(addr),
            src: ip(src),
        })
    }

    #[test]
    fn on_link_destination_is_its_own_next_hop() {
        let t = table();
        assert_eq!(t.lookup(ip("10.0.0.7")), hop(0, "10.0.0.7", "10.0.0.1"));
        assert_eq!(
            t.lookup(ip("192.168.1.200")),
            hop(1, "192.168.1.200", "192.168.1.10")
        );
        assert_eq!(
            t.lookup(ip("172.16.200.3")),
            hop(1, "172.16.200.3", "172.16.0.1")
        );
        // The box's own address is not special.
        assert_eq!(t.lookup(ip("10.0.0.2")), hop(0, "10.0.0.2", "10.0.0.1"));
    }

    #[test]
    fn gateway_routes_take_the_gateways_interface_and_source() {
        let t = table();
        assert_eq!(t.lookup(ip("10.20.1.1")), hop(0, "10.0.0.254", "10.0.0.1"));
        assert_eq!(
            t.lookup(ip("10.20.30.40")),
            hop(1, "172.16.5.5", "172.16.0.1"),
            "the /24 beats the /16"
        );
    }

    #[test]
    fn longest_prefix_wins_and_connected_wins_ties() {
        let t = table();
        // Connected /24 and static /24 for 10.0.0.0: connected wins.
        assert_eq!(t.lookup(ip("10.0.0.127")), hop(0, "10.0.0.127", "10.0.0.1"));
        // Static /25 inside the connected /24: the longer static route wins.
        assert_eq!(
            t.lookup(ip("10.0.0.129")),
            hop(1, "192.168.1.1", "192.168.1.10")
        );
        let order: Vec<(u8, bool)> = t.routes().map(|r| (r.len, r.via.is_some())).collect();
        assert_eq!(
            order,
            [
                (25, true),
                (24, false),
                (24, false),
                (24, false),
                (24, true),
                (24, true),
                (16, false),
                (16, true),
                (0, true)
            ]
        );
        assert_eq!(t.len(), 9);
    }

    #[test]
    fn default_route_catches_the_rest() {
        let t = table();
        assert_eq!(
            t.lookup(ip("8.8.8.8")),
            hop(1, "192.168.1.1", "192.168.1.10")
        );
        assert_eq!(
            t.lookup(ip("255.255.255.255")),
            hop(1, "192.168.1.1", "192.168.1.10")
        );
    }

    #[test]
    fn unreachable_without_default_route() {
        let t = RouteTable::new(
            &[(0, ip("10.0.0.1"), 24)],
            &[(ip("10.9.0.0"), 16, ip("10.0.0.9"))],
        )
        .unwrap();
        assert_eq!(t.lookup(ip("10.1.0.1")), None);
        assert_eq!(t.lookup(ip("10.0.1.0")), None);
        assert_eq!(t.lookup(ip("10.9.255.255")), hop(0, "10.0.0.9", "10.0.0.1"));
        assert_eq!(RouteTable::default().lookup(ip("10.0.0.1")), None);
        assert!(RouteTable::default().is_empty());
    }

    #[test]
    fn host_routes_and_slash_32_connected() {
        let t = RouteTable::new(
            &[(0, ip("10.0.0.1"), 24), (2, ip("198.51.100.7"), 32)],
            &[(ip("203.0.113.9"), 32, ip("10.0.0.5"))],
        )
        .unwrap();
        assert_eq!(t.lookup(ip("203.0.113.9")), hop(0, "10.0.0.5", "10.0.0.1"));
        assert_eq!(t.lookup(ip("203.0.113.8")), None);
        assert_eq!(
            t.lookup(ip("198.51.100.7")),
            hop(2, "198.51.100.7", "198.51.100.7")
        );
        assert_eq!(t.lookup(ip("198.51.100.6")), None);
    }

    #[test]
    fn gateway_uses_its_longest_connected_subnet() {
        // The gateway is in both the /16 on if 0 and the /24 on if 1: the /24 decides.
        let t = RouteTable::new(
            &[(0, ip("10.1.0.1"), 16), (1, ip("10.1.2.1"), 24)],
            &[(ip("0.0.0.0"), 0, ip("10.1.2.254"))],
        )
        .unwrap();
        assert_eq!(t.lookup(ip("1.1.1.1")), hop(1, "10.1.2.254", "10.1.2.1"));
    }

    #[test]
    fn off_link_gateway_is_refused() {
        let err = RouteTable::new(
            &[(0, ip("10.0.0.1"), 24)],
            &[(ip("0.0.0.0"), 0, ip("192.168.1.1"))],
        )
        .unwrap_err();
        assert_eq!(
            err,
            RouteError::GatewayNotOnLink {
                prefix: ip("0.0.0.0"),
                len: 0,
                via: ip("192.168.1.1")
            }
        );
        assert_eq!(
            err.to_string(),
            "route 0.0.0.0/0 via 192.168.1.1: the gateway is on no connected subnet"
        );
        // A gateway reachable only through another static route is not on-link either.
        let err = RouteTable::new(
            &[(0, ip("10.0.0.1"), 24)],
            &[
                (ip("172.16.0.0"), 16, ip("10.0.0.254")),
                (ip("0.0.0.0"), 0, ip("172.16.0.1")),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, RouteError::GatewayNotOnLink { via, .. } if via == ip("172.16.0.1")));
    }

    #[test]
    fn other_mistakes_are_refused() {
        let c = [(0, ip("10.0.0.1"), 24)];
        assert_eq!(
            RouteTable::new(&c, &[(ip("10.5.0.1"), 16, ip("10.0.0.9"))]),
            Err(RouteError::HostBitsSet {
                prefix: ip("10.5.0.1"),
                len: 16
            })
        );
        assert_eq!(
            RouteTable::new(&c, &[(ip("10.5.0.0"), 33, ip("10.0.0.9"))]),
            Err(RouteError::BadPrefixLen {
                prefix: ip("10.5.0.0"),
                len: 33
            })
        );
        assert_eq!(
            RouteTable::new(&[(3, ip("10.0.0.1"), 40)], &[]),
            Err(RouteError::BadConnectedPrefixLen {
                interface: 3,
                addr: ip("10.0.0.1"),
                len: 40
            })
        );
        assert_eq!(
            RouteTable::new(
                &c,
                &[
                    (ip("10.5.0.0"), 16, ip("10.0.0.9")),
                    (ip("10.5.0.0"), 16, ip("10.0.0.8"))
                ]
            ),
            Err(RouteError::DuplicateRoute {
                prefix: ip("10.5.0.0"),
                len: 16
            })
        );
        assert_eq!(
            RouteTable::new(&c, &[(ip("10.5.0.0"), 16, ip("10.0.0.1"))]),
            Err(RouteError::GatewayIsLocal {
                prefix: ip("10.5.0.0"),
                len: 16,
                via: ip("10.0.0.1")
            })
        );
        let err =
            RouteTable::new(&[(0, ip("10.0.0.1"), 24), (1, ip("10.0.0.2"), 24)], &[]).unwrap_err();
        assert_eq!(
            err,
            RouteError::SubnetOnTwoInterfaces {
                prefix: ip("10.0.0.0"),
                len: 24,
                first: 0,
                second: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "subnet 10.0.0.0/24 is connected to interfaces 0 and 1"
        );
        assert_eq!(
            RouteError::HostBitsSet {
                prefix: ip("10.5.0.1"),
                len: 16
            }
            .to_string(),
            "route 10.5.0.1/16: host bits set (the network is 10.5.0.0/16)"
        );
    }

    #[test]
    fn listing_shows_networks_gateways_and_sources() {
        let t = table();
        let first = t.routes().next().unwrap();
        assert_eq!(
            first,
            Route {
                prefix: ip("10.0.0.128"),
                len: 25,
                interface: 1,
                via: Some(ip("192.168.1.1")),
                src: ip("192.168.1.10"),
            }
        );
        let connected: Vec<Route> = t.routes().filter(|r| r.via.is_none()).collect();
        assert_eq!(connected[0].prefix, ip("10.0.0.0"));
        assert_eq!(connected[0].src, ip("10.0.0.1"));
        assert_eq!(connected[1].src, ip("10.0.0.2"));
    }
}
