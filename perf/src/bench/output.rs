//! What the bench writes into its output directory: `results.json`, `results.md` and the
//! plots (gnuplot), written after every scenario, again from results.json (`--render`), and
//! an earlier run's results kept for the scenarios not rerun (`--merge`).

use super::Res;
use crate::report::render_markdown;
use crate::results::{note_scenario, Results, RVS, TESTPMD_5TSWAP, TESTPMD_IO};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Writes `r` as `out`'s results.json and its report as results.md.
pub fn write_out(out: &Path, r: &Results) -> Res<()> {
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(r)?)?;
    std::fs::write(out.join("results.md"), render_markdown(r))?;
    Ok(())
}

/// `--render`: writes results.md and the plots again from `out`'s results.json, then prints
/// the report.
pub fn render(out: &Path) -> Res<()> {
    let r: Results = serde_json::from_str(&std::fs::read_to_string(out.join("results.json"))?)?;
    let md = render_markdown(&r);
    std::fs::write(out.join("results.md"), &md)?;
    plot(out, &r)?;
    print!("{md}");
    Ok(())
}

/// `--merge`: keeps the points, notes, memory probes and profiles of the scenarios not in
/// `scenarios` from `out`'s results.json, if there is one, in `r`, with a note saying so.
pub fn merge_earlier(r: &mut Results, out: &Path, scenarios: &[String]) -> Res<()> {
    let Ok(text) = std::fs::read_to_string(out.join("results.json")) else {
        return Ok(());
    };
    let old: Results = serde_json::from_str(&text)?;
    let rerun = |sc: &str| {
        scenarios
            .iter()
            .any(|s| sc == s || sc.strip_suffix("-control") == Some(s))
    };
    r.points = old
        .points
        .into_iter()
        .filter(|p| !rerun(&p.scenario))
        .collect();
    // The notes of a rerun scenario go with it.
    r.notes = old
        .notes
        .into_iter()
        .filter(|n| !rerun(note_scenario(n)))
        .collect();
    if !rerun("sessions") {
        r.memory = old.memory;
    }
    if !rerun("profile") {
        r.profiles = old.profiles;
    }
    r.notes.push(format!(
        "{} rerun at {} (commit {}); other scenarios from the run of {} (commit {})",
        scenarios.join(", "),
        r.started,
        r.commit,
        old.started,
        old.commit
    ));
    Ok(())
}

/// The forwarding plot's series, as (device, mode) of the points.
const SERIES: [(&str, &str); 6] = [
    (TESTPMD_IO, "-"),
    (TESTPMD_5TSWAP, "-"),
    (RVS, "dr"),
    (RVS, "tun"),
    (RVS, "nat"),
    (RVS, "fullnat"),
];

/// Plots with gnuplot (pngcairo, else png): writes forward.dat, sessions.dat and the script
/// plots.gp into `out`, then runs it.
pub fn plot(out: &Path, r: &Results) -> Res<()> {
    let sizes = r.forward_sizes();
    std::fs::write(out.join("forward.dat"), forward_dat(r, &sizes))?;
    std::fs::write(out.join("sessions.dat"), sessions_dat(r))?;
    std::fs::write(out.join("plots.gp"), plot_script(out, r, &sizes))?;
    let st = Command::new("gnuplot").arg(out.join("plots.gp")).status()?;
    if !st.success() {
        return Err("gnuplot failed".into());
    }
    Ok(())
}

/// forward.dat: a line per frame size, the Mpps of each of [`SERIES`] (NaN where not measured).
fn forward_dat(r: &Results, sizes: &[usize]) -> String {
    let mut dat = String::new();
    let _ = writeln!(
        dat,
        "size {}",
        SERIES
            .iter()
            .map(|&(d, m)| if m == "-" {
                d.to_string()
            } else {
                format!("rvs-{m}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    for s in sizes {
        let mut line = s.to_string();
        for &(d, m) in &SERIES {
            let v = r
                .points
                .iter()
                .find(|p| {
                    p.scenario == "forward" && p.dut == d && p.mode == m && p.frame_size == *s
                })
                .map_or("NaN".to_string(), |p| format!("{:.4}", p.gen.rx_pps / 1e6));
            line.push(' ');
            line.push_str(&v);
        }
        let _ = writeln!(dat, "{line}");
    }
    dat
}

/// sessions.dat: rvs's ns per packet at each session count.
fn sessions_dat(r: &Results) -> String {
    let mut sdat = String::from("flows ns_per_packet\n");
    for (flows, _, ns) in r.scaling() {
        let _ = writeln!(sdat, "{flows} {ns:.2}");
    }
    sdat
}

/// plots.gp: the forwarding plot (when there are forwarding points) and the sessions plot
/// (when there are sessions points), PNGs in `out`.
fn plot_script(out: &Path, r: &Results, sizes: &[usize]) -> String {
    let o = out.display();
    let mut script =
        String::from("set terminal png size 900,560\nset key outside right\nset grid\n");
    if !sizes.is_empty() {
        let xt = sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let _ = write!(
            script,
            r#"set output "{o}/mpps_vs_size.png"
set title "Forwarded Mpps vs frame size (1 core, memif)"
set xlabel "frame size (bytes)"
set ylabel "Mpps"
set logscale x 2
set xtics ({xt})
set yrange [0:*]
plot for [i=2:{n}] "{o}/forward.dat" using 1:i with linespoints title columnheader(i) lw 2
unset logscale
set xtics auto
"#,
            n = SERIES.len() + 1
        );
    }
    if !r.scaling().is_empty() {
        let _ = write!(
            script,
            r#"set output "{o}/ns_vs_sessions.png"
set title "rvs cost per packet vs live sessions (DR, 64 B)"
set xlabel "sessions (flows)"
set ylabel "ns/packet"
set logscale x 10
set yrange [0:*]
plot "{o}/sessions.dat" using 1:2 with linespoints title "rvs DR" lw 2
"#
        );
    }
    script
}
