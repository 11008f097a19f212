//! rvs-bench: runs the benchmark scenarios of issue 7 against rvsd and dpdk-testpmd and writes
//! `results.json`, `results.md` and PNG plots (gnuplot) into the output directory. The harness
//! itself is `perf::bench`; this is its command line and the order of the scenarios.

use clap::Parser;
use perf::bench::args::Args;
use perf::bench::output::{merge_earlier, plot, render, write_out};
use perf::bench::runner::Bench;
use perf::bench::Res;
use perf::report::render_markdown;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvs-bench: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// `--render` alone, or each of `--scenarios` in turn, the results written after each.
fn run() -> Res<()> {
    let a = Args::parse();
    if a.render {
        return render(&a.out);
    }
    std::fs::create_dir_all(&a.out)?;
    std::fs::create_dir_all(&a.run_dir)?;
    let mut b = Bench::new(a.clone());
    if a.merge {
        merge_earlier(&mut b.results, &a.out, &a.scenarios)?;
    }
    let t0 = Instant::now();
    for s in &a.scenarios {
        b.scenario.clone_from(s);
        let r = match s.as_str() {
            "forward" => b.forward(),
            "cps" => b.cps(),
            "reconfig" => b.reconfig(),
            "sessions" => b.sessions(),
            "profile" => b.profile(),
            other => Err(format!("unknown scenario {other}").into()),
        };
        if let Err(e) = r {
            eprintln!("rvs-bench: scenario {s}: {e}");
            b.results.notes.push(format!("scenario {s} failed: {e}"));
        }
        // Write what we have after every scenario.
        write_out(&a.out, &b.results)?;
    }
    eprintln!("done in {:.0} s", t0.elapsed().as_secs_f64());
    if let Err(e) = plot(&a.out, &b.results) {
        eprintln!("rvs-bench: plots: {e}");
    }
    print!("{}", render_markdown(&b.results));
    Ok(())
}
