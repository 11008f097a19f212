//! Frame templates and in-place answers. Frames are untagged Ethernet + IPv4 (no options).
//!
//! Data frames carry a 16-byte stamp near their end (`MAGIC`, a sequence number, the TSC at
//! send time): the receiver finds it from the end of the frame, so it is found whatever the
//! device under test did to the headers (DR, NAT, FULLNAT rewrites, TUN's outer header, testpmd's
//! 5-tuple swap). Templates are built once with etherparse; per packet only the source address,
//! the source port and the stamp change, and both checksums are finished from precomputed sums.
//!
//! The TCP handshake answers (`syn_to_synack`, ...) rewrite a received frame in place, so the
//! generator plays clients and real servers without any per-connection state: the client's ISN
//! is the TSC at send time (which gives the connection set-up latency when the final ACK
//! arrives), the server's ISN is `SERVER_ISN`.

use dataplane::wire::checksum::{finish, pseudo_header_v4, sum};
use etherparse::PacketBuilder;
use std::net::Ipv4Addr;

pub const MAGIC: u32 = 0x5256_5350; // "RVSP"
pub const STAMP_LEN: usize = 16;
pub const SERVER_ISN: u32 = 0x1000_0000;

pub const ETH_LEN: usize = 14;
const IP: usize = ETH_LEN;
const IP_TTL: usize = IP + 8;
const IP_PROTO: usize = IP + 9;
const IP_CSUM: usize = IP + 10;
const IP_SRC: usize = IP + 12;
const IP_DST: usize = IP + 16;
const L4: usize = IP + 20;
const SPORT: usize = L4;
const DPORT: usize = L4 + 2;
const UDP_CSUM: usize = L4 + 6;
const TCP_SEQ: usize = L4 + 4;
const TCP_ACK: usize = L4 + 8;
const TCP_FLAGS: usize = L4 + 13;
const TCP_CSUM: usize = L4 + 16;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// Clients: flow `i` is `client_base + i / PORTS_PER_CLIENT` : `10000 + i % PORTS_PER_CLIENT`.
pub const PORTS_PER_CLIENT: u64 = 50_000;

/// The source address and port of flow `flow`.
#[inline]
pub fn flow_endpoint(client_base: u32, flow: u64) -> (u32, u16) {
    (
        client_base.wrapping_add((flow / PORTS_PER_CLIENT) as u32),
        10_000 + (flow % PORTS_PER_CLIENT) as u16,
    )
}

/// Where the stamp lives in a frame of `len` bytes: the last 16 bytes, moved one byte earlier
/// when needed to stay on a 16-bit word boundary of the L4 segment (L4 starts at an even offset,
/// also after a 20-byte outer header).
#[inline]
pub fn stamp_offset(len: usize) -> Option<usize> {
    (len >= L4 + 8 + STAMP_LEN).then(|| (len - STAMP_LEN) & !1)
}

/// The sequence number and TSC of a stamped frame.
#[inline]
pub fn read_stamp(frame: &[u8]) -> Option<(u32, u64)> {
    let off = stamp_offset(frame.len())?;
    let s = &frame[off..off + STAMP_LEN];
    if u32::from_be_bytes(s[0..4].try_into().ok()?) != MAGIC {
        return None;
    }
    Some((
        u32::from_be_bytes(s[4..8].try_into().ok()?),
        u64::from_be_bytes(s[8..16].try_into().ok()?),
    ))
}

/// What a template sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UDP datagrams with a stamp.
    Udp,
    /// TCP ACK segments with a payload and a stamp (established-flow data).
    TcpData,
    /// TCP SYNs (no payload); the ISN is the low 32 bits of the TSC.
    TcpSyn,
}

/// Addresses of a template.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub client_base: [u8; 4],
    pub dst: [u8; 4],
    pub dst_port: u16,
}

/// A prebuilt frame plus the sums of its constant parts.
#[derive(Debug, Clone)]
pub struct Template {
    pub kind: Kind,
    bytes: Vec<u8>,
    /// IPv4 header sum without the source address and checksum.
    ip_sum: u32,
    /// Pseudo header + L4 segment sum without source address, source port, stamp / sequence
    /// number and checksum.
    l4_sum: u32,
    stamp: usize,
}

