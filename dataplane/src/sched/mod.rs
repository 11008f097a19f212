//! Real-server schedulers, after Linux IPVS (`net/netfilter/ipvs/ip_vs_*.c`): one file per
//! scheduler behind the [`Scheduler`] trait.
//!
//! Contract:
//! - The control plane calls [`build`] off the hot path with the service's destinations (in the
//!   service's dest order) and their stable identities. Every table (wrr marks, sh/dh buckets,
//!   the Maglev lookup table) is made there. A weight or membership change means a new `build`.
//! - Each worker owns one instance ([`Scheduler::box_clone`]); large tables are shared read-only
//!   through an `Arc`, never copied.
//! - [`Scheduler::schedule`] runs once per new flow on a worker's hot path: no allocation, no
//!   lock, no panic on any input. It receives the live [`Candidate`] list, in the same order as
//!   at `build`; an index it returns is always `< dests.len()`.
//! - Weight 0 means quiesced and `overloaded` means unavailable: neither is ever returned.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

mod bucket;
mod dh;
mod hash;
mod lc;
mod mh;
mod nq;
mod rr;
mod sed;
mod sh;
mod wlc;
mod wrr;

pub use mh::MaglevTable;

/// What a scheduler sees of one real server (destination), in the service's dest order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Candidate {
    /// 0 = quiesced: never chosen for new flows.
    pub weight: u32,
    /// IPVS activeconns (per worker in rvs).
    pub active_conns: u32,
    /// IPVS inactconns.
    pub inactive_conns: u32,
    /// Upper threshold reached or marked unavailable: never chosen.
    pub overloaded: bool,
}

impl Candidate {
    /// An idle, available candidate of the given weight.
    pub const fn with_weight(weight: u32) -> Self {
        Candidate {
            weight,
            active_conns: 0,
            inactive_conns: 0,
            overloaded: false,
        }
    }

    /// May take a new flow: weight > 0 and not overloaded (IPVS `is_unavailable` negated).
    #[inline]
    pub const fn is_available(&self) -> bool {
        self.weight > 0 && !self.overloaded
    }
}

/// Facts about a new flow that hashing schedulers use. Ports are in host order.
#[derive(Clone, Copy, Debug)]
pub struct FlowHint {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

/// Stable identity of a real server, used by Maglev to place it in the lookup table.
///
/// Its hash key is IPVS mh's: `fold(addr) + port` as a `u32` (wrapping), where `fold` of an IPv4
/// address is its big-endian value and of an IPv6 address the XOR of its four big-endian 32-bit
/// words. Two boxes given the same identities, weights, order and table size build identical
/// tables (and the same table as Linux `ip_vs_mh` with that table size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DestId {
    pub addr: IpAddr,
    pub port: u16,
}

impl DestId {
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        DestId { addr, port }
    }

    /// The 32-bit key Maglev hashes (see the type docs).
    pub fn hash_key(&self) -> u32 {
        hash::addr_fold(&self.addr).wrapping_add(u32::from(self.port))
    }
}

/// A scheduler instance owned by one worker.
pub trait Scheduler: Send + Sync {
    /// The ipvsadm name of the algorithm ("rr", "wrr", ...).
    fn name(&self) -> &'static str;
    /// Picks the index of a candidate for a new flow, or None when none can take it.
    /// Called once per NEW flow on a worker's hot path: no allocation, no locks.
    fn schedule(&mut self, flow: &FlowHint, dests: &[Candidate]) -> Option<usize>;
    /// A fresh instance for another worker; shared tables are shared, not copied.
    fn box_clone(&self) -> Box<dyn Scheduler>;
    /// Whether the instance keeps a place in its rounds (rr, wrr), which a worker carries
    /// across table installs that leave the service as it was. The others hold nothing but
    /// tables shared from the snapshot, which come with each new one.
    fn has_place(&self) -> bool {
        false
    }
    /// An instance for the service's changed server list that continues this one's round, for
    /// the schedulers whose place survives a change of their own servers (rr: IPVS's rr keeps
    /// its pointer, moving it back to the previous server when the current one leaves);
    /// `moved[i]` is the new index of old server `i`, None if it left. None: start afresh (the
    /// others; IPVS's wrr restarts on any change of its servers).
    fn carry_place(&self, _moved: &[Option<usize>]) -> Option<Box<dyn Scheduler>> {
        None
    }
}

impl Clone for Box<dyn Scheduler> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

impl fmt::Debug for dyn Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scheduler({})", self.name())
    }
}

/// The scheduling algorithms, named as ipvsadm names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    /// Round robin.
    Rr,
    /// Weighted round robin (IPVS interleaved cw/mw/gcd).
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections.
    Wlc,
    /// Source hashing.
    Sh,
    /// Destination hashing.
    Dh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Maglev hashing.
    Mh,
}

