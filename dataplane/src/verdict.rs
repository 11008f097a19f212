//! Every packet gets exactly one verdict: transmitted on an interface, handed to another worker
//! or to the control plane, or dropped with one reason from [`DropReason`].

/// The fate of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten in place (802.1Q tag included); send it out of this port (the index in
    /// `Snapshot::interfaces` of the port the output interface is on).
    Transmit(u16),
    /// Another worker owns the flow; hand the packet, unchanged, to this worker.
    Redirect(u16),
    /// For the box's control plane (ARP replies and announcements that feed the neighbour
    /// cache); the packet is handed over unchanged.
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
    BadIpHeader => "bad_ip_header": "IPv4 version, header length or total length invalid.",
    BadIpChecksum => "bad_ip_checksum": "IPv4 header checksum wrong.",
    Fragment => "fragment": "IPv4 fragments are not reassembled.",
    TtlExpired => "ttl_expired": "TTL would reach 0 when forwarded by NAT or FULLNAT.",
    BadL4Header => "bad_l4_header": "TCP/UDP/ICMP header invalid or truncated.",
    UnsupportedProtocol => "unsupported_protocol": "IP protocol other than TCP, UDP, ICMP.",
    NotForUs => "not_for_us": "Not addressed to a VIP, a local address or a tracked flow.",
    NoService => "no_service": "Addressed to a VIP or local address, but no service on that port.",
    NoSession => "no_session": "TCP segment other than a SYN without a session.",
    NoDestination => "no_destination": "The scheduler found no available real server.",
    TableFull => "table_full": "Session table full (new flow refused).",
    SessionConflict => "session_conflict": "Another session already uses this flow's reply key.",
    LocalPortsExhausted => "local_ports_exhausted": "FULLNAT: no free local port on this worker.",
    NoHeadroom => "no_headroom": "No room to prepend the tunnel header.",
    TooBig => "too_big": "Exceeds the MTU after encapsulation and DF is clear (no fragmentation).",
    IcmpUnrelated => "icmp_unrelated": "ICMP error about no tracked flow, or an ICMP type not handled.",
    ArpIgnored => "arp_ignored": "ARP not asking for one of our addresses or VIPs.",
    NoNeighbour => "no_neighbour": "The real server's next hop is not resolved (ARP) yet.",
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
