#!/usr/bin/env bash
# rvs's main job, end to end: installs what is missing, builds, and forwards generated client
# traffic through DPDK (net_pcap driver, worker lcore) with the verified result printed.
# Usage: ./demo.sh [--frames N] [--flows N]
set -euo pipefail
cd "$(dirname "$0")"
. deploy/setup.sh
rvs_setup
say "building rvs (release)"
cargo build --release --quiet -p perf --bin rvs-pcap-demo
args=("$@")
[ "$RVS_HUGE_OK" = 1 ] || args+=(--no-huge)
say "running the pcap forwarding path"
exec target/release/rvs-pcap-demo "${args[@]}"
