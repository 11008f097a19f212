//! Tests of the session table against its contracts and a `HashMap` model.

use super::state::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use super::*;
use std::collections::{HashMap, HashSet};

const SEED: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
const S: u64 = 1000;

fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
    Addr::v4([a, b, c, d])
}

fn vip() -> Addr {
    v4(192, 0, 2, 1)
}

/// Client packet key: `10.0.c.d:cport -> VIP:80`.
fn cin(proto: u8, c: u8, cport: u16) -> FlowKey {
    FlowKey::new(proto, v4(10, 0, 0, c), cport, vip(), 80)
}

/// NAT reply key: `RS 10.1.0.1:8080 -> client`.
fn nat_out(proto: u8, c: u8, cport: u16) -> FlowKey {
    FlowKey::new(proto, v4(10, 1, 0, 1), 8080, v4(10, 0, 0, c), cport)
}

fn table(cap: usize) -> SessionTable<u32> {
    SessionTable::new(cap, SEED, Timeouts::default(), FullPolicy::Refuse).unwrap()
}

fn expire_all(t: &mut SessionTable<u32>, now: u64) -> Vec<(SessionId, Session<u32>)> {
    let mut v = Vec::new();
    t.expire(now, usize::MAX, |id, s| v.push((id, s)));
    v
}

#[test]
fn one_lookup_per_direction() {
    let mut t = table(16);
    let (i, o) = (cin(PROTO_TCP, 1, 1000), nat_out(PROTO_TCP, 1, 1000));
    let id = t.insert(i, Some(o), 7, 0).unwrap().id;
    assert_eq!(t.lookup(&i), Some((id, Direction::In)));
    assert_eq!(t.lookup(&o), Some((id, Direction::Out)));
    assert_eq!(t.lookup(&i.reversed()), None);
    assert_eq!(t.lookup(&cin(PROTO_UDP, 1, 1000)), None);
    assert_eq!(t.lookup(&cin(PROTO_TCP, 1, 1001)), None);
    assert_eq!(t.get(id).unwrap().payload, 7);
    assert_eq!(t.get(id).unwrap().in_key(), &i);
    assert_eq!(t.get(id).unwrap().out_key(), Some(&o));

    // FULLNAT: reply goes to a local address/port.
    let fi = cin(PROTO_TCP, 2, 2000);
    let fo = FlowKey::new(PROTO_TCP, v4(10, 1, 0, 2), 80, v4(10, 9, 0, 1), 40000);
    let fid = t.insert(fi, Some(fo), 8, 0).unwrap().id;
    assert_eq!(t.lookup(&fo), Some((fid, Direction::Out)));

    // IPv6 and ICMP echo keys.
    let a6 = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    let b6 = Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6]);
    let k6 = FlowKey::new(PROTO_TCP, a6, 5555, b6, 443);
    let id6 = t.insert(k6, None, 9, 0).unwrap().id;
    assert_eq!(t.lookup(&k6), Some((id6, Direction::In)));
    let e = FlowKey::icmp_echo(PROTO_ICMP, v4(10, 0, 0, 3), vip(), 77);
    let eid = t.insert(e, Some(e.reversed()), 10, 0).unwrap().id;
    assert_eq!(t.get(eid).unwrap().state(), State::Icmp);
    assert_eq!(t.lookup(&e.reversed()), Some((eid, Direction::Out)));
    assert_eq!(t.len(), 4);
}

#[test]
fn addr_forms() {
    let a = v4(1, 2, 3, 4);
    assert!(a.is_v4());
    assert_eq!(a.to_v4(), Some([1, 2, 3, 4]));
    assert_eq!(Addr::from(std::net::Ipv4Addr::new(1, 2, 3, 4)), a);
    assert_eq!(format!("{a}"), "1.2.3.4");
    let six: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert!(!Addr::from(six).is_v4());
    assert_eq!(Addr::from(six).to_ip(), std::net::IpAddr::V6(six));
    assert_eq!(core::mem::size_of::<FlowKey>(), 38);
    assert_eq!(
        format!("{}", cin(PROTO_TCP, 1, 1000)),
        "TCP/6 10.0.0.1:1000 -> 192.0.2.1:80"
    );
}

#[test]
fn insert_exists() {
    let mut t = table(16);
    let (i, o) = (cin(PROTO_TCP, 1, 1000), nat_out(PROTO_TCP, 1, 1000));
    t.insert(i, Some(o), 1, 0).unwrap();
    assert_eq!(t.insert(i, None, 2, 0).unwrap_err(), InsertError::Exists);
    // New in key but its out key is taken.
    let i2 = cin(PROTO_TCP, 1, 1001);
    assert_eq!(
        t.insert(i2, Some(o), 2, 0).unwrap_err(),
        InsertError::Exists
    );
    // Out key equal to an existing in key.
    assert_eq!(
        t.insert(i2, Some(i), 2, 0).unwrap_err(),
        InsertError::Exists
    );
    // In == out.
    assert_eq!(
        t.insert(i2, Some(i2), 2, 0).unwrap_err(),
        InsertError::Exists
    );
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().created, 1);
}

