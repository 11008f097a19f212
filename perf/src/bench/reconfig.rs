//! The reconfiguration scenario: traffic through a two-server NAT service while rvsadm changes
//! it once a second, against a control run with read-only rvsadm calls.

use super::device::{Dut, Running};
use super::runner::Bench;
use super::rvsd::{rvsd_metrics, RECONFIG_PORT};
use super::Res;
use crate::results::RVS;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

impl Bench {
    /// Traffic at a fixed rate through a two-server NAT service, over flows renewed as it runs
    /// (`--reconfig-new-flows` fresh ones a second, each a session scheduled by the table of the
    /// moment), with one rvsadm change per second, and as the control the same traffic with one
    /// read-only rvsadm call per second (loss the machine and the harness cause, with no
    /// reconfiguration). A run that loses packets notes which rvsd drop counters grew. Each
    /// round on a fresh rvsd. A run that fails (rvsd can die in net_memif when the previous
    /// generator disconnects, see ARCHITECTURE) is retried once on a restarted rvsd, and the
    /// restart is noted.
    pub fn reconfig(&mut self) -> Res<()> {
        const DUT: Dut = Dut::Rvsd {
            capacity: 1 << 20,
            kernel_if: false,
            sync: false,
        };
        for round in 0..self.a.rounds {
            eprintln!(
                "reconfig: round {}: {} s at {} pps, without then with changes",
                round + 1,
                self.a.reconfig_secs,
                self.a.reconfig_rate
            );
            let mut d = self.start(DUT)?;
            for with_changes in [false, true] {
                if let Err(e) = self.reconfig_run(&mut d, with_changes) {
                    let run = if with_changes { "change" } else { "control" };
                    eprintln!("rvs-bench: reconfig {run} run: {e}; restarting rvsd, retrying once");
                    d.stop();
                    // The restart truncates rvsd's log: keep the failed run's.
                    let kept = format!("rvs-reconfig-round{}-{run}.log", round + 1);
                    let log = self.a.run_dir.join(format!("{RVS}.log"));
                    let kept = match std::fs::rename(&log, self.a.run_dir.join(&kept)) {
                        Ok(()) => format!("its log is {}", self.a.run_dir.join(kept).display()),
                        Err(e) => format!("its log could not be kept: {e}"),
                    };
                    self.results.notes.push(format!(
                        "reconfig round {}: the {run} run failed ({e}; {kept}); rvsd was restarted and the run retried once",
                        round + 1
                    ));
                    d = self.start(DUT)?;
                    self.reconfig_run(&mut d, with_changes)?;
                }
            }
        }
        Ok(())
    }

    /// One run of the reconfiguration scenario on `d`, with one rvsadm change a second, or
    /// (`with_changes` false) the control run's read-only calls; recorded as a `reconfig` or
    /// `reconfig-control` round. An error when the run failed or rvsd exited during it.
    fn reconfig_run(&mut self, d: &mut Running, with_changes: bool) -> Res<()> {
        // Before the rvsadm thread starts its clock (this waits for a counter sample).
        let (_, drops_before) = rvsd_metrics();
        let stop = Arc::new(AtomicBool::new(false));
        let changer = self.spawn_rvsadm(with_changes, stop.clone());
        // Fresh client tuples for every run: the change run's renewed flows are not the control
        // run's, whose sessions live on (UDP timeout 300 s), but new sessions to schedule.
        self.flow_base += 20_000_000;
        let args = self.reconfig_args();
        let before = self.probe_placement();
        let g = self.pktgen(d, &args, before);
        stop.store(true, Ordering::Relaxed);
        let changes = changer.join().unwrap_or(0);
        let mut g = g?;
        g.changes = Some(changes);
        if let Some(reason) = d.exit_reason() {
            return Err(format!("rvsd exited during the run: {reason}").into());
        }
        if g.gen.lost > 0 {
            self.note_drops(with_changes, g.gen.lost, &drops_before);
        }
        let v = -(g.gen.lost as f64);
        let scenario = if with_changes {
            "reconfig"
        } else {
            "reconfig-control"
        };
        self.record(scenario, d, "nat", 64, 10_000, g, v);
        Ok(())
    }

    /// One rvsadm call per second while the traffic runs, until `stop`; returns the changes
    /// applied. With changes: weight of .12 between 0 and 1, .13 added and removed (its
    /// sessions outlive it, as in IPVS), and the scheduler from wrr to rr and back. The control
    /// run makes the same number of calls, read-only (list the services), so both runs start
    /// the same processes on the same cpus and differ only in whether the table changes.
    fn spawn_rvsadm(&self, with_changes: bool, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
        let sock = self.a.run_dir.join("rvsd.sock");
        let rvsadm = self.a.bin.join("rvsadm");
        std::thread::spawn(move || -> u64 {
            let svc = format!("10.10.0.100:{RECONFIG_PORT}");
            std::thread::sleep(Duration::from_millis(1500)); // generator start-up + warm-up
            let mut n = 0u64;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let args: Vec<String> = match (with_changes, i % 6) {
                    (false, _) => vec!["-L", "-n"],
                    (true, 0) => vec!["-e", "-u", &svc, "-r", "10.20.0.12", "-m", "-w", "0"],
                    (true, 1) => vec!["-a", "-u", &svc, "-r", "10.20.0.13", "-m", "-w", "2"],
                    (true, 2) => vec!["-E", "-u", &svc, "-s", "rr"],
                    (true, 3) => vec!["-e", "-u", &svc, "-r", "10.20.0.12", "-m", "-w", "1"],
                    (true, 4) => vec!["-d", "-u", &svc, "-r", "10.20.0.13"],
                    (true, _) => vec!["-E", "-u", &svc, "-s", "wrr"],
                }
                .into_iter()
                .map(String::from)
                .collect();
                let ok = Command::new(&rvsadm)
                    .arg("--socket")
                    .arg(&sock)
                    .args(&args)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok && with_changes {
                    n += 1;
                } else if !ok {
                    eprintln!("  rvsadm {args:?} failed");
                }
                i += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            n
        })
    }

    /// The generator's arguments for a reconfiguration run: 10000 UDP flows of 64 B from
    /// `flow_base` to the two-server NAT service at `--reconfig-rate`, renewing
    /// `--reconfig-new-flows` a second, for `--reconfig-secs`.
    fn reconfig_args(&self) -> Vec<String> {
        [
            "--mode",
            "udp",
            "--flows",
            "10000",
            "--flow-base",
            &self.flow_base.to_string(),
            "--size",
            "64",
            "--duration",
            &self.a.reconfig_secs.to_string(),
            "--vport",
            &RECONFIG_PORT.to_string(),
            "--rate",
            &self.a.reconfig_rate.to_string(),
            "--new-flows-per-sec",
            &self.a.reconfig_new_flows.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }

    /// Notes where a run's `lost` packets went: rvsd's drop counters that grew from
    /// `drops_before` during the run.
    fn note_drops(&mut self, with_changes: bool, lost: u64, drops_before: &[(String, u64)]) {
        let (_, drops_after) = rvsd_metrics();
        let grew: Vec<String> = drops_after
            .iter()
            .filter_map(|(name, after)| {
                let before = drops_before
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, v)| *v);
                (after > &before).then(|| format!("{name} +{}", after - before))
            })
            .collect();
        let run = if with_changes { "change" } else { "control" };
        self.results.notes.push(format!(
            "reconfig {run} run lost {}; rvsd drop counters during the run: {}",
            lost,
            if grew.is_empty() {
                "none grew (lost outside rvsd's counters: the generator's own rings)".into()
            } else {
                grew.join(", ")
            }
        ));
    }
}
