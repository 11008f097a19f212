//! The IPVS sync v1 codec (`dataplane::sync::wire`) against frames written here field by field
//! from the kernel's struct definitions (net/netfilter/ipvs/ip_vs_sync.c: `struct
//! ip_vs_sync_mesg`, `ip_vs_sync_v4`, `ip_vs_sync_v6`, the options), never through the codec;
//! malformed frames with their exact error; property tests; and Wireshark's dissector, when
//! `tshark` is installed.

use dataplane::conn::Addr;
use dataplane::sync::wire::{self, decode, encode, SyncError};
use dataplane::sync::{flags, SyncConn};
use proptest::prelude::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;

/// The fields of `struct ip_vs_sync_v4` / `ip_vs_sync_v6`, in their order.
#[derive(Clone)]
struct Entry {
    stype: u8,
    protocol: u8,
    version: u16,
    flags: u32,
    state: u16,
    cport: u16,
    vport: u16,
    dport: u16,
    fwmark: u32,
    timeout: u32,
    /// caddr, vaddr, daddr: 4 bytes each (type 0) or 16 (type 1).
    addrs: Vec<u8>,
    /// Options: type, length, data ...
    opts: Vec<u8>,
}

impl Entry {
    /// The entry's bytes; `size` (12 bits of ver_size) counts the options, not the padding.
    fn bytes(&self) -> Vec<u8> {
        let size = (4 + 4 + 2 + 2 + 2 + 2 + 4 + 4 + self.addrs.len() + self.opts.len()) as u16;
        let mut b = vec![self.stype, self.protocol];
        b.extend_from_slice(&((self.version << 12) | size).to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        b.extend_from_slice(&self.state.to_be_bytes());
        b.extend_from_slice(&self.cport.to_be_bytes());
        b.extend_from_slice(&self.vport.to_be_bytes());
        b.extend_from_slice(&self.dport.to_be_bytes());
        b.extend_from_slice(&self.fwmark.to_be_bytes());
        b.extend_from_slice(&self.timeout.to_be_bytes());
        b.extend_from_slice(&self.addrs);
        b.extend_from_slice(&self.opts);
        b
    }
}

/// `struct ip_vs_sync_mesg` then the entries, each after the first starting 4-byte aligned
/// (zero padding, as `ip_vs_sync_conn` writes it); size = the whole datagram.
fn mesg(syncid: u8, entries: &[Vec<u8>]) -> Vec<u8> {
    let reserved = 0u8;
    let version = 1u8;
    let spare = 0u16;
    let mut m = vec![reserved, syncid, 0, 0, entries.len() as u8, version];
    m.extend_from_slice(&spare.to_be_bytes());
    for (i, e) in entries.iter().enumerate() {
        while i > 0 && m.len() % 4 != 0 {
            m.push(0);
        }
        m.extend_from_slice(e);
    }
    let size = m.len() as u16;
    m[2..4].copy_from_slice(&size.to_be_bytes());
    m
}

fn v4_addrs(c: [u8; 4], v: [u8; 4], d: [u8; 4]) -> Vec<u8> {
    [c, v, d].concat()
}

fn v6(last: u8) -> [u8; 16] {
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
    ]
}

