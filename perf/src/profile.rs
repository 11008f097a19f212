//! Profiles of the device's forwarding thread: `perf record -e cpu-clock` of that one thread
//! during a generator run's measurement (rvs-bench runs perf), reduced to its samples by object
//! (binary or library) and by symbol, and the thread's time per forwarded packet split by
//! them. This module parses `perf report`'s text and renders the report's profile section.

use crate::results::{forward_target, ratio_against, Profile, Share, RVS, TESTPMD_IO};
use std::fmt::Write as _;

/// What kind of code an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The device's own binary: rvsd, or dpdk-testpmd.
    Device,
    /// The memif driver: its rx and tx copies.
    Memif,
    /// The rest of DPDK's libraries (mempool, mbuf, ring, ethdev).
    Dpdk,
    /// The C library and the dynamic loader.
    Libc,
    Kernel,
    Other,
}

impl Part {
    pub const ALL: [Part; 6] = [
        Part::Device,
        Part::Memif,
        Part::Dpdk,
        Part::Libc,
        Part::Kernel,
        Part::Other,
    ];

    /// The kind of the object `perf report` names `dso`.
    pub fn of(dso: &str) -> Part {
        if dso == "rvsd" || dso == "dpdk-testpmd" {
            Part::Device
        } else if dso.starts_with("librte_net_memif") {
            Part::Memif
        } else if dso.starts_with("librte_") {
            Part::Dpdk
        } else if dso.starts_with("libc.so") || dso.starts_with("ld-linux") {
            Part::Libc
        } else if dso.starts_with("[kernel") {
            Part::Kernel
        } else {
            Part::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Part::Device => "own code",
            Part::Memif => "net_memif",
            Part::Dpdk => "other DPDK",
            Part::Libc => "libc",
            Part::Kernel => "kernel",
            Part::Other => "other",
        }
    }
}

/// The smallest symbol share a profile keeps (percent).
pub const TOP_PERCENT: f64 = 1.0;

impl Profile {
    pub fn samples(&self) -> u64 {
        self.by_dso.iter().map(|s| s.samples).sum()
    }

    /// Share of the samples in `s`.
    pub fn share(&self, s: &Share) -> f64 {
        match self.samples() {
            0 => 0.0,
            n => s.samples as f64 / n as f64,
        }
    }

    /// The forwarding thread's time per forwarded packet (ns): its time on its cpu in the
    /// recorded window over the packets forwarded in it (the run's rate), when both are known.
    /// A poll-mode thread polls whether or not frames wait, so this includes its empty polls.
    pub fn ns_per_packet(&self) -> Option<f64> {
        let on_cpu = self.window_on_cpu?;
        (self.rx_pps > 0.0).then(|| on_cpu * 1e9 / self.rx_pps)
    }

    /// Share of the samples in objects of kind `part`.
    pub fn part_share(&self, part: Part) -> f64 {
        self.by_dso
            .iter()
            .filter(|s| Part::of(&s.dso) == part)
            .map(|s| self.share(s))
            .fold(0.0, |a, b| a + b)
    }

    /// ns per packet spent in objects of kind `part`.
    pub fn part_ns(&self, part: Part) -> Option<f64> {
        Some(self.ns_per_packet()? * self.part_share(part))
    }

    /// "forward: rvs DR, 64 B, 1000 flows" (with the live sessions when known).
    pub fn label(&self) -> String {
        let dut = match self.mode.as_str() {
            "-" => self.dut.clone(),
            m => format!("{} {}", self.dut, m.to_uppercase()),
        };
        let sessions = self
            .sessions
            .map_or(String::new(), |n| format!(" ({n} sessions)"));
        format!(
            "{}: {dut}, {} B, {} flows{sessions}",
            self.scenario, self.frame_size, self.flows
        )
    }
}

/// Adds a profiled round to `profiles`: a case profiled before (same scenario, device, mode,
/// size and flows) keeps the faster round's profile, as the bench's points keep their best
/// round (noise on a shared machine only slows a run), and every round's rate.
pub fn keep_fastest(profiles: &mut Vec<Profile>, mut round: Profile) {
    let same = |p: &Profile| {
        (&p.scenario, &p.dut, &p.mode, p.frame_size, p.flows)
            == (
                &round.scenario,
                &round.dut,
                &round.mode,
                round.frame_size,
                round.flows,
            )
    };
    match profiles.iter_mut().find(|p| same(p)) {
        Some(kept) => {
            kept.round_pps.push(round.rx_pps);
            if round.rx_pps > kept.rx_pps {
                round.round_pps = std::mem::take(&mut kept.round_pps);
                *kept = round;
            }
        }
        None => {
            round.round_pps = vec![round.rx_pps];
            profiles.push(round);
        }
    }
}

