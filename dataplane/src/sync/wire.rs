//! Linux IPVS connection sync, protocol version 1: the codec of one UDP datagram.
//!
//! Layout (net/netfilter/ipvs/ip_vs_sync.c, all integers big-endian):
//! - header `struct ip_vs_sync_mesg`, 8 bytes: reserved (0), syncid, size (the whole datagram),
//!   nr_conns, version (1), spare (0, 2 bytes);
//! - `nr_conns` entries, `struct ip_vs_sync_v4` (36 bytes) or `ip_vs_sync_v6` (72 bytes): type
//!   (bit 0 = IPv6), protocol, ver_size (version << 12 | entry length, options included), flags
//!   (u32), state (u16), cport, vport, dport, fwmark (u32), timeout (u32, seconds), caddr, vaddr,
//!   daddr;
//! - after the fixed part, options (type u8, length u8 (not 0), data) up to the entry's length;
//! - every entry but the first starts 4-byte aligned: zero padding after an entry whose length
//!   is not a multiple of 4, not counted in its length (but counted in the header's size). rvs's
//!   own entries are 36, 44, 72 or 92 bytes long, so [`encode`] never pads; Linux's can need it.
//!
//! [`decode`] follows what `ip_vs_process_message` / `ip_vs_proc_sync_conn` accept, but all or
//! nothing: where the kernel drops one entry and keeps the rest (unknown protocol, bad state,
//! unknown mandatory option), rvs drops the whole message.

use super::{flags, SyncConn};
use crate::conn::{Addr, PROTO_TCP, PROTO_UDP};

/// Default multicast group of the sync daemon, 224.0.0.81 (`IP_VS_SYNC_GROUP`).
pub const GROUP_V4: [u8; 4] = [224, 0, 0, 81];
/// Default UDP port (`IP_VS_SYNC_PORT`); sync thread `id` uses `PORT + id`.
pub const PORT: u16 = 8848;
/// `SYNC_PROTO_VER`.
pub const VERSION: u8 = 1;
/// `sizeof(struct ip_vs_sync_mesg)`.
pub const HEADER_LEN: usize = 8;
/// `sizeof(struct ip_vs_sync_v4)`.
pub const ENTRY_V4_LEN: usize = 36;
/// `sizeof(struct ip_vs_sync_v6)`.
pub const ENTRY_V6_LEN: usize = 72;
/// Entry type bit: IPv6 addresses (`STYPE_F_INET6`).
pub const STYPE_F_INET6: u8 = 1;
/// `IPVS_OPT_SEQ_DATA`: two `struct ip_vs_seq` (24 bytes), skipped by rvs.
pub const OPT_SEQ_DATA: u8 = 1;
/// `IPVS_OPT_PE_DATA`: persistence-engine data (at most 255 bytes), skipped by rvs.
pub const OPT_PE_DATA: u8 = 2;
/// `IPVS_OPT_PE_NAME`: persistence-engine name (at most 16 bytes), skipped by rvs.
pub const OPT_PE_NAME: u8 = 3;
/// `IPVS_OPT_F_PARAM`: an option with this bit whose other bits are not 1, 2 or 3 is skipped by
/// a Linux receiver; without it, an unknown option makes the kernel drop the entry.
pub const OPT_F_PARAM: u8 = 0x40;
/// rvs's FULLNAT option: local address (4 or 16 bytes, the entry's family) then local port.
///
/// Not `0x40 | 1`: the kernel switches on `type & !IPVS_OPT_F_PARAM`, so `0x41` would be read as
/// SEQ_DATA, whose length must be 24, and the whole rest of the datagram would be dropped.
/// `0x7f` has [`OPT_F_PARAM`] set and `0x3f` below it, far from upstream's next free numbers.
pub const OPT_FULLNAT: u8 = OPT_F_PARAM | 0x3f;
/// `IP_VS_CONN_F_BACKUP_MASK`: the flags a receiver keeps (FWD_MASK, NOOUTPUT (0x80),
/// INACTIVE, SEQ_MASK, NO_CPORT, TEMPLATE).
pub const BACKUP_MASK: u32 = flags::FWD_MASK
    | 0x0080
    | flags::INACTIVE
    | flags::SEQ_MASK
    | flags::NO_CPORT
    | flags::TEMPLATE;

