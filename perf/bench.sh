#!/usr/bin/env bash
# The rvs benchmark: installs what is missing (deploy/setup.sh, plus dpdk-testpmd, gnuplot and
# perf), builds release, runs rvsd and dpdk-testpmd (io, 5tswap) against rvs-pktgen over memif
# ports, profiles their forwarding thread, and writes
# perf/results/{results.json,results.md,mpps_vs_size.png,ns_vs_sessions.png}.
# Options are passed to rvs-bench (see `rvs-bench --help`), e.g. --rounds 1 --duration 2
# --scenarios forward,cps --sessions 1000,1000000. Needs root (hugepages, /run/rvs-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/setup.sh
rvs_setup
rvs_setup_bench
[ "${RVS_HUGE_OK:-0}" = 1 ] || die "the bench needs hugepages (3 DPDK processes run at once)"
say "building release (rvsd, rvsadm, rvs-pktgen, rvs-bench)"
cargo build --release --quiet -p control -p rvsadm -p perf
target=${CARGO_TARGET_DIR:-target}
say "running the scenarios (about 25 minutes, more when targets are missed); progress below, results in perf/results/"
as_root "$target/release/rvs-bench" --bin "$target/release" --out perf/results "$@"
say "results: perf/results/results.md, results.json, mpps_vs_size.png, ns_vs_sessions.png"