/// 10.0.0.1:40000 -> 10.0.0.100:80 -> 192.168.1.1:8080, TCP ESTABLISHED, NAT, 900 s, as a
/// master holds it (HASHED set, SYNC not).
fn nat_conn() -> SyncConn {
    SyncConn {
        protocol: TCP,
        flags: flags::HASHED | flags::MASQ,
        state: 1,
        caddr: Addr::v4([10, 0, 0, 1]),
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

fn nat_entry() -> Entry {
    Entry {
        stype: 0,
        protocol: TCP,
        version: 0,
        flags: 0,
        state: 1,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        addrs: v4_addrs([10, 0, 0, 1], [10, 0, 0, 100], [192, 168, 1, 1]),
        opts: vec![],
    }
}

/// A receiver's view of a connection: flags masked as the kernel does, plus SYNC.
fn received(mut c: SyncConn) -> SyncConn {
    c.flags = (c.flags & wire::BACKUP_MASK) | flags::SYNC;
    c
}

fn encoded(syncid: u8, conns: &[SyncConn]) -> Vec<u8> {
    let mut out = Vec::new();
    assert_eq!(encode(syncid, conns, 1500, &mut out), conns.len());
    out
}

/// Decodes `frame` into a vector that starts non-empty, so that errors prove they clear it.
fn decoded(frame: &[u8], syncid: u8) -> Result<Vec<SyncConn>, SyncError> {
    let mut out = vec![nat_conn()];
    let r = decode(frame, syncid, &mut out);
    if r.is_err() {
        assert!(out.is_empty(), "an error leaves nothing in out");
    }
    r.map(|()| out)
}

/// Encodes `conns`, checks the bytes against `expected`, decodes `expected`.
fn check_both_ways(syncid: u8, conns: &[SyncConn], expected: &[u8]) {
    assert_eq!(encoded(syncid, conns), expected, "encode");
    let want: Vec<_> = conns.iter().copied().map(received).collect();
    assert_eq!(decoded(expected, syncid), Ok(want), "decode");
}

#[test]
fn v4_tcp_nat_established() {
    // Written out byte by byte once, the rest of the file uses `Entry`/`mesg`.
    #[rustfmt::skip]
    let expected = [
        0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00, // reserved, syncid, size 44, 1 conn, v1
        0x00, 0x06, 0x00, 0x24,                         // type v4, TCP, ver 0 | size 36
        0x00, 0x00, 0x00, 0x00,                         // flags: MASQ (HASHED not sent)
        0x00, 0x01, 0x9c, 0x40,                         // state ESTABLISHED, cport 40000
        0x00, 0x50, 0x1f, 0x90,                         // vport 80, dport 8080
        0x00, 0x00, 0x00, 0x00,                         // fwmark
        0x00, 0x00, 0x03, 0x84,                         // timeout 900 s
        10, 0, 0, 1, 10, 0, 0, 100, 192, 168, 1, 1,     // caddr, vaddr, daddr
    ];
    check_both_ways(7, &[nat_conn()], &expected);
    assert_eq!(mesg(7, &[nat_entry().bytes()]), expected);
}

#[test]
fn v4_udp_dr_with_fwmark() {
    let conn = SyncConn {
        protocol: UDP,
        flags: flags::DROUTE | flags::INACTIVE,
        state: 0,
        fwmark: 7,
        timeout_s: 300,
        ..nat_conn()
    };
    let e = Entry {
        protocol: UDP,
        flags: 0x0103,
        state: 0,
        fwmark: 7,
        timeout: 300,
        ..nat_entry()
    };
    check_both_ways(7, &[conn], &mesg(7, &[e.bytes()]));
}

fn v6_conn() -> SyncConn {
    SyncConn {
        protocol: TCP,
        flags: flags::MASQ | flags::INACTIVE,
        state: 3,
        caddr: Addr::v6(v6(1)),
        cport: 50000,
        vaddr: Addr::v6(v6(2)),
        vport: 443,
        daddr: Addr::v6(v6(3)),
        dport: 8443,
        fwmark: 0,
        timeout_s: 60,
        local: None,
    }
}

fn v6_entry() -> Entry {
    Entry {
        stype: 1,
        protocol: TCP,
        version: 0,
        flags: 0x0100,
        state: 3,
        cport: 50000,
        vport: 443,
        dport: 8443,
        fwmark: 0,
        timeout: 60,
        addrs: [v6(1), v6(2), v6(3)].concat(),
        opts: vec![],
    }
}

#[test]
fn v6_tcp_syn_recv() {
    let frame = mesg(9, &[v6_entry().bytes()]);
    assert_eq!(frame.len(), 8 + 72);
    check_both_ways(9, &[v6_conn()], &frame);
}

#[test]
fn persistence_template() {
    // A fwmark service's template: protocol IPPROTO_IP, vaddr = the mark, ASSURED.
    let conn = SyncConn {
        protocol: 0,
        flags: flags::TEMPLATE | flags::DROUTE,
        state: 1,
        cport: 0,
        vaddr: Addr::v4([0, 0, 0, 5]),
        vport: 0,
        dport: 0,
        fwmark: 5,
        timeout_s: 360,
        ..nat_conn()
    };
    let e = Entry {
        protocol: 0,
        flags: 0x1003,
        state: 1,
        cport: 0,
        vport: 0,
        dport: 0,
        fwmark: 5,
        timeout: 360,
        addrs: v4_addrs([10, 0, 0, 1], [0, 0, 0, 5], [192, 168, 1, 1]),
        ..nat_entry()
    };
    check_both_ways(1, &[conn], &mesg(1, &[e.bytes()]));
}

#[test]
fn fullnat_local_address_option() {
    let conn4 = SyncConn {
        local: Some((Addr::v4([172, 16, 0, 1]), 5000)),
        ..nat_conn()
    };
    let e4 = Entry {
        opts: vec![0x7f, 6, 172, 16, 0, 1, 0x13, 0x88],
        ..nat_entry()
    };
    check_both_ways(2, &[conn4], &mesg(2, &[e4.bytes()]));
    let conn6 = SyncConn {
        local: Some((Addr::v6(v6(9)), 6000)),
        ..v6_conn()
    };
    let mut opts = vec![0x7f, 18];
    opts.extend_from_slice(&v6(9));
    opts.extend_from_slice(&6000u16.to_be_bytes());
    let e6 = Entry { opts, ..v6_entry() };
    check_both_ways(2, &[conn6], &mesg(2, &[e6.bytes()]));
}

#[test]
fn several_entries() {
    let fnat = SyncConn {
        local: Some((Addr::v4([172, 16, 0, 2]), 5001)),
        ..nat_conn()
    };
    let e_fnat = Entry {
        opts: vec![0x7f, 6, 172, 16, 0, 2, 0x13, 0x89],
        ..nat_entry()
    };
    let frame = mesg(
        4,
        &[nat_entry().bytes(), v6_entry().bytes(), e_fnat.bytes()],
    );
    assert_eq!(frame.len(), 8 + 36 + 72 + 44);
    check_both_ways(4, &[nat_conn(), v6_conn(), fnat], &frame);
}

#[test]
fn kernel_padding_between_entries_is_skipped() {
    // As a Linux master sends a SIP-persistence connection: PE_DATA, PE_NAME, 46 bytes, then
    // two bytes of padding before the next entry (rvs's own entries are all multiples of 4).
    let pe = Entry {
        opts: vec![2, 3, 0xaa, 0xbb, 0xcc, 3, 3, b's', b'i', b'p'],
        ..nat_entry()
    };
    let frame = mesg(4, &[pe.bytes(), v6_entry().bytes()]);
    assert_eq!(frame.len(), 8 + 46 + 2 + 72);
    assert_eq!(frame[8 + 46..8 + 48], [0, 0]);
    let want = vec![received(nat_conn()), received(v6_conn())];
    assert_eq!(decoded(&frame, 4), Ok(want));
    // SEQ_DATA (two struct ip_vs_seq, 24 bytes) is read and skipped.
    let mut opts = vec![1, 24];
    opts.extend((0u8..24).collect::<Vec<_>>());
    let seq = Entry {
        flags: 0x0600,
        opts,
        ..nat_entry()
    };
    let mut want = received(nat_conn());
    want.flags |= flags::SEQ_MASK;
    assert_eq!(decoded(&mesg(4, &[seq.bytes()]), 4), Ok(vec![want]));
}

#[test]
fn fills_max_len_and_leaves_the_remainder() {
    let conns: Vec<SyncConn> = (1..=10u8)
        .map(|i| SyncConn {
            caddr: Addr::v4([10, 0, 0, i]),
            ..nat_conn()
        })
        .collect();
    let max_len = 8 + 3 * 36;
    let mut out = Vec::new();
    assert_eq!(encode(5, &conns, max_len - 1, &mut out), 2);
    assert_eq!(out.len(), 8 + 2 * 36);
    let mut rest = &conns[..];
    let mut messages = 0;
    let mut all = Vec::new();
    while !rest.is_empty() {
        let n = encode(5, rest, max_len, &mut out);
        assert_eq!(n, rest.len().min(3));
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let ip = [10, 0, 0, (messages * 3 + i + 1) as u8];
                let addrs = v4_addrs(ip, [10, 0, 0, 100], [192, 168, 1, 1]);
                Entry {
                    addrs,
                    ..nat_entry()
                }
                .bytes()
            })
            .collect();
        assert_eq!(out, mesg(5, &entries), "message {messages}");
        assert!(out.len() <= max_len);
        let mut got = Vec::new();
        decode(&out, 5, &mut got).unwrap();
        all.extend(got);
        rest = &rest[n..];
        messages += 1;
    }
    assert_eq!(messages, 4);
    assert_eq!(all, conns.into_iter().map(received).collect::<Vec<_>>());
}

