//! Connection sync: the record a master sends for each new session and state change, and
//! Linux IPVS's sync protocol version 1 that carries it (`wire`).
//!
//! A [`SyncConn`] is one `struct ip_vs_sync_v4`/`ip_vs_sync_v6` of the kernel's
//! `net/netfilter/ipvs/ip_vs_sync.c` in host form, plus FULLNAT's local address and port, which
//! IPVS has no field for and which travel in an option a Linux peer skips.

pub mod wire;

use crate::conn::Addr;

/// `IP_VS_CONN_F_*` flags that sync carries (include/uapi/linux/ip_vs.h).
pub mod flags {
    /// Forwarding method mask and values.
    pub const FWD_MASK: u32 = 0x0007;
    /// NAT (FULLNAT too, with the local-address option).
    pub const MASQ: u32 = 0x0000;
    /// Local node.
    pub const LOCALNODE: u32 = 0x0001;
    /// IP-IP tunnel.
    pub const TUNNEL: u32 = 0x0002;
    /// Direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// Set on every synced connection by the receiver.
    pub const SYNC: u32 = 0x0020;
    /// Hashed in the table: never sent.
    pub const HASHED: u32 = 0x0040;
    /// Inactive (not ESTABLISHED).
    pub const INACTIVE: u32 = 0x0100;
    /// Sequence adjustment data present.
    pub const SEQ_MASK: u32 = 0x0600;
    /// Client port not yet known.
    pub const NO_CPORT: u32 = 0x0800;
    /// Persistence template.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling.
    pub const ONE_PACKET: u32 = 0x2000;
}

/// One synced connection. Addresses are all IPv4 or all IPv6; `state` is IPVS's state number
/// (TCP: `IP_VS_TCP_S_*`, the same numbers as [`crate::conn::State`]; other protocols 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol (TCP, UDP, SCTP ...).
    pub protocol: u8,
    /// `IP_VS_CONN_F_*` flags ([`flags`]).
    pub flags: u32,
    /// IPVS state number.
    pub state: u16,
    /// Client address and port.
    pub caddr: Addr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: Addr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: Addr,
    /// Real server port.
    pub dport: u16,
    /// Firewall mark (0: none).
    pub fwmark: u32,
    /// Remaining timeout in seconds.
    pub timeout_s: u32,
    /// FULLNAT's local address and port, when the connection has them.
    pub local: Option<(Addr, u16)>,
}

impl SyncConn {
    /// True when the addresses are IPv6 (`STYPE_F_INET6` on the wire).
    pub fn is_v6(&self) -> bool {
        !self.caddr.is_v4()
    }
}

/// A synced connection for a worker to install, with the next hop towards its client that the
/// control thread resolved (the master learned it from the client's frames; a backup routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncInstall {
    pub conn: SyncConn,
    /// Interface and MAC towards the client.
    pub client_if: u16,
    pub client_mac: crate::wire::ethernet::MacAddr,
}

/// Records a worker hands to the sync sender (per new session and state change), and installs
/// it takes from the sync receiver: lock-free single-producer rings of plain values.
pub type RecordProducer = rtrb::Producer<SyncConn>;
/// The sender's end of a worker's records.
pub type RecordConsumer = rtrb::Consumer<SyncConn>;
/// The control thread's end of a worker's installs.
pub type InstallProducer = rtrb::Producer<SyncInstall>;
/// A worker's end of its installs.
pub type InstallConsumer = rtrb::Consumer<SyncInstall>;

/// Records (or installs) a worker's ring holds.
pub const RING_RECORDS: usize = 65536;

/// A worker's record ring: (the worker's end, the sender's end).
pub fn record_ring() -> (RecordProducer, RecordConsumer) {
    rtrb::RingBuffer::new(RING_RECORDS)
}

/// A worker's install ring: (the control thread's end, the worker's end).
pub fn install_ring() -> (InstallProducer, InstallConsumer) {
    rtrb::RingBuffer::new(RING_RECORDS)
}