#[test]
fn remove_removes_both_keys() {
    let mut t = table(4);
    let (i, o) = (cin(PROTO_UDP, 1, 53), nat_out(PROTO_UDP, 1, 53));
    let id = t.insert(i, Some(o), 1, 0).unwrap().id;
    let s = t.remove(id).unwrap();
    assert_eq!(s.payload, 1);
    assert_eq!(t.lookup(&i), None);
    assert_eq!(t.lookup(&o), None);
    assert!(t.get(id).is_none());
    assert!(t.remove(id).is_none());
    assert_eq!(t.on_packet(id, Direction::In, 0, 100, 1), None);
    assert!(t.is_empty());
    // The slot is reused with a new generation; the stale id stays dead.
    let id2 = t.insert(i, Some(o), 2, 0).unwrap().id;
    assert_ne!(id, id2);
    assert!(t.get(id).is_none());
    assert_eq!(t.lookup(&o), Some((id2, Direction::Out)));
    assert_eq!(t.stats().removed, 1);
}

#[test]
fn expiry_removes_both_keys() {
    let mut t = table(4);
    let (i, o) = (cin(PROTO_UDP, 1, 53), nat_out(PROTO_UDP, 1, 53));
    let id = t.insert(i, Some(o), 5, 1000).unwrap().id;
    assert!(expire_all(&mut t, 1000 + 300 * S - 1).is_empty());
    let gone = expire_all(&mut t, 1000 + 300 * S);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, id);
    assert_eq!(gone[0].1.payload, 5);
    assert_eq!(t.lookup(&i), None);
    assert_eq!(t.lookup(&o), None);
    assert!(t.get(id).is_none());
    assert_eq!(t.stats().expired, 1);
}

/// Drive `t` through `steps` of (direction, flags, expected state) at 1 s intervals, checking
/// state changes and deadlines.
fn drive(
    t: &mut SessionTable<u32>,
    id: SessionId,
    steps: &[(Direction, u8, State)],
    now: &mut u64,
) {
    for &(dir, flags, want) in steps {
        *now += S;
        let before = t.get(id).unwrap().state();
        let ch = t.on_packet(id, dir, flags, 60, *now);
        let s = t.get(id).unwrap();
        assert_eq!(s.state(), want, "{dir:?} flags {flags:#x} from {before:?}");
        let expect = (before != want).then_some(StateChange {
            from: before,
            to: want,
        });
        assert_eq!(ch, expect);
        let to = Timeouts::default().for_state(want) as u64;
        assert_eq!(s.deadline(), *now + to);
    }
}

#[test]
fn tcp_nat_handshake_fin_close() {
    use Direction::{In, Out};
    let mut t = table(4);
    let id = t
        .insert(
            cin(PROTO_TCP, 1, 1000),
            Some(nat_out(PROTO_TCP, 1, 1000)),
            0,
            0,
        )
        .unwrap()
        .id;
    assert_eq!(t.get(id).unwrap().state(), State::None);
    assert_eq!(t.get(id).unwrap().deadline(), 2 * S);
    let mut now = 0;
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            (Out, SYN | ACK, State::SynRecv),
            (In, ACK, State::Established),
            (In, PSH | ACK, State::Established),
            (Out, PSH | ACK, State::Established),
            // Client closes first.
            (In, FIN | ACK, State::CloseWait),
            (Out, ACK, State::CloseWait),
            (Out, FIN | ACK, State::TimeWait),
            (In, ACK, State::TimeWait),
        ],
        &mut now,
    );
    let c = t.get(id).unwrap().counters();
    assert_eq!((c.packets_in, c.packets_out), (5, 4));
    assert_eq!((c.bytes_in, c.bytes_out), (300, 240));

    // Server closes first.
    let id = t
        .insert(
            cin(PROTO_TCP, 2, 1000),
            Some(nat_out(PROTO_TCP, 2, 1000)),
            0,
            now,
        )
        .unwrap()
        .id;
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            (Out, SYN | ACK, State::SynRecv),
            (In, ACK, State::Established),
            (Out, FIN | ACK, State::FinWait),
            (In, ACK, State::FinWait),
            (In, FIN | ACK, State::TimeWait),
            (Out, ACK, State::TimeWait),
        ],
        &mut now,
    );
}

#[test]
fn tcp_rst_and_flagless() {
    use Direction::{In, Out};
    let mut t = table(4);
    let mut now = 0;
    let id = t
        .insert(
            cin(PROTO_TCP, 1, 1000),
            Some(nat_out(PROTO_TCP, 1, 1000)),
            0,
            0,
        )
        .unwrap()
        .id;
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            (Out, SYN | ACK, State::SynRecv),
            (In, ACK, State::Established),
            // RST wins over every other flag.
            (In, RST | ACK | SYN, State::Close),
        ],
        &mut now,
    );
    let id = t
        .insert(
            cin(PROTO_TCP, 2, 1000),
            Some(nat_out(PROTO_TCP, 2, 1000)),
            0,
            now,
        )
        .unwrap()
        .id;
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            // Server refuses: output RST in SYN_RECV -> CLOSE.
            (Out, RST | ACK, State::Close),
        ],
        &mut now,
    );
    // A segment without SYN/FIN/ACK/RST closes the session, as in IPVS.
    let id = t.insert(cin(PROTO_TCP, 3, 1000), None, 0, now).unwrap().id;
    drive(
        &mut t,
        id,
        &[(In, SYN, State::SynRecv), (In, PSH, State::Close)],
        &mut now,
    );
    // Spot checks of the raw table.
    assert_eq!(
        tcp_next(State::None, TcpDir::Input, ACK),
        State::Established
    );
    assert_eq!(
        tcp_next(State::Listen, TcpDir::Output, ACK),
        State::Established
    );
    assert_eq!(
        tcp_next(State::TimeWait, TcpDir::Output, RST),
        State::TimeWait
    );
    assert_eq!(
        tcp_next(State::SynAck, TcpDir::InputOnly, RST),
        State::Close
    );
    assert_eq!(tcp_next(State::SynAck, TcpDir::Input, RST), State::SynRecv);
    assert_eq!(tcp_next(State::Udp, TcpDir::Input, SYN), State::Udp);
}