impl Template {
    /// A template of `frame_len` bytes (Ethernet without FCS, 60..=1514). Data kinds need room
    /// for the stamp (UDP: 58 bytes, TCP: 70 bytes).
    pub fn new(kind: Kind, ep: &Endpoints, frame_len: usize) -> Result<Template, String> {
        if !(60..=1514).contains(&frame_len) {
            return Err(format!("frame size {frame_len} outside 60..=1514"));
        }
        let b = PacketBuilder::ethernet2(ep.src_mac, ep.dst_mac).ipv4([0; 4], ep.dst, 64);
        let headers = match kind {
            Kind::Udp => L4 + 8,
            Kind::TcpData | Kind::TcpSyn => L4 + 20,
        };
        let payload_len = match kind {
            Kind::TcpSyn => 0,
            _ => frame_len.saturating_sub(headers),
        };
        let stamp = match kind {
            Kind::TcpSyn => 0,
            _ => match stamp_offset(frame_len) {
                Some(s) if s >= headers => s,
                _ => {
                    return Err(format!(
                    "{frame_len}-byte {kind:?} frames have no room for the {STAMP_LEN}-byte stamp"
                ))
                }
            },
        };
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7) as u8).collect();
        let mut bytes = Vec::with_capacity(frame_len);
        match kind {
            Kind::Udp => b.udp(0, ep.dst_port).write(&mut bytes, &payload),
            Kind::TcpData => b
                .tcp(0, ep.dst_port, 1, 65535)
                .ack(SERVER_ISN + 1)
                .write(&mut bytes, &payload),
            Kind::TcpSyn => b.tcp(0, ep.dst_port, 0, 65535).syn().write(&mut bytes, &[]),
        }
        .map_err(|e| e.to_string())?;
        bytes.resize(frame_len, 0); // Ethernet padding of SYNs
                                    // Zero every per-packet field so the sums cover only the constant bytes.
        bytes[IP_SRC..IP_SRC + 4].fill(0);
        bytes[IP_CSUM..IP_CSUM + 2].fill(0);
        bytes[SPORT..SPORT + 2].fill(0);
        let (csum, proto) = match kind {
            Kind::Udp => (UDP_CSUM, 17u8),
            _ => (TCP_CSUM, 6u8),
        };
        bytes[csum..csum + 2].fill(0);
        if kind == Kind::TcpSyn {
            bytes[TCP_SEQ..TCP_SEQ + 4].fill(0);
        } else {
            bytes[stamp..stamp + STAMP_LEN].fill(0);
        }
        let ip_len = usize::from(u16::from_be_bytes([bytes[IP + 2], bytes[IP + 3]]));
        let l4_len = (ip_len - 20) as u16;
        let ip_sum = sum(&bytes[IP..L4], 0);
        let pseudo = pseudo_header_v4(Ipv4Addr::UNSPECIFIED, ep.dst.into(), proto, l4_len);
        let l4_sum = sum(&bytes[L4..IP + ip_len], pseudo);
        Ok(Template {
            kind,
            bytes,
            ip_sum,
            l4_sum,
            stamp,
        })
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the frame for source `src:sport` into `out` (exactly `len()` bytes) with sequence
    /// number `seq` and time `tsc` (data kinds: in the stamp; SYN: ISN = low bits of `tsc`).
    #[inline]
    pub fn write(&self, out: &mut [u8], src: u32, sport: u16, seq: u32, tsc: u64) {
        out.copy_from_slice(&self.bytes);
        out[IP_SRC..IP_SRC + 4].copy_from_slice(&src.to_be_bytes());
        out[SPORT..SPORT + 2].copy_from_slice(&sport.to_be_bytes());
        let ip = finish(sum(&src.to_be_bytes(), self.ip_sum));
        out[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ip.to_be_bytes());
        // Folded partial sums (<= 0xffff each): a few of them add up without overflow.
        let mut l4 = sum(&src.to_be_bytes(), self.l4_sum) + u32::from(sport);
        match self.kind {
            Kind::TcpSyn => {
                let isn = tsc as u32;
                out[TCP_SEQ..TCP_SEQ + 4].copy_from_slice(&isn.to_be_bytes());
                l4 += sum(&isn.to_be_bytes(), 0);
            }
            Kind::Udp | Kind::TcpData => {
                let s = &mut out[self.stamp..self.stamp + STAMP_LEN];
                s[0..4].copy_from_slice(&MAGIC.to_be_bytes());
                s[4..8].copy_from_slice(&seq.to_be_bytes());
                s[8..16].copy_from_slice(&tsc.to_be_bytes());
                l4 += sum(&s[..STAMP_LEN], 0);
            }
        }
        let (off, mut c) = match self.kind {
            Kind::Udp => (UDP_CSUM, finish(l4)),
            _ => (TCP_CSUM, finish(l4)),
        };
        if self.kind == Kind::Udp && c == 0 {
            c = 0xffff;
        }
        out[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }
}

/// The TCP header fields the answering logic needs, from a frame it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub payload: usize,
}

