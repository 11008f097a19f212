//! Result records: what one generator run reports (`GenResult`, one JSON object on stdout), what
//! the harness collects (`Results`, written to `perf/results/results.json`), and the Markdown
//! report with rvs/testpmd ratios.

use crate::placement::FAR_NS;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One generator run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenResult {
    pub mode: String,
    pub frame_size: usize,
    pub flows: u64,
    pub rate_pps: u64,
    /// Flows replaced by fresh ones each second of the measurement (udp; 0 = none).
    #[serde(default)]
    pub new_flows_per_sec: u64,
    pub duration_s: f64,
    /// Warm-up (one packet or one handshake per flow, before measuring).
    pub warmup_sent: u64,
    pub warmup_received: u64,
    /// Packets (data modes) or SYNs (cps) accepted by the client-side port.
    pub sent: u64,
    /// Frames not taken at an attempt: allocation failures, and each time a full tx queue
    /// refused a frame (data frames are offered again until taken, so one frame can count
    /// several times; answers are dropped).
    pub tx_refused: u64,
    /// Stamped data frames received back (either port).
    pub received: u64,
    /// Sent but never received (data modes), counted after a drain period.
    pub lost: u64,
    /// Frames received that were neither stamped data nor part of a handshake (ARP ...).
    pub other: u64,
    pub tx_pps: f64,
    pub rx_pps: f64,
    pub lat_p50_ns: Option<f64>,
    pub lat_p99_ns: Option<f64>,
    pub lat_p999_ns: Option<f64>,
    pub lat_max_ns: Option<f64>,
    /// cps mode: completed handshakes (final ACK seen by the real server) and their rate.
    pub conns: u64,
    pub cps: f64,
    pub resets: u64,
    /// Port counters of the generator's ports (client side, server side): rx missed, tx errors.
    pub port_rx_missed: Vec<u64>,
    pub port_tx_errors: Vec<u64>,
    pub tsc_hz: u64,
}

/// Which program forwarded.
pub const RVS: &str = "rvs";
pub const TESTPMD_IO: &str = "testpmd-io";
pub const TESTPMD_5TSWAP: &str = "testpmd-5tswap";

/// One measured point of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// `forward`, `cps`, `sessions`, `reconfig`.
    pub scenario: String,
    /// `rvs`, `testpmd-io`, `testpmd-5tswap`.
    pub dut: String,
    /// Forwarding mode (`dr`, `tun`, `nat`, `fullnat`) or `-` for testpmd.
    pub mode: String,
    pub frame_size: usize,
    pub flows: u64,
    /// Best of the rounds (highest rx rate / cps) ...
    pub gen: GenResult,
    /// ... and the value of every round, for the noise ...
    pub rounds: Vec<f64>,
    /// ... with the cache-line latency between the generator's and the device's cpus around
    /// each round (ns; see [`crate::placement`]).
    #[serde(default)]
    pub round_c2c_ns: Vec<Option<f64>>,
    /// ... and the changes applied in each round (reconfiguration scenario).
    #[serde(default)]
    pub round_changes: Vec<Option<u64>>,
    /// Live sessions in rvsd after the run (rvs_worker_sessions), when known.
    pub sessions: Option<u64>,
    /// Reconfiguration scenario: changes applied while the traffic ran.
    pub changes: Option<u64>,
    /// rvsd drop counters by reason after the run (non-zero only).
    pub drops: Vec<(String, u64)>,
    /// Share of the run's wall time the device's forwarding thread was on its cpu (from
    /// /proc schedstat; a busy-polling thread is always runnable, so less than 1 means other
    /// work on the machine took the core).
    #[serde(default)]
    pub dut_cpu: Option<f64>,
    /// Cache-line latency between the two cpus around the kept round (ns).
    #[serde(default)]
    pub c2c_ns: Option<f64>,
}

/// Refusals per frame sent from which a point counts as paced by the device
/// ([`Point::paced_by_device`]); the device-paced points seen so far had 0.07-3.3.
pub const PACED_BY_DEVICE: f64 = 0.01;

/// True when a round ran with the generator's and the device's cpus far apart (known only).
pub fn far(c2c_ns: Option<f64>) -> bool {
    c2c_ns.is_some_and(|ns| ns > FAR_NS)
}

impl Point {
    /// The value this point ranks its rounds by: cps for `cps`, fewest lost for the
    /// reconfiguration scenarios (a `reconfig` round in which no change was applied below any
    /// other: it shows nothing about changes), else the received rate.
    pub fn value(&self) -> f64 {
        match self.scenario.as_str() {
            "cps" => self.gen.cps,
            "reconfig" if self.changes == Some(0) => f64::NEG_INFINITY,
            "reconfig" | "reconfig-control" => -(self.gen.lost as f64),
            _ => self.gen.rx_pps,
        }
    }