#[test]
fn tcp_dr_input_only() {
    use Direction::In;
    let mut t = table(4);
    let mut now = 0;
    let id = t.insert(cin(PROTO_TCP, 1, 1000), None, 0, 0).unwrap().id;
    assert!(t.get(id).unwrap().is_input_only());
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            (In, ACK, State::Established),
            (In, PSH | ACK, State::Established),
            // Input-only: client FIN in ESTABLISHED -> FIN_WAIT (not CLOSE_WAIT).
            (In, FIN | ACK, State::FinWait),
            (In, ACK, State::FinWait),
            (In, FIN | ACK, State::FinWait),
            (In, RST, State::Close),
        ],
        &mut now,
    );
    let id = t.insert(cin(PROTO_TCP, 2, 1000), None, 0, now).unwrap().id;
    drive(
        &mut t,
        id,
        &[
            (In, SYN, State::SynRecv),
            (In, ACK, State::Established),
            (In, RST, State::Close),
            (In, SYN, State::SynRecv),
        ],
        &mut now,
    );
}

#[test]
fn state_change_activity() {
    let mut t = table(4);
    let id = t.insert(cin(PROTO_TCP, 1, 1), None, 0, 0).unwrap().id;
    let ch = t.on_packet(id, Direction::In, SYN, 60, 1).unwrap();
    assert!(!ch.activity_changed());
    let ch = t.on_packet(id, Direction::In, ACK, 60, 2).unwrap();
    assert!(ch.activity_changed() && ch.to.is_established());
    let ch = t.on_packet(id, Direction::In, FIN, 60, 3).unwrap();
    assert!(ch.activity_changed() && !ch.to.is_established());
    assert_eq!(State::Established.name(), "ESTABLISHED");
}

#[test]
fn timeouts_configurable_and_exact() {
    let mut to = Timeouts::default();
    to.set_ipvsadm(30, 7, 0);
    assert_eq!(to.tcp_established, 30 * 1000);
    assert_eq!(to.tcp_fin_wait, 7 * 1000);
    assert_eq!(to.udp, 300 * 1000);
    to.udp = 1_250; // not a multiple of the tick
    to.icmp = 2_000; // a multiple of the tick
    let mut t: SessionTable<u32> = SessionTable::new(8, SEED, to, FullPolicy::Refuse).unwrap();

    // Deadline on a tick boundary: expires exactly at it.
    let e = FlowKey::icmp_echo(PROTO_ICMP, v4(10, 0, 0, 1), vip(), 1);
    let eid = t.insert(e, None, 0, 0).unwrap().id;
    assert!(expire_all(&mut t, 1_999).is_empty());
    assert_eq!(expire_all(&mut t, 2_000)[0].0, eid);

    // Deadline 1250: rounded up to the 1300 tick; never before 1250.
    let u = cin(PROTO_UDP, 1, 1);
    let uid = t.insert(u, None, 0, 3_000).unwrap().id;
    assert_eq!(t.get(uid).unwrap().deadline(), 4_250);
    assert!(expire_all(&mut t, 4_299).is_empty());
    assert_eq!(expire_all(&mut t, 4_300)[0].0, uid);

    // TCP ESTABLISHED uses the configured 30 s, FIN_WAIT 7 s.
    let id = t.insert(cin(PROTO_TCP, 1, 1), None, 0, 10_000).unwrap().id;
    t.on_packet(id, Direction::In, SYN, 60, 10_000);
    t.on_packet(id, Direction::In, ACK, 60, 10_000);
    assert_eq!(t.get(id).unwrap().deadline(), 40_000);
    assert_eq!(t.get(id).unwrap().timeout_ms(), 30_000);
    t.on_packet(id, Direction::In, FIN, 60, 11_000);
    assert_eq!(t.get(id).unwrap().deadline(), 18_000);
    assert!(expire_all(&mut t, 17_999).is_empty());
    assert_eq!(expire_all(&mut t, 18_000).len(), 1);

    // New timeouts apply at the next packet.
    let id = t.insert(cin(PROTO_UDP, 2, 2), None, 0, 20_000).unwrap().id;
    assert_eq!(t.get(id).unwrap().deadline(), 21_250);
    let mut to2 = to;
    to2.udp = 5_000;
    t.set_timeouts(to2);
    assert_eq!(t.get(id).unwrap().deadline(), 21_250);
    t.on_packet(id, Direction::In, 0, 10, 21_000);
    assert_eq!(t.get(id).unwrap().deadline(), 26_000);
    assert!(expire_all(&mut t, 25_999).is_empty());
    assert_eq!(expire_all(&mut t, 26_000).len(), 1);
}

