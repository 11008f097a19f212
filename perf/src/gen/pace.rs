//! TSC-based rate control and the flow visiting order.

/// Packets due after `elapsed` TSC cycles at `pps` packets per second on a `hz` TSC.
#[inline]
pub fn due(elapsed: u64, pps: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    (u128::from(elapsed) * u128::from(pps) / u128::from(hz)) as u64
}

/// TSC cycles a warm-up of `count` packets at `pps` may take: twice its paced time (`pps` below
/// 100 000, `0` = unpaced included, counts as 100 000) plus 10 s. A device that stops taking
/// frames (a memif peer gone: its tx burst takes nothing) must end the warm-up, which otherwise
/// waits for every packet to leave, in an error rather than keep the generator polling forever.
pub fn warmup_limit(count: u64, pps: u64, hz: u64) -> u64 {
    let paced = u128::from(count) * u128::from(hz) / u128::from(pps.max(100_000));
    u64::try_from(2 * paced + 10 * u128::from(hz)).unwrap_or(u64::MAX)
}

/// Paces bursts: `allowed` says how many packets may be sent now. `pps == 0` means no limit.
#[derive(Debug, Clone)]
pub struct Pacer {
    pps: u64,
    hz: u64,
    start: u64,
    sent: u64,
}

impl Pacer {
    pub fn new(pps: u64, hz: u64, start: u64) -> Self {
        Pacer {
            pps,
            hz,
            start,
            sent: 0,
        }
    }

    /// How many packets (at most `max`) may go at TSC `now`. A sender that fell behind (full
    /// queue) catches up at most `max` per call, i.e. at the maximum rate.
    #[inline]
    pub fn allowed(&self, now: u64, max: u64) -> u64 {
        if self.pps == 0 {
            return max;
        }
        due(now.saturating_sub(self.start), self.pps, self.hz)
            .saturating_sub(self.sent)
            .min(max)
    }

    /// Records packets actually sent.
    #[inline]
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Visits flows `0..n` in a scattered order (a fixed stride coprime with n, about 0.618 n), so
/// consecutive packets hit distant sessions, as real traffic does, and every flow is visited
/// once per `n` packets. No division per packet.
#[derive(Debug, Clone)]
pub struct FlowSeq {
    n: u64,
    step: u64,
    cur: u64,
}

impl FlowSeq {
    pub fn new(n: u64) -> Self {
        let n = n.max(1);
        let mut step = ((n as f64) * 0.618_033_988_7) as u64 % n;
        step = step.max(1) % n.max(2);
        while n > 1 && gcd(step, n) != 1 {
            step += 1;
        }
        FlowSeq {
            n,
            step: if n == 1 { 0 } else { step },
            cur: 0,
        }
    }

    /// Visits flows `0..n` in order.
    pub fn sequential(n: u64) -> Self {
        FlowSeq {
            n: n.max(1),
            step: u64::from(n > 1),
            cur: 0,
        }
    }

    #[inline]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let f = self.cur;
        self.cur += self.step;
        if self.cur >= self.n {
            self.cur -= self.n;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_is_rate_times_time() {
        let hz = 2_000_000_000;
        assert_eq!(due(hz, 1_000_000, hz), 1_000_000);
        assert_eq!(due(hz / 2, 1_000_000, hz), 500_000);
        assert_eq!(due(1999, 1_000_000, hz), 0); // 1 us = 2000 cycles: not yet
        assert_eq!(due(2000, 1_000_000, hz), 1);
        // No overflow over an hour at 100 Mpps.
        assert_eq!(due(3600 * hz, 100_000_000, hz), 360_000_000_000);
    }

    #[test]
    fn pacer_limits_and_catches_up_by_bursts() {
        let hz = 1_000_000;
        let mut p = Pacer::new(1000, hz, 10); // one packet per 1000 cycles
        assert_eq!(p.allowed(10, 32), 0);
        assert_eq!(p.allowed(5010, 32), 5);
        p.sent(5);
        assert_eq!(p.allowed(5010, 32), 0);
        assert_eq!(p.allowed(100_010, 32), 32); // 95 behind: capped to a burst
        assert_eq!(Pacer::new(0, hz, 0).allowed(0, 32), 32);
    }

    #[test]
    fn a_warmup_has_a_time_limit() {
        let hz = 2_000_000_000;
        // 10M flows at 800 kpps take 12.5 s: twice that plus 10 s.
        assert_eq!(warmup_limit(10_000_000, 800_000, hz), 35 * hz);
        assert_eq!(warmup_limit(1000, 1_000_000, hz), 10 * hz + hz / 500);
        // Unpaced (0) counts as 100 kpps; no overflow at the largest counts.
        assert_eq!(warmup_limit(100_000, 0, hz), 12 * hz);
        assert!(warmup_limit(u64::MAX, 1, u64::MAX) == u64::MAX);
    }

    #[test]
    fn flow_seq_visits_every_flow_once_per_round() {
        for n in [1u64, 2, 3, 10, 1000, 4096, 99_991] {
            let mut s = FlowSeq::new(n);
            let mut seen = vec![false; n as usize];
            for _ in 0..n {
                let f = s.next();
                assert!(!seen[f as usize], "n={n} f={f} twice");
                seen[f as usize] = true;
            }
            assert!(seen.iter().all(|&b| b), "n={n}");
            let mut q = FlowSeq::sequential(n);
            let order: Vec<u64> = (0..n.min(5)).map(|_| q.next()).collect();
            assert_eq!(order, (0..n.min(5)).collect::<Vec<_>>());
            if n > 10 {
                let (a, b) = (s.next(), s.next());
                assert!(a.abs_diff(b) > 1, "n={n}: consecutive flows {a} {b}");
            }
        }
    }
}
