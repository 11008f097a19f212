//! The Markdown report of a bench run (`perf/results/results.md`): one section per scenario,
//! with rvs/testpmd ratios and the targets met or missed.

use crate::placement::FAR_NS;
use crate::results::{
    far, forward_target, ratio_against, Point, Results, RVS, TARGET_CPS, TARGET_SCALE,
    TARGET_SCALE_FLOWS, TESTPMD_5TSWAP, TESTPMD_IO,
};
use std::fmt::Write as _;

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
    header(&mut s, r);
    forward(&mut s, r);
    cps(&mut s, r);
    scaling(&mut s, r);
    reconfig(&mut s, r);
    s.push_str(&crate::profile::render(&r.profiles));
    generator(&mut s, r);
    placement(&mut s, r);
    notes(&mut s, r);
    s
}

/// The title and the run: when, where, which commit, seconds per point and rounds.
fn header(s: &mut String, r: &Results) {
    let _ = writeln!(s, "# rvs benchmark results\n");
    let _ = writeln!(
        s,
        "Run {} on `{}` (commit {}); {} s per point, best of {} round(s). \
         Mpps = frames received back by the generator per second. \
         Generator, rvsd worker and testpmd forwarding lcore: see `perf/README` / ARCHITECTURE.\n",
        r.started, r.machine, r.commit, r.duration_s, r.rounds
    );
}

/// Established-flow forwarding: each rvs mode against testpmd io and 5tswap at each frame
/// size, with its target and which side set the rates.
fn forward(s: &mut String, r: &Results) {
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
}

/// New connections per second, with the target for rvs.
fn cps(s: &mut String, r: &Results) {
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
}

/// rvs's cost per packet as sessions grow, the scaling target, and the platform's cost of a
/// random memory access.
fn scaling(s: &mut String, r: &Results) {
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
}

/// Reconfiguration under load, against its control run.
fn reconfig(s: &mut String, r: &Results) {
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
}

/// The generator against testpmd io: which side set each forwarding rate.
fn generator(s: &mut String, r: &Results) {
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
}

/// Placement of the generator's and the device's cpus over the rounds.
fn placement(s: &mut String, r: &Results) {
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
}

/// The run's notes.
fn notes(s: &mut String, r: &Results) {
    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::{point, sample};
    use crate::results::GenResult;

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
}