#[test]
fn refresh_keeps_alive_and_shorter_deadline_requeues() {
    let mut t = table(8);
    let u = cin(PROTO_UDP, 1, 1);
    let id = t.insert(u, None, 0, 0).unwrap().id;
    // Touch every 100 s for 2000 s (> wheel horizon): never expires.
    let mut now = 0;
    while now < 2_000 * S {
        now += 100 * S;
        t.on_packet(id, Direction::In, 0, 1, now);
        assert!(expire_all(&mut t, now).is_empty());
    }
    assert!(expire_all(&mut t, now + 300 * S - 1).is_empty());
    assert_eq!(expire_all(&mut t, now + 300 * S).len(), 1);

    // ESTABLISHED (900 s) then RST: CLOSE (10 s) expires 10 s later, not 900 s later.
    let k = cin(PROTO_TCP, 1, 2);
    let now = 10_000 * S;
    let id = t.insert(k, None, 0, now).unwrap().id;
    t.on_packet(id, Direction::In, SYN, 60, now);
    t.on_packet(id, Direction::In, ACK, 60, now);
    t.on_packet(id, Direction::In, RST, 60, now + S);
    assert!(expire_all(&mut t, now + 11 * S - 1).is_empty());
    assert_eq!(expire_all(&mut t, now + 11 * S).len(), 1);
}

#[test]
fn deadline_beyond_wheel_horizon() {
    let mut t = table(8);
    let key = FlowKey::template(PROTO_TCP, v4(10, 0, 0, 1), vip(), 80);
    let id = t.insert_template(key, 3, 2_000_000, 500).unwrap().id;
    let mut now = 500;
    while now < 2_000_500 {
        assert!(expire_all(&mut t, now).is_empty(), "early at {now}");
        now += 50 * S;
    }
    assert!(expire_all(&mut t, 2_000_499).is_empty());
    let gone = expire_all(&mut t, 2_000_500);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, id);
}

#[test]
fn expire_is_bounded_and_never_scans() {
    let cap = 20_000;
    let mut t = table(cap);
    // 10_000 long-lived established flows.
    for i in 0..10_000u32 {
        let k = FlowKey::new(
            PROTO_TCP,
            v4(10, 0, (i >> 8) as u8, i as u8),
            1000,
            vip(),
            80,
        );
        let id = t.insert(k, None, i, 0).unwrap().id;
        t.on_packet(id, Direction::In, SYN, 60, 0);
        t.on_packet(id, Direction::In, ACK, 60, 0);
    }
    // They were queued at their first deadline (NONE, 2 s) and extended lazily: the wheel
    // re-queues each once when it reaches them, in budget-sized steps.
    let w0 = t.stats().expire_work;
    assert_eq!(t.expire(2 * S, 1_000, |_, _| {}), 0);
    assert_eq!(t.stats().expire_work - w0, 1_000);
    while t.stats().expire_work - w0 < 10_000 + 21 {
        assert_eq!(t.expire(2 * S, 1_000, |_, _| {}), 0);
    }
    assert_eq!(t.stats().expire_work - w0, 10_000 + 21);

    t.set_timeouts(Timeouts {
        udp: 1_000,
        ..Timeouts::default()
    });
    for i in 0..100u16 {
        t.insert(cin(PROTO_UDP, 1, i), None, 0, 2 * S).unwrap();
    }
    let w0 = t.stats().expire_work;
    // Before the deadline: only the elapsed ticks are visited, no session is examined.
    assert_eq!(t.expire(3 * S - 1, usize::MAX, |_, _| {}), 0);
    assert!(t.stats().expire_work - w0 <= 10);
    // Bounded: a budget of 16 expires at most 16, spends at most 16 units.
    let w1 = t.stats().expire_work;
    let n = t.expire(3 * S, 16, |_, _| {});
    assert!(n <= 16 && n > 0);
    assert!(t.stats().expire_work - w1 <= 16);
    // Finish: total work = expired sessions + ticks, nowhere near the 10_100 sessions.
    let mut total = n;
    while total < 100 {
        let k = t.expire(3 * S, 16, |_, s| assert_eq!(s.state(), State::Udp));
        assert!(k > 0);
        total += k;
    }
    assert_eq!(t.len(), 10_000);
    assert!(
        t.stats().expire_work - w0 <= 100 + 11,
        "{}",
        t.stats().expire_work - w0
    );
    // A later call with nothing due visits only the elapsed ticks (570), no session.
    let w2 = t.stats().expire_work;
    assert_eq!(t.expire(60 * S, usize::MAX, |_, _| {}), 0);
    assert_eq!(t.stats().expire_work - w2, 570);
    // Zero budget does nothing.
    assert_eq!(t.expire(900 * S, 0, |_, _| {}), 0);
    assert_eq!(t.len(), 10_000);
    // At 900 s they all expire, in bounded steps.
    let mut n = 0;
    while n < 10_000 {
        let k = t.expire(900 * S, 4096, |_, _| {});
        assert!(k <= 4096);
        n += k;
    }
    assert!(t.is_empty());
}

#[test]
fn full_refuse() {
    let mut t = table(4);
    for c in 0..4 {
        t.insert(cin(PROTO_UDP, c, 1), None, 0, 0).unwrap();
    }
    assert_eq!(
        t.insert(cin(PROTO_UDP, 9, 1), None, 0, 0).unwrap_err(),
        InsertError::Full
    );
    assert_eq!(
        t.insert(cin(PROTO_UDP, 9, 2), None, 0, 0).unwrap_err(),
        InsertError::Full
    );
    assert_eq!(t.stats().refused_full, 2);
    assert_eq!(t.stats().evicted, 0);
    let (id, _) = t.lookup(&cin(PROTO_UDP, 0, 1)).unwrap();
    t.remove(id);
    t.insert(cin(PROTO_UDP, 9, 1), None, 0, 0).unwrap();
    assert_eq!(t.len(), 4);
}

