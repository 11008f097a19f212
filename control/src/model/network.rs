//! The box's network as configured: interfaces (ports and their VLAN sub-interfaces) with their
//! own addresses and subnets, routes and static neighbours. The service rules ([`super`]) judge real servers and local addresses
//! against it; the config file ([`crate::config`]) builds it.

use dataplane::wire::ethernet::MacAddr;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// One interface: a `[[ports]]`, or one of its `vlans` (a sub-interface named `PORT.ID`, with
/// the port's device, MAC and MTU, sending and receiving frames tagged with its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Unique: a port's `[a-z0-9_-]{1,15}`, a VLAN's `PORT.ID`.
    pub name: String,
    pub device: Device,
    /// The box's own addresses and their connected subnets (at least one). Subnets of
    /// different ports do not overlap, and no address appears twice.
    pub addrs: Vec<Prefix>,
    /// VIPs announced on this port (each on one port only).
    pub vips: Vec<Ipv4Addr>,
    /// MAC override (unicast, non-zero); None = the device's own.
    pub mac: Option<MacAddr>,
    /// 68..=65535.
    pub mtu: u16,
    /// None for a port; for a VLAN sub-interface, its port and id.
    pub vlan: Option<Vlan>,
    /// The name of the port's kernel interface (`[a-z0-9_-]{1,15}`, unique); None: none (a
    /// VLAN sub-interface has none).
    pub kernel_interface: Option<String>,
    /// Frames per second the kernel interface takes from the wire (1..=10,000,000; default
    /// 200,000); the excess is dropped as `exception_limit`.
    pub exception_rate: u32,
}

/// Where a VLAN sub-interface is: on the port at index `port` of the interfaces (ports come
/// first), tagged `id` (1..=4094, unique on the port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vlan {
    pub port: u16,
    pub id: u16,
}

/// A port's DPDK device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// `DDDD:BB:DD.F`, optionally followed by `,devargs`; passed as `-a`.
    Pci(String),
    /// Virtual-device devargs starting with `net_` (`net_pcap0,rx_pcap=...`); passed as `--vdev`.
    Vdev(String),
}

impl Device {
    /// The string handed to the EAL.
    pub fn devargs(&self) -> &str {
        match self {
            Device::Pci(s) | Device::Vdev(s) => s,
        }
    }

    /// What identifies the device to DPDK: the PCI address or the vdev name (before any comma).
    pub fn id(&self) -> &str {
        let s = self.devargs();
        s.split(',').next().unwrap_or(s)
    }
}

/// One `[[routes]]`: `prefix` via the gateway `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// A network address (no host bits set); prefixes are unique.
    pub prefix: Prefix,
    /// Lies in a connected subnet of `port` and is not an address of the box.
    pub via: Ipv4Addr,
    /// Index into [`crate::config::Config::ports`] of the interface whose subnet holds `via`.
    pub port: u16,
}

/// One `[[neighbours]]`: a static ARP entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourSpec {
    /// In a connected subnet of `port`; unique; not an address of the box.
    pub addr: Ipv4Addr,
    /// Unicast, non-zero.
    pub mac: MacAddr,
    /// Index into [`crate::config::Config::ports`].
    pub port: u16,
}

/// An IPv4 address with a prefix length (`10.0.0.1/24`). Host bits may be set (a port's own
/// address); [`Prefix::network`] clears them. Lengths above 32 behave as 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    /// The netmask as a host-order integer.
    pub fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.len.min(32)))
            .unwrap_or(0)
    }

    /// The address with the host bits cleared.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `a` lies in this prefix.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (u32::from(a) ^ u32::from(self.addr)) & self.mask() == 0
    }

    /// The address with every host bit set.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether no host bit is set.
    pub fn is_network(&self) -> bool {
        self.network() == self.addr
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, other: &Prefix) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Why a string is not `ADDRESS/LENGTH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsePrefixError {
    /// No `/LENGTH`.
    NoLength,
    /// The part before `/` is not an IPv4 address.
    Address,
    /// The length is not a decimal number.
    Length,
    /// The length is above 32.
    TooLong(u32),
}

impl fmt::Display for ParsePrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParsePrefixError::NoLength => f.write_str("no prefix length"),
            ParsePrefixError::Address => f.write_str("not an IPv4 address before '/'"),
            ParsePrefixError::Length => f.write_str("prefix length is not a number"),
            ParsePrefixError::TooLong(n) => write!(f, "prefix length {n} > 32"),
        }
    }
}

impl std::error::Error for ParsePrefixError {}

impl FromStr for Prefix {
    type Err = ParsePrefixError;

    /// `a.b.c.d/len`, len a decimal number in 0..=32.
    fn from_str(s: &str) -> Result<Prefix, ParsePrefixError> {
        let (addr, len) = s.split_once('/').ok_or(ParsePrefixError::NoLength)?;
        let addr = addr.parse().map_err(|_| ParsePrefixError::Address)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
            return Err(ParsePrefixError::Length);
        }
        let len: u32 = len.parse().map_err(|_| ParsePrefixError::Length)?;
        match u8::try_from(len) {
            Ok(len) if len <= 32 => Ok(Prefix { addr, len }),
            _ => Err(ParsePrefixError::TooLong(len)),
        }
    }
}

/// The first port (index) with a connected subnet holding `a`.
pub fn connected(ports: &[PortSpec], a: Ipv4Addr) -> Option<usize> {
    ports
        .iter()
        .position(|p| p.addrs.iter().any(|n| n.contains(a)))
}

/// Whether `a` is one of the box's own addresses.
pub fn is_own(ports: &[PortSpec], a: Ipv4Addr) -> bool {
    ports.iter().any(|p| p.addrs.iter().any(|n| n.addr == a))
}

/// "wan 10.10.0.1/24, lan 10.20.0.1/24", for messages.
pub fn subnets(ports: &[PortSpec]) -> String {
    let all: Vec<String> = ports
        .iter()
        .flat_map(|p| p.addrs.iter().map(move |a| format!("{} {a}", p.name)))
        .collect();
    all.join(", ")
}