/// Seeds of the `sync` fuzz target: the frames above.
#[test]
#[ignore = "writes dataplane/fuzz/corpus/sync; run by hand"]
fn write_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sync");
    std::fs::create_dir_all(&dir).unwrap();
    let fnat = Entry {
        opts: vec![0x7f, 6, 172, 16, 0, 2, 0x13, 0x89],
        ..nat_entry()
    };
    let pe = Entry {
        opts: vec![2, 3, 0xaa, 0xbb, 0xcc, 3, 3, b's', b'i', b'p'],
        ..nat_entry()
    };
    let template = Entry {
        protocol: 0,
        flags: 0x1003,
        fwmark: 5,
        ..nat_entry()
    };
    let seeds = [
        good(),
        mesg(4, &[nat_entry().bytes(), v6_entry().bytes(), fnat.bytes()]),
        mesg(4, &[pe.bytes(), v6_entry().bytes()]),
        mesg(7, &[template.bytes(), nat_entry().bytes()]),
    ];
    for (i, seed) in seeds.iter().enumerate() {
        assert!(decoded(seed, 0).is_ok());
        std::fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
    }
}

/// A valid one-entry frame, syncid 7, to break.
fn good() -> Vec<u8> {
    mesg(7, &[nat_entry().bytes()])
}