#[test]
fn full_evicts_oldest_unestablished_only() {
    let mut t: SessionTable<u32> = SessionTable::new(
        4,
        SEED,
        Timeouts::default(),
        FullPolicy::EvictOldestUnestablished,
    )
    .unwrap();
    let establish = |t: &mut SessionTable<u32>, id| {
        t.on_packet(id, Direction::In, SYN, 60, 1);
        t.on_packet(id, Direction::In, ACK, 60, 1);
    };
    let ids: Vec<SessionId> = (0..4)
        .map(|c| {
            t.insert(cin(PROTO_TCP, c, 1), None, c as u32, 0)
                .unwrap()
                .id
        })
        .collect();
    establish(&mut t, ids[0]);
    establish(&mut t, ids[2]);
    // Oldest unestablished is #1, then #3.
    let r = t.insert(cin(PROTO_TCP, 4, 1), None, 4, 0).unwrap();
    let (eid, ev) = r.evicted.unwrap();
    assert_eq!((eid, ev.payload), (ids[1], 1));
    assert_eq!(t.lookup(&cin(PROTO_TCP, 1, 1)), None);
    let id4 = r.id;
    let r = t.insert(cin(PROTO_TCP, 5, 1), None, 5, 0).unwrap();
    assert_eq!(r.evicted.unwrap().1.payload, 3);
    let id5 = r.id;
    // #0 leaves ESTABLISHED (FIN): it becomes the newest unestablished.
    t.on_packet(ids[0], Direction::In, FIN, 60, 2);
    let r = t.insert(cin(PROTO_TCP, 6, 1), None, 6, 0).unwrap();
    assert_eq!(r.evicted.unwrap().1.payload, 4);
    let r = t.insert(cin(PROTO_TCP, 7, 1), None, 7, 0).unwrap();
    assert_eq!(r.evicted.unwrap().1.payload, 5);
    assert!(t.get(id4).is_none() && t.get(id5).is_none());
    let r = t.insert(cin(PROTO_TCP, 8, 1), None, 8, 0).unwrap();
    assert_eq!(r.evicted.unwrap().1.payload, 0);
    // Now: #2 ES, #6, #7, #8 unestablished. Establish all -> refuse.
    for (id, _) in [6u8, 7, 8].map(|c| t.lookup(&cin(PROTO_TCP, c, 1)).unwrap()) {
        establish(&mut t, id);
    }
    assert_eq!(
        t.insert(cin(PROTO_TCP, 9, 1), None, 9, 0).unwrap_err(),
        InsertError::Full
    );
    assert_eq!(t.stats().evicted, 5);
    assert_eq!(t.stats().refused_full, 1);
    assert!(t.iter().all(|(_, s)| s.state().is_established()));
    assert_eq!(t.len(), 4);
}

#[test]
fn persistence_templates() {
    let mut t: SessionTable<u32> = SessionTable::new(
        3,
        SEED,
        Timeouts::default(),
        FullPolicy::EvictOldestUnestablished,
    )
    .unwrap();
    let client = v4(10, 0, 0, 1);
    let tk = FlowKey::template(PROTO_TCP, client, vip(), 80);
    assert!(tk.is_template());
    // A template never equals a flow key, even one with port 0.
    assert_ne!(tk, FlowKey::new(PROTO_TCP, client, 0, vip(), 80));
    let tid = t.insert_template(tk, 42, 300_000, 0).unwrap().id;
    let ts = t.get(tid).unwrap();
    assert!(ts.is_template() && ts.out_key().is_none());
    assert_eq!(ts.state(), State::Template);
    assert_eq!(ts.deadline(), 300 * S);
    assert_eq!(t.lookup(&tk), Some((tid, Direction::In)));

    // A connection scheduled through the template at t=100 s refreshes it.
    let cid = t
        .insert(cin(PROTO_TCP, 1, 1000), None, 42, 100 * S)
        .unwrap()
        .id;
    assert!(t.bind_control(cid, tid, 100 * S));
    assert!(!t.bind_control(cid, tid, 100 * S), "already bound");
    assert!(!t.bind_control(tid, cid, 100 * S), "roles reversed");
    assert_eq!(t.get(cid).unwrap().controlled_by(), Some(tid));
    assert_eq!(t.get(tid).unwrap().n_controlled(), 1);
    assert_eq!(t.get(tid).unwrap().deadline(), 400 * S);
    // Keep the connection alive past the template deadline: the template is re-armed.
    t.on_packet(cid, Direction::In, SYN, 60, 100 * S);
    t.on_packet(cid, Direction::In, ACK, 60, 100 * S);
    let gone = expire_all(&mut t, 400 * S);
    assert!(gone.is_empty());
    assert_eq!(t.get(tid).unwrap().deadline(), 700 * S);
    // Templates are never evicted: fill the table; the only unestablished one is evicted.
    let other = t.insert(cin(PROTO_UDP, 2, 1), None, 0, 400 * S).unwrap().id;
    let r = t.insert(cin(PROTO_UDP, 3, 1), None, 0, 400 * S).unwrap();
    assert_eq!(r.evicted.unwrap().0, other);
    let r3 = r.id;
    t.remove(r3);
    // Connection ends (RST -> CLOSE 10 s) and expires; the template then runs out.
    t.on_packet(cid, Direction::In, RST, 60, 500 * S);
    let gone = expire_all(&mut t, 510 * S);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].0, cid);
    assert_eq!(t.get(tid).unwrap().n_controlled(), 0);
    assert!(expire_all(&mut t, 700 * S - 1).is_empty());
    let gone = expire_all(&mut t, 700 * S);
    assert_eq!(gone.len(), 1);
    assert_eq!((gone[0].0, gone[0].1.payload), (tid, 42));
    assert_eq!(t.lookup(&tk), None);

    // Removing a template under a live connection leaves a harmless stale link.
    let tid = t.insert_template(tk, 1, 10_000, 1000 * S).unwrap().id;
    let cid = t
        .insert(cin(PROTO_UDP, 1, 7), None, 1, 1000 * S)
        .unwrap()
        .id;
    assert!(t.bind_control(cid, tid, 1000 * S));
    t.remove(tid);
    let tid2 = t.insert_template(tk, 2, 10_000, 1000 * S).unwrap().id;
    assert_eq!(tid2.slot(), tid.slot());
    t.remove(cid);
    assert_eq!(t.get(tid2).unwrap().n_controlled(), 0);
    assert!(t.refresh(tid2, 1005 * S));
    assert_eq!(t.get(tid2).unwrap().deadline(), 1015 * S);
}

