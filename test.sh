#!/usr/bin/env bash
# Runs every rvs check: formatting, clippy with warnings as errors, the house rules (no import
# circle, no long function), the whole test suite (unit, golden, property and DPDK integration
# tests), then the end-to-end tests in the network-namespace lab for NAT, FULLNAT, DR and TUN, and
# their negative control (the same checks with rvsd stopped must fail), director failover with
# two boxes (e2e-ha.sh) and a fleet behind ECMP with BGP (e2e-fleet.sh), their negative controls
# inside. Installs what is missing first. Needs root (namespaces, raw sockets).
set -euo pipefail
cd "$(dirname "$0")"
. deploy/setup.sh
rvs_setup
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "house rules: no import circle, no long function (tools/house_rules.py)"
python3 tools/house_rules.py .
say "cargo test --workspace"
cargo test --workspace
say "building rvsd and rvsadm (release) for the lab"
cargo build --release --quiet -p control --bin rvsd
cargo build --release --quiet -p rvsadm
say "end-to-end: deploy/lab/e2e.sh (nat fullnat dr tun)"
RVS_E2E_STRICT=1 bash deploy/lab/e2e.sh
say "end-to-end negative control: deploy/lab/e2e.sh --without-lb (every check must fail)"
RVS_E2E_STRICT=1 bash deploy/lab/e2e.sh --without-lb
say "end-to-end failover: deploy/lab/e2e-ha.sh (two boxes, keepalived, connection sync)"
bash deploy/lab/e2e-ha.sh
say "end-to-end fleet: deploy/lab/e2e-fleet.sh (boxes behind ECMP, BGP with BIRD, sloppy_tcp)"
bash deploy/lab/e2e-fleet.sh
say "all checks passed"
