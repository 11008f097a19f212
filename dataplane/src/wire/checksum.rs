//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Vocabulary:
//! - a *sum* (`u32`) is a partial one's-complement sum of 16-bit big-endian words. Sums are
//!   kept folded to at most `0xFFFF` by the functions here, so they can be chained without
//!   overflow: `sum(b, sum(a, 0))` is the sum of `a` followed by `b`, provided `a` has even length
//!   (an odd trailing byte is padded with a zero, as the last byte of a message is);
//! - a *checksum* (`u16`) is the one's complement of the folded sum, the value on the wire:
//!   [`finish`] turns a sum into a checksum.
//!
//! Verifying: the checksum of a message that includes its (correct) checksum field is 0
//! ([`checksum`] of the bytes, or [`l4_checksum_v4`] / [`l4_checksum_v6`] with the pseudo
//! header).
//!
//! UDP: a computed checksum of 0 is sent as `0xFFFF` ([`udp_from_computed`]); over IPv4 a received
//! checksum of 0 means "no checksum" and must stay 0 when the datagram is rewritten (the
//! `udp_update*` helpers keep it).
//!
//! Incremental update follows RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`. With that form the
//! result equals a full recomputation bit for bit (no `-0` / `+0` ambiguity) for any checksum
//! that was produced by a full computation over data whose sum is not zero; every TCP/UDP/IPv4
//! checksum is such (the pseudo header or the version byte is never zero).

use std::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used in pseudo headers (and by the IP views).
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4-in-IPv4 (IP-in-IP tunnelling).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation.
    pub const IPV6: u8 = 41;
    /// IPv6 fragment extension header.
    pub const IPV6_FRAG: u8 = 44;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// Folds carries of a 64-bit accumulator into 16 bits (end-around carry).
#[inline(always)]
fn fold64(s: u64) -> u16 {
    // Branchless: after the first step s < 2^33, then < 2^18, then <= 0xFFFF + 3, then <= 0xFFFF.
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Folds a partial sum into 16 bits (end-around carry). The result is still a sum, not a
/// checksum: see [`finish`].
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    fold64(sum as u64)
}

/// Turns a partial sum into the checksum value on the wire: `!fold(sum)`.
#[inline(always)]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Adds `data`, read as big-endian 16-bit words, to the partial sum `initial`. An odd trailing
/// byte counts as the high byte of a word whose low byte is zero. Returns a folded sum
/// (`<= 0xFFFF`), so calls chain without overflow for any input length.
#[inline]
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u32 {
    // 32-bit words into a 64-bit accumulator: 2^16 == 1 (mod 0xFFFF), so summing 32-bit words
    // and folding is the same as summing 16-bit words. No overflow below 16 GiB of input.
    let mut acc: u64 = initial as u64;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64;
    }
    let rest = chunks.remainder();
    let mut i = 0;
    if rest.len() >= 2 {
        acc += u16::from_be_bytes([rest[0], rest[1]]) as u64;
        i = 2;
    }
    if rest.len() > i {
        acc += (rest[i] as u64) << 8;
    }
    fold64(acc) as u32
}

/// Short alias of [`ones_complement_sum`].
#[inline]
pub fn sum(data: &[u8], initial: u32) -> u32 {
    ones_complement_sum(data, initial)
}

/// The Internet checksum of `data` (e.g. an IPv4 header with its checksum field zeroed, or an
/// ICMP message). Over a message that contains a correct checksum the result is 0.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(ones_complement_sum(data, 0))
}

/// Sum of the IPv4 pseudo header: source, destination, zero + protocol, L4 length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u32 {
    let s = u32::from_be_bytes(src.octets()) as u64;
    let d = u32::from_be_bytes(dst.octets()) as u64;
    fold64(s + d + protocol as u64 + l4_len as u64) as u32
}

