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

/// The live flows of a run that renews them: `n` flows, `per_sec` of which are replaced by fresh
/// ones each second, the oldest first. Flow `i` of `0..n` (from a [`FlowSeq`]) stands for the one
/// flow congruent to `i` mod `n` in the window `[offset, offset + n)`, where `offset` grows by
/// `per_sec` a second. So a renewed index is a flow the device has never seen (a new session to
/// schedule), and no more than `n` flows are live at a time. `per_sec == 0` keeps flows `0..n`.
#[derive(Debug, Clone)]
pub struct FlowWindow {
    n: u64,
    per_sec: u64,
    hz: u64,
    start: u64,
    /// `offset` rounded down to a multiple of `n`, and `offset mod n`.
    base: u64,
    split: u64,
}

impl FlowWindow {
    pub fn new(n: u64, per_sec: u64, hz: u64, start: u64) -> Self {
        FlowWindow {
            n: n.max(1),
            per_sec,
            hz,
            start,
            base: 0,
            split: 0,
        }
    }

    /// Moves the window to TSC `now` (once a burst: one division).
    #[inline]
    pub fn advance(&mut self, now: u64) {
        if self.per_sec == 0 {
            return;
        }
        let offset = due(now.saturating_sub(self.start), self.per_sec, self.hz);
        self.split = offset % self.n;
        self.base = offset - self.split;
    }

    /// The live flow that index `i < n` stands for.
    #[inline]
    pub fn flow(&self, i: u64) -> u64 {
        if i >= self.split {
            self.base + i
        } else {
            self.base + self.n + i
        }
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

    #[test]
    fn a_flow_window_slides_by_its_rate_and_keeps_n_flows() {
        let hz = 1_000_000;
        let n = 10;
        // Without renewal: flows 0..n whatever the time.
        let mut still = FlowWindow::new(n, 0, hz, 0);
        still.advance(5 * hz);
        assert_eq!(
            (0..n).map(|i| still.flow(i)).collect::<Vec<_>>(),
            (0..n).collect::<Vec<_>>()
        );
        // 4 new flows a second: after 1 s the window is 4..14, after 2.5 s 10..20.
        let mut w = FlowWindow::new(n, 4, hz, 100);
        let live = |w: &FlowWindow| {
            let mut v: Vec<u64> = (0..n).map(|i| w.flow(i)).collect();
            v.sort_unstable();
            v
        };
        w.advance(100);
        assert_eq!(live(&w), (0..10).collect::<Vec<_>>());
        w.advance(100 + hz);
        assert_eq!(live(&w), (4..14).collect::<Vec<_>>());
        // Each index keeps its residue: the renewed ones moved on by n, the others stayed.
        assert_eq!(w.flow(3), 13);
        assert_eq!(w.flow(4), 4);
        w.advance(100 + 5 * hz / 2);
        assert_eq!(live(&w), (10..20).collect::<Vec<_>>());
        assert!((0..n).all(|i| w.flow(i) % n == i));
    }
}