/// SCTP, and the kernel's state counts (`num_states` of each `ip_vs_protocol`).
const PROTO_SCTP: u8 = 132;
const TCP_S_LAST: u16 = 11;
const UDP_S_LAST: u16 = 1;
const SCTP_S_LAST: u16 = 14;
/// `IP_VS_CTPL_S_LAST`: template states are NONE (0) and ASSURED (1).
const CTPL_S_LAST: u16 = 2;
const SEQ_DATA_LEN: usize = 24;
const PE_NAME_MAXLEN: usize = 16;
const SVER_MASK: u16 = 0x0fff;

/// Why a sync datagram was dropped; nothing from it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncError {
    /// Shorter than the 8-byte header.
    TooShort,
    /// The header's size is not the datagram's length.
    BadSize,
    /// Syncid differs from ours (ours non-zero).
    WrongSyncid,
    /// Not version 1 (version != 1, or reserved/spare non-zero: a version 0 message).
    WrongVersion,
    /// An entry (its fixed part or its length) runs past the datagram.
    Truncated,
    /// Entry version != 0, unknown type, or length shorter than its fixed part.
    BadEntry,
    /// IPv4-mapped address in an IPv6 entry (it would alias an IPv4 connection).
    BadAddress,
    /// Option header or data past the entry, zero length, bad length, or repeated.
    BadOption,
    /// An option the receiver must understand but does not (no [`OPT_F_PARAM`]).
    UnknownOption,
    /// A connection (not a template) of a protocol other than TCP, UDP, SCTP.
    UnknownProtocol,
    /// State out of the protocol's range (templates: NONE or ASSURED).
    BadState,
}

impl SyncError {
    /// Every variant, for metric registration.
    pub const ALL: [SyncError; 11] = [
        SyncError::TooShort,
        SyncError::BadSize,
        SyncError::WrongSyncid,
        SyncError::WrongVersion,
        SyncError::Truncated,
        SyncError::BadEntry,
        SyncError::BadAddress,
        SyncError::BadOption,
        SyncError::UnknownOption,
        SyncError::UnknownProtocol,
        SyncError::BadState,
    ];

    /// snake_case name, a metric label.
    pub fn name(self) -> &'static str {
        match self {
            SyncError::TooShort => "too_short",
            SyncError::BadSize => "bad_size",
            SyncError::WrongSyncid => "wrong_syncid",
            SyncError::WrongVersion => "wrong_version",
            SyncError::Truncated => "truncated",
            SyncError::BadEntry => "bad_entry",
            SyncError::BadAddress => "bad_address",
            SyncError::BadOption => "bad_option",
            SyncError::UnknownOption => "unknown_option",
            SyncError::UnknownProtocol => "unknown_protocol",
            SyncError::BadState => "bad_state",
        }
    }
}

impl core::fmt::Display for SyncError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for SyncError {}

/// Entry length of `c` on the wire (fixed part plus the FULLNAT option), or `None` when its
/// addresses (local address included) are not all of one family.
pub fn entry_len(c: &SyncConn) -> Option<usize> {
    let v6 = c.is_v6();
    let same = |a: &Addr| a.is_v4() != v6;
    if !(same(&c.vaddr) && same(&c.daddr) && c.local.iter().all(|(a, _)| same(a))) {
        return None;
    }
    let (fixed, addr) = if v6 {
        (ENTRY_V6_LEN, 16)
    } else {
        (ENTRY_V4_LEN, 4)
    };
    Some(fixed + c.local.map_or(0, |_| 2 + addr + 2))
}

