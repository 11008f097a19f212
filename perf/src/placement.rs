//! How close together the host keeps two of this machine's cpus: the one-way latency of a cache
//! line bouncing between them.
//!
//! Over memif, every frame is written on one cpu and read on the other, so a forwarding rate is
//! only as good as that path. On a virtual machine the host decides it, and may move the vcpus at
//! any moment: on the bench machine it flips between about 30 ns (same core complex) and about
//! 170 ns (farther apart), and forwarding falls from ~10 to ~4 Mpps at 64 B with it, for testpmd
//! as for rvs. The harness probes before and after every point so that a figure measured on the
//! far placement is known for what it is.

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Above this one-way latency (ns) two cpus count as far apart (the bench machine shows about
/// 30 ns near and 170 ns far).
pub const FAR_NS: f64 = 90.0;

/// A probe times `BATCHES` batches of `BATCH` round trips.
const BATCHES: usize = 400;
const BATCH: usize = 50;

#[repr(align(64))]
struct Line(AtomicU64);

fn pin(cpu: usize) -> Result<(), String> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| format!("cpu {cpu}: {e}"))?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("pin to cpu {cpu}: {e}"))
}

/// One-way latency (ns) of a cache line between cpus `a` and `b`, as two pinned threads hand a
/// counter to each other: the median over batches of round trips, halved. The median keeps the
/// figure right when another busy thread shares one of the cpus (a batch that waits for the
/// scheduler is one sample of hundreds). Gives up after `limit`.
pub fn cache_line_latency_ns(a: usize, b: usize, limit: Duration) -> Result<f64, String> {
    let line = Line(AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let end = Instant::now() + limit;
    std::thread::scope(|s| {
        let pong = s.spawn(|| -> Result<(), String> {
            if let Err(e) = pin(b) {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            let mut want = 1;
            while !stop.load(Ordering::Relaxed) {
                if line.0.load(Ordering::Acquire) == want {
                    line.0.store(want + 1, Ordering::Release);
                    want += 2;
                }
                std::hint::spin_loop();
            }
            Ok(())
        });
        // Its own thread too, so that the caller's affinity stays as it was.
        let ping = s.spawn(|| {
            let r = (|| -> Result<f64, String> {
                pin(a)?;
                let mut batches = Vec::with_capacity(BATCHES);
                let mut n = 0u64;
                for _ in 0..BATCHES {
                    let t0 = Instant::now();
                    for _ in 0..BATCH {
                        line.0.store(n + 1, Ordering::Release);
                        let mut spins = 0u32;
                        while line.0.load(Ordering::Acquire) != n + 2 {
                            if stop.load(Ordering::Relaxed) {
                                return Err(format!("no thread on cpu {b}"));
                            }
                            spins = spins.wrapping_add(1);
                            if spins & 0xffff == 0 && Instant::now() > end {
                                return Err(format!("no answer from cpu {b} within {limit:?}"));
                            }
                            std::hint::spin_loop();
                        }
                        n += 2;
                    }
                    batches.push(t0.elapsed().as_nanos() as f64 / (2 * BATCH) as f64);
                    if Instant::now() > end {
                        return Err(format!("no answer from cpu {b} within {limit:?}"));
                    }
                }
                batches.sort_by(f64::total_cmp);
                Ok(batches[batches.len() / 2])
            })();
            stop.store(true, Ordering::Relaxed);
            r
        });
        let pinged = ping
            .join()
            .unwrap_or_else(|_| Err("probe thread panicked".into()));
        let ponged = pong
            .join()
            .unwrap_or_else(|_| Err("probe thread panicked".into()));
        let ns = pinged?;
        ponged?;
        Ok(ns)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_between_cpus_is_positive_and_finite() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            eprintln!("one cpu: nothing to probe");
            return;
        }
        let ns = cache_line_latency_ns(0, 1, Duration::from_secs(20)).expect("probe");
        // A handoff costs at least a store and a load; 10 us would mean the probe timed the
        // scheduler rather than the cache (other tests may share the cpus meanwhile).
        assert!(ns.is_finite() && ns > 0.0 && ns < 10_000.0, "{ns} ns");
    }

    #[test]
    fn pinning_to_a_missing_cpu_is_an_error() {
        let err = cache_line_latency_ns(0, 4096, Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("4096"), "{err}");
    }
}