/// Parses the lines of `perf report --stdio -q -n --no-children -t ';'` sorted by `dso` (then
/// the lines are `overhead;samples;dso`) or by `dso,sym` (`overhead;samples;dso;[.] symbol`).
/// Blank lines are skipped; any other line that does not parse is an error naming it.
pub fn parse_report(text: &str) -> Result<Vec<Share>, String> {
    let mut shares = vec![];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.splitn(4, ';').map(str::trim).collect();
        let bad = || format!("perf report: unexpected line {line:?}");
        if fields.len() < 3 || !fields[0].ends_with('%') {
            return Err(bad());
        }
        let samples = fields[1].parse().map_err(|_| bad())?;
        let symbol = fields.get(3).map(|s| {
            // "[.] name" (user space) or "[k] name" (kernel).
            s.split_once("] ")
                .map_or(*s, |(_, name)| name)
                .trim()
                .to_string()
        });
        shares.push(Share {
            dso: fields[2].to_string(),
            symbol,
            samples,
        });
    }
    Ok(shares)
}

fn ns(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// "own code +12.3 (4.5 -> 16.8), net_memif -3.4 (...)": ns a packet in each kind of code that
/// differs by half a nanosecond or more between `base` and `other`, largest difference first.
fn difference(base: &Profile, other: &Profile) -> String {
    let mut parts: Vec<(Part, f64, f64)> = Part::ALL
        .iter()
        .filter_map(|&p| Some((p, base.part_ns(p)?, other.part_ns(p)?)))
        .filter(|(_, a, b)| (b - a).abs() >= 0.5)
        .collect();
    if parts.is_empty() {
        return "no kind of code differs by 0.5 ns or more".into();
    }
    parts.sort_by(|a, b| (b.2 - b.1).abs().total_cmp(&(a.2 - a.1).abs()));
    parts
        .iter()
        .map(|(p, a, b)| format!("{} {:+.1} ({a:.1} -> {b:.1})", p.label(), b - a))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "3.2 ns less" / "3.2 ns more" / "as much" (within 0.05 ns): how `took` compares with
/// `allowed`.
fn against(took: f64, allowed: f64) -> String {
    let d = took - allowed;
    if d.abs() < 0.05 {
        "as much".into()
    } else {
        format!(
            "{:.1} ns {}",
            d.abs(),
            if d < 0.0 { "less" } else { "more" }
        )
    }
}

/// The report's section on the profiles: where each profiled thread's time per packet goes,
/// and what makes the difference behind the targets a profile explains: each rvs mode with a
/// forwarding target ([`forward_target`]) against testpmd io at the same frame size, and rvs
/// at the most sessions against the fewest. Profiles without samples are left out.
pub fn render(profiles: &[Profile]) -> String {
    let mut s = String::new();
    let profiles: Vec<&Profile> = profiles.iter().filter(|p| p.samples() > 0).collect();
    if profiles.is_empty() {
        return s;
    }
    table(&mut s, &profiles);
    against_testpmd(&mut s, &profiles);
    most_sessions_against_fewest(&mut s, &profiles);
    top_symbols(&mut s, &profiles);
    let _ = writeln!(s);
    s
}

/// The profiles of `scenario` on `dut`, in order.
fn cases<'a>(
    profiles: &'a [&'a Profile],
    scenario: &'a str,
    dut: &'a str,
) -> impl Iterator<Item = &'a Profile> + 'a {
    profiles
        .iter()
        .copied()
        .filter(move |p| p.scenario == scenario && p.dut == dut)
}

