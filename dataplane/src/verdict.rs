//! Every packet gets exactly one verdict: transmitted on an interface, handed to another worker
//! or to the control plane, or dropped with one reason from [`DropReason`]. The last three
//! reasons are never a verdict: the worker counts a packet lost after its verdict (a queue or
//! ring full) under them, in place of that verdict.

/// The fate of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place (802.1Q tag included); send it out of this port (the index in
    /// `Snapshot::interfaces` of the port the output interface is on).
    Transmit(u16),
    /// Rewritten in place (802.1Q tag included) but longer than the MTU of this output
    /// interface (index in `Snapshot::interfaces`), DF clear: send it out of the interface's
    /// port as fragments of at most its MTU, each with the frame's Ethernet header
    /// (`xmit::frag`). Counted as one transmitted packet.
    Fragment(u16),
    /// An IPv4 fragment to a service, on the worker that owns its datagram: hand it, unchanged,
    /// to the worker's reassembler. Not counted yet: its datagram's fate counts it.
    Reassemble,
    /// Another worker owns the flow; hand the packet, unchanged, to this worker.
    Redirect(u16),
    /// For the box's control plane (ARP replies and announcements that feed the neighbour
    /// cache, ARP requests for a port's own addresses, and the kernel interfaces' frames); the
    /// packet is handed over unchanged.
    Local,
    Drop(DropReason),
}

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// Why a packet was dropped. Each has a per-worker counter.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $(#[doc = $doc] $variant,)*
        }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            /// Stable snake_case name for counters and metrics.
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

drop_reasons! {
    Truncated => "truncated": "Shorter than the headers it claims.",
    NotOurMac => "not_our_mac": "Unicast frame for another host's MAC (ports may be promiscuous).",
    TaggedFrame => "tagged_frame": "802.1Q tagged (VLAN id not 0) on a port with no VLAN configured.",
    UnknownVlan => "unknown_vlan": "802.1Q tagged with a VLAN id the port does not have.",
    NotIp => "not_ip": "EtherType neither IPv4, IPv6 nor ARP (or a second VLAN tag).",
    Ipv6Unsupported => "ipv6_unsupported": "IPv6 is classified but not forwarded yet.",
    BadIpHeader => "bad_ip_header": "IPv4 version, header length, total length or an option's \
        length invalid.",
    BadIpChecksum => "bad_ip_checksum": "IPv4 header checksum wrong.",
    SourceRoute => "source_route": "IPv4 loose or strict source route option (LSRR, SSRR): \
        the sender would choose the path (Linux drops these unless accept_source_route).",
    RecordRoute => "record_route": "IPv4 record route option (RR): it would reveal the path \
        (stricter than Linux, which fills it in).",
    Fragment => "fragment": "IPv4 fragment not to a service (only those are reassembled).",
    FragRefused => "frag_refused": "Fragment the reassembler refused (table full, overlap, over 8 fragments or 64 KiB).",
    FragTimeout => "frag_timeout": "Held fragment of a datagram not complete within the timeout (or at shutdown).",
    FragTooBig => "frag_too_big": "Reassembled datagram larger than the reassembly buffer.",
    FragFailed => "frag_failed": "No mbuf for a fragment of an oversize packet (the packet is lost).",
    TtlExpired => "ttl_expired": "NAT/FULLNAT would take the TTL to 0 and sent no ICMP (rate limit, unanswerable).",
    BadL4Header => "bad_l4_header": "TCP/UDP/ICMP header invalid or truncated.",
    UnsupportedProtocol => "unsupported_protocol": "IP protocol other than TCP, UDP, ICMP.",
    NotForUs => "not_for_us": "Not addressed to a VIP, a local address or a tracked flow.",
    NoService => "no_service": "Addressed to a VIP or local address, but no service on that port.",
    NoSession => "no_session": "TCP segment other than a SYN without a session.",
    Standby => "standby": "A new flow to a VIP this box does not hold now (VRRP backup).",
    NoDestination => "no_destination": "The scheduler found no available real server.",
    TableFull => "table_full": "Session table full (new flow refused).",
    SessionConflict => "session_conflict": "Another session already uses this flow's reply key.",
    LocalPortsExhausted => "local_ports_exhausted": "FULLNAT: no free local port on this worker.",
    NoHeadroom => "no_headroom": "No room to prepend the tunnel header.",
    TooBig => "too_big": "Over the MTU with DF clear, and the MTU leaves no room to fragment.",
    IcmpUnrelated => "icmp_unrelated": "ICMP error about no tracked flow, or an ICMP type not handled.",
    ArpIgnored => "arp_ignored": "ARP not asking for one of our addresses or VIPs.",
    NoNeighbour => "no_neighbour": "The real server's next hop is not resolved (ARP) yet.",
    TxFull => "tx_full": "Decided Transmit, then lost: the tx buffer still full after a flush \
        (the queue refuses), the interface unknown, or left in the buffer at shutdown.",
    RedirectFull => "redirect_full": "Decided Redirect, then lost: the owner's ring was full.",
    ControlFull => "control_full": "Decided Local, then lost: the control ring was full.",
    ExceptionLimit => "exception_limit": "For the box's kernel interface, over its port's exception rate.",
}

impl DropReason {
    /// The reasons a worker counts for packets lost after their verdict (queues or rings full).
    pub const IO: [DropReason; 3] = [
        DropReason::TxFull,
        DropReason::RedirectFull,
        DropReason::ControlFull,
    ];
}

/// Per-worker drop counters, one per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::COUNT])
    }
}

impl DropCounters {
    #[inline]
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }

    /// Takes back one drop counted for `reason` (the packet went elsewhere after all).
    pub fn uncount(&mut self, reason: DropReason) {
        self.0[reason as usize] = self.0[reason as usize].saturating_sub(1);
    }

    /// Counts `n` drops for `reason` at once (fragments of one datagram).
    #[inline]
    pub fn add(&mut self, reason: DropReason, n: u64) {
        self.0[reason as usize] += n;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// (reason, count) for every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_distinct_names_and_counters() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        let mut c = DropCounters::default();
        c.count(DropReason::Fragment);
        c.count(DropReason::Fragment);
        c.count(DropReason::ArpIgnored);
        assert_eq!(c.get(DropReason::Fragment), 2);
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.nonzero().collect::<Vec<_>>(),
            [(DropReason::Fragment, 2), (DropReason::ArpIgnored, 1)]
        );
    }
}
