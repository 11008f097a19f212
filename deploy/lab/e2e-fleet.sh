#!/usr/bin/env bash
# End-to-end tests of a fleet of rvs boxes behind the router's ECMP route (lab.sh up MODE
# --fleet N: BIRD, BGP with BFD, rvsd's [announce], sloppy_tcp and mh), per mode:
#
#   e2e-fleet.sh [dr|tun ...]     default: both
#
# For each mode, two boxes:
#   (a) 200 connections from the client's varied ports: both boxes scheduled some (rvsadm
#       --stats), all three real servers answered some
#   (b) 12 downloads (20 MiB at 2 MB/s, about 10 s each); lab.sh kill lb1 (rvsd SIGKILLed) 3 s
#       in: every download completes with the right sha256 (the router moved lb1's flows to lb2,
#       which picked them up and sent them to the same servers); lb1 carried some before
#   (c) the negative control: the same with lb2's sloppy_tcp off (rvsadm --sysctl): the
#       downloads lb1 carried break
#   (d) every server's /health failing (lab.sh rs fail): the VIP is withdrawn from the router's
#       table within delay_loop + the BGP hold time (4 s); back when they pass again
#   (g) lb1's rvsd hung (SIGSTOP): the router drops its path (BFD through the exception path)
#   (e) as (b) with lab.sh kill lb1 --all (rvsd and BIRD: the router's BFD notices)
# and in dr, three boxes:
#   (f) a box leaving (lab.sh stop lb3) and joining (lab.sh start lb3) while downloads run: the
#       router rehashes, no download breaks
# PASS/FAIL per check and mode, a summary, exit status 1 on any FAIL; the lab is taken down at
# the end. Environment: as lab.sh.
set -uo pipefail

# shellcheck source=deploy/lab/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
# Enough that every box carries some (a box misses all 12 with odds 2^-12).
DOWNLOADS=12
MODE_WIDTH=4
boxes_setup e2e-fleet

MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(dr tun)
adm() { local box=$1; shift; "$ADM" --socket "$STATE/$box.sock" "$@"; }
hops() { ip netns exec rvs-router ip -4 route show "$VIP/32" 2>/dev/null | grep -o 'via [0-9.]*' | cut -d' ' -f2 | sort | tr '\n' ' '; }
n_hops() { wc -w <<<"$(hops)"; }
wait_hops() { # N SECONDS: until the router routes the VIP through N boxes
    local i
    for i in $(seq 1 $(($2 * 10))); do [ "$(n_hops)" = "$1" ] && return 0; sleep 0.1; done
    return 1
}
# The http service's connections scheduled by BOX (rvsadm -Ln --stats: Conns).
conns() { adm "$1" -Ln --stats 2>/dev/null | awk -v s="$VIP:80" '$1 == "TCP" && $2 == s { print $3 }'; }
# The client's ESTABLISHED connections to the VIP's port 80 in BOX's table.
established() { adm "$1" -Lnc 2>/dev/null | grep -c "ESTABLISHED 10.30.0.2:[0-9]* *$VIP:80"; }

# downloads NAME: DOWNLOADS transfers of mid.bin at 2 MB/s in the background (pids in DL_PIDS);
# a transfer that stalls for 5 s is given up.
downloads() {
    local i
    DL_PIDS=()
    for i in $(seq 1 $DOWNLOADS); do
        rm -f "$TMP/$1-$i.bin"
        cl curl -s --max-time 40 --speed-time 5 --speed-limit 1000 --limit-rate 2M \
            -o "$TMP/$1-$i.bin" "http://$VIP/mid.bin" &
        DL_PIDS+=($!)
    done
}
# intact NAME: waits for the downloads; INTACT is how many completed with the right sha256,
# BROKEN says how the others ended (curl's exit status, bytes).
intact() {
    local i sum want rc
    want=$(cat "$CACHE/mid.bin.sha256")
    INTACT=0 BROKEN=''
    for i in $(seq 1 $DOWNLOADS); do
        wait "${DL_PIDS[$((i - 1))]}"
        rc=$?
        sum=$(sha256sum "$TMP/$1-$i.bin" 2>/dev/null | cut -d' ' -f1)
        if [ "$sum" = "$want" ]; then INTACT=$((INTACT + 1))
        else BROKEN="$BROKEN curl $rc at $(stat -c %s "$TMP/$1-$i.bin" 2>/dev/null || echo 0) B;"; fi
    done
}

# Waits (bounded) until every box of N lists the three servers of the http service and not the
# sorry server: the same table on each, so the same mh choices.
wait_tables() {
    local n=$1 i b ok
    for i in $(seq 1 100); do
        ok=1
        for b in $(seq 1 "$n"); do
            [ "$(adm "lb$b" -Ln 2>/dev/null | awk -v v="$VIP:80" '$1 == "TCP" {s = $2} $1 == "->" && s == v' |
                grep -c -e 10.20.0.11 -e 10.20.0.12 -e 10.20.0.13)" = 3 ] || ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.1
    done
    return 1
}

restart_lb1() {
    "$LAB" start lb1 >/dev/null 2>&1
    wait_hops 2 30
}

