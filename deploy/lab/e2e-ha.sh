#!/usr/bin/env bash
# End-to-end tests of director failover in the two-box lab (lab.sh up MODE --ha), per mode:
#
#   e2e-ha.sh [nat|fullnat|dr|tun ...]     default: all four
#
# For each mode: lab.sh up MODE --ha (lb1 MASTER), then
#   (v) a 100 MiB download through the VIP at 10 MB/s; lb2's rvsadm -Lnc lists its connection
#       (synced) before lab.sh kill lb1 (rvsd SIGKILLed) 3 s in: the download completes with the
#       right sha256, and 10 requests started 5 s after the kill all succeed
#   (w) lab.sh start lb1 during a download served by lb2: lb1 takes the VIP back (preemption),
#       the download (a connection lb1 knows by sync) completes intact, new requests succeed
#   (x) as (v) with lab.sh kill lb1 --all (every process of the box: rvsd and keepalived)
#   (y) NAT and FULLNAT, the negative control: with the sync daemons stopped, the download of
#       (v) breaks at the kill
#   (z) lab.sh up MODE --ha --nopreempt: after kill lb1 and start lb1, lb2 keeps the VIP
# PASS/FAIL per check and mode, a summary, exit status 1 on any FAIL; the lab is taken down at
# the end. Environment: as lab.sh.
set -uo pipefail

# shellcheck source=deploy/lab/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
MODE_WIDTH=7
boxes_setup e2e-ha

MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(nat fullnat dr tun)
holder() { "$LAB" status 2>/dev/null | sed -n 's/^\(lb[12]\): .*MASTER.*/\1/p'; }
wait_holder() { # BOX SECONDS
    local i
    for i in $(seq 1 $(($2 * 10))); do [ "$(holder)" = "$1" ] && return 0; sleep 0.1; done
    return 1
}
requests_ok() { # N: how many of N requests to the VIP succeed
    local i ok=0
    for i in $(seq 1 "$1"); do cl curl -s --max-time 5 -o /dev/null "http://$VIP/" && ok=$((ok + 1)); done
    echo "$ok"
}
# download NAME: 100 MiB at 10 MB/s in the background; its pid in DL_PID.
download() {
    rm -f "$TMP/$1.bin"
    cl curl -s --max-time 40 --limit-rate 10M -o "$TMP/$1.bin" "http://$VIP/big.bin" &
    DL_PID=$!
}
# intact NAME PID: waits for the download; 0 if it completed with the right sha256.
intact() {
    wait "$2"
    local rc=$? sum
    sum=$(sha256sum "$TMP/$1.bin" 2>/dev/null | cut -d' ' -f1)
    DL_DETAIL="curl $rc, $(stat -c %s "$TMP/$1.bin" 2>/dev/null || echo 0) bytes"
    [ "$rc" = 0 ] && [ "$sum" = "$(cat "$CACHE/big.bin.sha256")" ]
}
# A connection of the client to the VIP's port 80, ESTABLISHED, in BOX's connection table.
listed() {
    "$ADM" --socket "$STATE/$1.sock" -Lnc 2>/dev/null | grep -q "ESTABLISHED 10.10.0.2:[0-9]* *$VIP:80"
}

# (v), (x): KILL_ARGS for lab.sh kill.
check_failover() {
    local name=$1; shift
    local pid seen=no ok d rc=1
    download "$name"; pid=$DL_PID
    sleep 3
    listed lb2 && seen=yes
    "$LAB" kill lb1 "$@" >/dev/null
    sleep 5
    ok=$(requests_ok 10)
    if intact "$name" "$pid" && [ $seen = yes ] && [ "$ok" = 10 ]; then rc=0; fi
    d="lb2 listed it: $seen; $DL_DETAIL; after 5 s $ok/10 requests; MASTER $(holder)"
    verdict "$name" $rc "$d"
}

check_preempt() {
    local pid rc=1 back=no ok
    download w; pid=$DL_PID
    sleep 2
    "$LAB" start lb1 >/dev/null 2>&1
    wait_holder lb1 15 && back=yes
    ok=$(requests_ok 10)
    if intact w "$pid" && [ $back = yes ] && [ "$ok" = 10 ]; then rc=0; fi
    verdict "(w) start lb1: preempts" $rc "lb1 took the VIP back: $back; $DL_DETAIL; $ok/10 requests"
}

check_without_sync() {
    local pid rc=0
    "$ADM" --socket "$STATE/lb1.sock" --stop-daemon master
    "$ADM" --socket "$STATE/lb2.sock" --stop-daemon backup
    download y; pid=$DL_PID
    sleep 3
    "$LAB" kill lb1 >/dev/null
    intact y "$pid" && rc=1
    verdict "(y) without sync: breaks" $rc "$DL_DETAIL"
}

check_nopreempt() {
    local rc=1 stayed=no
    if ! "$LAB" up "$MODE" --ha --nopreempt >"$TMP/up.log" 2>&1; then
        verdict "(z) nopreempt" 1 "lab up: $(tail -n1 "$TMP/up.log")"; return
    fi
    "$LAB" kill lb1 >/dev/null
    wait_holder lb2 10
    "$LAB" start lb1 >/dev/null 2>&1
    sleep 5
    [ "$(holder)" = lb2 ] && stayed=yes
    [ $stayed = yes ] && [ "$(requests_ok 5)" = 5 ] && rc=0
    verdict "(z) nopreempt" $rc "lb2 kept the VIP after lb1 came back: $stayed"
}

declare -A TIME
for MODE in "${MODES[@]}"; do
    t0=$(date +%s)
    printf '%s== %s, two boxes ==%s\n' "$_b" "$MODE" "$_n"
    if ! "$LAB" up "$MODE" --ha >"$TMP/up.log" 2>&1; then
        verdict "lab up --ha" 1 "$(tail -n1 "$TMP/up.log")"
        continue
    fi
    verdict "lab up --ha" 0 "$(grep -o 'MASTER.*' "$TMP/up.log" | head -1)"
    check_failover "(v) kill lb1"
    check_preempt
    check_failover "(x) kill lb1 --all" --all
    "$LAB" start lb1 >/dev/null 2>&1
    wait_holder lb1 15
    case $MODE in nat | fullnat) check_without_sync ;; esac
    check_nopreempt
    "$LAB" down >/dev/null 2>&1
    TIME[$MODE]=$(($(date +%s) - t0))
done

summary "${MODES[@]}"