/// The section's heading, what it measures, and a row per profile: its time per packet by
/// kind of code.
fn table(s: &mut String, profiles: &[&Profile]) {
    let _ = writeln!(s, "## Profiles of the forwarding thread\n");
    let _ = writeln!(
        s,
        "`perf record -e cpu-clock` of the device's forwarding thread alone, during a run's \
         measurement after a near placement was sought; each case keeps its fastest profiled \
         round (\"rounds\": every round's Mpps), which is not the run of the tables above, so \
         its rate can differ from theirs. ns/packet is the thread's time on its cpu during the \
         recording per forwarded packet, split by the share of its samples in each kind of \
         code: the device's own binary (rvsd, or dpdk-testpmd), the memif driver (its rx and \
         tx copies), DPDK's other libraries, libc and the loader, the kernel, anything else. \
         The thread busy-polls, so its polls that find nothing count too: a device that \
         forwards all the generator offers (a point the generator paced, see \"The generator \
         against testpmd io\") shows its idle polling as time per packet. \"(N sessions)\": \
         rvsd's live sessions after the run; the modes profiled at one frame size share an \
         rvsd and add theirs.\n"
    );
    let _ = write!(s, "| profile | Mpps | ns/packet |");
    for p in Part::ALL {
        let _ = write!(s, " {} |", p.label());
    }
    let _ = writeln!(s, " samples | cache line ns | rounds (Mpps) |");
    let _ = writeln!(
        s,
        "| --- | ---: | ---: |{} ---: | ---: | --- |",
        " ---: |".repeat(6)
    );
    for p in profiles {
        let _ = write!(
            s,
            "| {} | {:.2} | {} |",
            p.label(),
            p.rx_pps / 1e6,
            ns(p.ns_per_packet())
        );
        for part in Part::ALL {
            let _ = write!(
                s,
                " {} ({:.0}%) |",
                ns(p.part_ns(part)),
                p.part_share(part) * 100.0
            );
        }
        let rounds: Vec<String> = p
            .round_pps
            .iter()
            .map(|v| format!("{:.2}", v / 1e6))
            .collect();
        let _ = writeln!(
            s,
            " {} | {} | {} |",
            p.samples(),
            p.c2c_ns.map_or("-".into(), |v| format!("{v:.0}")),
            rounds.join(", ")
        );
    }
    let _ = writeln!(s);
}

/// Each rvs mode with a forwarding target against testpmd io at the same frame size: rates,
/// time per packet against what the target allows, and the kinds of code that differ.
fn against_testpmd(s: &mut String, profiles: &[&Profile]) {
    for io in cases(profiles, "forward", TESTPMD_IO).filter(|io| io.rx_pps > 0.0) {
        for rvs in cases(profiles, "forward", RVS).filter(|p| p.frame_size == io.frame_size) {
            let Some(target) = forward_target(&rvs.mode) else {
                continue;
            };
            let mode = rvs.mode.to_uppercase();
            let _ = write!(
                s,
                "{mode} against testpmd io at {} B: {:.2} against {:.2} Mpps in these two runs \
                 ({}x; the target is {target}x).",
                io.frame_size,
                rvs.rx_pps / 1e6,
                io.rx_pps / 1e6,
                ratio_against(rvs.rx_pps / io.rx_pps, target)
            );
            if let (Some(t), Some(r), Some(on_cpu)) =
                (io.ns_per_packet(), rvs.ns_per_packet(), rvs.window_on_cpu)
            {
                // The rate the target asks for, at the share of the window rvs's thread ran.
                let allowed = on_cpu * 1e9 / (target * io.rx_pps);
                let _ = write!(
                    s,
                    " Per packet its thread took {r:.1} ns against testpmd io's {t:.1}; \
                     {target}x of this testpmd io rate allows {allowed:.1} ns and it took {}. \
                     By kind of code, testpmd io -> rvs {mode}: {}.",
                    against(r, allowed),
                    difference(io, rvs)
                );
            }
            let _ = writeln!(s, "\n");
        }
    }
}

/// rvs at the most sessions against the fewest, on the same rvsd.
fn most_sessions_against_fewest(s: &mut String, profiles: &[&Profile]) {
    let sessions: Vec<&Profile> = cases(profiles, "sessions", RVS).collect();
    if let (Some(few), Some(many)) = (
        sessions.iter().min_by_key(|p| p.flows),
        sessions.iter().max_by_key(|p| p.flows),
    ) {
        if let (true, Some(a), Some(b)) = (
            many.flows > few.flows,
            few.ns_per_packet(),
            many.ns_per_packet(),
        ) {
            let _ = writeln!(
                s,
                "{} flows against {} on the same rvsd: {b:.1} against {a:.1} ns a packet \
                 ({:.2}x). By kind of code: {}.\n",
                many.flows,
                few.flows,
                b / a,
                difference(few, many)
            );
        }
    }
}

