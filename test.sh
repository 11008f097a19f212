#!/usr/bin/env bash
# Runs every rvs check: formatting, clippy with warnings as errors, and the whole test suite
# (unit, golden, property and DPDK integration tests). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
. deploy/setup.sh
rvs_setup
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "cargo test --workspace"
cargo test --workspace
say "all checks passed"
