# What the lab's end-to-end scripts share (sourced): where the lab, the binaries and the files
# are; and for the scripts of several boxes (e2e-ha.sh, e2e-fleet.sh, after boxes_setup NAME):
# the cleanup, PASS/FAIL lines (result, verdict), the client's commands (cl) and the summary.
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
LAB=$LAB_DIR/lab.sh
BIN_DIR=${RVS_BIN_DIR:-target/release}
case $BIN_DIR in /*) ;; *) BIN_DIR=$REPO/$BIN_DIR ;; esac
export RVS_BIN_DIR=$BIN_DIR
ADM=$BIN_DIR/rvsadm
STATE=${RVS_LAB_STATE:-/run/rvs-lab}
CACHE=${RVS_LAB_CACHE:-/var/cache/rvs-lab}
VIP=10.10.0.100

# boxes_setup NAME: a scratch directory (TMP), the lab taken down at exit, root and rvsadm
# checked; MODE's column is MODE_WIDTH wide.
boxes_setup() {
    TMP=$(mktemp -d "/tmp/rvs-$1.XXXXXX")
    if [ -t 1 ]; then _g=$'\033[1;32m' _r=$'\033[1;31m' _b=$'\033[1m' _n=$'\033[0m'; else _g='' _r='' _b='' _n=''; fi
    trap boxes_cleanup EXIT
    trap 'exit 130' INT TERM
    [ "$(id -u)" -eq 0 ] || { echo "$1.sh needs root" >&2; exit 2; }
    [ -x "$ADM" ] || { echo "$ADM is missing: cargo build --release -p rvsadm" >&2; exit 2; }
    RESULTS=() FAILS=0 MODE=''
    CPUS=$("$LAB" cpus)
}

boxes_cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    "$LAB" down >/dev/null 2>&1 || true
    rm -rf "$TMP"
}

result() { # check PASS|FAIL detail
    local c=$_g
    [ "$2" = PASS ] || { c=$_r; FAILS=$((FAILS + 1)); }
    printf "  %s%-4s%s %-${MODE_WIDTH}s %-28s %s\n" "$c" "$2" "$_n" "$MODE" "$1" "$3"
    RESULTS+=("$MODE|$1|$2")
}
verdict() { if [ "$2" = 0 ]; then result "$1" PASS "$3"; else result "$1" FAIL "$3"; fi; }

cl() {
    if [ -n "$CPUS" ] && command -v taskset >/dev/null 2>&1; then taskset -c "$CPUS" ip netns exec rvs-client "$@"
    else ip netns exec rvs-client "$@"; fi
}

# summary MODE...: a line per mode (its seconds from TIME, its checks), then the verdict; exits
# 1 on any FAIL.
summary() {
    local m c s r line
    echo
    printf '%sSummary%s\n' "$_b" "$_n"
    for MODE in "$@"; do
        line=''
        for r in "${RESULTS[@]}"; do
            IFS='|' read -r m c s <<<"$r"
            [ "$m" = "$MODE" ] && line="$line ${c%% *}=$s"
        done
        printf "  %-${MODE_WIDTH}s %4s s %s\n" "$MODE" "${TIME[$MODE]:-?}" "$line"
    done
    if [ "$FAILS" -gt 0 ]; then printf '%s%d check(s) failed%s\n' "$_r" "$FAILS" "$_n"; exit 1; fi
    printf '%sall checks passed%s\n' "$_g" "$_n"
}