/// Parses an untagged IPv4/TCP frame (no IP options). None for anything else.
#[inline]
pub fn tcp_info(f: &[u8]) -> Option<TcpInfo> {
    if f.len() < L4 + 20 || f[12..14] != [0x08, 0x00] || f[IP] != 0x45 || f[IP_PROTO] != 6 {
        return None;
    }
    let ip_len = usize::from(u16::from_be_bytes([f[IP + 2], f[IP + 3]]));
    let doff = usize::from(f[L4 + 12] >> 4) * 4;
    if ip_len > f.len() - IP || ip_len < 20 + doff || doff < 20 {
        return None;
    }
    Some(TcpInfo {
        flags: f[TCP_FLAGS],
        seq: u32::from_be_bytes(f[TCP_SEQ..TCP_SEQ + 4].try_into().ok()?),
        ack: u32::from_be_bytes(f[TCP_ACK..TCP_ACK + 4].try_into().ok()?),
        payload: ip_len - 20 - doff,
    })
}

/// True if the frame is IPv4 carrying IPv4 (a TUN-mode frame).
#[inline]
pub fn is_ipip(f: &[u8]) -> bool {
    f.len() >= L4 + 20 && f[12..14] == [0x08, 0x00] && f[IP] == 0x45 && f[IP_PROTO] == 4
}

fn swap_macs(f: &mut [u8]) {
    for i in 0..6 {
        f.swap(i, 6 + i);
    }
}

fn swap_ips_ports(f: &mut [u8]) {
    for i in 0..4 {
        f.swap(IP_SRC + i, IP_DST + i);
    }
    for i in 0..2 {
        f.swap(SPORT + i, DPORT + i);
    }
}