impl SchedulerKind {
    pub const ALL: [SchedulerKind; 9] = [
        SchedulerKind::Rr,
        SchedulerKind::Wrr,
        SchedulerKind::Lc,
        SchedulerKind::Wlc,
        SchedulerKind::Sh,
        SchedulerKind::Dh,
        SchedulerKind::Sed,
        SchedulerKind::Nq,
        SchedulerKind::Mh,
    ];

    /// The ipvsadm name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SchedulerKind::Rr => "rr",
            SchedulerKind::Wrr => "wrr",
            SchedulerKind::Lc => "lc",
            SchedulerKind::Wlc => "wlc",
            SchedulerKind::Sh => "sh",
            SchedulerKind::Dh => "dh",
            SchedulerKind::Sed => "sed",
            SchedulerKind::Nq => "nq",
            SchedulerKind::Mh => "mh",
        }
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchedulerKind {
    type Err = SchedError;

    /// Exact, case-sensitive ipvsadm names, as ipvsadm accepts them.
    fn from_str(s: &str) -> Result<Self, SchedError> {
        SchedulerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| SchedError::UnknownScheduler(s.to_owned()))
    }
}

/// Default Maglev lookup table size (prime).
pub const MH_TABLE_SIZE_DEFAULT: u32 = 65537;
/// Smallest accepted Maglev table size.
pub const MH_TABLE_SIZE_MIN: u32 = 7;
/// Largest accepted Maglev table size (2^24; 32 MiB of u16 slots).
pub const MH_TABLE_SIZE_MAX: u32 = 1 << 24;
/// Most destinations a service may have: dest indices are stored as `u16` in tables, with
/// `u16::MAX` meaning "empty".
pub const MAX_DESTS: usize = u16::MAX as usize - 1;

/// Scheduler parameters. The flags are ipvsadm's `-b` scheduler flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedParams {
    /// Maglev lookup table size M: prime, in `MH_TABLE_SIZE_MIN..=MH_TABLE_SIZE_MAX` and at least
    /// the number of destinations. Default 65537.
    pub mh_table_size: u32,
    /// `mh-port`: hash the source port together with the source address (default: address
    /// only, as IPVS).
    pub mh_port: bool,
    /// `mh-fallback`: when the hashed dest is unavailable, probe further buckets (IPVS
    /// `ip_vs_mh_get_fallback`); default: no dest.
    pub mh_fallback: bool,
    /// `sh-port`: hash the source port together with the source address.
    pub sh_port: bool,
    /// `sh-fallback`: when the hashed dest is unavailable, probe further buckets.
    pub sh_fallback: bool,
}

impl Default for SchedParams {
    fn default() -> Self {
        SchedParams {
            mh_table_size: MH_TABLE_SIZE_DEFAULT,
            mh_port: false,
            mh_fallback: false,
            sh_port: false,
            sh_fallback: false,
        }
    }
}