/// Sum of the IPv6 pseudo header (RFC 8200 §8.1): source, destination, upper-layer length
/// (32 bits), three zero bytes, next header.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, l4_len: u32) -> u32 {
    let s = ones_complement_sum(&src.octets(), 0);
    let d = ones_complement_sum(&dst.octets(), s);
    fold64(d as u64 + l4_len as u64 + next_header as u64) as u32
}

/// The TCP/UDP/ICMPv6 checksum over IPv4 of the L4 bytes `segment` (header + payload, the whole
/// L4 message; its length is the one used in the pseudo header). To fill, zero the checksum
/// field first and store the result (for UDP pass it through [`udp_from_computed`]); to verify,
/// compute over the segment as received: a correct one gives 0.
#[inline]
pub fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    // Lengths beyond u16 do not exist in IPv4; truncating keeps this total rather than panicking.
    let ph = pseudo_header_v4(src, dst, protocol, segment.len() as u16);
    finish(ones_complement_sum(segment, ph))
}

/// Like [`l4_checksum_v4`], over IPv6.
#[inline]
pub fn l4_checksum_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, segment: &[u8]) -> u16 {
    let ph = pseudo_header_v6(src, dst, next_header, segment.len() as u32);
    finish(ones_complement_sum(segment, ph))
}

/// The UDP rule for a freshly computed checksum: 0 is transmitted as `0xFFFF` (0 means "none").
#[inline(always)]
pub fn udp_from_computed(csum: u16) -> u16 {
    if csum == 0 {
        0xffff
    } else {
        csum
    }
}

/// The accumulated change of several 16-bit words of a checksummed region (RFC 1624 eqn. 3:
/// the sum of `~old + new` per word), applied to a checksum with a single fold. Cheaper than one
/// `update*` per field when several fields change together (NAT rewrites addresses, ports and
/// TTL at once), and the same delta serves the IP header and the L4 pseudo header. The words
/// may be taken in either byte order, as long as all of them and the checksum it is applied to
/// are taken in the same one (RFC 1071 2.B).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta(u64);

impl Delta {
    /// One 16-bit word changed from `old` to `new`.
    #[inline(always)]
    pub fn word16(self, old: u16, new: u16) -> Delta {
        Delta(self.0 + u64::from(!old) + u64::from(new))
    }

    /// A 32-bit field (two aligned words) changed, e.g. an IPv4 address.
    #[inline(always)]
    pub fn word32(self, old: u32, new: u32) -> Delta {
        self.word16((old >> 16) as u16, (new >> 16) as u16)
            .word16(old as u16, new as u16)
    }

    /// The checksum `csum` updated by every recorded change.
    #[inline(always)]
    pub fn apply(self, csum: u16) -> u16 {
        !fold64(u64::from(!csum) + self.0)
    }

    /// [`apply`](Self::apply) for a UDP checksum: 0 ("no checksum") stays 0, and a computed 0
    /// is sent as 0xFFFF.
    #[inline(always)]
    pub fn apply_udp(self, csum: u16) -> u16 {
        udp_fixup(csum, self.apply(csum))
    }
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changed from `old`
/// to `new`.
#[inline(always)]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let s = (!csum) as u32 + (!old) as u32 + new as u32;
    !fold(s)
}

/// RFC 1624 for a 32-bit field (two adjacent, 16-bit aligned words), e.g. an IPv4 address or a
/// TCP sequence number.
#[inline(always)]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let s = (!csum) as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold64(s)
}

/// RFC 1624 for an IPv4 address (`update32` with the address as a big-endian word).
#[inline(always)]
pub fn update_ipv4_addr(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update32(
        csum,
        u32::from_be_bytes(old.octets()),
        u32::from_be_bytes(new.octets()),
    )
}

/// RFC 1624 for a 16-byte field, i.e. an IPv6 address.
#[inline]
pub fn update128(csum: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    let mut s = (!csum) as u64;
    let mut i = 0;
    while i < 16 {
        s += (!u16::from_be_bytes([old[i], old[i + 1]])) as u64;
        s += u16::from_be_bytes([new[i], new[i + 1]]) as u64;
        i += 2;
    }
    !fold64(s)
}

