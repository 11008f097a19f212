//! The benchmark harness behind `rvs-bench`: runs the benchmark scenarios of issue 7 and writes
//! `results.json`, `results.md` and PNG plots (gnuplot) into the output directory.
//!
//! Devices under test ([`device`]), each the memif *server* of two ports (client side `wan`,
//! server side `lan`; sockets in `--run-dir`), forwarding lcore on cpu 1, main lcore on cpu 0:
//! - `dpdk-testpmd --forward-mode=io` (wan <-> lan), the baseline for forwarding;
//! - `dpdk-testpmd --forward-mode=5tswap --port-topology=loop` on the wan port alone (bounce);
//! - `rvsd`, one worker, with one UDP service per forwarding mode and TCP services for CPS
//!   ([`rvsd`]).
//!
//! The generator (`rvs-pktgen`, lcore on cpu 0) is started once per point ([`runner`]). Rounds
//! alternate the devices so that noise from other work on the machine hits all of them alike;
//! each point keeps its best round; before each run the harness seeks a placement of the two
//! cpus near each other on the host (`perf::placement`, probed before and after every run).
//! The scenarios are methods of [`runner::Bench`], one file each: `forward`, `cps`, `reconfig`,
//! `sessions` and, last, `profile`, which records the forwarding thread with `perf` during one
//! run of each case behind a target that compares two runs (`perf::profile`), so that a missed
//! target comes with where the time goes. [`output`] writes the results and the plots.

pub mod args;
mod cps;
pub mod device;
mod forward;
pub mod output;
mod profile;
mod reconfig;
pub mod runner;
pub mod rvsd;
mod sessions;

/// What the harness's steps return: their error is reported, as text, in the results' notes or
/// on stderr.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;