/// Clears `out` and writes one message with syncid `syncid` holding as many of `conns`, from
/// the front, as fit in `max_len` bytes (at most 65535) and 255 entries; returns how many.
/// 0 (and `out` empty) when `conns` is empty or its first connection does not fit or mixes
/// address families: the caller must drop that one. Flags go without HASHED, as the kernel's.
pub fn encode(syncid: u8, conns: &[SyncConn], max_len: usize, out: &mut Vec<u8>) -> usize {
    out.clear();
    let max_len = max_len.min(u16::MAX as usize);
    out.extend_from_slice(&[0, syncid, 0, 0, 0, VERSION, 0, 0]);
    let mut n = 0;
    for c in conns.iter().take(u8::MAX as usize) {
        let pad = (4 - out.len() % 4) % 4;
        match entry_len(c) {
            Some(len) if out.len() + pad + len <= max_len => {
                out.resize(out.len() + pad, 0);
                put_entry(c, len, out);
                n += 1;
            }
            _ => break,
        }
    }
    if n == 0 {
        out.clear();
        return 0;
    }
    let size = out.len() as u16;
    out[2..4].copy_from_slice(&size.to_be_bytes());
    out[4] = n as u8;
    n
}

/// Appends `c`'s entry, `len` bytes (from [`entry_len`]).
fn put_entry(c: &SyncConn, len: usize, out: &mut Vec<u8>) {
    let v6 = c.is_v6();
    out.push(if v6 { STYPE_F_INET6 } else { 0 });
    out.push(c.protocol);
    out.extend_from_slice(&(len as u16 & SVER_MASK).to_be_bytes());
    out.extend_from_slice(&(c.flags & !flags::HASHED).to_be_bytes());
    out.extend_from_slice(&c.state.to_be_bytes());
    for port in [c.cport, c.vport, c.dport] {
        out.extend_from_slice(&port.to_be_bytes());
    }
    out.extend_from_slice(&c.fwmark.to_be_bytes());
    out.extend_from_slice(&c.timeout_s.to_be_bytes());
    for a in [c.caddr, c.vaddr, c.daddr] {
        put_addr(a, v6, out);
    }
    if let Some((addr, port)) = c.local {
        out.push(OPT_FULLNAT);
        out.push(if v6 { 18 } else { 6 });
        put_addr(addr, v6, out);
        out.extend_from_slice(&port.to_be_bytes());
    }
}

fn put_addr(a: Addr, v6: bool, out: &mut Vec<u8>) {
    let o = a.octets();
    out.extend_from_slice(if v6 { &o[..] } else { &o[12..] });
}

/// Decodes one datagram into `out` (cleared first). `syncid` 0 accepts any syncid, as the
/// kernel. All or nothing: on error `out` is empty. Trailing bytes after the `nr_conns` entries
/// are ignored, as the kernel does. Received flags are masked with [`BACKUP_MASK`] and get
/// [`flags::SYNC`], as the kernel's. SEQ_DATA, PE_DATA and PE_NAME are checked and skipped, as
/// are skippable ([`OPT_F_PARAM`]) options; [`OPT_FULLNAT`] fills `local`. Connections other than
/// templates must be TCP, UDP or SCTP (the kernel's AH/ESP have no rvs counterpart).
pub fn decode(msg: &[u8], syncid: u8, out: &mut Vec<SyncConn>) -> Result<(), SyncError> {
    out.clear();
    let r = decode_all(msg, syncid, out);
    if r.is_err() {
        out.clear();
    }
    r
}