/// Each profile's symbols of at least [`TOP_PERCENT`] % of its samples.
fn top_symbols(s: &mut String, profiles: &[&Profile]) {
    for p in profiles {
        let top: Vec<String> = p
            .top
            .iter()
            .map(|t| {
                format!(
                    "{:.1}% {} `{}`",
                    p.share(t) * 100.0,
                    t.dso,
                    t.symbol.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "- {}: {}",
            p.label(),
            if top.is_empty() {
                format!("no symbol has {TOP_PERCENT} % of the samples")
            } else {
                top.join(", ")
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY_DSO: &str = " 54.41% ; 524        ;rvsd             \n \
                          40.50% ; 390        ;librte_net_memif.so.23.0\n \
                          4.88%  ; 47         ;[kernel.kallsyms]\n \
                          0.21%  ; 2          ;libc.so.6        \n\n";
    const BY_SYM: &str =
        " 8.10%  ; 78         ;rvsd             ;[.] dataplane::forward::Forwarder::transmit\n \
                          6.23%  ; 60         ;librte_net_memif.so.23.0;[.] 0x000000000000b1b6\n \
                          1.04%  ; 10         ;[kernel.kallsyms];[k] clear_page_erms\n";

    fn profile(dut: &str, mode: &str, flows: u64, rx_pps: f64, by_dso: &str) -> Profile {
        Profile {
            scenario: if flows > 1000 { "sessions" } else { "forward" }.into(),
            dut: dut.into(),
            mode: mode.into(),
            frame_size: 64,
            flows,
            sessions: None,
            rx_pps,
            window_on_cpu: Some(1.0),
            c2c_ns: Some(60.0),
            seconds: 2.0,
            by_dso: parse_report(by_dso).unwrap(),
            top: parse_report(BY_SYM).unwrap(),
            round_pps: vec![rx_pps],
        }
    }

    #[test]
    fn a_case_keeps_its_fastest_round_and_every_rate() {
        let mut kept = vec![];
        let io = profile("testpmd-io", "-", 1000, 12e6, BY_DSO);
        keep_fastest(&mut kept, profile("rvs", "dr", 1000, 9e6, BY_DSO));
        keep_fastest(&mut kept, io);
        let fast = profile("rvs", "dr", 1000, 10e6, " 1% ; 7 ;rvsd\n");
        keep_fastest(&mut kept, fast.clone());
        keep_fastest(&mut kept, profile("rvs", "dr", 1000, 8e6, BY_DSO));
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].rx_pps, 10e6);
        assert_eq!(kept[0].by_dso, fast.by_dso);
        assert_eq!(kept[0].round_pps, vec![9e6, 10e6, 8e6]);
        assert_eq!(kept[1].round_pps, vec![12e6]);
        // Another frame size, mode or flow count is another case.
        keep_fastest(
            &mut kept,
            Profile {
                frame_size: 512,
                ..fast.clone()
            },
        );
        keep_fastest(
            &mut kept,
            Profile {
                mode: "nat".into(),
                ..fast.clone()
            },
        );
        keep_fastest(
            &mut kept,
            Profile {
                flows: 2000,
                ..fast
            },
        );
        assert_eq!(kept.len(), 5);
    }

    #[test]
    fn perf_reports_parse_by_object_and_by_symbol() {
        let dso = parse_report(BY_DSO).unwrap();
        assert_eq!(dso.len(), 4);
        assert_eq!(
            dso[1],
            Share {
                dso: "librte_net_memif.so.23.0".into(),
                symbol: None,
                samples: 390
            }
        );
        let sym = parse_report(BY_SYM).unwrap();
        assert_eq!(
            sym[0].symbol.as_deref(),
            Some("dataplane::forward::Forwarder::transmit")
        );
        assert_eq!(sym[2].dso, "[kernel.kallsyms]");
        assert_eq!(sym[2].symbol.as_deref(), Some("clear_page_erms"));
        let err = parse_report("# Samples: 14K of event 'cpu-clock'\n").unwrap_err();
        assert!(err.contains("Samples: 14K"), "{err}");
    }

    #[test]
    fn objects_fall_into_their_kinds() {
        assert_eq!(Part::of("rvsd"), Part::Device);
        assert_eq!(Part::of("dpdk-testpmd"), Part::Device);
        assert_eq!(Part::of("librte_net_memif.so.23.0"), Part::Memif);
        assert_eq!(Part::of("librte_mempool_ring.so.23.0"), Part::Dpdk);
        assert_eq!(Part::of("ld-linux-x86-64.so.2"), Part::Libc);
        assert_eq!(Part::of("[kernel.kallsyms]"), Part::Kernel);
        assert_eq!(Part::of("[vdso]"), Part::Other);
    }

    #[test]
    fn time_per_packet_splits_by_the_samples() {
        // 10 Mpps with the thread always on its cpu: 100 ns a packet, 524 of 963 samples rvsd.
        let p = profile("rvs", "dr", 1000, 10e6, BY_DSO);
        assert_eq!(p.samples(), 963);
        assert!((p.ns_per_packet().unwrap() - 100.0).abs() < 1e-9);
        assert!((p.part_ns(Part::Device).unwrap() - 100.0 * 524.0 / 963.0).abs() < 1e-9);
        let total: f64 = Part::ALL.iter().map(|&k| p.part_ns(k).unwrap()).sum();
        assert!((total - 100.0).abs() < 1e-9);
        let half_the_time = Profile {
            window_on_cpu: Some(0.5),
            ..p.clone()
        };
        assert!((half_the_time.ns_per_packet().unwrap() - 50.0).abs() < 1e-9);
        let nothing = Profile { rx_pps: 0.0, ..p };
        assert_eq!(nothing.ns_per_packet(), None);
    }

    #[test]
    fn the_section_names_what_separates_rvs_from_testpmd() {
        let io = profile(
            "testpmd-io",
            "-",
            1000,
            12.5e6,
            " 1% ; 10 ;dpdk-testpmd\n 1% ; 70 ;librte_net_memif.so.23.0\n",
        );
        let dr = profile(
            "rvs",
            "dr",
            1000,
            10e6,
            " 1% ; 40 ;rvsd\n 1% ; 60 ;librte_net_memif.so.23.0\n",
        );
        let md = render(&[io.clone(), dr.clone()]);
        // testpmd io: 80 ns (10 own, 70 memif); rvs DR: 100 ns (40 own, 60 memif).
        assert!(
            md.contains(
                "DR against testpmd io at 64 B: 10.00 against 12.50 Mpps in these two runs \
                 (0.80x; the target is 0.8x). Per packet its thread took 100.0 ns against \
                 testpmd io's 80.0; 0.8x of this testpmd io rate allows 100.0 ns and it took as much."
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "By kind of code, testpmd io -> rvs DR: own code +30.0 (10.0 -> 40.0), \
                 net_memif -10.0 (70.0 -> 60.0)."
            ),
            "{md}"
        );
        // A hair past the target (99.999 ns against 100.0): "as much", never "0.0 ns less".
        let short = Profile {
            rx_pps: 10.0001e6,
            ..dr.clone()
        };
        let md_short = render(&[io.clone(), short]);
        assert!(
            md_short.contains("allows 100.0 ns and it took as much."),
            "{md_short}"
        );
        let near = Profile {
            rx_pps: 9.97e6,
            ..dr.clone()
        };
        let md_near = render(&[io.clone(), near]);
        assert!(
            md_near.contains("(0.798x; the target is 0.8x)"),
            "a ratio short of its target is not rounded onto it: {md_near}"
        );
        let slow = Profile {
            rx_pps: 9e6,
            ..dr.clone()
        };
        let md_slow = render(&[io.clone(), slow]);
        assert!(md_slow.contains("took 111.1 ns against testpmd io's 80.0; 0.8x of this testpmd io rate allows 100.0 ns and it took 11.1 ns more."), "{md_slow}");
        // No kind of code differs: said so, not an empty list.
        let same = Profile {
            mode: "dr".into(),
            dut: "rvs".into(),
            ..io.clone()
        };
        let md_same = render(&[io.clone(), same]);
        assert!(
            md_same.contains(
                "By kind of code, testpmd io -> rvs DR: no kind of code differs by 0.5 ns or more."
            ),
            "{md_same}"
        );
        // A profile without samples is left out, and with it the comparison.
        let empty = Profile {
            by_dso: vec![],
            top: vec![],
            ..dr.clone()
        };
        let md_empty = render(&[io.clone(), empty]);
        assert!(!md_empty.contains("rvs DR"), "{md_empty}");
        assert!(md_empty.contains("testpmd-io, 64 B"), "{md_empty}");
        // Without the thread's on-cpu share there is no time per packet, only rates.
        let unknown = Profile {
            window_on_cpu: None,
            ..dr.clone()
        };
        let md_unknown = render(&[io, unknown]);
        assert!(
            md_unknown.contains("| forward: rvs DR, 64 B, 1000 flows | 10.00 | - | - (40%) |"),
            "{md_unknown}"
        );
        assert!(
            md_unknown.contains("(0.80x; the target is 0.8x).\n"),
            "{md_unknown}"
        );
        assert!(
            md.contains(
                "| forward: rvs DR, 64 B, 1000 flows | 10.00 | 100.0 | 40.0 (40%) | 60.0 (60%) |"
            ),
            "{md}"
        );
        // DR's 78 samples in transmit of its 100.
        assert!(
            md.contains("- forward: rvs DR, 64 B, 1000 flows: 78.0% rvsd `dataplane::forward::Forwarder::transmit`, 60.0% librte_net_memif.so.23.0 `0x000000000000b1b6`"),
            "{md}"
        );
        assert!(render(&[]).is_empty());
    }

    #[test]
    fn every_mode_with_a_target_is_compared_with_testpmd_at_its_size() {
        let io = profile("testpmd-io", "-", 1000, 10e6, " 1% ; 10 ;dpdk-testpmd\n");
        let at = |mode: &str, size: usize, rx_pps: f64| Profile {
            mode: mode.into(),
            frame_size: size,
            ..profile("rvs", mode, 1000, rx_pps, " 1% ; 10 ;rvsd\n")
        };
        let md = render(&[
            io.clone(),
            at("dr", 64, 7.5e6),
            at("tun", 64, 6e6),
            at("nat", 64, 6.5e6),
            at("fullnat", 512, 5e6),
        ]);
        assert!(
            md.contains(
                "DR against testpmd io at 64 B: 7.50 against 10.00 Mpps in these two runs \
                 (0.75x; the target is 0.8x). Per packet its thread took 133.3 ns against \
                 testpmd io's 100.0; 0.8x of this testpmd io rate allows 125.0 ns and it took \
                 8.3 ns more. By kind of code, testpmd io -> rvs DR:"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "NAT against testpmd io at 64 B: 6.50 against 10.00 Mpps in these two runs \
                 (0.65x; the target is 0.7x). Per packet its thread took 153.8 ns against \
                 testpmd io's 100.0; 0.7x of this testpmd io rate allows 142.9 ns and it took \
                 11.0 ns more."
            ),
            "{md}"
        );
        assert!(md.find("DR against") < md.find("NAT against"), "{md}");
        // TUN has no target; FULLNAT has no testpmd io profile at its size.
        assert!(!md.contains("TUN against"), "{md}");
        assert!(!md.contains("FULLNAT against"), "{md}");
        let io_512 = Profile {
            frame_size: 512,
            ..io
        };
        let md = render(&[io_512, at("fullnat", 512, 5e6)]);
        assert!(
            md.contains("FULLNAT against testpmd io at 512 B: 5.00 against 10.00 Mpps"),
            "{md}"
        );
    }

    #[test]
    fn the_section_compares_the_most_sessions_with_the_fewest() {
        let few = profile(
            "rvs",
            "dr",
            1000,
            10e6,
            " 1% ; 50 ;rvsd\n 1% ; 50 ;[kernel.kallsyms]\n",
        );
        let few = Profile {
            scenario: "sessions".into(),
            ..few
        };
        let many = profile(
            "rvs",
            "dr",
            10_000_000,
            5e6,
            " 1% ; 150 ;rvsd\n 1% ; 50 ;[kernel.kallsyms]\n",
        );
        let md = render(&[few, many]);
        // 100 ns (50 own, 50 kernel) against 200 (150 own, 50 kernel).
        assert!(
            md.contains("10000000 flows against 1000 on the same rvsd: 200.0 against 100.0 ns a packet (2.00x). By kind of code: own code +100.0 (50.0 -> 150.0)."),
            "{md}"
        );
    }
}
