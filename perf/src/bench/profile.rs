//! The profile scenario: the forwarding thread recorded with `perf record -e cpu-clock` during
//! one run of each case behind a target that compares two runs, reduced by [`crate::profile`].

use super::device::{child_named, task_runtime, worker_task, Dut, Running};
use super::forward::{FORWARD_FLOWS, FORWARD_RVSD};
use super::runner::Bench;
use super::rvsd::{rvsd_metrics, MODES};
use super::sessions::SESSIONS_SIZE;
use super::Res;
use crate::profile::{keep_fastest, parse_report, Part, TOP_PERCENT};
use crate::results::{Profile, Share, RVS};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds of the profile scenario (at most; fewer with `--rounds`): each case keeps its
/// fastest profile.
const PROFILE_ROUNDS: usize = 3;

impl Bench {
    /// Profiles the forwarding thread where a missed target needs explaining (see
    /// `perf::profile`): rvs DR at the smallest frame size of the forwarding scenario and every
    /// rvs mode and size whose forwarding point in the results misses its target, each with
    /// testpmd io at the same size (1000 flows, one rvsd per size for its modes); rvs DR at the
    /// fewest and the most flows of the sessions scenario, on one rvsd with that scenario's
    /// table. Each run's measurement is recorded by `perf record -e cpu-clock` of the
    /// forwarding thread alone; each case keeps its fastest of [`PROFILE_ROUNDS`] rounds.
    pub fn profile(&mut self) -> Res<()> {
        let perf_found = Command::new("perf")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !perf_found {
            return Err("perf not found (Debian's linux-perf; perf/bench.sh installs it)".into());
        }
        if self.a.duration < 1.0 {
            return Err("profiles need --duration 1 or more".into());
        }
        self.results.profiles.clear();
        let smallest = self.a.sizes.iter().copied().min().unwrap_or(64);
        let forward_cases = self.results.forward_profile_cases(smallest);
        let mut sizes: Vec<usize> = forward_cases.iter().map(|c| c.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let few = self.a.sessions.iter().copied().min();
        let many = self.a.sessions.iter().copied().max();
        for round in 0..self.a.rounds.min(PROFILE_ROUNDS) {
            eprintln!("profile: round {}", round + 1);
            for &size in &sizes {
                if let Some(mut d) = self.start_noted(Dut::TestpmdIo) {
                    let args = self.forward_args(size, MODES[0].1);
                    self.profiled_point(&mut d, "forward", "-", size, FORWARD_FLOWS, args);
                }
                let Some(mut d) = self.start_noted(FORWARD_RVSD) else {
                    continue;
                };
                for &(mode, port) in &MODES {
                    if forward_cases.iter().any(|(m, s)| m == mode && *s == size) {
                        let args = self.forward_args(size, port);
                        self.profiled_point(&mut d, "forward", mode, size, FORWARD_FLOWS, args);
                    }
                }
            }
            let (Some(few), Some(many)) = (few, many) else {
                continue;
            };
            if few == many {
                continue;
            }
            let dut = Dut::Rvsd {
                capacity: self.sessions_capacity(),
                kernel_if: false,
                sync: false,
            };
            let Some(mut d) = self.start_noted(dut) else {
                continue;
            };
            for flows in [few, many] {
                let args = self.sessions_args(flows);
                self.profiled_point(&mut d, "sessions", "dr", SESSIONS_SIZE, flows, args);
            }
        }
        Ok(())
    }

    /// One generator run (`args`) with its measurement recorded by perf, from a quarter second
    /// after it starts to about half a second before it ends (`--duration` is at least 1 s);
    /// the profile goes into the results, or a note says why there is none.
    fn profiled_point(
        &mut self,
        d: &mut Running,
        scenario: &str,
        mode: &str,
        size: usize,
        flows: u64,
        mut args: Vec<String>,
    ) {
        let run = &self.a.run_dir;
        let (marker, data) = (run.join("measuring"), run.join("profile.data"));
        let _ = std::fs::remove_file(&marker);
        let _ = std::fs::remove_file(&data);
        args.push("--measuring-file".into());
        args.push(marker.display().to_string());
        let seconds = self.a.duration - 0.75; // profile() asks for at least 1 s
                                              // The device's process is looked up when the measurement starts: point() may restart
                                              // the device before that.
        let comm = d.dut.comm();
        let done = Arc::new(AtomicBool::new(false));
        let recorder = {
            let (done, data) = (done.clone(), data.clone());
            std::thread::spawn(move || record_worker(comm, &marker, &data, seconds, &done))
        };
        let measured = self.point(d, &args);
        done.store(true, Ordering::Relaxed);
        let recorded = recorder
            .join()
            .unwrap_or_else(|_| Err("the recording thread panicked".into()));
        let Some(m) = measured else {
            return; // point() noted it
        };
        let reports = recorded.and_then(|on_cpu| {
            let by_dso = perf_report(&data, "dso")?;
            if by_dso.is_empty() {
                return Err("perf recorded no samples".to_string());
            }
            Ok((on_cpu, by_dso, perf_report(&data, "dso,sym")?))
        });
        let (window_on_cpu, by_dso, top) = match reports {
            Ok(r) => r,
            Err(e) => {
                let what = format!("{} {mode} {size} B {flows} flows", d.dut.name());
                // A device that died in the run (net_memif, see ARCHITECTURE) says how.
                let ended = d
                    .exit_reason()
                    .map_or(String::new(), |r| format!("; the device ended: {r}"));
                self.results
                    .notes
                    .push(format!("profile: {what}: no profile ({e}{ended})"));
                return;
            }
        };
        let sessions = if d.dut.name() == RVS {
            rvsd_metrics().0
        } else {
            None
        };
        let profile = Profile {
            scenario: scenario.into(),
            dut: d.dut.name().into(),
            mode: mode.into(),
            frame_size: size,
            flows,
            sessions,
            rx_pps: m.gen.rx_pps,
            window_on_cpu,
            c2c_ns: m.c2c_ns,
            seconds,
            by_dso,
            top,
            round_pps: vec![],
        };
        eprintln!(
            "  profile   {}: {:.2} Mpps, {:.1} ns a packet, {} samples, own code {:.0}%",
            profile.label(),
            profile.rx_pps / 1e6,
            profile.ns_per_packet().unwrap_or(0.0),
            profile.samples(),
            profile.part_share(Part::Device) * 100.0
        );
        keep_fastest(&mut self.results.profiles, profile);
    }
}

/// Waits for the generator's `marker` (its measurement started; gives up when `done` is set
/// first), then records the forwarding thread of this harness's child named `comm` with perf
/// for `seconds` into `data`. Returns the share of the recording the thread was on its cpu
/// (None if its schedstat could not be read).
fn record_worker(
    comm: &str,
    marker: &Path,
    data: &Path,
    seconds: f64,
    done: &AtomicBool,
) -> Result<Option<f64>, String> {
    while !marker.exists() {
        if done.load(Ordering::Relaxed) {
            return Err("the generator's measurement never started".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(250));
    let task = child_named(comm)
        .and_then(worker_task)
        .ok_or("the device has no forwarding thread")?;
    let tid = task
        .file_name()
        .and_then(|t| t.to_str())
        .ok_or("bad /proc task path")?
        .to_string();
    let (t0, r0) = (Instant::now(), task_runtime(&task));
    let out = Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-F",
            "4999",
            "-t",
            &tid,
            "-o",
        ])
        .arg(data)
        .args(["--", "sleep", &format!("{seconds:.2}")])
        .output()
        .map_err(|e| format!("perf record: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "perf record: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // A device that died while recorded (and was restarted by a retry) left no profile of
    // the run that is measured.
    let r1 = task_runtime(&task).ok_or("the forwarding thread ended while it was recorded")?;
    let elapsed = t0.elapsed().as_nanos() as f64;
    Ok(r0.map(|r0| r1.saturating_sub(r0) as f64 / elapsed))
}

/// `perf report` of `data` sorted by `sort` (`dso`, or `dso,sym` with the symbols of at least
/// `profile::TOP_PERCENT` % of the samples), parsed.
fn perf_report(data: &Path, sort: &str) -> Result<Vec<Share>, String> {
    let mut c = Command::new("perf");
    c.arg("report").arg("-i").arg(data).args([
        "--stdio",
        "-q",
        "-n",
        "--no-children",
        "--sort",
        sort,
        "-t",
        ";",
    ]);
    if sort.contains("sym") {
        c.args(["--percent-limit", &TOP_PERCENT.to_string()]);
    }
    let out = c.output().map_err(|e| format!("perf report: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "perf report: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_report(&String::from_utf8_lossy(&out.stdout))
}