/// RFC 1624 for an IPv6 address.
#[inline]
pub fn update_ipv6_addr(csum: u16, old: &Ipv6Addr, new: &Ipv6Addr) -> u16 {
    update128(csum, &old.octets(), &new.octets())
}

/// Maps the result of an incremental update of a UDP checksum: an original 0 ("no checksum",
/// IPv4 only) stays 0, and a computed 0 becomes `0xFFFF`.
#[inline(always)]
fn udp_fixup(original: u16, updated: u16) -> u16 {
    if original == 0 {
        0
    } else {
        udp_from_computed(updated)
    }
}

/// [`update16`] for a UDP checksum: keeps 0 ("no checksum") as 0, never yields 0 otherwise.
#[inline(always)]
pub fn udp_update16(csum: u16, old: u16, new: u16) -> u16 {
    udp_fixup(csum, update16(csum, old, new))
}

/// [`update32`] for a UDP checksum (see [`udp_update16`]).
#[inline(always)]
pub fn udp_update32(csum: u16, old: u32, new: u32) -> u16 {
    udp_fixup(csum, update32(csum, old, new))
}

/// [`update_ipv4_addr`] for a UDP checksum (see [`udp_update16`]).
#[inline(always)]
pub fn udp_update_ipv4_addr(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    udp_fixup(csum, update_ipv4_addr(csum, old, new))
}

