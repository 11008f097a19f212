#!/usr/bin/env bash
# Prepares a Debian 12 machine for rvs: system packages (Debian's DPDK 22.11, clang, ...), the Rust
# components the tests use, and hugepages. Idempotent: it only does what is missing, and says so.
# Sourced by ../demo.sh and ../test.sh; can be run on its own.
set -euo pipefail

RVS_APT_PACKAGES=(libdpdk-dev dpdk clang libclang-dev pkg-config libpcap-dev iproute2 ca-certificates
    ethtool curl python3 socat iputils-ping openssl tshark keepalived bird2) # the last line: deploy/lab and tests
RVS_HUGEPAGES=${RVS_HUGEPAGES:-1024} # 2 MiB pages to reserve when none are free

if [ -t 1 ]; then _b=$'\033[1m' _y=$'\033[1;33m' _r=$'\033[1;31m' _n=$'\033[0m'; else _b='' _y='' _r='' _n=''; fi
say() { printf '%s==>%s %s\n' "$_b" "$_n" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_y" "$_n" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$_r" "$_n" "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "'$*' needs root and sudo is not installed"; fi
}

install_packages() {
    local missing=() p
    for p in "${RVS_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "system packages: all present (${RVS_APT_PACKAGES[*]})"
        return
    fi
    say "system packages: installing ${missing[*]} (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "system packages: installed; DPDK $(pkg-config --modversion libdpdk)"
}

check_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 || die "Rust is not installed: install it with rustup (https://rustup.rs), then run this again"
    if command -v rustup >/dev/null 2>&1; then
        local c
        for c in rustfmt clippy; do
            rustup component list --installed 2>/dev/null | grep -q "^$c" || { say "rust: adding component $c"; rustup component add "$c"; }
        done
    fi
    say "rust: $(cargo --version)"
}

setup_hugepages() {
    local free
    free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
    if [ "${free:-0}" -eq 0 ]; then
        say "hugepages: none free, reserving $RVS_HUGEPAGES x 2 MiB"
        echo "$RVS_HUGEPAGES" | as_root tee /proc/sys/vm/nr_hugepages >/dev/null || warn "could not reserve hugepages"
        free=$(awk '/^HugePages_Free/ {print $2}' /proc/meminfo)
    fi
    if ! grep -qs hugetlbfs /proc/mounts; then
        say "hugepages: mounting hugetlbfs on /dev/hugepages"
        as_root mkdir -p /dev/hugepages && as_root mount -t hugetlbfs nodev /dev/hugepages || warn "could not mount hugetlbfs"
    fi
    if [ "${free:-0}" -gt 0 ] && grep -qs hugetlbfs /proc/mounts; then
        say "hugepages: $free x 2 MiB free"
        RVS_HUGE_OK=1
    else
        warn "hugepages unavailable: DPDK will run with --no-huge"
        RVS_HUGE_OK=0
    fi
    export RVS_HUGE_OK
}

rvs_setup() {
    install_packages
    check_rust
    setup_hugepages
}

# The benchmark (perf/bench.sh): dpdk-testpmd (the baseline), gnuplot (the plots) and perf (the
# profiles of the forwarding thread).
RVS_BENCH_PACKAGES=(dpdk-dev gnuplot-nox linux-perf)

rvs_setup_bench() {
    local missing=() p
    for p in "${RVS_BENCH_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "bench packages: all present (${RVS_BENCH_PACKAGES[*]})"
        return
    fi
    say "bench packages: installing ${missing[*]} (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    rvs_setup
fi