    /// Adds a round worth `value` whose results are `round` (its own `rounds` are ignored), and
    /// keeps the round's results if they rank above the kept ones ([`Point::value`]), whatever
    /// the cpus' placement:
    /// noise on a shared machine only ever slows a round, so the best round is the closest to
    /// what the device can do. (Placement is not a sound filter: a round with the cpus near
    /// can still be slowed by the host, and at large frames far rounds are often as fast.)
    pub fn add_round(&mut self, value: f64, round: Point) {
        self.rounds.push(value);
        self.round_c2c_ns.push(round.c2c_ns);
        self.round_changes.push(round.changes);
        if round.value() > self.value() {
            let (rounds, round_c2c_ns, round_changes) = (
                std::mem::take(&mut self.rounds),
                std::mem::take(&mut self.round_c2c_ns),
                std::mem::take(&mut self.round_changes),
            );
            *self = Point {
                rounds,
                round_c2c_ns,
                round_changes,
                ..round
            };
        }
    }

    /// Whether the device under test set this point's rate: the generator sends as fast as the
    /// device takes its frames, so refusals (the device's rx ring full, or every mbuf in flight
    /// in its rings) in at least [`PACED_BY_DEVICE`] of the frames sent mean the generator had
    /// more to offer. A point without them was paced by the generator, and its rate is only a
    /// lower bound of the device's.
    pub fn paced_by_device(&self) -> bool {
        self.gen.tx_refused as f64 >= PACED_BY_DEVICE * self.gen.sent as f64
    }

    /// Rounds that ran with the cpus far apart.
    pub fn far_rounds(&self) -> usize {
        self.round_c2c_ns.iter().filter(|ns| far(**ns)).count()
    }
}

/// A whole bench run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub started: String,
    pub commit: String,
    pub machine: String,
    pub duration_s: f64,
    pub rounds: usize,
    pub points: Vec<Point>,
    /// Notes about the run (what could not be measured and why). A note about one scenario
    /// names it first ([`note_scenario`]).
    pub notes: Vec<String>,
    /// The platform's cost of a dependent random load, measured with the sessions scenario.
    #[serde(default)]
    pub memory: Vec<MemoryProbe>,
    /// Profiles of the device's forwarding thread behind the targets (the `profile` scenario).
    #[serde(default)]
    pub profiles: Vec<crate::profile::Profile>,
}

/// The scenario a note is about: its first word (`reconfig round 2: ...`, `forward: rvs
/// restarted once ...`, `scenario cps failed: ...`), without a trailing colon.
pub fn note_scenario(note: &str) -> &str {
    let note = note.strip_prefix("scenario ").unwrap_or(note);
    let first = note.split_whitespace().next().unwrap_or("");
    first.strip_suffix(':').unwrap_or(first)
}

/// ns per dependent random load at a footprint ([`crate::memlat`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryProbe {
    pub bytes: u64,
    pub ns: f64,
}

/// Target ratios from issue 7.
pub const TARGET_DR: f64 = 0.8;
pub const TARGET_NAT: f64 = 0.7;
pub const TARGET_CPS: f64 = 1_000_000.0;
pub const TARGET_SCALE: f64 = 1.5;
/// The session counts `TARGET_SCALE` compares (cost at the second over cost at the first); a run
/// over a narrower range (`--sessions`, or a point that failed) is shown but not judged.
pub const TARGET_SCALE_FLOWS: (u64, u64) = (1_000, 10_000_000);

/// The forwarding target of rvs in `mode` (its rate over testpmd io's), if the mode has one.
pub fn forward_target(mode: &str) -> Option<f64> {
    match mode {
        "dr" => Some(TARGET_DR),
        "nat" | "fullnat" => Some(TARGET_NAT),
        _ => None,
    }
}

impl Results {
    fn find(&self, scenario: &str, dut: &str, mode: &str, size: usize) -> Option<&Point> {
        self.points.iter().find(|p| {
            p.scenario == scenario && p.dut == dut && p.mode == mode && p.frame_size == size
        })
    }

    /// Forwarded rate of rvs in `mode` at `size` over testpmd io's at the same size.
    pub fn forward_ratio(&self, mode: &str, size: usize) -> Option<f64> {
        let r = self.find("forward", RVS, mode, size)?;
        let t = self.find("forward", TESTPMD_IO, "-", size)?;
        (t.gen.rx_pps > 0.0).then(|| r.gen.rx_pps / t.gen.rx_pps)
    }

    /// The forwarding points that miss their target, as (mode, frame size), in the order of
    /// the points.
    pub fn missed_forward(&self) -> Vec<(String, usize)> {
        self.points
            .iter()
            .filter(|p| p.scenario == "forward" && p.dut == RVS)
            .filter(|p| {
                let target = forward_target(&p.mode);
                let ratio = self.forward_ratio(&p.mode, p.frame_size);
                matches!((target, ratio), (Some(t), Some(x)) if x < t)
            })
            .map(|p| (p.mode.clone(), p.frame_size))
            .collect()
    }