impl SchedParams {
    /// Checks every field, whatever the scheduler.
    pub fn validate(&self) -> Result<(), SchedError> {
        let m = self.mh_table_size;
        let reason = if m < MH_TABLE_SIZE_MIN {
            Some("too small (minimum 7)")
        } else if m > MH_TABLE_SIZE_MAX {
            Some("too large (maximum 16777216)")
        } else if !is_prime(m) {
            Some("not prime")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(SchedError::InvalidParam {
                field: "mh_table_size",
                value: u64::from(m),
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// Why a scheduler could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// Not an ipvsadm scheduler name.
    UnknownScheduler(String),
    /// A [`SchedParams`] field is out of range for this use.
    InvalidParam {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// `dests` and `ids` differ in length.
    IdsMismatch { dests: usize, ids: usize },
    /// More than [`MAX_DESTS`] destinations.
    TooManyDests { count: usize, max: usize },
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::UnknownScheduler(name) => write!(
                f,
                "unknown scheduler \"{name}\" (expected one of rr, wrr, lc, wlc, sh, dh, sed, nq, mh)"
            ),
            SchedError::InvalidParam { field, value, reason } => {
                write!(f, "invalid {field} {value}: {reason}")
            }
            SchedError::IdsMismatch { dests, ids } => {
                write!(f, "{dests} destinations but {ids} destination ids")
            }
            SchedError::TooManyDests { count, max } => {
                write!(f, "{count} destinations, at most {max} are supported")
            }
        }
    }
}

impl std::error::Error for SchedError {}

/// Builds a scheduler for a service from its full destination list (service order) and the
/// destinations' stable identities (`ids[i]` names `dests[i]`). Off the hot path: allocates.
pub fn build(
    kind: SchedulerKind,
    params: &SchedParams,
    dests: &[Candidate],
    ids: &[DestId],
) -> Result<Box<dyn Scheduler>, SchedError> {
    params.validate()?;
    if ids.len() != dests.len() {
        return Err(SchedError::IdsMismatch {
            dests: dests.len(),
            ids: ids.len(),
        });
    }
    if dests.len() > MAX_DESTS {
        return Err(SchedError::TooManyDests {
            count: dests.len(),
            max: MAX_DESTS,
        });
    }
    Ok(match kind {
        SchedulerKind::Rr => Box::new(rr::RoundRobin::new()),
        SchedulerKind::Wrr => Box::new(wrr::WeightedRoundRobin::new(dests)),
        SchedulerKind::Lc => Box::new(lc::LeastConn),
        SchedulerKind::Wlc => Box::new(wlc::WeightedLeastConn),
        SchedulerKind::Sh => Box::new(sh::SourceHash::new(params, dests)),
        SchedulerKind::Dh => Box::new(dh::DestHash::new(dests)),
        SchedulerKind::Sed => Box::new(sed::ShortestExpectedDelay),
        SchedulerKind::Nq => Box::new(nq::NeverQueue),
        SchedulerKind::Mh => Box::new(mh::Maglev::new(params, dests, ids)?),
    })
}

/// True when `(d_cost / d_weight) < (l_cost / l_weight)`, compared as IPVS does by
/// cross-multiplying (`l_cost * d_weight > d_cost * l_weight`), here in u128 so nothing wraps.
/// Shared by wlc, sed and nq.
#[inline]
fn weighted_less(d_cost: u64, d_weight: u32, l_cost: u64, l_weight: u32) -> bool {
    u128::from(l_cost) * u128::from(d_weight) > u128::from(d_cost) * u128::from(l_weight)
}

/// Index of the available candidate with the least `cost / weight`; the first one wins ties.
/// The loop of IPVS wlc and sed.
#[inline]
fn least_weighted_cost(dests: &[Candidate], cost: impl Fn(&Candidate) -> u64) -> Option<usize> {
    let mut least: Option<(usize, u64, u32)> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.is_available() {
            continue;
        }
        let doh = cost(d);
        match least {
            Some((_, loh, lw)) if !weighted_less(doh, d.weight, loh, lw) => {}
            _ => least = Some((i, doh, d.weight)),
        }
    }
    least.map(|(i, _, _)| i)
}

/// Greatest common divisor of the positive weights, or 0 when there are none.
fn gcd_weight(dests: &[Candidate]) -> u32 {
    fn gcd(mut a: u32, mut b: u32) -> u32 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    dests
        .iter()
        .map(|d| d.weight)
        .filter(|&w| w > 0)
        .fold(0, gcd)
}

/// Trial division; used off the hot path on values up to 2^24.
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Candidates with the given weights, idle and available.
    pub(crate) fn weights(ws: &[u32]) -> Vec<Candidate> {
        ws.iter().map(|&w| Candidate::with_weight(w)).collect()
    }

    /// `n` distinct identities 10.0.0.1:80, 10.0.0.2:80, ...
    pub(crate) fn ids(n: usize) -> Vec<DestId> {
        (1..=n as u32)
            .map(|i| DestId::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 80))
            .collect()
    }

    pub(crate) fn flow_from(src: IpAddr, src_port: u16) -> FlowHint {
        FlowHint {
            src,
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            src_port,
            dst_port: 80,
            protocol: 6,
        }
    }

    pub(crate) fn any_flow() -> FlowHint {
        flow_from(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40000)
    }

    pub(crate) fn make(kind: SchedulerKind, dests: &[Candidate]) -> Box<dyn Scheduler> {
        build(kind, &SchedParams::default(), dests, &ids(dests.len())).unwrap()
    }

    #[test]
    fn kind_names_round_trip() {
        let names = ["rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "mh"];
        assert_eq!(SchedulerKind::ALL.len(), names.len());
        for (kind, name) in SchedulerKind::ALL.into_iter().zip(names) {
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<SchedulerKind>().unwrap(), kind);
            let d = weights(&[1, 1]);
            assert_eq!(make(kind, &d).name(), name);
        }
    }

    #[test]
    fn unknown_kind_is_named_in_error() {
        for bad in ["", "RR", "wrr ", "lblc", "maglev"] {
            let err = bad.parse::<SchedulerKind>().unwrap_err();
            assert_eq!(err, SchedError::UnknownScheduler(bad.to_owned()));
            assert!(err.to_string().contains(&format!("\"{bad}\"")), "{err}");
        }
    }