fn with_entry(e: Entry) -> Vec<u8> {
    mesg(7, &[e.bytes()])
}

#[test]
fn truncated_header() {
    assert_eq!(decoded(&[], 0), Err(SyncError::TooShort));
    assert_eq!(decoded(&good()[..7], 0), Err(SyncError::TooShort));
    // A 4-byte version 0 header alone.
    assert_eq!(decoded(&[0, 7, 0, 4], 0), Err(SyncError::TooShort));
}

#[test]
fn truncated_entry() {
    // nr_conns says 2, one entry present (size consistent).
    let mut f = good();
    f[4] = 2;
    assert_eq!(decoded(&f, 7), Err(SyncError::Truncated));
    // An entry cut after 20 bytes.
    let mut f = good();
    f.truncate(28);
    f[2..4].copy_from_slice(&28u16.to_be_bytes());
    assert_eq!(decoded(&f, 7), Err(SyncError::Truncated));
}

#[test]
fn size_field_wrong() {
    let mut f = good();
    f[3] += 1;
    assert_eq!(decoded(&f, 7), Err(SyncError::BadSize));
    let mut f = good();
    f.push(0);
    assert_eq!(decoded(&f, 7), Err(SyncError::BadSize));
    // Checked before the syncid, as the kernel does.
    assert_eq!(decoded(&f, 8), Err(SyncError::BadSize));
}

#[test]
fn wrong_syncid() {
    assert_eq!(decoded(&good(), 8), Err(SyncError::WrongSyncid));
}

#[test]
fn syncid_zero_accepts_any() {
    assert!(decoded(&good(), 0).is_ok());
    assert!(decoded(&mesg(200, &[nat_entry().bytes()]), 0).is_ok());
    assert!(decoded(&mesg(0, &[nat_entry().bytes()]), 0).is_ok());
}

#[test]
fn version_0_reserved_spare() {
    for (at, value) in [(5, 0), (5, 2), (0, 1), (6, 1), (7, 1)] {
        let mut f = good();
        f[at] = value;
        assert_eq!(
            decoded(&f, 7),
            Err(SyncError::WrongVersion),
            "byte {at} = {value}"
        );
    }
}

#[test]
fn entry_version_not_0() {
    let f = with_entry(Entry {
        version: 1,
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadEntry));
}

#[test]
fn entry_type_unknown() {
    // Type 2: neither IPv4 (0) nor with the IPv6 bit.
    let f = with_entry(Entry {
        stype: 2,
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadEntry));
    // An IPv6 type on an entry of IPv4 length: shorter than struct ip_vs_sync_v6.
    let f = with_entry(Entry {
        stype: 1,
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadEntry));
}

#[test]
fn entry_size_past_end() {
    let mut f = good();
    f[8 + 3] = 40; // size 40, 36 bytes present
    assert_eq!(decoded(&f, 7), Err(SyncError::Truncated));
}