    /// The (mode, frame size) forwarding cases the bench profiles: DR at `smallest` (the
    /// smallest frame size of the run) and every [`missed_forward`](Self::missed_forward) point.
    pub fn forward_profile_cases(&self, smallest: usize) -> Vec<(String, usize)> {
        let mut cases = vec![("dr".to_string(), smallest)];
        for case in self.missed_forward() {
            if !cases.contains(&case) {
                cases.push(case);
            }
        }
        cases
    }

    /// Frame sizes of the forwarding scenario, ascending.
    pub fn forward_sizes(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .points
            .iter()
            .filter(|p| p.scenario == "forward")
            .map(|p| p.frame_size)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// ns per packet of rvs at each session count (1e9 / forwarded rate), ascending flows.
    pub fn scaling(&self) -> Vec<(u64, Option<u64>, f64)> {
        self.scaling_points()
            .into_iter()
            .map(|p| (p.flows, p.sessions, 1e9 / p.gen.rx_pps))
            .collect()
    }

    fn scaling_points(&self) -> Vec<&Point> {
        let mut v: Vec<_> = self
            .points
            .iter()
            .filter(|p| p.scenario == "sessions" && p.dut == RVS && p.gen.rx_pps > 0.0)
            .collect();
        v.sort_by_key(|p| p.flows);
        v
    }
}

fn mpps(pps: f64) -> String {
    format!("{:.2}", pps / 1e6)
}

fn opt_us(ns: Option<f64>) -> String {
    ns.map_or("-".into(), |v| format!("{:.1}", v / 1e3))
}

fn pct(share: Option<f64>) -> String {
    share.map_or("-".into(), |v| format!("{:.0}%", v * 100.0))
}

fn ns(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}

/// `x` to two decimals, or more where two would round it onto `target` itself (0.697
/// against 0.7 reads "0.697", not a missed "0.70").
pub(crate) fn ratio_against(x: f64, target: f64) -> String {
    for decimals in 2..6 {
        let scale = 10f64.powi(decimals);
        if x == target || (x * scale).round() != (target * scale).round() {
            return format!("{x:.*}", decimals as usize);
        }
    }
    format!("{x:.6}")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// The Markdown report: one table per scenario, ratios to testpmd and the targets.
pub fn render_markdown(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# rvs benchmark results\n");
    let _ = writeln!(
        s,
        "Run {} on `{}` (commit {}); {} s per point, best of {} round(s). \
         Mpps = frames received back by the generator per second. \
         Generator, rvsd worker and testpmd forwarding lcore: see `perf/README` / ARCHITECTURE.\n",
        r.started, r.machine, r.commit, r.duration_s, r.rounds
    );

    let sizes = r.forward_sizes();
    if !sizes.is_empty() {
        let _ = writeln!(s, "## Established-flow forwarding (Mpps)\n");
        let _ = writeln!(
            s,
            "| mode | size (B) | rvs Mpps | testpmd io Mpps | testpmd 5tswap Mpps | rvs / io | target | p50 / p99 latency (us) | worker on cpu, rvs / io | cache line ns, rvs / io |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
        );
        for mode in ["dr", "tun", "nat", "fullnat"] {
            for &size in &sizes {
                let Some(p) = r.find("forward", RVS, mode, size) else {
                    continue;
                };
                let io = r.find("forward", TESTPMD_IO, "-", size);
                let sw = r.find("forward", TESTPMD_5TSWAP, "-", size);
                let target = forward_target(mode);
                let ratio = r.forward_ratio(mode, size);
                let mut t = match (target, ratio) {
                    (Some(target), Some(x)) => format!("{} (>= {target})", verdict(x >= target)),
                    _ => "-".into(),
                };
                // A rate the generator set is not the device's limit (see the generator section).
                let generator_paced: Vec<&str> = [("rvs", Some(p)), ("testpmd io", io)]
                    .into_iter()
                    .filter(|(_, q)| q.is_some_and(|q| !q.paced_by_device()))
                    .map(|(name, _)| name)
                    .collect();
                if ratio.is_some() && !generator_paced.is_empty() {
                    let _ = write!(
                        t,
                        "; paced by the generator: {}",
                        generator_paced.join(", ")
                    );
                }
                let _ = writeln!(
                    s,
                    "| {} | {size} | {} | {} | {} | {} | {t} | {} / {} | {} / {} | {} / {} |",
                    mode.to_uppercase(),
                    mpps(p.gen.rx_pps),
                    io.map_or("-".into(), |p| mpps(p.gen.rx_pps)),
                    sw.map_or("-".into(), |p| mpps(p.gen.rx_pps)),
                    ratio.map_or("-".into(), |x| ratio_against(x, target.unwrap_or(x))),
                    opt_us(p.gen.lat_p50_ns),
                    opt_us(p.gen.lat_p99_ns),
                    pct(p.dut_cpu),
                    pct(io.and_then(|p| p.dut_cpu)),
                    ns(p.c2c_ns),
                    ns(io.and_then(|p| p.c2c_ns)),
                );
            }
        }
        let _ = writeln!(s);
    }

    let cps: Vec<&Point> = r.points.iter().filter(|p| p.scenario == "cps").collect();
    if !cps.is_empty() {
        let _ = writeln!(s, "## New connections per second (one worker core)\n");
        let _ = writeln!(
            s,
            "| device | mode | SYNs sent/s | connections/s | set-up p50 / p99 (us) | target | worker on cpu | cache line ns |"
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |");
        for p in cps {
            let t = if p.dut == RVS {
                format!("{} (>= 1M/s)", verdict(p.gen.cps >= TARGET_CPS))
            } else {
                "-".into()
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.0} | {} / {} | {t} | {} | {} |",
                p.dut,
                p.mode,
                p.gen.tx_pps,
                p.gen.cps,
                opt_us(p.gen.lat_p50_ns),
                opt_us(p.gen.lat_p99_ns),
                pct(p.dut_cpu),
                ns(p.c2c_ns)
            );
        }
        let _ = writeln!(s);
    }

    let sc = r.scaling();
    if !sc.is_empty() {
        let base = sc[0].2;
        let _ = writeln!(s, "## Cost per packet as sessions grow (rvs DR, 64 B)\n");
        let _ = writeln!(
            s,
            "| flows | live sessions | Mpps | ns/packet | vs smallest | worker on cpu | cache line ns |"
        );
        let _ = writeln!(s, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for ((flows, sessions, cost), p) in sc.iter().zip(r.scaling_points()) {
            let _ = writeln!(
                s,
                "| {flows} | {} | {:.2} | {cost:.1} | {:.2}x | {} | {} |",
                sessions.map_or("-".into(), |v| v.to_string()),
                1e3 / cost,
                cost / base,
                pct(p.dut_cpu),
                ns(p.c2c_ns)
            );
        }
        if let (Some(first), Some(last)) = (sc.first(), sc.last()) {
            if sc.len() > 1 {
                let x = last.2 / first.2;
                let (small, large) = TARGET_SCALE_FLOWS;
                let judged = if first.0 <= small && last.0 >= large {
                    format!("{} (<= {TARGET_SCALE}x)", verdict(x <= TARGET_SCALE))
                } else {
                    format!(
                        "- (the target, <= {TARGET_SCALE}x, is for {large} flows against {small})"
                    )
                };
                let _ = writeln!(
                    s,
                    "\nCost at {} flows / cost at {} flows = {}x: {judged}.",
                    last.0,
                    first.0,
                    ratio_against(x, TARGET_SCALE),
                );
            }
        }
        if let [small, table] = r.memory[..] {
            let _ = writeln!(
                s,
                "\nThe platform, in the same run: one dependent random load (a pointer chase, huge \
                 pages advised) costs {:.1} ns in {} MiB and {:.1} ns in {} MiB, the size of \
                 rvsd's session table here ({:.2}x). At the largest point each packet makes two \
                 such accesses, one depending on the other (index entry, then session), \
                 overlapped with those of the other packets of its burst; at the smallest its \
                 sessions stay in the caches.",
                small.ns,
                small.bytes >> 20,
                table.ns,
                table.bytes >> 20,
                table.ns / small.ns
            );
        }
        let _ = writeln!(s);
    }

    for p in r.points.iter().filter(|p| p.scenario == "reconfig") {
        // A round in which no change was applied says so: its loss shows nothing about changes.
        let losses = |p: &Point| {
            p.rounds
                .iter()
                .enumerate()
                .map(|(i, v)| match p.round_changes.get(i) {
                    Some(Some(0)) => format!("{} (no change applied)", (-v) as i64),
                    _ => format!("{}", (-v) as i64),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "## Reconfiguration under load
"
        );
        let _ = writeln!(
            s,
            "{} changes (rvsadm, one per second) during {:.1} s of {} traffic at {} Mpps offered{} \
             (best round): sent {}, received {}, lost {}: {}. Lost per round with changes: {}.",
            p.changes.unwrap_or(0),
            p.gen.duration_s,
            p.mode.to_uppercase(),
            mpps(p.gen.tx_pps),
            match p.gen.new_flows_per_sec {
                0 => String::new(),
                n => format!(
                    " over {} flows, {n} of them replaced by fresh ones (new sessions) each second",
                    p.gen.flows
                ),
            },
            p.gen.sent,
            p.gen.received,
            p.gen.lost,
            // A round without changes (every rvsadm call failed) shows nothing about them.
            if p.changes.is_some_and(|n| n > 0) {
                format!("{} (0 lost)", verdict(p.gen.lost == 0))
            } else {
                format!("{} (0 lost with changes; none was applied)", verdict(false))
            },
            losses(p),
        );
        if let Some(c) = r.points.iter().find(|c| c.scenario == "reconfig-control") {
            let _ = writeln!(
                s,
                "The same traffic and one read-only rvsadm call a second instead of the changes \
                 (control, same rvsd, just before): lost per round {}; worker on cpu {} (with changes: {}).",
                losses(c),
                pct(c.dut_cpu),
                pct(p.dut_cpu)
            );
        }
        let _ = writeln!(s);
    }

    s.push_str(&crate::profile::render(&r.profiles));

    let gen: Vec<&Point> = r
        .points
        .iter()
        .filter(|p| p.scenario == "forward" && p.dut == TESTPMD_IO)
        .collect();
    if !gen.is_empty() {
        let _ = writeln!(s, "## The generator against testpmd io\n");
        let _ = writeln!(
            s,
            "The generator sends as fast as the device takes its frames and offers a refused \
             frame again. Where the device refused frames (its rx ring full, or every mbuf in \
             flight), the device set the rate and the generator could offer at least this much; \
             where it refused none, the generator set it and the ratios at that size compare \
             the generator's rate, not the device's.\n"
        );
        let _ = writeln!(
            s,
            "| size (B) | offered Mpps | received Mpps | Gbit/s received | refused per frame sent | rate set by |"
        );
        let _ = writeln!(s, "| ---: | ---: | ---: | ---: | ---: | --- |");
        for p in gen {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.2} | {} |",
                p.frame_size,
                mpps(p.gen.tx_pps),
                mpps(p.gen.rx_pps),
                p.gen.rx_pps * (p.frame_size as f64 + 20.0) * 8.0 / 1e9,
                p.gen.tx_refused as f64 / p.gen.sent.max(1) as f64,
                if p.paced_by_device() {
                    "testpmd io"
                } else {
                    "the generator"
                }
            );
        }
        let _ = writeln!(s);
    }
    let rounds: usize = r.points.iter().map(|p| p.round_c2c_ns.len()).sum();
    if rounds > 0 {
        let far_rounds: usize = r.points.iter().map(Point::far_rounds).sum();
        let kept_far: Vec<String> = r
            .points
            .iter()
            .filter(|p| far(p.c2c_ns))
            .map(|p| {
                format!(
                    "{} {} {} {} B {} flows",
                    p.scenario, p.dut, p.mode, p.frame_size, p.flows
                )
            })
            .collect();
        let _ = writeln!(s, "## Placement of the generator's and the device's cpus\n");
        let _ = writeln!(
            s,
            "Every frame crosses between the generator's cpu and the device's, so a run is only as \
             fast as a cache line travels between them, and on a virtual machine the host decides \
             that and moves the vcpus at will. The harness times the cache line just before and \
             just after every run (\"cache line ns\", the larger of the two; far apart above \
             {FAR_NS} ns), seeks a near placement before each run, and keeps each point's best \
             round whatever the placement. Rounds with the cpus far apart: {far_rounds} of \
             {rounds}. Points kept from a round with the cpus far apart: {}.\n",
            if kept_far.is_empty() {
                "none".to_string()
            } else {
                kept_far.join("; ")
            }
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_note_names_its_scenario_first() {
        use super::note_scenario;
        assert_eq!(note_scenario("forward: rvs restarted once: x"), "forward");
        assert_eq!(
            note_scenario("reconfig round 2: the change run failed"),
            "reconfig"
        );
        assert_eq!(note_scenario("scenario cps failed: timeout"), "cps");
        assert_eq!(note_scenario("sessions rerun at t (commit c)"), "sessions");
        assert_eq!(note_scenario(""), "");
    }

    use super::*;

    fn point(scenario: &str, dut: &str, mode: &str, size: usize, rx_pps: f64) -> Point {
        Point {
            scenario: scenario.into(),
            dut: dut.into(),
            mode: mode.into(),
            frame_size: size,
            flows: 1000,
            gen: GenResult {
                rx_pps,
                tx_pps: rx_pps,
                sent: 1000,
                tx_refused: 5000,
                ..GenResult::default()
            },
            rounds: vec![rx_pps],
            round_c2c_ns: vec![Some(30.0)],
            round_changes: vec![None],
            sessions: None,
            changes: None,
            drops: vec![],
            dut_cpu: Some(0.5),
            c2c_ns: Some(30.0),
        }
    }

    fn sample() -> Results {
        let mut r = Results {
            started: "t".into(),
            commit: "abc".into(),
            machine: "m".into(),
            duration_s: 3.0,
            rounds: 2,
            ..Results::default()
        };
        r.points.push(point("forward", TESTPMD_IO, "-", 64, 10e6));
        r.points
            .push(point("forward", TESTPMD_5TSWAP, "-", 64, 12e6));
        r.points.push(point("forward", RVS, "dr", 64, 9e6));
        r.points.push(point("forward", RVS, "nat", 64, 5e6));
        let mut c = point("cps", RVS, "fullnat", 60, 2e6);
        c.gen.cps = 1.2e6;
        r.points.push(c);
        for (flows, pps) in [(1000u64, 4e6), (10_000_000, 2e6)] {
            let mut p = point("sessions", RVS, "dr", 64, pps);
            p.flows = flows;
            p.sessions = Some(flows);
            r.points.push(p);
        }
        let mut q = point("reconfig", RVS, "nat", 64, 1e6);
        q.gen.sent = 100;
        q.gen.received = 97;
        q.gen.lost = 3;
        q.changes = Some(10);
        q.gen.flows = 10_000;
        q.gen.new_flows_per_sec = 5000;
        q.rounds = vec![-5.0, -3.0];
        r.points.push(q);
        let mut c = point("reconfig-control", RVS, "nat", 64, 1e6);
        c.rounds = vec![-4.0, 0.0];
        r.points.push(c);
        r.memory = vec![
            MemoryProbe {
                bytes: 64 << 20,
                ns: 150.0,
            },
            MemoryProbe {
                bytes: 3 << 30,
                ns: 240.0,
            },
        ];
        r
    }

    #[test]
    fn ratios_and_scaling() {
        let r = sample();
        assert!((r.forward_ratio("dr", 64).unwrap() - 0.9).abs() < 1e-9);
        assert!((r.forward_ratio("nat", 64).unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(r.forward_ratio("tun", 64), None);
        assert_eq!(r.forward_ratio("dr", 512), None);
        // DR meets its 0.8x; NAT misses its 0.7x; TUN has no target.
        assert_eq!(r.missed_forward(), vec![("nat".to_string(), 64)]);
        let mut tun = r.clone();
        tun.points.push(point("forward", RVS, "tun", 64, 1e6));
        assert_eq!(tun.missed_forward(), vec![("nat".to_string(), 64)]);
        let mut fullnat = r.clone();
        fullnat
            .points
            .push(point("forward", RVS, "fullnat", 64, 6.99e6));
        fullnat.points.push(point("forward", RVS, "dr", 512, 1e6));
        assert_eq!(
            fullnat.missed_forward(),
            vec![("nat".to_string(), 64), ("fullnat".to_string(), 64)],
            "a point without its testpmd io point is not judged"
        );
        // Exactly on its target is met (7 of 10 Mpps), as the table says.
        let mut on_target = r.clone();
        on_target
            .points
            .push(point("forward", RVS, "fullnat", 64, 7e6));
        assert_eq!(on_target.missed_forward(), vec![("nat".to_string(), 64)]);
        // The profiled cases: DR at the smallest size, then each miss once.
        assert_eq!(
            fullnat.forward_profile_cases(64),
            vec![
                ("dr".to_string(), 64),
                ("nat".to_string(), 64),
                ("fullnat".to_string(), 64)
            ]
        );
        let mut dr_missed = r.clone();
        dr_missed.points.retain(|p| p.mode != "dr");
        dr_missed.points.push(point("forward", RVS, "dr", 64, 7e6));
        assert_eq!(
            dr_missed.forward_profile_cases(64),
            vec![("dr".to_string(), 64), ("nat".to_string(), 64)]
        );
        assert_eq!(
            Results::default().forward_profile_cases(512),
            vec![("dr".to_string(), 512)]
        );
        let s = r.scaling();
        assert_eq!(s.len(), 2);
        assert!((s[0].2 - 250.0).abs() < 1e-9 && (s[1].2 - 500.0).abs() < 1e-9);
    }

    #[test]
    fn a_ratio_never_rounds_onto_its_target() {
        assert_eq!(ratio_against(0.697, 0.7), "0.697");
        assert_eq!(ratio_against(0.7, 0.7), "0.70");
        assert_eq!(ratio_against(0.7034, 0.7), "0.703");
        assert_eq!(ratio_against(0.69996, 0.7), "0.69996");
        assert_eq!(ratio_against(0.66, 0.7), "0.66");
        assert_eq!(ratio_against(0.7958, 0.8), "0.796");
        assert_eq!(ratio_against(1.503, 1.5), "1.503");
    }

    #[test]
    fn markdown_has_ratios_and_verdicts() {
        let md = render_markdown(&sample());
        assert!(
            md.contains(
                "| DR | 64 | 9.00 | 10.00 | 12.00 | 0.90 | met (>= 0.8) | - / - | 50% / 50% | 30 / 30 |"
            ),
            "{md}"
        );
        assert!(md.contains("| NAT | 64 | 5.00 | 10.00 | 12.00 | 0.50 | MISSED (>= 0.7) |"));
        assert!(
            md.contains("| rvs | fullnat | 2000000 | 1200000 | - / - | met (>= 1M/s) | 50% | 30 |")
        );
        assert!(md.contains("| 10000000 | 10000000 | 2.00 | 500.0 | 2.00x | 50% | 30 |"));
        assert!(
            md.contains("Rounds with the cpus far apart: 0 of 9. Points kept from a round with the cpus far apart: none.")
        );
        assert!(md.contains("= 2.00x: MISSED (<= 1.5x)"));
        assert!(md.contains("lost 3: MISSED (0 lost). Lost per round with changes: 5, 3."));
        assert!(md.contains(
            "Mpps offered over 10000 flows, 5000 of them replaced by fresh ones (new sessions) \
             each second (best round)"
        ));
        assert!(md.contains(
            "instead of the changes (control, same rvsd, just before): lost per round 4, 0;"
        ));
        assert!(md.contains("| 64 | 10.00 | 10.00 | 6.7 | 5.00 | testpmd io |"));
        assert!(md.contains(
            "costs 150.0 ns in 64 MiB and 240.0 ns in 3072 MiB, the size of rvsd's session table \
             here (1.60x)"
        ));
    }

    #[test]
    fn a_point_without_refusals_is_named_as_paced_by_the_generator() {
        fn testpmd_io(r: &mut Results) -> &mut Point {
            r.points
                .iter_mut()
                .find(|p| p.scenario == "forward" && p.dut == TESTPMD_IO)
                .unwrap()
        }
        let mut r = sample();
        // 9 refusals in 1000 frames: under 1 %, so the generator set testpmd io's rate.
        testpmd_io(&mut r).gen.tx_refused = 9;
        assert!(!testpmd_io(&mut r).paced_by_device());
        let md = render_markdown(&r);
        assert!(
            md.contains("| 0.90 | met (>= 0.8); paced by the generator: testpmd io |"),
            "{md}"
        );
        assert!(md.contains("| 64 | 10.00 | 10.00 | 6.7 | 0.01 | the generator |"));
        // 10 in 1000 is the threshold: the device set the rate, and the verdict stands alone.
        testpmd_io(&mut r).gen.tx_refused = 10;
        let md = render_markdown(&r);
        assert!(md.contains("| 0.90 | met (>= 0.8) |"), "{md}");
        // rvs's own point is marked the same way.
        let dr = r.points.iter_mut();
        let dr = dr
            .filter(|p| p.scenario == "forward")
            .find(|p| p.mode == "dr")
            .unwrap();
        dr.gen.tx_refused = 0;
        let md = render_markdown(&r);
        assert!(md.contains("| 0.90 | met (>= 0.8); paced by the generator: rvs |"));
    }

    #[test]
    fn the_best_round_is_kept_whatever_the_placement() {
        let round = |pps: f64, c2c: Option<f64>| Point {
            c2c_ns: c2c,
            ..point("forward", RVS, "dr", 64, pps)
        };
        let mut p = round(4e6, Some(170.0));
        p.round_c2c_ns = vec![Some(170.0)];
        p.add_round(1e6, round(1e6, Some(35.0)));
        assert_eq!(
            p.gen.rx_pps, 4e6,
            "a slow near round does not replace a faster far one"
        );
        p.add_round(5e6, round(5e6, Some(30.0)));
        assert_eq!(p.gen.rx_pps, 5e6);
        p.add_round(9e6, round(9e6, Some(160.0)));
        assert_eq!(
            (p.gen.rx_pps, p.c2c_ns),
            (9e6, Some(160.0)),
            "a faster far round wins"
        );
        p.add_round(8e6, round(8e6, None));
        assert_eq!(p.gen.rx_pps, 9e6);
        assert_eq!(p.rounds, vec![4e6, 1e6, 5e6, 9e6, 8e6]);
        assert_eq!(p.far_rounds(), 2);
        let mut r = sample();
        r.points.push(p);
        let md = render_markdown(&r);
        assert!(
            md.contains("Rounds with the cpus far apart: 2 of 14. Points kept from a round with the cpus far apart: forward rvs dr 64 B 1000 flows."),
            "{md}"
        );
    }

    #[test]
    fn a_reconfiguration_round_without_changes_is_never_kept_over_one_with_changes() {
        let round = |lost: u64, changes: u64| Point {
            gen: GenResult {
                lost,
                ..GenResult::default()
            },
            changes: Some(changes),
            round_changes: vec![Some(changes)],
            ..point("reconfig", RVS, "nat", 64, 0.0)
        };
        // Every rvsadm call of the first round failed: it shows nothing about changes.
        let mut p = round(0, 0);
        p.add_round(0.0, round(0, 10));
        assert_eq!(
            p.changes,
            Some(10),
            "a round with changes beats one without"
        );
        p.add_round(0.0, round(0, 0));
        assert_eq!(
            p.changes,
            Some(10),
            "a round without changes never replaces one"
        );
        let mut p = round(2, 10);
        p.add_round(0.0, round(0, 0));
        assert_eq!((p.gen.lost, p.changes), (2, Some(10)));
        p.add_round(-1.0, round(1, 9));
        assert_eq!((p.gen.lost, p.changes), (1, Some(9)), "then fewest lost");
        assert_eq!(p.rounds, vec![0.0, 0.0, -1.0]);
        assert_eq!(p.round_changes, vec![Some(10), Some(0), Some(9)]);
        let r = Results {
            points: vec![p],
            ..Results::default()
        };
        assert!(render_markdown(&r)
            .contains("Lost per round with changes: 0, 0 (no change applied), 1."));
    }

    #[test]
    fn no_loss_is_not_the_reconfiguration_target_when_no_change_was_applied() {
        let mut r = sample();
        let q = r
            .points
            .iter_mut()
            .find(|p| p.scenario == "reconfig")
            .unwrap();
        (q.gen.received, q.gen.lost, q.rounds) = (100, 0, vec![0.0]);
        let md = render_markdown(&r);
        assert!(md.contains("10 changes (rvsadm"), "{md}");
        assert!(md.contains("lost 0: met (0 lost)."), "{md}");
        let q = r
            .points
            .iter_mut()
            .find(|p| p.scenario == "reconfig")
            .unwrap();
        q.changes = Some(0);
        let md = render_markdown(&r);
        assert!(
            md.contains("lost 0: MISSED (0 lost with changes; none was applied)."),
            "{md}"
        );
        r.points.iter_mut().for_each(|p| p.changes = None);
        assert!(render_markdown(&r).contains("MISSED (0 lost with changes; none was applied)."));
    }

    #[test]
    fn the_scaling_target_is_judged_only_from_1k_to_10m_flows() {
        let mut r = sample();
        // `--sessions 1000,1000000` (or a 10M point that failed): 1M costs 1.2x 1K.
        let p = r.points.iter_mut().find(|p| p.flows == 10_000_000).unwrap();
        (p.flows, p.gen.rx_pps) = (1_000_000, 4e6 / 1.2);
        let md = render_markdown(&r);
        assert!(
            md.contains(
                "Cost at 1000000 flows / cost at 1000 flows = 1.20x: - (the target, <= 1.5x, is \
                 for 10000000 flows against 1000)."
            ),
            "{md}"
        );
        assert!(!md.contains("met (<= 1.5x)"), "{md}");
    }

    #[test]
    fn results_round_trip_through_json() {
        let profile = crate::profile::Profile {
            scenario: "forward".into(),
            dut: RVS.into(),
            mode: "dr".into(),
            frame_size: 64,
            flows: 1000,
            sessions: Some(1000),
            rx_pps: 10e6,
            window_on_cpu: Some(0.99),
            c2c_ns: None,
            seconds: 2.25,
            by_dso: crate::profile::parse_report(" 60% ; 60 ;rvsd\n 40% ; 40 ;libc.so.6\n")
                .unwrap(),
            top: crate::profile::parse_report(" 9% ; 9 ;rvsd ;[.] a::b\n").unwrap(),
            round_pps: vec![9e6, 10e6],
        };
        let r = Results {
            profiles: vec![profile],
            ..sample()
        };
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        // Results written before the memory probe and the profiles existed still load.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        old.as_object_mut().unwrap().remove("memory");
        old.as_object_mut().unwrap().remove("profiles");
        let back: Results = serde_json::from_value(old).unwrap();
        assert!(back.memory.is_empty());
        assert!(back.profiles.is_empty());
        assert_eq!(back.points, r.points);
        let g: GenResult = serde_json::from_str(
            r#"{"mode":"udp","frame_size":64,"flows":1,"rate_pps":0,"duration_s":1.0,
            "warmup_sent":1,"warmup_received":1,"sent":5,"tx_refused":0,"received":5,"lost":0,
            "other":0,"tx_pps":5.0,"rx_pps":5.0,"lat_p50_ns":null,"lat_p99_ns":null,
            "lat_p999_ns":null,"lat_max_ns":null,"conns":0,"cps":0.0,"resets":0,
            "port_rx_missed":[],"port_tx_errors":[],"tsc_hz":1}"#,
        )
        .unwrap();
        assert_eq!(g.sent, 5);
    }
}