#[test]
fn flush_and_iter() {
    let mut t = table(8);
    let mut ids = Vec::new();
    for c in 0..5 {
        let r = t.insert(
            cin(PROTO_UDP, c, 1),
            Some(nat_out(PROTO_UDP, c, 1)),
            c as u32,
            0,
        );
        ids.push(r.unwrap().id);
    }
    let listed: HashSet<SessionId> = t.iter().map(|(id, _)| id).collect();
    assert_eq!(listed, ids.iter().copied().collect());
    assert_eq!(t.flush(), 5);
    assert!(t.is_empty());
    assert!(ids.iter().all(|id| t.get(*id).is_none()));
    assert_eq!(t.lookup(&cin(PROTO_UDP, 0, 1)), None);
    assert_eq!(t.iter().count(), 0);
    for c in 0..8 {
        t.insert(cin(PROTO_UDP, c, 1), None, 0, 10 * S).unwrap();
    }
    assert_eq!(expire_all(&mut t, 310 * S).len(), 8);
    assert_eq!(t.stats().removed, 5);
}

#[test]
fn construction_and_memory() {
    assert!(SessionTable::<u32>::new(0, SEED, Timeouts::default(), FullPolicy::Refuse).is_err());
    assert!(SessionTable::<u32>::new(
        MAX_CAPACITY + 1,
        SEED,
        Timeouts::default(),
        FullPolicy::Refuse
    )
    .is_err());
    let t: SessionTable<[u8; 32]> =
        SessionTable::new(1000, SEED, Timeouts::default(), FullPolicy::Refuse).unwrap();
    assert_eq!(t.capacity(), 1000);
    let slot = SessionTable::<[u8; 32]>::slot_size();
    let per = t.bytes_per_session();
    // Slot + free list + 2.67 .. 5.33 index entries of 8 bytes.
    assert!(per >= slot + 4 + 21 && per <= slot + 4 + 43, "{slot} {per}");
    assert_eq!(slot, 256, "4 cache lines for a 32-byte payload");
    assert!(t.memory_bytes() >= 1000 * per - 1000);
    for capacity in [1, 1000, 1 << 16] {
        let t: SessionTable<[u8; 32]> =
            SessionTable::new(capacity, SEED, Timeouts::default(), FullPolicy::Refuse).unwrap();
        assert_eq!(
            SessionTable::<[u8; 32]>::footprint(capacity),
            t.memory_bytes(),
            "capacity {capacity}"
        );
    }
    fn is_send<X: Send>() {}
    is_send::<SessionTable<u64>>();
}

#[test]
fn keyed_hash_depends_on_seed() {
    let k = cin(PROTO_TCP, 1, 1000);
    let a = FlowHasher::new([1, 2]);
    let b = FlowHasher::new([1, 3]);
    let c = FlowHasher::new([2, 2]);
    assert_eq!(a.hash(&k), FlowHasher::new([1, 2]).hash(&k));
    assert_ne!(a.hash(&k), b.hash(&k));
    assert_ne!(a.hash(&k), c.hash(&k));
    // Over many keys the seeds disagree everywhere, and each field matters.
    let mut same = 0;
    for p in 0..1000u16 {
        let k = cin(PROTO_TCP, 1, p);
        same += (a.hash(&k) == b.hash(&k)) as u32;
    }
    assert_eq!(same, 0);
    let base = a.hash(&k);
    let mut k2 = k;
    k2.protocol = PROTO_UDP;
    assert_ne!(a.hash(&k2), base);
    let mut k2 = k;
    k2.dst_port = 81;
    assert_ne!(a.hash(&k2), base);
    let mut k2 = k;
    k2.dst.0[0] ^= 1;
    assert_ne!(a.hash(&k2), base);
    let mut k2 = k;
    k2.src.0[15] ^= 1;
    assert_ne!(a.hash(&k2), base);
    // The table's index uses it.
    let t1: SessionTable<u32> =
        SessionTable::new(4, [5, 6], Timeouts::default(), FullPolicy::Refuse).unwrap();
    let t2: SessionTable<u32> =
        SessionTable::new(4, [5, 7], Timeouts::default(), FullPolicy::Refuse).unwrap();
    assert_ne!(t1.hash(&k), t2.hash(&k));
}

