//! The rate limit of the ICMP errors a worker sends (time exceeded), Linux's two limits in
//! plain Rust on an explicit `now_ms`:
//! - global (`icmp_global_allow`, `net.ipv4.icmp_msgs_per_sec` 1000 and `icmp_msgs_burst` 50):
//!   a bucket of `burst` credits, refilled at `per_sec` once at least 20 ms (HZ/50) have passed
//!   since the last refill (at most one second's worth at a time); an error needs a credit and
//!   takes one. rvs divides both by the worker count (rounded up) so the box as a whole keeps
//!   Linux's rate, and takes exactly one credit per message where Linux takes 0, 1 or 2 at
//!   random (CVE-2020-25705);
//! - per peer, the error's destination (`inet_peer_xrlim_allow`, `net.ipv4.icmp_ratelimit`
//!   1000 ms): a peer earns a token per millisecond up to 6 errors' worth
//!   (`XRLIM_BURST_FACTOR`) and an error costs `ratelimit_ms` tokens; a peer not seen before
//!   starts full, so 6 go back to back, then one a second. Peers live in a fixed table of
//!   direct-mapped slots (seeded hash); a peer taking another's slot starts it afresh, which
//!   can only let a peer more through than Linux would, within the global limit.
//!
//! A peer's token is taken only if the global limit allows, and a credit only if the peer
//! allows (Linux's order). Nothing is allocated after [`Limiter::new`].

use std::net::Ipv4Addr;

/// `net.ipv4.icmp_ratelimit`: milliseconds between errors to one peer.
pub const RATELIMIT_MS: u32 = 1000;
/// `XRLIM_BURST_FACTOR`: errors one peer may get back to back.
pub const PEER_BURST: u32 = 6;
/// `net.ipv4.icmp_msgs_per_sec`, for the whole box.
pub const MSGS_PER_SEC: u32 = 1000;
/// `net.ipv4.icmp_msgs_burst`, for the whole box.
pub const MSGS_BURST: u32 = 50;
/// Linux refills the global bucket only after HZ/50.
const REFILL_MIN_MS: u64 = 20;
/// Peer slots per worker (a power of two).
const PEER_SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    /// The peer's address; 0 for an unused slot (0/8 is never answered).
    addr: u32,
    tokens: u32,
    last_ms: u64,
}

/// One worker's ICMP error limit.
#[derive(Debug, Clone)]
pub struct Limiter {
    per_sec: u32,
    burst: u32,
    credit: u32,
    stamp_ms: u64,
    peers: Box<[Peer]>,
    seed: u32,
}

impl Limiter {
    /// The limit of one of `workers` workers: Linux's defaults shared among them; `seed` keys
    /// the peer table's hash.
    pub fn new(workers: u16, seed: u64) -> Limiter {
        let share = |n: u32| n.div_ceil(u32::from(workers.max(1))).max(1);
        let burst = share(MSGS_BURST);
        Limiter {
            per_sec: share(MSGS_PER_SEC),
            burst,
            credit: burst,
            stamp_ms: 0,
            peers: vec![Peer::default(); PEER_SLOTS].into_boxed_slice(),
            seed: (seed ^ (seed >> 32)) as u32 | 1,
        }
    }

    /// Whether an error may go to `peer` at `now_ms` (monotonic); if so, it is counted against
    /// both limits.
    pub fn allow(&mut self, peer: Ipv4Addr, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.credit == 0 || !self.peer_allows(peer, now_ms) {
            return false;
        }
        self.credit -= 1;
        true
    }

    /// `icmp_global_allow`'s refill.
    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.stamp_ms).min(1000);
        if elapsed < REFILL_MIN_MS {
            return;
        }
        let earned = u64::from(self.per_sec) * elapsed / 1000;
        if earned > 0 {
            self.stamp_ms = now_ms;
            let credit = u64::from(self.credit) + earned;
            self.credit = credit.min(u64::from(self.burst)) as u32;
        }
    }

    /// `inet_peer_xrlim_allow` on `peer`'s slot.
    fn peer_allows(&mut self, peer: Ipv4Addr, now_ms: u64) -> bool {
        let addr = u32::from(peer);
        let full = PEER_BURST * RATELIMIT_MS;
        let slot = (addr ^ self.seed).wrapping_mul(0x9e37_79b1) >> (32 - PEER_SLOTS.ilog2());
        let p = &mut self.peers[slot as usize];
        if p.addr != addr {
            *p = Peer {
                addr,
                tokens: full,
                last_ms: now_ms,
            };
        }
        let earned = now_ms.saturating_sub(p.last_ms).min(u64::from(full)) as u32;
        p.last_ms = now_ms;
        p.tokens = p.tokens.saturating_add(earned).min(full);
        if p.tokens < RATELIMIT_MS {
            return false;
        }
        p.tokens -= RATELIMIT_MS;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xc000_0200 + n)
    }

    /// How many of `n` errors to `peers(i)` at `now` the limiter lets through.
    fn allowed(l: &mut Limiter, n: u32, now: u64, peers: impl Fn(u32) -> Ipv4Addr) -> u32 {
        (0..n).filter(|&i| l.allow(peers(i), now)).count() as u32
    }

    #[test]
    fn one_peer_gets_six_then_one_a_second() {
        let mut l = Limiter::new(1, 7);
        let start = 10_000;
        let one = |_| peer(1);
        // The 7th within the window is silenced.
        assert_eq!(allowed(&mut l, 7, start, one), 6);
        assert!(!l.allow(peer(1), start + 999));
        // A second later, one more and no second one.
        assert!(l.allow(peer(1), start + 1000));
        assert!(!l.allow(peer(1), start + 1001));
        // Another peer is not held back by the first.
        assert!(l.allow(peer(2), start + 1001));
        // Six seconds of silence refill the burst, and no more.
        assert_eq!(allowed(&mut l, 10, start + 60_000, one), 6);
    }

    #[test]
    fn the_global_burst_is_fifty_then_a_thousand_a_second() {
        let mut l = Limiter::new(1, 7);
        let start = 10_000;
        // 60 distinct peers at once: the 51st is silenced.
        assert_eq!(allowed(&mut l, 60, start, peer), MSGS_BURST);
        // Within 20 ms nothing is refilled.
        assert!(!l.allow(peer(100), start + 19));
        // After 20 ms, 20 credits (1000/s): one through, and 20 in all.
        assert!(l.allow(peer(101), start + 20));
        assert_eq!(allowed(&mut l, 30, start + 20, |i| peer(200 + i)), 19);
        // A peer refused globally keeps its tokens: it gets its six once credit returns.
        assert_eq!(allowed(&mut l, 6, start + 21, |_| peer(300)), 0);
        assert_eq!(allowed(&mut l, 7, start + 2000, |_| peer(300)), 6);
    }

    #[test]
    fn workers_share_the_global_rate() {
        let mut l = Limiter::new(4, 7);
        // 50 / 4 rounded up.
        assert_eq!(allowed(&mut l, 60, 10_000, peer), 13);
        // 1000 / 4 = 250 a second: 5 in 20 ms.
        assert_eq!(allowed(&mut l, 60, 10_020, |i| peer(100 + i)), 5);
        let mut many = Limiter::new(1000, 7);
        assert_eq!(allowed(&mut many, 3, 10_000, peer), 1);
    }
}
