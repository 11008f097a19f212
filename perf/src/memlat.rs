//! The platform's cost of one dependent random memory access at a given footprint: the
//! baseline of the sessions scenario. A chain of loads from random cache lines of a `bytes`
//! buffer (transparent huge pages advised, as for rvs's session table), each load's address
//! depending on the value the previous one returned, so that the loads cannot overlap: ns per
//! load is the latency of a random access at that footprint, caches, TLB and (on a virtual
//! machine) the host's nested paging included.

use dataplane::dpdk::mem::advise_huge_pages;
use nix::time::{clock_gettime, ClockId};

const LINE_WORDS: usize = 64 / std::mem::size_of::<u64>();

/// ns per dependent load from random cache lines of a buffer of `bytes` (at least one line),
/// over `loads` loads, in the calling thread's cpu time (time it waited for a cpu does not
/// count). Allocates and touches `bytes` for the duration of the call.
pub fn dependent_load_ns(bytes: usize, loads: u64) -> f64 {
    let words = (bytes / 8).max(LINE_WORDS);
    let lines = (words / LINE_WORDS) as u64;
    let mut buf: Vec<u64> = Vec::with_capacity(words);
    advise_huge_pages(&mut buf);
    // Every word 0: the value a load returns is 0, but the next address is computed from it,
    // which the cpu cannot know in advance.
    buf.resize(words, 0);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut value = 0u64;
    let started = thread_cpu_ns();
    for _ in 0..loads {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // x + value spread over 0..lines by a multiply (a division would add ~5 ns a load).
        let line = ((u128::from(x.wrapping_add(value)) * u128::from(lines)) >> 64) as u64;
        value = buf[line as usize * LINE_WORDS];
    }
    let ns = (thread_cpu_ns() - started) as f64 / loads.max(1) as f64;
    std::hint::black_box(value);
    ns
}

/// The calling thread's cpu time in ns.
fn thread_cpu_ns() -> i64 {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread cpu clock");
    t.tv_sec() * 1_000_000_000 + t.tv_nsec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fastest of a few short chases: what other threads do to the caches only adds time.
    fn fastest_ns(bytes: usize) -> f64 {
        (0..5)
            .map(|_| dependent_load_ns(bytes, 400_000))
            .fold(f64::INFINITY, f64::min)
    }

    /// A footprint far past the caches costs more per load than one inside L1: the loads do
    /// depend on each other and do reach memory (a chase the compiler or the cpu could
    /// overlap would cost about the same at both sizes).
    #[test]
    fn a_large_footprint_costs_more_per_load_than_a_cached_one() {
        let cached = fastest_ns(16 << 10);
        let large = fastest_ns(256 << 20);
        assert!(cached > 0.0, "{cached}");
        assert!(
            large > 3.0 * cached,
            "16 KiB: {cached:.1} ns, 256 MiB: {large:.1} ns"
        );
    }
}