check_spread() {
    local i body rs1=0 rs2=0 rs3=0 c1 c2 rc=1
    for i in $(seq 1 200); do
        body=$(cl curl -s --max-time 3 "http://$VIP/" 2>/dev/null)
        case $body in rs1) rs1=$((rs1 + 1)) ;; rs2) rs2=$((rs2 + 1)) ;; rs3) rs3=$((rs3 + 1)) ;; esac
    done
    c1=$(conns lb1) c2=$(conns lb2)
    [ "${c1:-0}" -gt 0 ] && [ "${c2:-0}" -gt 0 ] && [ $rs1 -gt 0 ] && [ $rs2 -gt 0 ] && [ $rs3 -gt 0 ] &&
        [ $((rs1 + rs2 + rs3)) = 200 ] && rc=0
    verdict "(a) 200 connections" $rc "boxes: lb1 ${c1:-?} lb2 ${c2:-?} connections; servers: rs1=$rs1 rs2=$rs2 rs3=$rs3"
}

# (b), (e), (c): KILL_ARGS for lab.sh kill; WANT: all (every download intact) or broken.
check_kill() {
    local name=$1 want=$2; shift 2
    local held rc=1
    downloads "$name"
    sleep 3
    held=$(established lb1)
    "$LAB" kill lb1 "$@" >/dev/null
    intact "$name"
    case $want in
        all) [ "$held" -gt 0 ] && [ $INTACT = $DOWNLOADS ] && rc=0 ;;
        broken) [ "$held" -gt 0 ] && [ $INTACT -lt $DOWNLOADS ] && rc=0 ;;
    esac
    verdict "$name" $rc "lb1 carried $held/$DOWNLOADS; $INTACT/$DOWNLOADS intact;$BROKEN router's next hops now: $(hops)"
}

check_withdrawal() {
    local t0 t1 t2 down=no back=no rc=1 i
    t0=$(date +%s.%N)
    for i in rs1 rs2 rs3; do "$LAB" rs fail $i >/dev/null; done
    wait_hops 0 15 && down=yes
    t1=$(date +%s.%N)
    for i in rs1 rs2 rs3; do "$LAB" rs ok $i >/dev/null; done
    wait_hops 2 15 && back=yes
    t2=$(date +%s.%N)
    # Announced again once one server is back; the next check wants all three on both boxes.
    wait_tables 2
    local dt_down dt_back
    dt_down=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    dt_back=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
    # Within delay_loop 1 + the BGP hold time 3 (the check's one retry, a second, included).
    [ $down = yes ] && [ $back = yes ] && awk -v d="$dt_down" 'BEGIN { exit !(d <= 4) }' && rc=0
    verdict "(d) health withdraws" $rc "every /health failing: withdrawn after $dt_down s (limit 4); passing: both boxes back after $dt_back s"
}

# (g) lb1's rvsd hung (SIGSTOP): its kernel interface stays, but BIRD's BFD packets cross the
# stopped rvsd no more, so the router drops lb1's path; SIGCONT: back.
check_hang() {
    local pid t0 t1 gone=no back=no rc=1
    pid=$(cat "$STATE/lb1-rvsd.pid")
    t0=$(date +%s.%N)
    kill -STOP "$pid"
    wait_hops 1 10 && gone=yes
    t1=$(date +%s.%N)
    kill -CONT "$pid"
    wait_hops 2 20 && back=yes
    [ $gone = yes ] && [ $back = yes ] && rc=0
    verdict "(g) rvsd hung" $rc "lb1's rvsd stopped: its path gone: $gone, after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; continued: back: $back"
}

check_rehash() {
    # With three boxes, one misses all 18 with odds (2/3)^18, under 0.1 %.
    local DOWNLOADS=18 rc=1 left joined
    if ! "$LAB" up "$MODE" --fleet 3 >"$TMP/up3.log" 2>&1; then
        verdict "(f) rehash, 3 boxes" 1 "lab up --fleet 3: $(tail -n1 "$TMP/up3.log")"; return
    fi
    local carried took
    downloads f1
    sleep 3
    carried=$(established lb3)
    "$LAB" stop lb3 >/dev/null
    wait_hops 2 10
    intact f1; left=$INTACT
    downloads f2
    sleep 2
    "$LAB" start lb3 >/dev/null 2>&1
    wait_hops 3 8 && joined=yes || joined=no
    sleep 1
    # The running downloads lb3 took over mid-flow when it joined.
    took=$(established lb3)
    intact f2
    [ "$left" = $DOWNLOADS ] && [ $INTACT = $DOWNLOADS ] && [ $joined = yes ] &&
        [ "$carried" -gt 0 ] && [ "$took" -gt 0 ] && rc=0
    verdict "(f) rehash, 3 boxes" $rc "lb3 leaving with $carried: $left/$DOWNLOADS intact; joining (in time: $joined), took $took: $INTACT/$DOWNLOADS intact"
}

declare -A TIME
for MODE in "${MODES[@]}"; do
    t0=$(date +%s)
    printf '%s== %s, a fleet ==%s\n' "$_b" "$MODE" "$_n"
    if ! "$LAB" up "$MODE" --fleet 2 >"$TMP/up.log" 2>&1; then
        verdict "lab up --fleet 2" 1 "$(tail -n1 "$TMP/up.log")"
        continue
    fi
    verdict "lab up --fleet 2" 0 "$(grep -o 'routes .*' "$TMP/up.log" | head -1)"
    check_spread
    check_kill "(b) kill lb1" all
    restart_lb1
    adm lb2 --sysctl sloppy_tcp=0
    check_kill "(c) without sloppy_tcp" broken
    adm lb2 --sysctl sloppy_tcp=1
    restart_lb1
    check_withdrawal
    check_hang
    check_kill "(e) kill lb1 --all" all --all
    [ "$MODE" != dr ] || check_rehash
    "$LAB" down >/dev/null 2>&1
    TIME[$MODE]=$(($(date +%s) - t0))
done

summary "${MODES[@]}"
