//! rvs-bench's command line.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser, Clone)]
#[command(about = "rvs benchmark harness (rvsd and dpdk-testpmd against rvs-pktgen over memif)")]
pub struct Args {
    /// Where results.json, results.md and the plots go.
    #[arg(long, default_value = "perf/results")]
    pub out: PathBuf,
    /// Directory of rvsd, rvsadm and rvs-pktgen.
    #[arg(long, default_value = "target/release")]
    pub bin: PathBuf,
    #[arg(long, default_value = "/run/rvs-perf")]
    pub run_dir: PathBuf,
    /// Seconds per measured point.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Rounds (devices alternate; best round kept).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Frame sizes of the forwarding scenario.
    #[arg(long, value_delimiter = ',', default_value = "64,512,1518")]
    pub sizes: Vec<usize>,
    /// Session counts of the scaling scenario.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000,10000000"
    )]
    pub sessions: Vec<u64>,
    /// Scenarios to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "forward,cps,reconfig,sessions,profile"
    )]
    pub scenarios: Vec<String>,
    /// Offered load of the reconfiguration scenario (pps).
    #[arg(long, default_value_t = 1_000_000)]
    pub reconfig_rate: u64,
    /// Flows of the reconfiguration scenario replaced by fresh ones each second (of 10000), so
    /// that new sessions are scheduled while the table changes.
    #[arg(long, default_value_t = 10_000)]
    pub reconfig_new_flows: u64,
    /// Keep the points of other scenarios from an earlier results.json in --out (rerun some
    /// scenarios only).
    #[arg(long)]
    pub merge: bool,
    /// Seconds of the reconfiguration scenario.
    #[arg(long, default_value_t = 10)]
    pub reconfig_secs: u64,
    /// Run nothing: write results.md and the plots again from --out's results.json (after a
    /// change to the report).
    #[arg(long)]
    pub render: bool,
}
