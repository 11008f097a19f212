//! Zero-copy, checked views over packet headers.
//!
//! One file per header: [`ethernet`] (with at most one 802.1Q tag), [`arp`], [`ipv4`], [`ipv6`],
//! [`tcp`], [`udp`], [`icmp`], and the Internet checksum in [`checksum`]. No DPDK, no allocation,
//! no formatting: these views are used per packet on the hot path.
//!
//! # Shape (after smoltcp's `wire`)
//!
//! Each header module has:
//! - `mod field`: the byte ranges of the fixed fields, relative to the start of the header;
//! - `Packet<T: AsRef<[u8]>>`, a view that wraps a buffer starting at the header:
//!   [`new_unchecked`](ipv4::Packet::new_unchecked) wraps without looking,
//!   [`new_checked`](ipv4::Packet::new_checked) wraps after [`check_len`](ipv4::Packet::check_len)
//!   (and, where the header has one, a version check), getters work on `T: AsRef<[u8]>`, setters
//!   on `T: AsRef<[u8]> + AsMut<[u8]>`, and [`into_inner`](ipv4::Packet::into_inner) gives the
//!   buffer back;
//! - where the datapath builds headers from scratch, a `Repr` with `parse`, `emit` and
//!   `buffer_len`.
//!
//! # Contract
//!
//! **After `new_checked` has returned `Ok`, no accessor panics**, whatever the bytes are. Setters
//! never panic either, even when they change a length field to a value that disagrees with the
//! buffer: variable-length accessors (`payload`, `options`, ...) clamp to the buffer, so a view
//! whose lengths were edited returns shorter slices, never out-of-range ones. A view made with
//! `new_unchecked` over a buffer shorter than the fixed header may panic; that is what "unchecked"
//! means. `emit` methods check the buffer they write into and return [`WireError::Truncated`]
//! instead of panicking.
//!
//! Length fields are honoured: IPv4 `total_length`, IPv6 `payload_length` and UDP `length` bound
//! their payloads, so trailing Ethernet padding is never taken for data. TCP and ICMP have no
//! length field: their payload is the rest of the buffer handed to them, which is why the caller
//! passes them the (already bounded) IP payload.
//!
//! All multi-byte fields are in network byte order on the wire and in host order at the API.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

use core::fmt;
use core::ops::Range;

/// Why a buffer could not be viewed as a header. Small on purpose: the packet path maps each
/// variant to a drop reason.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field says the packet is.
    Truncated,
    /// The IP version nibble is not the one this view parses.
    BadVersion,
    /// A header-length field (IPv4 IHL, TCP data offset) is below the minimum header size.
    BadHeaderLength,
    /// A total-length field (IPv4 total length, UDP length) is smaller than the header itself,
    /// or a value to be emitted does not fit its length field.
    BadTotalLength,
    /// A checksum did not verify.
    BadChecksum,
    /// Well-formed but not something this view handles (e.g. ARP for a non-Ethernet/IPv4 pair).
    Unsupported,
}