#[test]
fn bad_states() {
    for (protocol, state, ok) in [
        (TCP, 10, true),
        (TCP, 11, false),
        (UDP, 0, true),
        (UDP, 1, false),
        (SCTP, 13, true),
        (SCTP, 14, false),
    ] {
        let f = with_entry(Entry {
            protocol,
            state,
            ..nat_entry()
        });
        let want = if ok { Ok(()) } else { Err(SyncError::BadState) };
        assert_eq!(decoded(&f, 7).map(|_| ()), want, "{protocol} {state}");
    }
}

#[test]
fn unknown_protocol() {
    // ESP: the kernel knows it (one state), rvs does not.
    let f = with_entry(Entry {
        protocol: 50,
        state: 0,
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::UnknownProtocol));
}

#[test]
fn unknown_mandatory_option() {
    let f = with_entry(Entry {
        opts: vec![5, 2, 0, 0],
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::UnknownOption));
}

#[test]
fn option_past_entry() {
    // Length 4, 2 bytes of data inside the entry.
    let f = with_entry(Entry {
        opts: vec![0x45, 4, 0, 0],
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadOption));
    // A lone type byte.
    let f = with_entry(Entry {
        opts: vec![0x45],
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadOption));
}

#[test]
fn linux_skippable_option_is_skipped() {
    let f = with_entry(Entry {
        opts: vec![0x45, 2, 0xde, 0xad],
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Ok(vec![received(nat_conn())]));
}

#[test]
fn param_flag_on_a_known_option_is_that_option() {
    // 0x41 is SEQ_DATA to Linux (it switches on type & !0x40): 6 bytes is a bad length.
    let f = with_entry(Entry {
        opts: vec![0x41, 6, 172, 16, 0, 1, 0x13, 0x88],
        ..nat_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadOption));
}

#[test]
fn mapped_address_in_v6_entry() {
    let mut addrs = [v6(1), v6(2), v6(3)].concat();
    addrs[16..32].copy_from_slice(&Addr::v4([10, 0, 0, 100]).octets());
    let f = with_entry(Entry {
        addrs,
        ..v6_entry()
    });
    assert_eq!(decoded(&f, 7), Err(SyncError::BadAddress));
}

#[test]
fn trailing_bytes_after_the_entries_are_ignored() {
    // As the kernel: it reads nr_conns entries and stops.
    let mut f = good();
    f.extend_from_slice(&[0xff; 4]);
    let size = f.len() as u16;
    f[2..4].copy_from_slice(&size.to_be_bytes());
    assert_eq!(decoded(&f, 7), Ok(vec![received(nat_conn())]));
}

fn addr(v6: bool) -> impl Strategy<Value = Addr> {
    (any::<[u8; 16]>()).prop_map(move |mut o| {
        if v6 {
            o[0] |= 0x20; // never IPv4-mapped
            Addr::v6(o)
        } else {
            Addr::v4([o[0], o[1], o[2], o[3]])
        }
    })
}

/// A connection as a receiver holds it: flags within BACKUP_MASK plus SYNC, state in range.
fn sync_conn() -> impl Strategy<Value = SyncConn> {
    let kind = prop_oneof![
        (Just(TCP), 0u16..11, Just(0u32)),
        (Just(UDP), Just(0u16), Just(0u32)),
        (Just(SCTP), 0u16..14, Just(0u32)),
        (any::<u8>(), 0u16..2, Just(flags::TEMPLATE)),
    ];
    let v6 = any::<bool>();
    (kind, v6, any::<u32>(), any::<[u16; 3]>(), any::<[u32; 2]>()).prop_flat_map(
        |((protocol, state, template), v6, fl, ports, [fwmark, timeout_s])| {
            let local = proptest::option::of((addr(v6), any::<u16>()));
            (addr(v6), addr(v6), addr(v6), local).prop_map(move |(caddr, vaddr, daddr, local)| {
                let flags = (fl & wire::BACKUP_MASK & !flags::TEMPLATE) | template | flags::SYNC;
                SyncConn {
                    protocol,
                    flags,
                    state,
                    caddr,
                    cport: ports[0],
                    vaddr,
                    vport: ports[1],
                    daddr,
                    dport: ports[2],
                    fwmark,
                    timeout_s,
                    local,
                }
            })
        },
    )
}

/// Decodes with syncid 0 and 7: never panics; an error leaves `out` empty; what decodes
/// re-encodes and decodes to the same.
fn decode_checked(bytes: &[u8]) {
    for syncid in [0, 7] {
        let mut out = vec![received(nat_conn())];
        match decode(bytes, syncid, &mut out) {
            Err(_) => assert!(out.is_empty()),
            Ok(()) if out.is_empty() => {}
            Ok(()) => {
                let mut again = Vec::new();
                assert_eq!(encode(bytes[1], &out, 65535, &mut again), out.len());
                let mut back = Vec::new();
                decode(&again, syncid, &mut back).unwrap();
                assert_eq!(back, out);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2500))]

    #[test]
    fn round_trip(conns in proptest::collection::vec(sync_conn(), 0..40),
                  syncid in any::<u8>(), max_len in 100usize..1500) {
        let mut rest = &conns[..];
        let mut all = Vec::new();
        let mut out = Vec::new();
        while !rest.is_empty() {
            let n = encode(syncid, rest, max_len, &mut out);
            prop_assert!(n > 0 && out.len() <= max_len);
            prop_assert_eq!(out.len() % 4, 0);
            let mut got = Vec::new();
            decode(&out, syncid, &mut got).unwrap();
            prop_assert_eq!(got.len(), n);
            all.extend(got);
            rest = &rest[n..];
        }
        prop_assert_eq!(all, conns);
    }

    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                fix_header in any::<bool>()) {
        // Half the inputs get a valid header, so that the entries are reached.
        if fix_header && bytes.len() >= 8 {
            let size = bytes.len() as u16;
            bytes[0] = 0;
            bytes[1] = 7;
            bytes[2..4].copy_from_slice(&size.to_be_bytes());
            bytes[5] = 1;
            bytes[6] = 0;
            bytes[7] = 0;
        }
        decode_checked(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(conns in proptest::collection::vec(sync_conn(), 1..6),
                                    at in any::<usize>(), value in any::<u8>()) {
        let mut f = Vec::new();
        let n = encode(7, &conns, 1500, &mut f);
        prop_assert_eq!(n, conns.len());
        let at = at % f.len();
        f[at] = value;
        decode_checked(&f);
    }
}

/// A pcap file (Ethernet) holding one UDP datagram 10.0.0.1:8848 -> 224.0.0.81:8848.
fn pcap_of(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [1, 0, 0x5e, 0, 0, 0x51])
        .ipv4([10, 0, 0, 1], wire::GROUP_V4, 1)
        .udp(wire::PORT, wire::PORT)
        .write(&mut frame, payload)
        .unwrap();
    let mut pcap = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    // thiszone, sigfigs, snaplen, linktype Ethernet; the record: seconds, micros, lengths.
    for v in [
        0u32,
        0,
        65535,
        1,
        0,
        0,
        frame.len() as u32,
        frame.len() as u32,
    ] {
        pcap.extend_from_slice(&v.to_le_bytes());
    }
    pcap.extend_from_slice(&frame);
    pcap
}

#[test]
fn tshark_dissects_encoded_messages() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("skipped: tshark is not installed");
        return;
    }
    let fnat = SyncConn {
        local: Some((Addr::v4([172, 16, 0, 1]), 5000)),
        fwmark: 42,
        ..nat_conn()
    };
    // Wireshark 4.0's dissector steps from one entry to the next by the fixed struct size, not by
    // the entry's size: options in any entry but the last would shift the rest. FULLNAT goes last.
    let msg = encoded(7, &[v6_conn(), fnat]);
    let mut child = Command::new("tshark")
        .args(["-r", "-", "-V", "-d", "udp.port==8848,ipvs"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&pcap_of(&msg))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    for want in [
        "IP Virtual Services Sync Daemon",
        "Synchronization ID: 7",
        "Connection Count: 2",
        "Size: 124",
        "Version: 1",
        "Flags: 0x00000100",
        "Size: 72",
        "Type: IPv4 (0)",
        "Size: 44",
        "Client Port: 40000",
        "Virtual Port: 80",
        "Destination Port: 8080",
        "Client Address: 10.0.0.1",
        "Virtual Address: 10.0.0.100",
        "Destination Address: 192.168.1.1",
        "FWmark: 0x0000002a",
        "Timeout: 900",
        "Client Address: 2001:db8::1",
        "Destination Address: 2001:db8::3",
        "Client Port: 50000",
        "Timeout: 60",
    ] {
        assert!(text.contains(want), "tshark did not print {want:?}");
    }
}