fn decode_all(msg: &[u8], syncid: u8, out: &mut Vec<SyncConn>) -> Result<(), SyncError> {
    if msg.len() < HEADER_LEN {
        return Err(SyncError::TooShort);
    }
    if usize::from(be16(msg, 2)) != msg.len() {
        return Err(SyncError::BadSize);
    }
    if syncid != 0 && msg[1] != syncid {
        return Err(SyncError::WrongSyncid);
    }
    if msg[0] != 0 || msg[5] != VERSION || msg[6] != 0 || msg[7] != 0 {
        return Err(SyncError::WrongVersion);
    }
    let mut p = HEADER_LEN;
    for _ in 0..msg[4] {
        if p + ENTRY_V4_LEN > msg.len() {
            return Err(SyncError::Truncated);
        }
        let ver_size = be16(msg, p + 2);
        let end = p + usize::from(ver_size & SVER_MASK);
        if end > msg.len() {
            return Err(SyncError::Truncated);
        }
        if ver_size >> 12 != 0 {
            return Err(SyncError::BadEntry);
        }
        out.push(decode_entry(&msg[p..end])?);
        p = end + (4 - (end - p) % 4) % 4;
    }
    Ok(())
}

/// One entry, `e` exactly its length.
fn decode_entry(e: &[u8]) -> Result<SyncConn, SyncError> {
    let v6 = e.first().is_some_and(|t| t & STYPE_F_INET6 != 0);
    let fixed = if v6 { ENTRY_V6_LEN } else { ENTRY_V4_LEN };
    if e.len() < fixed || (!v6 && e[0] != 0) {
        return Err(SyncError::BadEntry);
    }
    let local = decode_options(&e[fixed..], v6)?;
    let addr = |i: usize| read_addr(&e[24..fixed], i, v6);
    let c = SyncConn {
        protocol: e[1],
        flags: (be32(e, 4) & BACKUP_MASK) | flags::SYNC,
        state: be16(e, 8),
        caddr: addr(0)?,
        cport: be16(e, 10),
        vaddr: addr(1)?,
        vport: be16(e, 12),
        daddr: addr(2)?,
        dport: be16(e, 14),
        fwmark: be32(e, 16),
        timeout_s: be32(e, 20),
        local,
    };
    check_state(&c)?;
    Ok(c)
}

/// The options after an entry's fixed part; returns the FULLNAT local address and port.
fn decode_options(mut opts: &[u8], v6: bool) -> Result<Option<(Addr, u16)>, SyncError> {
    let mut seen = 0u8;
    let mut local = None;
    while !opts.is_empty() {
        let &[ty, len, ref rest @ ..] = opts else {
            return Err(SyncError::BadOption);
        };
        let len = usize::from(len);
        if len == 0 || len > rest.len() {
            return Err(SyncError::BadOption);
        }
        let (data, next) = rest.split_at(len);
        let ok = match ty & !OPT_F_PARAM {
            _ if ty == OPT_FULLNAT => {
                local = Some(read_local(data, v6)?);
                once(&mut seen, 1 << 3)
            }
            OPT_SEQ_DATA => len == SEQ_DATA_LEN && once(&mut seen, 1),
            OPT_PE_DATA => once(&mut seen, 1 << 1),
            OPT_PE_NAME => len <= PE_NAME_MAXLEN && once(&mut seen, 1 << 2),
            _ if ty & OPT_F_PARAM != 0 => true,
            _ => return Err(SyncError::UnknownOption),
        };
        if !ok {
            return Err(SyncError::BadOption);
        }
        opts = next;
    }
    // PE data without its engine's name: the kernel drops the entry ("Invalid PE parameters").
    if seen & 0b110 == 0b010 {
        return Err(SyncError::BadOption);
    }
    Ok(local)
}

/// Sets `bit` in `seen`; false if it was already set (an option given twice).
fn once(seen: &mut u8, bit: u8) -> bool {
    let first = *seen & bit == 0;
    *seen |= bit;
    first
}

fn read_local(data: &[u8], v6: bool) -> Result<(Addr, u16), SyncError> {
    let alen = if v6 { 16 } else { 4 };
    if data.len() != alen + 2 {
        return Err(SyncError::BadOption);
    }
    Ok((read_addr(data, 0, v6)?, be16(data, alen)))
}

