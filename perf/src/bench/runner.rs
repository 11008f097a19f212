//! The bench's runner: [`Bench`] holds the run's arguments and results, starts devices, seeks a
//! near placement of the generator's and the device's cpus, runs the generator once per point
//! and records each round into its point. The scenarios are `Bench` methods in their own files.

use super::args::Args;
use super::device::{Dut, Running};
use super::rvsd::rvsd_metrics;
use super::Res;
use crate::placement::cache_line_latency_ns;
use crate::results::{far, GenResult, Point, Results, RVS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One generator run and what was known of the machine meanwhile.
pub struct Measured {
    pub gen: GenResult,
    /// Share of the run the device's forwarding thread spent on its cpu.
    pub dut_cpu: Option<f64>,
    /// Cache-line latency between the generator's and the device's cpus (ns): the larger of
    /// the probes just before and just after the run.
    pub c2c_ns: Option<f64>,
    /// Reconfiguration scenario: changes applied during the run (recorded with its round).
    pub changes: Option<u64>,
}

/// The generator's and the forwarding lcore's cpus.
const GEN_CPU: usize = 0;
const DUT_CPU: usize = 1;
/// How long to wait for the host to bring the two cpus near each other again before a run:
/// first with the device running, then with it stopped.
const PLACEMENT_WAIT_RUNNING: Duration = Duration::from_secs(3);
const PLACEMENT_WAIT_IDLE: Duration = Duration::from_secs(10);

/// One bench run: its arguments and what it has measured so far.
pub struct Bench {
    pub a: Args,
    pub results: Results,
    /// Where the client tuples of the last run with flows of its own (cps, reconfig) began;
    /// each such run moves it 20M on first, so that no run reuses an earlier run's sessions.
    pub flow_base: u64,
    /// The scenario running, which the notes of its points start with (`--merge` drops the
    /// notes of a scenario it reruns).
    pub scenario: String,
}

impl Bench {
    /// A bench run with arguments `a`, its results headed with the time, commit and machine.
    pub fn new(a: Args) -> Bench {
        let cpu = sh(
            "sh",
            &["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
        );
        Bench {
            results: Results {
                started: sh("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
                commit: sh("git", &["rev-parse", "--short", "HEAD"]),
                machine: format!(
                    "{} x{}, {} GiB RAM",
                    cpu.trim(),
                    sh("nproc", &[]),
                    sh("sh", &["-c", "free -g | awk '/Mem:/ {print $2}'"])
                ),
                duration_s: a.duration,
                rounds: a.rounds,
                ..Results::default()
            },
            a,
            flow_base: 0,
            scenario: String::new(),
        }
    }

    /// Starts `dut` with this run's sockets and binaries.
    pub fn start(&self, dut: Dut) -> Res<Running> {
        dut.start(&self.a.run_dir, &self.a.bin)
    }

    /// Cache-line latency between the generator's and the device's cpus (ns); None if the
    /// probe failed.
    pub fn probe_placement(&self) -> Option<f64> {
        match cache_line_latency_ns(GEN_CPU, DUT_CPU, Duration::from_secs(5)) {
            Ok(ns) => Some(ns),
            Err(e) => {
                eprintln!("  placement probe: {e}");
                None
            }
        }
    }

    /// Probes the placement of the two cpus every half second while the host keeps them far
    /// apart, for at most `limit`; returns the last probe.
    fn wait_for_near_placement(&self, limit: Duration) -> Option<f64> {
        let end = Instant::now() + limit;
        let mut ns = self.probe_placement();
        while far(ns) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(500));
            ns = self.probe_placement();
        }
        ns
    }

    /// Before a run: when the host keeps the two cpus far apart, waits a little with the device
    /// running, then stops the device and waits while both cpus idle (which is when the host
    /// moves vcpus: a busy-polling device pins its vcpu where it is) and starts it again.
    /// Returns the placement the run starts with.
    fn seek_near_placement(&mut self, dut: &mut Running) -> Option<f64> {
        let ns = self.wait_for_near_placement(PLACEMENT_WAIT_RUNNING);
        if !far(ns) {
            return ns;
        }
        eprintln!(
            "  cpus {GEN_CPU} and {DUT_CPU} far apart ({:.0} ns): restarting {} to let the host move them",
            ns.unwrap_or(0.0),
            dut.dut.name()
        );
        dut.stop();
        let idle = self.wait_for_near_placement(PLACEMENT_WAIT_IDLE);
        match self.start(dut.dut) {
            Ok(d) => *dut = d,
            Err(e) => {
                eprintln!("  restart: {e}");
                return idle;
            }
        }
        self.probe_placement()
    }

    /// Runs the generator, with the share of the run the device's forwarding thread spent on
    /// its cpu and the placement of the two cpus around the run (`before`: probed by the
    /// caller).
    pub fn pktgen(&self, dut: &Running, extra: &[String], before: Option<f64>) -> Res<Measured> {
        let run = &self.a.run_dir;
        let mut c = Command::new(self.a.bin.join("rvs-pktgen"));
        c.arg("--wan-sock").arg(run.join("wan.sock"));
        if dut.dut != Dut::Testpmd5tswap {
            c.arg("--lan-sock").arg(run.join("lan.sock"));
        }
        c.args([
            "--cpu",
            &GEN_CPU.to_string(),
            "--file-prefix",
            "rvs-perf-pktgen",
        ]);
        c.args(extra);
        // A memif server may still be tearing down the previous generator's connection and
        // refuse the next one for a moment (rte_eth_dev_start: EPERM): retry.
        let mut attempt = 0;
        let (t0, r0) = (Instant::now(), dut.worker_runtime());
        let out = loop {
            let out = c.stderr(Stdio::inherit()).output()?;
            attempt += 1;
            if out.status.success() {
                break out;
            }
            if attempt == 2 {
                return Err(format!("rvs-pktgen {extra:?} failed ({})", out.status).into());
            }
            eprintln!("  rvs-pktgen failed ({}), retrying", out.status);
            std::thread::sleep(Duration::from_secs(2));
        };
        let dut_cpu = match (r0, dut.worker_runtime()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / t0.elapsed().as_nanos() as f64),
            _ => None,
        };
        let after = self.probe_placement();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().ok_or("rvs-pktgen printed nothing")?;
        Ok(Measured {
            gen: serde_json::from_str(line)?,
            dut_cpu,
            c2c_ns: before.into_iter().chain(after).reduce(f64::max),
            changes: None,
        })
    }

    /// One generator run. When the generator cannot connect (the device's memif server keeps
    /// refusing it), the device is restarted once and the run retried; a failure after that is
    /// noted in the results and the scenario goes on.
    pub fn point(&mut self, dut: &mut Running, args: &[String]) -> Option<Measured> {
        let mut restarted = false;
        loop {
            let before = self.seek_near_placement(dut);
            match self.pktgen(dut, args, before) {
                Ok(g) => return Some(g),
                Err(e) if !restarted => {
                    eprintln!("rvs-bench: {e}; restarting {}", dut.dut.name());
                    self.results.notes.push(format!(
                        "{}: {} restarted once: the generator could not connect ({e})",
                        self.scenario,
                        dut.dut.name()
                    ));
                    // Stop the old instance before the new one takes the sockets.
                    dut.stop();
                    match self.start(dut.dut) {
                        Ok(d) => *dut = d,
                        Err(e) => {
                            self.results
                                .notes
                                .push(format!("{}: restart failed: {e}", self.scenario));
                            return None;
                        }
                    }
                    restarted = true;
                }
                Err(e) => {
                    eprintln!("rvs-bench: {e}");
                    self.results.notes.push(format!(
                        "{}: {} point failed: {e}",
                        self.scenario,
                        dut.dut.name()
                    ));
                    return None;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        scenario: &str,
        dut: &mut Running,
        mode: &str,
        size: usize,
        flows: u64,
        m: Measured,
        value: f64,
    ) {
        let (sessions, drops) = if dut.dut.name() == RVS {
            rvsd_metrics()
        } else {
            (None, vec![])
        };
        if dut.dut.name() == RVS && sessions.is_none() {
            // The generator's figures stand (it counted what came back); only rvsd's are missing.
            self.results.notes.push(format!(
                "{}: rvs {mode} {size} B {flows} flows ({scenario}): rvsd's metrics could not be \
                 read after the run, so its live sessions and drops are unknown{}",
                self.scenario,
                dut.exit_reason()
                    .map_or(String::new(), |r| format!(" (rvsd had exited: {r})"))
            ));
        }
        let g = &m.gen;
        eprintln!(
            "  {scenario:9} {:15} {mode:8} {size:5} B {flows:9} flows: tx {:.3} Mpps rx {:.3} Mpps cps {:.0} lost {} p50 {:.1} us{}",
            dut.dut.name(),
            g.tx_pps / 1e6,
            g.rx_pps / 1e6,
            g.cps,
            g.lost,
            g.lat_p50_ns.unwrap_or(0.0) / 1e3,
            sessions.map_or(String::new(), |s| format!(" sessions {s}"))
        );
        eprintln!(
            "            worker on cpu {} of the run; cpus {GEN_CPU}-{DUT_CPU} cache line {}",
            m.dut_cpu
                .map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
            m.c2c_ns.map_or("-".into(), |ns| format!("{ns:.0} ns")),
        );
        let key = |p: &Point| {
            p.scenario == scenario
                && p.dut == dut.dut.name()
                && p.mode == mode
                && p.frame_size == size
                && p.flows == flows
        };
        let kept = Point {
            scenario: scenario.into(),
            dut: dut.dut.name().into(),
            mode: mode.into(),
            frame_size: size,
            flows,
            gen: m.gen,
            rounds: vec![],
            round_c2c_ns: vec![],
            round_changes: vec![],
            sessions,
            changes: m.changes,
            drops,
            dut_cpu: m.dut_cpu,
            c2c_ns: m.c2c_ns,
        };
        match self.results.points.iter_mut().find(|p| key(p)) {
            Some(p) => p.add_round(value, kept),
            None => self.results.points.push(Point {
                rounds: vec![value],
                round_c2c_ns: vec![kept.c2c_ns],
                round_changes: vec![kept.changes],
                ..kept
            }),
        }
    }

    /// Seconds per point, as the generator's `--duration`.
    pub fn secs(&self) -> String {
        self.a.duration.to_string()
    }

    /// Starts `dut`, or notes why it did not start (the scenario goes on without it).
    pub fn start_noted(&mut self, dut: Dut) -> Option<Running> {
        match self.start(dut) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("rvs-bench: {e}");
                self.results.notes.push(format!(
                    "{}: {} did not start: {e}",
                    self.scenario,
                    dut.name()
                ));
                None
            }
        }
    }
}

/// `cmd args`'s standard output, trimmed (empty if it could not run).
fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_reconfiguration_point_keeps_the_change_count_of_its_kept_round() {
        let mut b = Bench {
            a: Args::parse_from(["rvs-bench"]),
            results: Results::default(),
            flow_base: 0,
            scenario: "reconfig".into(),
        };
        // The point's own figures, not rvsd's (no metrics read for testpmd).
        let mut d = Running {
            dut: Dut::TestpmdIo,
            child: None,
        };
        let run = |lost: u64, changes: u64| Measured {
            gen: GenResult {
                lost,
                ..GenResult::default()
            },
            dut_cpu: None,
            c2c_ns: None,
            changes: Some(changes),
        };
        b.record("reconfig", &mut d, "nat", 64, 10_000, run(0, 10), 0.0);
        b.record("reconfig", &mut d, "nat", 64, 10_000, run(3, 7), -3.0);
        let p = &b.results.points[0];
        assert_eq!((p.gen.lost, p.changes), (0, Some(10)), "kept round's");
        b.record("reconfig", &mut d, "nat", 64, 10_000, run(0, 0), 0.0);
        assert_eq!(
            b.results.points[0].changes,
            Some(10),
            "a tie keeps the first"
        );
        assert_eq!(b.results.points.len(), 1);
    }
}