/// Sets the flags, sequence and acknowledgment numbers of a TCP frame accepted by `tcp_info`,
/// drops any payload (IP total length = headers), resets the TTL and recomputes both checksums.
fn set_tcp(f: &mut [u8], flags: u8, seq: u32, ack: u32) -> usize {
    let doff = usize::from(f[L4 + 12] >> 4) * 4;
    let ip_len = 20 + doff;
    f[IP + 2..IP + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    f[IP_TTL] = 64;
    f[IP_CSUM..IP_CSUM + 2].fill(0);
    let ip = finish(sum(&f[IP..L4], 0));
    f[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ip.to_be_bytes());
    f[TCP_FLAGS] = flags;
    f[TCP_SEQ..TCP_SEQ + 4].copy_from_slice(&seq.to_be_bytes());
    f[TCP_ACK..TCP_ACK + 4].copy_from_slice(&ack.to_be_bytes());
    f[TCP_CSUM..TCP_CSUM + 2].fill(0);
    let src: [u8; 4] = f[IP_SRC..IP_SRC + 4].try_into().unwrap_or_default();
    let dst: [u8; 4] = f[IP_DST..IP_DST + 4].try_into().unwrap_or_default();
    let pseudo = pseudo_header_v4(src.into(), dst.into(), 6, doff as u16);
    let c = finish(sum(&f[L4..L4 + doff], pseudo));
    f[TCP_CSUM..TCP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
    (ETH_LEN + ip_len).max(60)
}

/// The frame length to keep after an answer was written (the caller trims the buffer to it).
pub type Len = usize;

/// Real server: a received SYN becomes the SYN|ACK going back the way it came.
pub fn syn_to_synack(f: &mut [u8], t: &TcpInfo) -> Len {
    swap_macs(f);
    swap_ips_ports(f);
    set_tcp(f, SYN | ACK, SERVER_ISN, t.seq.wrapping_add(1))
}

/// Client: a received SYN|ACK becomes the handshake's final ACK going back the way it came.
pub fn synack_to_ack(f: &mut [u8], t: &TcpInfo) -> Len {
    swap_macs(f);
    swap_ips_ports(f);
    set_tcp(f, ACK, t.ack, t.seq.wrapping_add(1))
}

/// Direct return (DR/TUN): the real server's SYN|ACK would reach the client without the load
/// balancer, so the SYN the server received becomes, at once, the client's final ACK, sent from
/// the client side (`client_mac` -> `lb_mac`) with the client's addresses untouched.
pub fn syn_to_client_ack(f: &mut [u8], t: &TcpInfo, client_mac: [u8; 6], lb_mac: [u8; 6]) -> Len {
    f[0..6].copy_from_slice(&lb_mac);
    f[6..12].copy_from_slice(&client_mac);
    set_tcp(f, ACK, t.seq.wrapping_add(1), SERVER_ISN.wrapping_add(1))
}

/// Real server closes: a received final ACK becomes an RST|ACK going back the way it came.
pub fn ack_to_server_rst(f: &mut [u8], t: &TcpInfo) -> Len {
    swap_macs(f);
    swap_ips_ports(f);
    set_tcp(f, RST | ACK, t.ack, t.seq)
}

/// Direct return: the client closes; the final ACK the server received becomes the client's RST.
pub fn ack_to_client_rst(f: &mut [u8], t: &TcpInfo, client_mac: [u8; 6], lb_mac: [u8; 6]) -> Len {
    f[0..6].copy_from_slice(&lb_mac);
    f[6..12].copy_from_slice(&client_mac);
    set_tcp(f, RST | ACK, t.seq, t.ack)
}

/// Removes a TUN outer IPv4 header in place: moves the Ethernet header 20 bytes forward; the
/// caller then drops the first `20` bytes of the buffer. Returns the bytes to drop.
pub fn decap_ipip(f: &mut [u8]) -> usize {
    f.copy_within(0..ETH_LEN, 20);
    20
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    const EP: Endpoints = Endpoints {
        src_mac: [2, 0, 0, 0, 1, 0xfe],
        dst_mac: [2, 0, 0, 0, 1, 1],
        client_base: [10, 1, 0, 1],
        dst: [10, 10, 0, 100],
        dst_port: 80,
    };

    /// Checks both checksums with etherparse (an independent implementation).
    fn check(frame: &[u8]) -> (etherparse::Ipv4Header, TransportSlice<'_>) {
        let p = SlicedPacket::from_ethernet(frame).expect("parses");
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IP checksum");
        let payload = ip.payload().payload;
        let t = p.transport.expect("transport");
        match &t {
            TransportSlice::Udp(u) => assert_eq!(
                u.checksum(),
                u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap(),
                "UDP checksum"
            ),
            TransportSlice::Tcp(tc) => assert_eq!(
                tc.checksum(),
                tc.to_header().calc_checksum_ipv4(&h, tc.payload()).unwrap(),
                "TCP checksum"
            ),
            other => panic!("unexpected {other:?}"),
        }
        let _ = payload;
        (h, t)
    }

    #[test]
    fn data_templates_have_valid_checksums_and_stamps() {
        for kind in [Kind::Udp, Kind::TcpData] {
            for size in [60usize, 70, 61, 508, 1514, 1513] {
                let t = match Template::new(kind, &EP, size) {
                    Ok(t) => t,
                    Err(e) => {
                        assert!(kind == Kind::TcpData && size < 70, "{kind:?} {size}: {e}");
                        continue;
                    }
                };
                let mut out = vec![0u8; t.len()];
                for (flow, tsc) in [(0u64, 0u64), (49_999, u64::MAX), (12_345_678, 0xdead_beef)] {
                    let (src, sport) = flow_endpoint(u32::from_be_bytes(EP.client_base), flow);
                    t.write(&mut out, src, sport, flow as u32, tsc);
                    assert_eq!(out.len(), size);
                    let (ip, l4) = check(&out);
                    assert_eq!(ip.source, src.to_be_bytes());
                    let p = match l4 {
                        TransportSlice::Udp(u) => u.source_port(),
                        TransportSlice::Tcp(t) => t.source_port(),
                        _ => unreachable!(),
                    };
                    assert_eq!(p, sport);
                    assert_eq!(
                        read_stamp(&out),
                        Some((flow as u32, tsc)),
                        "{kind:?} {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn stamp_survives_an_outer_header_and_is_not_found_in_other_frames() {
        let t = Template::new(Kind::Udp, &EP, 60).unwrap();
        let mut out = vec![0u8; 60];
        t.write(&mut out, 0x0a01_0001, 10_000, 7, 99);
        let mut tun = vec![0u8; 20];
        tun.extend_from_slice(&out);
        assert_eq!(read_stamp(&tun), Some((7, 99)));
        let syn = Template::new(Kind::TcpSyn, &EP, 60).unwrap();
        syn.write(&mut out, 0x0a01_0001, 10_000, 7, 99);
        assert_eq!(read_stamp(&out), None);
        assert_eq!(read_stamp(&[0u8; 40]), None);
    }

    #[test]
    fn flow_endpoints_vary_port_then_address() {
        let base = u32::from_be_bytes([10, 1, 0, 1]);
        assert_eq!(flow_endpoint(base, 0), (base, 10_000));
        assert_eq!(flow_endpoint(base, 49_999), (base, 59_999));
        assert_eq!(flow_endpoint(base, 50_000), (base + 1, 10_000));
        assert_eq!(flow_endpoint(base, 10_000_000).0, base + 200);
    }

    #[test]
    fn handshake_answers_through_the_load_balancer() {
        let syn_t = Template::new(Kind::TcpSyn, &EP, 60).unwrap();
        let mut f = vec![0u8; 60];
        syn_t.write(&mut f, 0x0a01_0005, 10_042, 0, 0x1_2345_6789);
        check(&f);
        let t = tcp_info(&f).unwrap();
        assert_eq!((t.flags, t.seq, t.payload), (SYN, 0x2345_6789, 0));

        // Real server answers SYN|ACK, swapped.
        let len = syn_to_synack(&mut f, &t);
        let (ip, l4) = check(&f[..len]);
        let TransportSlice::Tcp(tc) = l4 else {
            panic!()
        };
        assert!(tc.syn() && tc.ack() && !tc.rst());
        assert_eq!(tc.acknowledgment_number(), 0x2345_678a);
        assert_eq!(tc.sequence_number(), SERVER_ISN);
        assert_eq!((tc.source_port(), tc.destination_port()), (80, 10_042));
        assert_eq!((ip.source, ip.destination), (EP.dst, [10, 1, 0, 5]));
        assert_eq!(&f[0..6], &EP.src_mac);

        // Client answers ACK.
        let t = tcp_info(&f).unwrap();
        let len = synack_to_ack(&mut f, &t);
        let (_, l4) = check(&f[..len]);
        let TransportSlice::Tcp(tc) = l4 else {
            panic!()
        };
        assert!(tc.ack() && !tc.syn());
        assert_eq!(tc.sequence_number(), 0x2345_678a);
        assert_eq!(tc.acknowledgment_number(), SERVER_ISN + 1);
        assert_eq!((tc.source_port(), tc.destination_port()), (10_042, 80));

        // Server closes with RST.
        let t = tcp_info(&f).unwrap();
        let len = ack_to_server_rst(&mut f, &t);
        let (_, l4) = check(&f[..len]);
        let TransportSlice::Tcp(tc) = l4 else {
            panic!()
        };
        assert!(tc.rst() && !tc.syn());
        assert_eq!(tc.sequence_number(), SERVER_ISN + 1);
    }

    #[test]
    fn handshake_answers_for_direct_return() {
        let syn_t = Template::new(Kind::TcpSyn, &EP, 60).unwrap();
        let mut f = vec![0u8; 60];
        syn_t.write(&mut f, 0x0a01_0005, 10_042, 0, 41);
        // DR rewrote the destination MAC only.
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 2, 0x11]);
        let t = tcp_info(&f).unwrap();
        let len = syn_to_client_ack(&mut f, &t, EP.src_mac, EP.dst_mac);
        let (ip, l4) = check(&f[..len]);
        let TransportSlice::Tcp(tc) = l4 else {
            panic!()
        };
        assert!(tc.ack() && !tc.syn());
        assert_eq!(tc.sequence_number(), 42);
        assert_eq!(tc.acknowledgment_number(), SERVER_ISN + 1);
        assert_eq!((ip.source, ip.destination), ([10, 1, 0, 5], EP.dst));
        assert_eq!((&f[0..6], &f[6..12]), (&EP.dst_mac[..], &EP.src_mac[..]));
        let t = tcp_info(&f).unwrap();
        let len = ack_to_client_rst(&mut f, &t, EP.src_mac, EP.dst_mac);
        let (_, l4) = check(&f[..len]);
        let TransportSlice::Tcp(tc) = l4 else {
            panic!()
        };
        assert!(tc.rst());
        assert_eq!(tc.destination_port(), 80);
    }

    #[test]
    fn answers_drop_payload_and_ipip_is_recognised() {
        let t = Template::new(Kind::TcpData, &EP, 200).unwrap();
        let mut f = vec![0u8; 200];
        t.write(&mut f, 0x0a01_0001, 10_000, 1, 2);
        let info = tcp_info(&f).unwrap();
        assert_eq!(info.payload, 200 - 54);
        let len = synack_to_ack(&mut f, &info);
        assert_eq!(len, 60);
        check(&f[..len]);
        assert!(!is_ipip(&f));
        let mut outer = f[..14].to_vec();
        outer.extend_from_slice(&[
            0x45, 0, 0, 60, 0, 0, 0, 0, 64, 4, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        outer.extend_from_slice(&f[14..60]);
        assert!(is_ipip(&outer));
        let drop = decap_ipip(&mut outer);
        assert!(tcp_info(&outer[drop..]).is_some());
        assert_eq!(tcp_info(&[0u8; 30]), None);
    }
}