/// [`update128`] for a UDP checksum over IPv6. A zero UDP checksum is invalid over IPv6
/// (RFC 8200); it is kept as 0 here too, so such a datagram stays as invalid as it came.
#[inline]
pub fn udp_update128(csum: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    udp_fixup(csum, update128(csum, old, new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A combined delta over several words equals recomputing the checksum from scratch.
        #[test]
        fn delta_matches_full_recomputation(
            mut data in proptest::collection::vec(any::<u8>(), 16..64),
            changes in proptest::collection::vec((0usize..8, any::<u16>()), 1..6),
        ) {
            data.truncate(data.len() & !1);
            let before = checksum(&data);
            let mut delta = Delta::default();
            for (word, new) in changes {
                let at = (word * 2) % data.len();
                let old = u16::from_be_bytes([data[at], data[at + 1]]);
                delta = delta.word16(old, new);
                data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            }
            let full = checksum(&data);
            let incremental = delta.apply(before);
            // 0x0000 and 0xFFFF are the same value in ones' complement arithmetic.
            let same = incremental == full || matches!((incremental, full), (0, 0xFFFF) | (0xFFFF, 0));
            prop_assert!(same, "incremental {incremental:#06x} full {full:#06x}");
        }

        /// The same delta taken over byte-swapped words and applied to the byte-swapped
        /// checksum gives the byte-swapped result (RFC 1071 2.B), as `xmit` relies on.
        #[test]
        fn delta_is_byte_order_independent(
            csum in any::<u16>(),
            changes in proptest::collection::vec((any::<u16>(), any::<u16>()), 1..8),
        ) {
            let (mut wire, mut swapped) = (Delta::default(), Delta::default());
            for (old, new) in changes {
                wire = wire.word16(old, new);
                swapped = swapped.word16(old.swap_bytes(), new.swap_bytes());
            }
            prop_assert_eq!(swapped.apply(csum.swap_bytes()), wire.apply(csum).swap_bytes());
            prop_assert_eq!(
                swapped.apply_udp(csum.swap_bytes()),
                wire.apply_udp(csum).swap_bytes()
            );
        }
    }

    #[test]
    fn delta_word32_and_udp_zero_rule() {
        let d = Delta::default().word32(0x0a00_0001, 0xc0a8_0101);
        assert_eq!(d.apply(0x1234), update32(0x1234, 0x0a00_0001, 0xc0a8_0101));
        assert_eq!(d.apply_udp(0), 0, "UDP 'no checksum' stays 0");
        assert_eq!(
            Delta::default().word16(0, 0xFFFF).apply_udp(0xFFFF),
            0xFFFF,
            "computed 0 goes out as 0xFFFF"
        );
    }

    // RFC 1071 §3 example: words 0001 f203 f4f5 f6f7 sum to 0xddf2 (folded).
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_complement_sum(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_low_byte() {
        assert_eq!(ones_complement_sum(&[0x12], 0), 0x1200);
        assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56], 0), 0x1234 + 0x5600);
        // 0x1234 + 0x5678 + 0x9a00 = 0x1_02ac, folded (end-around carry) to 0x02ad.
        assert_eq!(
            ones_complement_sum(&[0x12, 0x34, 0x56, 0x78, 0x9a], 0),
            0x02ad
        );
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn fold_end_around_carry() {
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
        assert_eq!(fold(0x0001_0000), 1);
        assert_eq!(finish(0xffff), 0);
    }

    // A real IPv4 header (Wikipedia's example): checksum 0xb861.
    #[test]
    fn ipv4_header_golden() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0, "a correct header sums to zero");
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn chaining_matches_one_pass() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let one = ones_complement_sum(&data, 0);
        let two = ones_complement_sum(&data[500..], ones_complement_sum(&data[..500], 0));
        assert_eq!(fold(one), fold(two));
    }

    #[test]
    fn huge_input_no_overflow() {
        let data = vec![0xffu8; 200_000];
        assert_eq!(fold(ones_complement_sum(&data, 0xffff)), 0xffff);
    }

    #[test]
    fn udp_zero_rules() {
        assert_eq!(udp_from_computed(0), 0xffff);
        assert_eq!(udp_from_computed(0x1234), 0x1234);
        assert_eq!(udp_update16(0, 1, 2), 0, "no checksum stays no checksum");
        assert_eq!(udp_update32(0, 1, 2), 0);
        assert_eq!(udp_update128(0, &[1; 16], &[2; 16]), 0);
        assert_eq!(
            udp_update_ipv4_addr(0, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8)),
            0
        );
        // An update whose true result is 0 must come out as 0xFFFF for UDP.
        // Choose old word so that ~HC + ~m + m' == 0xFFFF: HC = 0x0001, m = 0x0000, m' = 0x0001.
        assert_eq!(update16(0x0001, 0x0000, 0x0001), 0x0000);
        assert_eq!(udp_update16(0x0001, 0x0000, 0x0001), 0xffff);
    }

    /// Reference checksum: naive 16-bit sum, independent of the 32-bit word trick.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            s += w as u32;
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// A UDP/IPv4 datagram built by etherparse; we compare our pseudo-header checksum to its.
    fn etherparse_udp_v4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> u16 {
        let ip = etherparse::Ipv4Header::new(
            (8 + payload.len()) as u16,
            64,
            etherparse::IpNumber::UDP,
            src,
            dst,
        )
        .unwrap();
        etherparse::UdpHeader::with_ipv4_checksum(sp, dp, &ip, payload)
            .unwrap()
            .checksum
    }

    #[test]
    fn l4_v4_matches_etherparse_udp() {
        let payload = b"hello, rvs!";
        let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let want = etherparse_udp_v4(src, dst, 12345, 53, payload);
        let mut seg = Vec::new();
        seg.extend_from_slice(&12345u16.to_be_bytes());
        seg.extend_from_slice(&53u16.to_be_bytes());
        seg.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        seg.extend_from_slice(&[0, 0]);
        seg.extend_from_slice(payload);
        let got = udp_from_computed(l4_checksum_v4(src.into(), dst.into(), proto::UDP, &seg));
        assert_eq!(got, want);
        seg[6..8].copy_from_slice(&got.to_be_bytes());
        assert_eq!(l4_checksum_v4(src.into(), dst.into(), proto::UDP, &seg), 0);
    }

    proptest! {
        #[test]
        fn sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(checksum(&data), naive(&data));
        }

        #[test]
        fn tcp_v4_matches_etherparse(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
            sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(), win in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let tcp = etherparse::TcpHeader::new(sp, dp, seq, win);
            let want = tcp.calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
            let mut seg = tcp.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            prop_assert_eq!(l4_checksum_v4(src.into(), dst.into(), proto::TCP, &seg), want);
        }

        #[test]
        fn tcp_v6_matches_etherparse(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            sp in any::<u16>(), dp in any::<u16>(), seq in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let tcp = etherparse::TcpHeader::new(sp, dp, seq, 1000);
            let want = tcp.calc_checksum_ipv6_raw(src, dst, &payload).unwrap();
            let mut seg = tcp.to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let got = l4_checksum_v6(&src.into(), &dst.into(), proto::TCP, &seg);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn udp_v4_matches_etherparse(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), sp in any::<u16>(), dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let want = etherparse_udp_v4(src, dst, sp, dp, &payload);
            let mut seg = Vec::new();
            seg.extend_from_slice(&sp.to_be_bytes());
            seg.extend_from_slice(&dp.to_be_bytes());
            seg.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            seg.extend_from_slice(&[0, 0]);
            seg.extend_from_slice(&payload);
            let got = udp_from_computed(l4_checksum_v4(src.into(), dst.into(), proto::UDP, &seg));
            prop_assert_eq!(got, want);
        }

        /// Change one aligned 16-bit word: update16 equals a full recomputation, exactly.
        #[test]
        fn update16_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200),
            idx in any::<prop::sample::Index>(), new in any::<u16>(),
        ) {
            // Make the data sum non-zero like any real header (pseudo header / version byte).
            data[0] |= 0x01;
            let words = data.len() / 2;
            let i = idx.index(words) * 2;
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            prop_assume!(data.iter().any(|&b| b != 0));
            prop_assert_eq!(update16(before, old, new), checksum(&data));
        }

        #[test]
        fn update32_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            idx in any::<prop::sample::Index>(), new in any::<u32>(),
        ) {
            data[0] |= 0x01;
            let words = data.len() / 2 - 1;
            let i = idx.index(words) * 2;
            let before = checksum(&data);
            let old = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            data[i..i + 4].copy_from_slice(&new.to_be_bytes());
            prop_assume!(data.iter().any(|&b| b != 0));
            prop_assert_eq!(update32(before, old, new), checksum(&data));
        }

        #[test]
        fn update128_equals_recompute_tcp_v6(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), new_dst in any::<[u8; 16]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut seg = etherparse::TcpHeader::new(1, 2, 3, 4).to_bytes().to_vec();
            seg.extend_from_slice(&payload);
            let before = l4_checksum_v6(&src.into(), &dst.into(), proto::TCP, &seg);
            let after = l4_checksum_v6(&src.into(), &new_dst.into(), proto::TCP, &seg);
            prop_assert_eq!(update128(before, &dst, &new_dst), after);
            prop_assert_eq!(update_ipv6_addr(before, &dst.into(), &new_dst.into()), after);
        }

        /// NAT-style rewrite of a UDP/IPv4 datagram (address + port): the UDP helpers equal a
        /// full recomputation (with the 0 -> 0xFFFF rule), and keep a zero checksum zero.
        #[test]
        fn udp_incremental_equals_recompute(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), new_dst in any::<[u8; 4]>(),
            sp in any::<u16>(), dp in any::<u16>(), new_dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let before = etherparse_udp_v4(src, dst, sp, dp, &payload);
            let after = etherparse_udp_v4(src, new_dst, sp, new_dp, &payload);
            let c = udp_update_ipv4_addr(before, dst.into(), new_dst.into());
            let c = udp_update16(c, dp, new_dp);
            prop_assert_eq!(c, after);
            let z = udp_update16(udp_update_ipv4_addr(0, dst.into(), new_dst.into()), dp, new_dp);
            prop_assert_eq!(z, 0);
        }
    }
}