#[test]
fn keyed_hash_spreads_sequential_keys() {
    // Sequential ports and addresses (the typical attack/scan shape) fill 1024 buckets evenly.
    let h = FlowHasher::new(SEED);
    let mut buckets = [0u32; 1024];
    let mut tags = [0u32; 1024];
    for i in 0..32_768u32 {
        let k = FlowKey::new(
            PROTO_TCP,
            v4(10, 0, (i >> 8) as u8, i as u8),
            1000,
            vip(),
            80,
        );
        let x = h.hash(&k);
        buckets[(x & 1023) as usize] += 1;
        tags[((x >> 54) & 1023) as usize] += 1;
    }
    // Mean 32; a fair hash stays well within 2x.
    assert!(
        buckets.iter().all(|&n| (8..=64).contains(&n)),
        "{buckets:?}"
    );
    assert!(tags.iter().all(|&n| (8..=64).contains(&n)));
}

#[test]
fn index_churn_at_full_load() {
    // Capacity 23 -> 64 index entries; 46 keys = 72% load. Heavy churn exercises the
    // backward-shift deletion; every live key must stay findable.
    let mut t = table(23);
    let mut live: HashMap<FlowKey, SessionId> = HashMap::new();
    let mut x: u32 = 12345;
    for round in 0..20_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let c = (x % 40) as u8;
        let i = cin(PROTO_UDP, c, 7);
        if let Some(id) = live.remove(&i) {
            assert!(t.remove(id).is_some());
        } else if t.len() < 23 {
            let id = t
                .insert(i, Some(nat_out(PROTO_UDP, c, 7)), 0, 0)
                .unwrap()
                .id;
            live.insert(i, id);
        }
        if round % 97 == 0 {
            for c in 0..40u8 {
                let i = cin(PROTO_UDP, c, 7);
                let o = nat_out(PROTO_UDP, c, 7);
                match live.get(&i) {
                    Some(&id) => {
                        assert_eq!(t.lookup(&i), Some((id, Direction::In)));
                        assert_eq!(t.lookup(&o), Some((id, Direction::Out)));
                    }
                    None => {
                        assert_eq!(t.lookup(&i), None);
                        assert_eq!(t.lookup(&o), None);
                    }
                }
            }
        }
    }
}

mod model {
    use super::*;
    use proptest::prelude::*;

    const CAP: usize = 23;
    const T: u64 = WHEEL_TICK_MS;