impl WireError {
    /// A short, static, lowercase name (for counters and logs; no formatting needed).
    pub const fn as_str(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad version",
            WireError::BadHeaderLength => "bad header length",
            WireError::BadTotalLength => "bad total length",
            WireError::BadChecksum => "bad checksum",
            WireError::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

/// Reads a big-endian u16 at `r` (which must be 2 bytes long and in range).
#[inline(always)]
pub(crate) fn read_u16(data: &[u8], r: Range<usize>) -> u16 {
    let b = &data[r];
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian u32 at `r` (which must be 4 bytes long and in range).
#[inline(always)]
pub(crate) fn read_u32(data: &[u8], r: Range<usize>) -> u32 {
    let b = &data[r];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes a big-endian u16 at `r` (which must be 2 bytes long and in range).
#[inline(always)]
pub(crate) fn write_u16(data: &mut [u8], r: Range<usize>, v: u16) {
    data[r].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 at `r` (which must be 4 bytes long and in range).
#[inline(always)]
pub(crate) fn write_u32(data: &mut [u8], r: Range<usize>, v: u32) {
    data[r].copy_from_slice(&v.to_be_bytes());
}

/// `data[start..end]` with `end` clamped to the buffer and `start` to `end`: never panics.
#[inline(always)]
pub(crate) fn clamped(data: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(data.len());
    let start = start.min(end);
    &data[start..end]
}

/// Mutable twin of [`clamped`].
#[inline(always)]
pub(crate) fn clamped_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(data.len());
    let start = start.min(end);
    &mut data[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_is_static_name() {
        assert_eq!(WireError::Truncated.to_string(), "truncated");
        assert_eq!(WireError::BadChecksum.as_str(), "bad checksum");
        assert_ne!(WireError::BadVersion, WireError::BadHeaderLength);
    }

    #[test]
    fn clamped_never_panics() {
        let d = [1u8, 2, 3, 4];
        assert_eq!(clamped(&d, 1, 3), &[2, 3]);
        assert_eq!(clamped(&d, 3, 100), &[4]);
        assert_eq!(clamped(&d, 10, 100), &[] as &[u8]);
        assert_eq!(clamped(&d, 3, 1), &[] as &[u8]);
        let mut m = [0u8; 2];
        assert_eq!(clamped_mut(&mut m, 5, 1).len(), 0);
        assert_eq!(clamped_mut(&mut m, 0, 9).len(), 2);
    }

    /// Walks a frame the way the classifier will: Ethernet -> IPv4/IPv6 -> TCP/UDP/ICMP,
    /// touching every accessor on the way. Returns how many layers parsed.
    fn walk(frame: &[u8]) -> usize {
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return 0;
        };
        let (l4, proto, v4) = match eth.ethertype() {
            ethernet::ethertype::IPV4 => {
                let Ok(ip) = ipv4::Packet::new_checked(eth.into_payload()) else {
                    return 1;
                };
                let _ = (
                    ip.verify_checksum(),
                    ip.is_fragment(),
                    ip.options(),
                    ip.ttl(),
                );
                let v4 = Some((ip.src_addr(), ip.dst_addr()));
                (ip.into_payload(), ip.protocol(), v4)
            }
            ethernet::ethertype::IPV6 => {
                let Ok(ip) = ipv6::Packet::new_checked(eth.into_payload()) else {
                    return 1;
                };
                let _ = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
                (ip.into_payload(), ip.next_header(), None)
            }
            ethernet::ethertype::ARP => {
                return match arp::Packet::new_checked(eth.into_payload()) {
                    Ok(a) => {
                        let _ = arp::Repr::parse(&a);
                        3
                    }
                    Err(_) => 1,
                }
            }
            _ => return 1,
        };
        let (s, d) = v4.unwrap_or((
            std::net::Ipv4Addr::UNSPECIFIED,
            std::net::Ipv4Addr::UNSPECIFIED,
        ));
        let ok = match proto {
            checksum::proto::TCP => tcp::Packet::new_checked(l4)
                .map(|t| {
                    let _ = (
                        t.src_port(),
                        t.dst_port(),
                        t.flags(),
                        t.verify_checksum_v4(s, d),
                    );
                })
                .is_ok(),
            checksum::proto::UDP => udp::Packet::new_checked(l4)
                .map(|u| {
                    let _ = (u.src_port(), u.verify_checksum_v4(s, d));
                    assert_eq!(u.payload(), u.into_payload());
                })
                .is_ok(),
            checksum::proto::ICMP => icmp::Packet::new_checked(l4)
                .map(|i| {
                    assert_eq!(i.inner(), i.into_inner_datagram());
                    assert_eq!(i.data(), i.into_data());
                    if let Some(inner) = i.into_inner_datagram() {
                        if let Ok(q) = ipv4::Packet::new_checked_quoted(inner) {
                            let _ = icmp::quoted_ports(q.payload());
                        }
                    }
                })
                .is_ok(),
            _ => false,
        };
        if ok {
            3
        } else {
            2
        }
    }

    #[test]
    fn full_chain_over_etherparse_frames() {
        let mut frames = Vec::new();
        let eth = || etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let mut f = Vec::new();
        eth()
            .single_vlan(etherparse::VlanId::try_new(10).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 1, 1000)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        frames.push(f);
        let mut f = Vec::new();
        eth()
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 53)
            .write(&mut f, b"q")
            .unwrap();
        f.resize(60, 0); // minimum frame: padding after the datagram
        frames.push(f);
        let mut f = Vec::new();
        eth()
            .ipv6([1; 16], [2; 16], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut f, b"x")
            .unwrap();
        frames.push(f);
        for f in &frames {
            assert_eq!(walk(f), 3);
        }
        // Checksums survive the walk: verify the padded UDP one explicitly.
        let eth = ethernet::Packet::new_checked(&frames[1][..]).unwrap();
        let ip = ipv4::Packet::new_checked(eth.into_payload()).unwrap();
        assert!(ip.verify_checksum());
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(u.payload(), b"q");
        assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
        assert_ne!(u.checksum(), 0);
    }

    proptest::proptest! {
        #[test]
        fn random_frames_never_panic(
            mut data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128),
            kind in 0u8..4,
        ) {
            // Steer some inputs past the first checks so deeper layers see random bytes too.
            if data.len() >= 34 {
                match kind {
                    0 => {
                        data[12..14].copy_from_slice(&[0x08, 0x00]);
                        data[14] = 0x45;
                        let n = (data.len() - 14) as u16;
                        data[16..18].copy_from_slice(&n.to_be_bytes());
                    }
                    1 => data[12..14].copy_from_slice(&[0x86, 0xdd]),
                    2 => data[12..14].copy_from_slice(&[0x08, 0x06]),
                    _ => {}
                }
            }
            let _ = walk(&data);
        }
    }

    #[test]
    fn read_write_roundtrip() {
        let mut d = [0u8; 8];
        write_u16(&mut d, 1..3, 0xabcd);
        write_u32(&mut d, 4..8, 0x0102_0304);
        assert_eq!(d, [0, 0xab, 0xcd, 0, 1, 2, 3, 4]);
        assert_eq!(read_u16(&d, 1..3), 0xabcd);
        assert_eq!(read_u32(&d, 4..8), 0x0102_0304);
    }
}