    #[test]
    fn build_rejects_bad_table_size() {
        let d = weights(&[1, 1]);
        let id = ids(2);
        for (m, why) in [
            (0, "too small"),
            (5, "too small"),
            (8, "not prime"),
            (65536, "not prime"),
            (65535, "not prime"),
            ((1 << 24) + 43, "too large"),
        ] {
            let p = SchedParams {
                mh_table_size: m,
                ..SchedParams::default()
            };
            for kind in [SchedulerKind::Mh, SchedulerKind::Rr] {
                let err = build(kind, &p, &d, &id).unwrap_err();
                assert!(
                    matches!(err, SchedError::InvalidParam { field: "mh_table_size", value, .. } if value == u64::from(m)),
                    "{m}: {err:?}"
                );
                let msg = err.to_string();
                assert!(msg.contains("mh_table_size") && msg.contains(why), "{msg}");
            }
        }
        for m in [7, 13, 251, 4093, 65521, 65537] {
            let p = SchedParams {
                mh_table_size: m,
                ..SchedParams::default()
            };
            assert!(build(SchedulerKind::Mh, &p, &d, &id).is_ok(), "{m}");
        }
    }

    #[test]
    fn build_rejects_more_dests_than_table_slots() {
        let p = SchedParams {
            mh_table_size: 7,
            ..SchedParams::default()
        };
        let err = build(SchedulerKind::Mh, &p, &weights(&[1; 8]), &ids(8)).unwrap_err();
        assert!(matches!(
            err,
            SchedError::InvalidParam {
                field: "mh_table_size",
                value: 7,
                ..
            }
        ));
        assert!(build(SchedulerKind::Mh, &p, &weights(&[1; 7]), &ids(7)).is_ok());
    }

    #[test]
    fn build_rejects_id_mismatch_and_too_many_dests() {
        let p = SchedParams::default();
        let err = build(SchedulerKind::Rr, &p, &weights(&[1, 1]), &ids(1)).unwrap_err();
        assert_eq!(err, SchedError::IdsMismatch { dests: 2, ids: 1 });
        let n = MAX_DESTS + 1;
        let many = vec![Candidate::with_weight(1); n];
        let many_ids = vec![DestId::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1); n];
        let err = build(SchedulerKind::Wlc, &p, &many, &many_ids).unwrap_err();
        assert_eq!(
            err,
            SchedError::TooManyDests {
                count: n,
                max: MAX_DESTS
            }
        );
    }

    #[test]
    fn every_kind_handles_empty_and_unavailable_sets() {
        let unavailable = [
            Candidate::with_weight(0),
            Candidate {
                overloaded: true,
                ..Candidate::with_weight(5)
            },
        ];
        for kind in SchedulerKind::ALL {
            let mut s = make(kind, &[]);
            assert_eq!(s.schedule(&any_flow(), &[]), None, "{kind} empty");
            let mut s = make(kind, &unavailable);
            for _ in 0..4 {
                assert_eq!(s.schedule(&any_flow(), &unavailable), None, "{kind}");
            }
        }
    }

    #[test]
    fn box_clone_keeps_the_algorithm() {
        let d = weights(&[3, 1]);
        for kind in SchedulerKind::ALL {
            let mut a = make(kind, &d);
            let mut b = a.clone();
            assert_eq!(b.name(), kind.as_str());
            for _ in 0..8 {
                assert_eq!(
                    a.schedule(&any_flow(), &d),
                    b.schedule(&any_flow(), &d),
                    "{kind}"
                );
            }
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(gcd_weight(&weights(&[0, 12, 0, 18, 30])), 6);
        assert_eq!(gcd_weight(&weights(&[0, 0])), 0);
        assert_eq!(gcd_weight(&[]), 0);
        let primes: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65537) && is_prime(65521) && !is_prime(65535));
        // 1/1 vs 2/3: 1/1 is not less.
        assert!(!weighted_less(1, 1, 2, 3));
        assert!(weighted_less(2, 3, 1, 1));
        assert!(!weighted_less(2, 2, 1, 1)); // equal ratio: not less
        assert!(weighted_less(u64::MAX - 1, u32::MAX, u64::MAX, u32::MAX)); // no overflow
    }

    #[test]
    fn dest_id_hash_key() {
        let v4 = DestId::new("10.0.0.1".parse().unwrap(), 80);
        assert_eq!(v4.hash_key(), 0x0a00_0001 + 80);
        let v6 = DestId::new("2001:db8::1".parse().unwrap(), 443);
        assert_eq!(v6.hash_key(), (0x2001_0db8 ^ 1) + 443);
    }
}