    fn small_timeouts() -> Timeouts {
        Timeouts {
            tcp_none: 300,
            tcp_established: 5_000,
            tcp_syn_sent: 1_100,
            tcp_syn_recv: 1_000,
            tcp_fin_wait: 2_000,
            tcp_time_wait: 1_500,
            tcp_close: 500,
            tcp_close_wait: 1_200,
            tcp_last_ack: 700,
            tcp_listen: 900,
            tcp_synack: 800,
            udp: 2_550,
            icmp: 1_000,
            other: 1_000,
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert {
            c: u8,
            p: u8,
            tcp: bool,
            nat: bool,
        },
        Packet {
            c: u8,
            p: u8,
            tcp: bool,
            out: bool,
            flags: u8,
        },
        Remove {
            c: u8,
            p: u8,
            tcp: bool,
            out: bool,
        },
        Advance {
            dt: u16,
            budget: Option<u8>,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let flags = prop::sample::select(vec![SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, 0]);
        prop_oneof![
            4 => (0..6u8, 0..4u8, any::<bool>(), any::<bool>())
                .prop_map(|(c, p, tcp, nat)| Op::Insert { c, p, tcp, nat }),
            4 => (0..6u8, 0..4u8, any::<bool>(), any::<bool>(), flags)
                .prop_map(|(c, p, tcp, out, flags)| Op::Packet { c, p, tcp, out, flags }),
            1 => (0..6u8, 0..4u8, any::<bool>(), any::<bool>())
                .prop_map(|(c, p, tcp, out)| Op::Remove { c, p, tcp, out }),
            2 => (0..3000u16, prop::option::of(0..8u8))
                .prop_map(|(dt, budget)| Op::Advance { dt, budget }),
        ]
    }

    fn keys(c: u8, p: u8, tcp: bool) -> (FlowKey, FlowKey) {
        let proto = if tcp { PROTO_TCP } else { PROTO_UDP };
        (
            cin(proto, c, 1000 + p as u16),
            nat_out(proto, c, 1000 + p as u16),
        )
    }

    #[derive(Clone, Debug)]
    struct M {
        in_key: FlowKey,
        out_key: Option<FlowKey>,
        state: State,
        deadline: u64,
        payload: u32,
    }

    /// Must have expired by `now` (deadline rounded up to the tick).
    fn due(m: &M, now: u64) -> bool {
        m.deadline.div_ceil(T) * T <= now
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn table_agrees_with_model(ops in prop::collection::vec(op(), 1..200), seed in any::<[u64; 2]>()) {
            let to = small_timeouts();
            let mut t: SessionTable<u32> = SessionTable::new(CAP, seed, to, FullPolicy::Refuse).unwrap();
            let mut model: HashMap<SessionId, M> = HashMap::new();
            let mut by_key: HashMap<FlowKey, (SessionId, Direction)> = HashMap::new();
            let mut now: u64 = 5_000;
            let mut next_payload = 0u32;
            for op in ops {
                match op {
                    Op::Insert { c, p, tcp, nat } => {
                        let (i, o) = keys(c, p, tcp);
                        let out = nat.then_some(o);
                        next_payload += 1;
                        let r = t.insert(i, out, next_payload, now);
                        if by_key.contains_key(&i) || (nat && by_key.contains_key(&o)) {
                            prop_assert_eq!(r.unwrap_err(), InsertError::Exists);
                        } else if model.len() == CAP {
                            prop_assert_eq!(r.unwrap_err(), InsertError::Full);
                        } else {
                            let r = r.unwrap();
                            prop_assert!(r.evicted.is_none());
                            prop_assert!(!model.contains_key(&r.id));
                            let state = State::initial(i.protocol);
                            model.insert(r.id, M {
                                in_key: i,
                                out_key: out,
                                state,
                                deadline: now + to.for_state(state) as u64,
                                payload: next_payload,
                            });
                            by_key.insert(i, (r.id, Direction::In));
                            if let Some(o) = out {
                                by_key.insert(o, (r.id, Direction::Out));
                            }
                        }
                    }
                    Op::Packet { c, p, tcp, out, flags } => {
                        let (i, o) = keys(c, p, tcp);
                        let k = if out { o } else { i };
                        let found = t.lookup(&k);
                        prop_assert_eq!(found, by_key.get(&k).copied());
                        if let Some((id, dir)) = found {
                            let ch = t.on_packet(id, dir, flags, 100, now);
                            let m = model.get_mut(&id).unwrap();
                            let from = m.state;
                            if tcp {
                                let td = match (dir, m.out_key.is_some()) {
                                    (Direction::Out, _) => TcpDir::Output,
                                    (Direction::In, true) => TcpDir::Input,
                                    (Direction::In, false) => TcpDir::InputOnly,
                                };
                                m.state = tcp_next(from, td, flags);
                            }
                            m.deadline = now + to.for_state(m.state) as u64;
                            let want = (m.state != from).then_some(StateChange { from, to: m.state });
                            prop_assert_eq!(ch, want);
                        }
                    }
                    Op::Remove { c, p, tcp, out } => {
                        let (i, o) = keys(c, p, tcp);
                        let k = if out { o } else { i };
                        let found = t.lookup(&k);
                        prop_assert_eq!(found, by_key.get(&k).copied());
                        if let Some((id, _)) = found {
                            let s = t.remove(id).unwrap();
                            let m = model.remove(&id).unwrap();
                            prop_assert_eq!(s.payload, m.payload);
                            by_key.remove(&m.in_key);
                            if let Some(o) = m.out_key {
                                by_key.remove(&o);
                            }
                        }
                    }
                    Op::Advance { dt, budget } => {
                        now += dt as u64;
                        let mut gone = Vec::new();
                        let b = budget.map_or(usize::MAX, |b| b as usize);
                        let n = t.expire(now, b, |id, s| gone.push((id, s)));
                        prop_assert_eq!(n, gone.len());
                        prop_assert!(n <= b);
                        for (id, s) in gone {
                            let m = model.remove(&id);
                            prop_assert!(m.is_some(), "expired unknown session");
                            let m = m.unwrap();
                            prop_assert!(m.deadline <= now, "expired early: {:?} at {}", m, now);
                            prop_assert_eq!(s.payload, m.payload);
                            by_key.remove(&m.in_key);
                            if let Some(o) = m.out_key {
                                by_key.remove(&o);
                            }
                        }
                        if budget.is_none() {
                            prop_assert!(model.values().all(|m| !due(m, now)));
                        }
                    }
                }
                // Full agreement after every step, single and burst lookups.
                prop_assert_eq!(t.len(), model.len());
                let mut all = Vec::new();
                for c in 0..6u8 {
                    for p in 0..4u8 {
                        for tcp in [false, true] {
                            let (i, o) = keys(c, p, tcp);
                            all.push(i);
                            all.push(o);
                        }
                    }
                }
                let mut burst = vec![None; all.len()];
                t.lookup_burst(&all, &mut burst);
                for (k, b) in all.iter().zip(&burst) {
                    prop_assert_eq!(t.lookup(k), by_key.get(k).copied());
                    prop_assert_eq!(*b, by_key.get(k).copied());
                }
                for (id, m) in &model {
                    let s = t.get(*id).unwrap();
                    prop_assert_eq!(s.state(), m.state);
                    prop_assert_eq!(s.deadline(), m.deadline);
                    prop_assert_eq!(s.in_key(), &m.in_key);
                    prop_assert_eq!(s.out_key(), m.out_key.as_ref());
                }
            }
            // Drain: everything expires once far enough in the future.
            now += 10_000;
            let mut n = 0;
            for _ in 0..100_000 {
                if t.is_empty() {
                    break;
                }
                n += t.expire(now, 7, |_, _| {});
            }
            prop_assert!(t.is_empty());
            prop_assert_eq!(n, model.len());
        }
    }
}