/// Address number `i` of `b` (4 or 16 bytes each).
fn read_addr(b: &[u8], i: usize, v6: bool) -> Result<Addr, SyncError> {
    if v6 {
        let mut o = [0; 16];
        o.copy_from_slice(&b[i * 16..i * 16 + 16]);
        let a = Addr::v6(o);
        if a.is_v4() {
            return Err(SyncError::BadAddress);
        }
        Ok(a)
    } else {
        Ok(Addr::v4([
            b[i * 4],
            b[i * 4 + 1],
            b[i * 4 + 2],
            b[i * 4 + 3],
        ]))
    }
}

fn check_state(c: &SyncConn) -> Result<(), SyncError> {
    let last = if c.flags & flags::TEMPLATE != 0 {
        CTPL_S_LAST
    } else {
        match c.protocol {
            PROTO_TCP => TCP_S_LAST,
            PROTO_UDP => UDP_S_LAST,
            PROTO_SCTP => SCTP_S_LAST,
            _ => return Err(SyncError::UnknownProtocol),
        }
    };
    if c.state >= last {
        return Err(SyncError::BadState);
    }
    Ok(())
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_v4(last: u8) -> SyncConn {
        SyncConn {
            protocol: PROTO_TCP,
            flags: flags::SYNC,
            state: 1,
            caddr: Addr::v4([10, 0, 0, last]),
            cport: 40000,
            vaddr: Addr::v4([10, 0, 0, 100]),
            vport: 80,
            daddr: Addr::v4([192, 168, 1, 1]),
            dport: 8080,
            fwmark: 0,
            timeout_s: 900,
            local: None,
        }
    }

    fn round_trip(conns: &[SyncConn]) -> Vec<SyncConn> {
        let mut buf = Vec::new();
        assert_eq!(encode(7, conns, 1500, &mut buf), conns.len());
        let mut got = Vec::new();
        decode(&buf, 7, &mut got).unwrap();
        got
    }

    #[test]
    fn sync_error_names_are_distinct_snake_case() {
        let names: Vec<_> = SyncError::ALL.iter().map(|e| e.name()).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            assert!(!names[..i].contains(n), "{n} twice");
        }
        assert_eq!(SyncError::BadState.to_string(), "bad_state");
    }

    #[test]
    fn sync_round_trip_v4_v6_fullnat() {
        let mut v6 = tcp_v4(1);
        v6.caddr = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6.vaddr = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v6.daddr = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        let mut fnat4 = tcp_v4(2);
        fnat4.local = Some((Addr::v4([172, 16, 0, 1]), 5000));
        let mut fnat6 = v6;
        fnat6.local = Some((Addr::v6([0xfd; 16]), 6000));
        let conns = [tcp_v4(1), v6, fnat4, fnat6];
        assert_eq!(round_trip(&conns), conns);
    }

    #[test]
    fn sync_encode_empty_and_unfit() {
        let mut buf = vec![1, 2, 3];
        assert_eq!(encode(1, &[], 1500, &mut buf), 0);
        assert!(buf.is_empty());
        assert_eq!(
            encode(1, &[tcp_v4(1)], HEADER_LEN + ENTRY_V4_LEN - 1, &mut buf),
            0
        );
        assert!(buf.is_empty());
        assert_eq!(
            encode(1, &[tcp_v4(1)], HEADER_LEN + ENTRY_V4_LEN, &mut buf),
            1
        );
        assert_eq!(buf.len(), HEADER_LEN + ENTRY_V4_LEN);
    }

    #[test]
    fn sync_encode_refuses_mixed_families() {
        let mut mixed = tcp_v4(1);
        mixed.daddr = Addr::v6([0x20; 16]);
        let mut buf = Vec::new();
        assert_eq!(entry_len(&mixed), None);
        assert_eq!(encode(1, &[mixed], 1500, &mut buf), 0);
        assert_eq!(encode(1, &[tcp_v4(1), mixed, tcp_v4(2)], 1500, &mut buf), 1);
        let mut local6 = tcp_v4(1);
        local6.local = Some((Addr::v6([0x20; 16]), 1));
        assert_eq!(encode(1, &[local6], 1500, &mut buf), 0);
    }

    #[test]
    fn sync_encode_caps_at_255_and_u16_size() {
        let conns = vec![tcp_v4(1); 300];
        let mut buf = Vec::new();
        assert_eq!(encode(1, &conns, usize::MAX, &mut buf), 255);
        assert_eq!(buf[4], 255);
        assert_eq!(buf.len(), HEADER_LEN + 255 * ENTRY_V4_LEN);
        let v6 = SyncConn {
            caddr: Addr::v6([0x20; 16]),
            vaddr: Addr::v6([0x20; 16]),
            daddr: Addr::v6([0x20; 16]),
            local: Some((Addr::v6([0x21; 16]), 1)),
            ..tcp_v4(1)
        };
        // 92-byte entries: 255 would be 23468 bytes, fine; the cap is the u16 size field.
        assert_eq!(encode(1, &vec![v6; 255], usize::MAX, &mut buf), 255);
        assert_eq!(usize::from(u16::from_be_bytes([buf[2], buf[3]])), buf.len());
    }

    #[test]
    fn sync_encode_strips_hashed_and_decode_masks() {
        let mut c = tcp_v4(1);
        c.flags = flags::HASHED | flags::DROUTE | flags::ONE_PACKET | 0x1_0000;
        let mut buf = Vec::new();
        encode(0, &[c], 1500, &mut buf);
        assert_eq!(
            buf[12..16],
            (flags::DROUTE | flags::ONE_PACKET | 0x1_0000).to_be_bytes()
        );
        let mut got = Vec::new();
        decode(&buf, 0, &mut got).unwrap();
        assert_eq!(got[0].flags, flags::DROUTE | flags::SYNC);
    }

    #[test]
    fn sync_decode_clears_out_on_error() {
        let mut buf = Vec::new();
        encode(3, &[tcp_v4(1), tcp_v4(2)], 1500, &mut buf);
        let mut got = vec![tcp_v4(9)];
        decode(&buf, 3, &mut got).unwrap();
        assert_eq!(got, [tcp_v4(1), tcp_v4(2)]);
        buf[HEADER_LEN + ENTRY_V4_LEN + 9] = 11; // second entry's TCP state
        assert_eq!(decode(&buf, 3, &mut got), Err(SyncError::BadState));
        assert!(got.is_empty());
    }

    /// A one-entry message whose entry carries `opts` after its fixed part.
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(0, &[tcp_v4(1)], 1500, &mut buf);
        buf.extend_from_slice(opts);
        let len = (ENTRY_V4_LEN + opts.len()) as u16;
        buf[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&len.to_be_bytes());
        let size = buf.len() as u16;
        buf[2..4].copy_from_slice(&size.to_be_bytes());
        buf
    }

    #[test]
    fn sync_options_as_the_kernel_reads_them() {
        let mut got = Vec::new();
        let dec = |opts: &[u8], got: &mut Vec<SyncConn>| decode(&with_options(opts), 0, got);
        // 0x41 is SEQ_DATA to Linux (type & !0x40), so it must be 24 bytes long.
        assert_eq!(
            dec(&[0x41, 6, 1, 2, 3, 4, 0, 1], &mut got),
            Err(SyncError::BadOption)
        );
        let mut seq = vec![0x41, 24];
        seq.extend_from_slice(&[0; 24]);
        assert_eq!(dec(&seq, &mut got), Ok(()));
        seq.extend_from_slice(&[OPT_SEQ_DATA, 24]);
        seq.extend_from_slice(&[0; 24]);
        assert_eq!(dec(&seq, &mut got), Err(SyncError::BadOption), "twice");
        assert_eq!(dec(&[0x44, 1, 0], &mut got), Ok(()));
        assert_eq!(dec(&[0x04, 1, 0], &mut got), Err(SyncError::UnknownOption));
        assert_eq!(
            dec(&[0x44, 0], &mut got),
            Err(SyncError::BadOption),
            "zero length"
        );
        assert_eq!(dec(&[0x44], &mut got), Err(SyncError::BadOption));
        assert_eq!(
            dec(&[OPT_PE_DATA, 1, 9], &mut got),
            Err(SyncError::BadOption)
        );
        let pe = [OPT_PE_DATA, 1, 9, OPT_PE_NAME, 3, b's', b'i', b'p'];
        assert_eq!(dec(&pe, &mut got), Ok(()));
        let mut long_name = vec![OPT_PE_DATA, 1, 9, OPT_PE_NAME, 17];
        long_name.extend_from_slice(&[b'x'; 17]);
        assert_eq!(dec(&long_name, &mut got), Err(SyncError::BadOption));
        assert_eq!(dec(&[OPT_FULLNAT, 6, 1, 2, 3, 4, 0, 1], &mut got), Ok(()));
        assert_eq!(got[0].local, Some((Addr::v4([1, 2, 3, 4]), 1)));
        assert_eq!(
            dec(&[OPT_FULLNAT, 5, 1, 2, 3, 4, 0], &mut got),
            Err(SyncError::BadOption)
        );
    }

    #[test]
    fn sync_states_and_protocols() {
        let check = |protocol: u8, flags: u32, state: u16| {
            let c = SyncConn {
                protocol,
                flags,
                state,
                ..tcp_v4(1)
            };
            let mut buf = Vec::new();
            encode(0, &[c], 1500, &mut buf);
            decode(&buf, 0, &mut Vec::new())
        };
        assert_eq!(check(PROTO_TCP, 0, 10), Ok(()));
        assert_eq!(check(PROTO_TCP, 0, 11), Err(SyncError::BadState));
        assert_eq!(check(PROTO_UDP, 0, 0), Ok(()));
        assert_eq!(check(PROTO_UDP, 0, 1), Err(SyncError::BadState));
        assert_eq!(check(PROTO_SCTP, 0, 13), Ok(()));
        assert_eq!(check(PROTO_SCTP, 0, 14), Err(SyncError::BadState));
        assert_eq!(check(50, 0, 0), Err(SyncError::UnknownProtocol));
        assert_eq!(check(0, flags::TEMPLATE, 1), Ok(()));
        assert_eq!(check(0, flags::TEMPLATE, 2), Err(SyncError::BadState));
    }

    #[test]
    fn sync_rejects_mapped_address_in_v6_entry() {
        let mut c = tcp_v4(1);
        c.caddr = Addr::v6([0x20; 16]);
        c.vaddr = Addr::v6([0x20; 16]);
        c.daddr = Addr::v6([0x20; 16]);
        let mut buf = Vec::new();
        encode(0, &[c], 1500, &mut buf);
        let daddr = HEADER_LEN + 24 + 32;
        buf[daddr..daddr + 16].copy_from_slice(&Addr::v4([1, 2, 3, 4]).octets());
        assert_eq!(decode(&buf, 0, &mut Vec::new()), Err(SyncError::BadAddress));
    }

    #[test]
    fn sync_entry_shorter_than_its_fixed_part() {
        for size in [0u16, 4, 35] {
            let mut buf = Vec::new();
            encode(0, &[tcp_v4(1)], 1500, &mut buf);
            buf[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&size.to_be_bytes());
            assert_eq!(
                decode(&buf, 0, &mut Vec::new()),
                Err(SyncError::BadEntry),
                "{size}"
            );
        }
    }
}
