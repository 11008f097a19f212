//! ns per lookup in the session table as it grows (1K .. 10M sessions), one key at a time
//! (`lookup`) and a burst of 32 at a time with the staged prefetch the workers use
//! (`lookup_burst`). The keys of each burst are drawn at random from the live sessions, as
//! packets of many flows arrive; the table is filled outside the timed section.
//!
//! Run: `cargo bench -p dataplane --bench sessions`

use dataplane::conn::{Addr, FlowKey, FullPolicy, SessionTable, Timeouts};
use divan::Bencher;

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[1_000, 1_000_000, 10_000_000];
const BURST: usize = 32;
/// Keys drawn per size; bursts cycle through them.
const DRAWN: usize = 1 << 16;

fn key(i: usize) -> FlowKey {
    let i = i as u32;
    FlowKey::new(
        6,
        Addr::v4((0x0a00_0000 | (i >> 8)).to_be_bytes()),
        (i & 0xff) as u16 + 1024,
        Addr::v4([10, 10, 0, 100]),
        80,
    )
}

fn table(n: usize) -> (SessionTable<u64>, Vec<FlowKey>) {
    let mut t = SessionTable::new(n, [1, 2], Timeouts::default(), FullPolicy::Refuse).unwrap();
    for i in 0..n {
        t.insert(key(i), None, i as u64, 0).unwrap();
    }
    // xorshift: reproducible random draws.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let drawn = (0..DRAWN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key((x % n as u64) as usize)
        })
        .collect();
    (t, drawn)
}

#[divan::bench(args = SIZES, sample_count = 100, sample_size = 8)]
fn one_by_one(b: Bencher, n: usize) {
    let (t, drawn) = table(n);
    let mut at = 0;
    b.counter(divan::counter::ItemsCount::new(BURST))
        .bench_local(|| {
            let keys = &drawn[at..at + BURST];
            at = (at + BURST) % DRAWN;
            let mut found = 0;
            for k in keys {
                found += t.lookup(k).is_some() as usize;
            }
            assert_eq!(found, BURST);
        });
}

#[divan::bench(args = SIZES, sample_count = 100, sample_size = 8)]
fn burst_prefetched(b: Bencher, n: usize) {
    let (t, drawn) = table(n);
    let mut at = 0;
    let mut out = [None; BURST];
    b.counter(divan::counter::ItemsCount::new(BURST))
        .bench_local(|| {
            let keys = &drawn[at..at + BURST];
            at = (at + BURST) % DRAWN;
            t.lookup_burst(keys, &mut out);
            assert!(out.iter().all(Option::is_some));
        });
}
