#!/usr/bin/env bash
# End-to-end tests of rvs in the namespace lab (deploy/lab/lab.sh), per forwarding mode:
#
#   e2e.sh [nat|fullnat|dr|tun ...]     default: all four
#
# For each mode: lab.sh up MODE, then
#   (a) 60 HTTP requests from rvs-client to http://10.10.0.100/ all succeed, exactly 20/20/20 (rr)
#   (d) the real servers' access logs show the client 10.10.0.2 (NAT, DR, TUN) or the local
#       address 10.20.0.250 (FULLNAT) as the peer of those 60 requests
#   (b) 1 MiB of random bytes through the echo service (VIP:7, socat) comes back equal
#   (c) a 100 MiB download has the right sha256
#   (e) weight 0 drains (needs rvsadm): a slow download runs while its server's weight is set
#       to 0; 30 new requests never reach that server; the download completes intact
#   (g) 6 requests from the client's VLAN 100 (rvs's wan.100) all succeed
#   (h) 2 requests from its VLAN 101, which rvs's wan does not have, fail, and rvs's
#       unknown_vlan drops grow
#   (i) a 4,000-byte UDP datagram to the echo service (VIP:7/udp) comes back intact: it travels
#       in IPv4 fragments both ways, which rvs forwards as one datagram (net_af_packet hands it
#       over reassembled) and fragments again for the 1500-byte MTU
#   (j)-(m) the box's own traffic, through its kernel interfaces (rvs's exception path): (j)
#       rvsd's metrics from the client at 10.10.0.1:9469; (k) 1 MiB each way with a socat echo in
#       the box's namespace; (l) the box fetches rs1's page, pings box -> rs1 and client -> box;
#       (k2) 40,000 UDP datagrams from the box's kernel to the client in 0.8 s, at least 75 %
#       arrive; (m) a 10 s UDP flood of 10.10.0.1 while 60 requests to the VIP all succeed, rvsd stays up
#       and exception_limit drops grow; (o) the box's kernel learns the client from the client's
#       ARP request for the box's address
#   (p)-(r) health checks (the http service is in a keepalived.conf, an HTTP_GET of /health per
#       server): (p) rs2's servers stopped, it leaves rvsadm -Ln within 5 s and 60 requests all
#       succeed without it; started, it is back within 5 s; (q) the same with /health answering
#       404; (r) rs1..rs3 stopped: the sorry server answers every request
#       rvs_backend_up of a stopped server is 0; (u) with inhibit_on_failure a failed server stays
#       listed at weight 0
#   (s) SIGHUP with a changed keepalived.conf during a 100 MiB download: the new table within 5 s,
#       the download intact; (t) one with a syntax error: refused with its line, -Sn unchanged
#   (f) with rvsd stopped (SIGTERM) (n) the kernel interfaces and routes are gone and a request
#       fails (the box is in the path); rvsd started again serves requests again
# PASS/FAIL/SKIP per check and mode, a summary at the end, exit status 1 on any FAIL. The lab is
# always taken down at the end. Every transfer is bounded by --max-time or timeout.
# Environment: as lab.sh (RVS_BIN_DIR, RVS_LAB_STATE, RVS_LAB_CACHE); RVS_E2E_STRICT=1 (test.sh)
# counts a SKIP as a failure.
#
#   e2e.sh --without-lb [MODE ...]      the negative control: the checks (a)-(m) and (o)-(u) with rvsd
#                                       stopped right after lab up; each must FAIL (reported as
#                                       PASS "fails without rvs"); one that passes is a failure
set -uo pipefail

# shellcheck source=deploy/lab/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
SOCK=$STATE/rvsd.sock
BOX=10.10.0.1
RS_NAMES=(rs1 rs2 rs3)
RS_ADDRS=(10.20.0.11 10.20.0.12 10.20.0.13)
TMP=$(mktemp -d /tmp/rvs-e2e.XXXXXX)

if [ -t 1 ]; then _g=$'\033[1;32m' _r=$'\033[1;31m' _y=$'\033[1;33m' _b=$'\033[1m' _n=$'\033[0m'; else _g='' _r='' _y='' _b='' _n=''; fi

BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    "$LAB" down >/dev/null 2>&1 || "$LAB" down
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "e2e.sh needs root" >&2; exit 2; }

WITHOUT_LB=0
if [ "${1:-}" = --without-lb ]; then WITHOUT_LB=1; shift; fi
# Seconds a single request may take (short without rvs: every one of them times out).
REQ_TIMEOUT=$([ $WITHOUT_LB = 1 ] && echo 1 || echo 5)
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(nat fullnat dr tun)
for m in "${MODES[@]}"; do
    case $m in nat|fullnat|dr|tun) ;; *) echo "unknown mode '$m' (nat|fullnat|dr|tun)" >&2; exit 2 ;; esac
done

RESULTS=()  # "mode|check|PASS|detail"
FAILS=0
MODE=''
result() { # check status detail
    local c
    if [ $WITHOUT_LB = 1 ] && [ "$1" != "lab up" ]; then
        # The negative control: a check that passes without rvs in the path proves nothing.
        case $2 in
            PASS) set -- "$1" FAIL "passed WITHOUT rvs in the path: $3" ;;
            *) set -- "$1" PASS "fails without rvs ($2: $3)" ;;
        esac
    fi
    case $2 in PASS) c=$_g ;; FAIL) c=$_r; FAILS=$((FAILS + 1)) ;; *) c=$_y ;; esac
    [ "$2" != SKIP ] || [ "${RVS_E2E_STRICT:-0}" != 1 ] || FAILS=$((FAILS + 1))
    printf '  %s%-4s%s %-7s %-24s %s\n' "$c" "$2" "$_n" "$MODE" "$1" "$3"
    RESULTS+=("$MODE|$1|$2|$3")
}

CPUS=$("$LAB" cpus)
# A command in the client namespace, off the rvs worker's cpu (as lab.sh runs the servers).
cl() {
    if [ -n "$CPUS" ] && command -v taskset >/dev/null 2>&1; then taskset -c "$CPUS" ip netns exec rvs-client "$@"
    else ip netns exec rvs-client "$@"; fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {d = b - a; printf (d < 10 ? "%.2f" : "%.1f"), d}'; }
log_of() { echo "$STATE/$1-http.log"; }
lines() { wc -l <"$1" 2>/dev/null || echo 0; }

rvsadm_bin() {
    local b
    for b in "$BIN_DIR/rvsadm" "$(command -v rvsadm 2>/dev/null || true)"; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    return 1
}

# One request to the VIP; prints which server answered (rs1..3).
get_index() {
    local body
    body=$(cl curl -sS --max-time "$REQ_TIMEOUT" "http://$VIP/" 2>>"$TMP/curl.err") || return 1
    [[ $body =~ ^rs[123]$ ]] || return 1
    echo "$body"
}

# (a) 60 requests, exactly 20 each (rr).
check_distribution() {
    local i s ok=0 bad=0
    declare -A n=([rs1]=0 [rs2]=0 [rs3]=0)
    for i in $(seq 1 60); do
        if s=$(get_index); then n[$s]=$((n[$s] + 1)); ok=$((ok + 1)); else bad=$((bad + 1)); fi
    done
    local d="$ok/60 ok; rs1=${n[rs1]} rs2=${n[rs2]} rs3=${n[rs3]}"
    if [ $ok -eq 60 ] && [ "${n[rs1]}" -eq 20 ] && [ "${n[rs2]}" -eq 20 ] && [ "${n[rs3]}" -eq 20 ]; then
        result "(a) 60 req, 20/20/20" PASS "$d"
    else
        result "(a) 60 req, 20/20/20" FAIL "$d${bad:+ (failed: $bad; $(tail -n1 "$TMP/curl.err" 2>/dev/null))}"
    fi
}

# (d) the peer address the real servers logged for the requests since the marks.
check_peer_address() { # expected marks...
    local want=$1 i total=0 other='' f m
    shift
    for i in 0 1 2; do
        f=$(log_of "${RS_NAMES[$i]}") m=$1
        shift
        while read -r addr; do
            total=$((total + 1))
            [ "$addr" = "$want" ] || other="$other $addr"
        done < <(tail -n +"$((m + 1))" "$f" | awk '/"GET \/ HTTP/ {print $1}')
    done
    if [ $total -ge 60 ] && [ -z "$other" ]; then
        result "(d) peer is $want" PASS "$total requests logged, all from $want"
    else
        result "(d) peer is $want" FAIL "$total requests logged; other peers:${other:- none}"
    fi
}

# (b) 1 MiB of random bytes through the echo service.
check_echo() {
    local want got t
    want=$(cat "$CACHE/small.bin.sha256")
    t=$(now)
    if command -v socat >/dev/null 2>&1; then
        got=$(cl timeout $((REQ_TIMEOUT * 6)) socat -t 20 - "TCP4:$VIP:7" <"$CACHE/small.bin" | sha256sum | cut -d' ' -f1)
        if [ "$got" = "$want" ]; then result "(b) 1 MiB echo (socat)" PASS "sent and received back equal in $(elapsed "$t") s"
        else result "(b) 1 MiB echo (socat)" FAIL "sha256 of the echo $got != $want"; fi
    else
        got=$(cl curl -sS --max-time $((REQ_TIMEOUT * 6)) "http://$VIP/small.bin" | sha256sum | cut -d' ' -f1)
        if [ "$got" = "$want" ]; then result "(b) 1 MiB via curl" PASS "socat absent: downloaded equal in $(elapsed "$t") s"
        else result "(b) 1 MiB via curl" FAIL "socat absent: sha256 $got != $want"; fi
    fi
}

# (c) 100 MiB download.
check_big() {
    local want got t rc
    want=$(cat "$CACHE/big.bin.sha256")
    t=$(now)
    got=$(cl curl -sS --max-time 120 "http://$VIP/big.bin" 2>"$TMP/big.err" | sha256sum | cut -d' ' -f1)
    rc=${PIPESTATUS[0]}
    local s
    s=$(elapsed "$t")
    if [ "$got" = "$want" ]; then
        result "(c) 100 MiB sha256" PASS "in $s s ($(awk -v s="$s" 'BEGIN {printf "%.0f", 100 / (s > 0 ? s : 1)}') MiB/s)"
    else
        result "(c) 100 MiB sha256" FAIL "curl rc ${rc:-?} after $s s: $(head -c 200 "$TMP/big.err")"
    fi
}

# (i) a 4,000-byte UDP datagram through the VIP, fragmented both ways.
check_udp_fragments() {
    local out
    if out=$(cl timeout 15 "${PYTHON:-python3}" "$LAB_DIR/udp-echo.py" check "$VIP" 7 4000 2>&1); then
        result "(i) 4000 B UDP, fragments" PASS "$out"
    else
        result "(i) 4000 B UDP, fragments" FAIL "$out"
    fi
}

# (e) weight 0 drains.
check_drain() {
    local flag=$1 adm list i s target='' before=() want detail pid
    if ! adm=$(rvsadm_bin); then
        result "(e) weight 0 drains" SKIP "rvsadm not built ($BIN_DIR/rvsadm; cargo build --release -p rvsadm)"
        return
    fi
    list=$("$adm" --socket "$SOCK" -Ln 2>&1)
    if ! grep -q "$VIP:80" <<<"$list"; then
        result "(e) weight 0 drains" SKIP "$adm does not list the service yet: $(head -c 160 <<<"$list")"
        return
    fi
    want=$(cat "$CACHE/big.bin.sha256")
    for i in 0 1 2; do before+=("$(grep -c 'GET /big.bin' "$(log_of "${RS_NAMES[$i]}")")"); done
    (
        got=$(cl curl -sS --max-time 90 --limit-rate 10M "http://$VIP/big.bin" 2>"$TMP/drain.err" | sha256sum | cut -d' ' -f1)
        echo "$got" >"$TMP/drain.sha"
    ) &
    pid=$!
    BG_PIDS+=("$pid")
    for s in $(seq 1 50); do
        for i in 0 1 2; do
            [ "$(grep -c 'GET /big.bin' "$(log_of "${RS_NAMES[$i]}")")" -gt "${before[$i]}" ] && target=$i
        done
        [ -n "$target" ] && break
        sleep 0.1
    done
    if [ -z "$target" ]; then
        result "(e) weight 0 drains" FAIL "the slow download reached no server"
        wait "$pid"
        return
    fi
    local t=${RS_NAMES[$target]} ta=${RS_ADDRS[$target]}
    if ! out=$("$adm" --socket "$SOCK" -e -t "$VIP:80" -r "$ta:80" -w 0 "$flag" 2>&1); then
        result "(e) weight 0 drains" FAIL "rvsadm -e ... -w 0 $flag failed: $out"
        wait "$pid"
        return
    fi
    local open_at_drain=no open_after=no ok=0 hit=0
    kill -0 "$pid" 2>/dev/null && open_at_drain=yes
    declare -A n=([rs1]=0 [rs2]=0 [rs3]=0)
    for i in $(seq 1 30); do
        if s=$(get_index); then ok=$((ok + 1)); n[$s]=$((n[$s] + 1)); [ "$s" = "$t" ] && hit=$((hit + 1)); fi
    done
    kill -0 "$pid" 2>/dev/null && open_after=yes
    wait "$pid"
    local got
    got=$(cat "$TMP/drain.sha" 2>/dev/null)
    "$adm" --socket "$SOCK" -e -t "$VIP:80" -r "$ta:80" -w 1 "$flag" >/dev/null 2>&1 || true
    detail="drained $t ($ta); transfer open at drain: $open_at_drain, after the 30 requests: $open_after; 30 new: $ok ok, rs1=${n[rs1]} rs2=${n[rs2]} rs3=${n[rs3]}; download $([ "$got" = "$want" ] && echo intact || echo "CORRUPT/INCOMPLETE: $(head -c 120 "$TMP/drain.err")")"
    if [ "$open_at_drain" = yes ] && [ $ok -eq 30 ] && [ $hit -eq 0 ] && [ "$got" = "$want" ]; then
        result "(e) weight 0 drains" PASS "$detail"
    else
        result "(e) weight 0 drains" FAIL "$detail"
    fi
}

# rvs's drops of frames tagged with a VLAN id their port does not have (0 without rvsd).
unknown_vlan_drops() {
    drops unknown_vlan
}

# The workers' drops for reason $1, read from the box's own namespace.
drops() {
    ip netns exec rvs-lb curl -s --max-time 2 "http://$BOX:9469/metrics" 2>/dev/null |
        awk -v r="reason=\"$1\"" '/^rvs_worker_drops_total\{/ && index($0, r) {s += $NF} END {printf "%d", s}'
}

# (j) rvsd's metrics from the client, served by the box's kernel through rvs's wan port.
# (k) 1 MiB each way with a listener in the box's namespace (socat echo on BOX:2222).
# (l) the box's kernel as a client: a real server's page from the box, pings both ways.
check_kernel() {
    local body want got t
    body=$(cl curl -s --max-time "$REQ_TIMEOUT" "http://$BOX:9469/metrics" 2>>"$TMP/curl.err")
    if [[ $body == *rvs_exception_rx_total* ]]; then result "(j) metrics via the box" PASS "$(grep -c '^rvs_' <<<"$body") rvs_ lines from http://$BOX:9469/metrics"
    else result "(j) metrics via the box" FAIL "no rvs metrics from http://$BOX:9469/metrics: $(tail -n1 "$TMP/curl.err" 2>/dev/null)"; fi
    ip netns exec rvs-lb socat "TCP4-LISTEN:2222,bind=$BOX,reuseaddr,fork" EXEC:cat >/dev/null 2>&1 &
    BG_PIDS+=($!)
    sleep 0.3
    want=$(cat "$CACHE/small.bin.sha256")
    t=$(now)
    got=$(cl timeout $((REQ_TIMEOUT * 6)) socat -t 5 - "TCP4:$BOX:2222" <"$CACHE/small.bin" 2>/dev/null | sha256sum | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then result "(k) 1 MiB with the box" PASS "echoed by socat in the box's namespace, equal, in $(elapsed "$t") s"
    else result "(k) 1 MiB with the box" FAIL "sha256 of the echo $got != $want"; fi
    kill "${BG_PIDS[-1]}" 2>/dev/null || true
    body=$(ip netns exec rvs-lb curl -sS --max-time "$REQ_TIMEOUT" "http://${RS_ADDRS[0]}/" 2>>"$TMP/curl.err")
    local pings=0
    ip netns exec rvs-lb ping -c 2 -W 1 "${RS_ADDRS[0]}" >/dev/null 2>&1 && pings=$((pings + 1))
    cl ping -c 2 -W 1 "$BOX" >/dev/null 2>&1 && pings=$((pings + 1))
    local d="the box's curl of ${RS_ADDRS[0]}: '${body:0:20}'; pings box->rs1, client->box: $pings/2"
    if [ "$body" = rs1 ] && [ $pings -eq 2 ]; then result "(l) the box as a client" PASS "$d"
    else result "(l) the box as a client" FAIL "$d"; fi
}

# (m) while the client floods the box's own address (UDP to a closed port, 10 s), 60 requests
# through the VIP all succeed, rvsd stays up, and exception_limit drops grow.
check_flood() {
    local before after ok=0 i pid
    before=$(drops exception_limit)
    cl python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, n = time.monotonic() + 10, 0
while time.monotonic() < end and n < 20_000_000:
    for _ in range(1000):
        try: s.sendto(b"x" * 18, (sys.argv[1], 9))
        except OSError: pass
    n += 1000
' "$BOX" &
    pid=$!
    BG_PIDS+=($pid)
    sleep 1
    for i in $(seq 1 60); do get_index >/dev/null && ok=$((ok + 1)); done
    wait "$pid" 2>/dev/null || true
    after=$(drops exception_limit)
    local up=no p
    p=$(cat "$STATE/rvsd.pid" 2>/dev/null) && [ -n "$p" ] && grep -q rvsd "/proc/$p/cmdline" 2>/dev/null && up=yes
    local d="$ok/60 requests during the flood; rvsd up: $up; exception_limit drops $before -> $after"
    if [ $ok -eq 60 ] && [ $up = yes ] && [ "${after:-0}" -gt "${before:-0}" ]; then result "(m) flood of the box" PASS "$d"
    else result "(m) flood of the box" FAIL "$d"; fi
}

# (k2) a burst from the box's kernel: 40,000 UDP datagrams to the client in about 0.8 s (400
# every 8 ms, four times what the control thread once took from a tap: 128 per 10 ms, which
# delivered 24 %) arrive, at least 75 % of them (the lab shares two busy cpus).
check_kernel_burst() {
    local got
    cl timeout 10 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
s.bind(("10.10.0.2", 9999))
s.settimeout(2)
n = 0
try:
    while True:
        s.recv(2048); n += 1
except OSError:
    pass
print(n)' >"$TMP/burst.count" 2>/dev/null &
    local rx=$!
    sleep 0.5
    ip netns exec rvs-lb timeout 10 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(100):
    t = time.monotonic()
    for _ in range(400):
        try: s.sendto(b"x" * 100, ("10.10.0.2", 9999))
        except OSError: pass
    time.sleep(max(0, 0.008 - (time.monotonic() - t)))
' 2>/dev/null
    wait "$rx" 2>/dev/null
    got=$(cat "$TMP/burst.count" 2>/dev/null)
    local d="${got:-0} of 40000 datagrams from the box's kernel reached the client"
    if [ "${got:-0}" -ge 30000 ]; then result "(k2) a burst from the box" PASS "$d"
    else result "(k2) a burst from the box" FAIL "$d"; fi
}

# (o) the box's kernel learns the client from its ARP request for the box's address (rvs
# answers it and hands it on), though rvs answers the ping that follows.
check_kernel_arp() {
    local client=10.10.0.2 entry
    ip -n rvs-lb neigh flush dev wan >/dev/null 2>&1
    ip -n rvs-client neigh flush dev eth0 >/dev/null 2>&1
    cl ping -c 1 -W 1 "$BOX" >/dev/null 2>&1
    entry=$(ip -n rvs-lb neigh show dev wan "$client" 2>/dev/null | head -n1)
    if [[ $entry == *lladdr* ]]; then result "(o) ARP to the kernel" PASS "after the client's ARP request: '$entry'"
    else result "(o) ARP to the kernel" FAIL "the box's kernel has no neighbour $client: '${entry}'"; fi
}

# The http service's real servers rvsadm -Ln lists, one "ADDRESS WEIGHT" per line.
listed() {
    local adm
    adm=$(rvsadm_bin) || return 1
    "$adm" --socket "$SOCK" -Ln 2>/dev/null |
        awk -v v="TCP $VIP:80" '$1 == "TCP" || $1 == "UDP" {svc = $1 " " $2} $1 == "->" && svc == v {print $2, $4}'
}

# wait_listed WANT: waits up to 5 s until `listed | grep -c ADDRESS` of WANT's form
# "ADDRESS=COUNT ..." holds; prints the seconds it took, fails on timeout.
wait_listed() {
    local t i ok pair
    t=$(now)
    for i in $(seq 1 50); do
        ok=1
        for pair in "$@"; do
            [ "$(listed | grep -c "^${pair%%=*}:")" = "${pair#*=}" ] || ok=0
        done
        [ $ok = 1 ] && { elapsed "$t"; return 0; }
        sleep 0.1
    done
    return 1
}

# requests N: N requests to the VIP; prints "ok rs1 rs2 rs3 sorry" counts.
requests() {
    local n=$1 i body ok=0 r1=0 r2=0 r3=0 so=0
    for i in $(seq 1 "$n"); do
        body=$(cl curl -sS --max-time "$REQ_TIMEOUT" "http://$VIP/" 2>>"$TMP/curl.err") || continue
        ok=$((ok + 1))
        case $body in rs1) r1=$((r1 + 1)) ;; rs2) r2=$((r2 + 1)) ;; rs3) r3=$((r3 + 1)) ;; sorry) so=$((so + 1)) ;; esac
    done
    echo "$ok $r1 $r2 $r3 $so"
}

# (p) rs2's servers stopped: within 5 s rvsadm no longer lists it and 60 requests all succeed,
# none from rs2; started again, it is listed within 5 s and answers its rr share (3 of 10). (q) rs2's /health answers
# 404: out the same way; 200 again: back. (r) rs1..rs3 stopped: the sorry server answers.
check_health() {
    local gone back r d n=60 m=30 k=10
    # Without rvs every request times out: a few show it.
    [ $WITHOUT_LB = 0 ] || n=3 m=3 k=3
    "$LAB" rs stop rs2 >/dev/null
    gone=$(wait_listed 10.20.0.12=0) || gone=never
    read -r -a r <<<"$(requests $n)"
    local metric i
    for i in $(seq 1 30); do
        metric=$(ip netns exec rvs-lb curl -s --max-time 2 "http://$BOX:9469/metrics" 2>/dev/null |
            grep '^rvs_backend_up{' | grep -F 'real_server="[10.20.0.12]:tcp:80"' | awk '{print $NF}')
        [ "$metric" = 0 ] && break
        sleep 0.1
    done
    "$LAB" rs start rs2 >/dev/null
    back=$(wait_listed 10.20.0.12=1) || back=never
    local again
    again=$(requests $k | awk '{print $3}')
    d="rs2 unlisted after ${gone} s; ${r[0]}/$n ok, rs2 answered ${r[2]}; rvs_backend_up ${metric:-none}; listed again after ${back} s, then answered $again/$k"
    if [ "$gone" != never ] && [ "${r[0]}" = $n ] && [ "${r[2]}" = 0 ] && [ "$metric" = 0 ] && [ "$back" != never ] && [ "${again:-0}" -ge 3 ]; then
        result "(p) rs2 stopped, started" PASS "$d"
    else result "(p) rs2 stopped, started" FAIL "$d"; fi
    "$LAB" rs fail rs2 >/dev/null
    gone=$(wait_listed 10.20.0.12=0) || gone=never
    read -r -a r <<<"$(requests $m)"
    "$LAB" rs ok rs2 >/dev/null
    back=$(wait_listed 10.20.0.12=1) || back=never
    d="/health 404: unlisted after ${gone} s, ${r[0]}/$m ok, rs2 answered ${r[2]}; 200: listed after ${back} s"
    if [ "$gone" != never ] && [ "${r[0]}" = $m ] && [ "${r[2]}" = 0 ] && [ "$back" != never ]; then
        result "(q) rs2's /health fails" PASS "$d"
    else result "(q) rs2's /health fails" FAIL "$d"; fi
    check_inhibit $m
    for d in rs1 rs2 rs3; do "$LAB" rs stop "$d" >/dev/null; done
    gone=$(wait_listed 10.20.0.99=1 10.20.0.11=0 10.20.0.12=0 10.20.0.13=0) || gone=never
    read -r -a r <<<"$(requests $k)"
    for d in rs1 rs2 rs3; do "$LAB" rs start "$d" >/dev/null; done
    back=$(wait_listed 10.20.0.99=0 10.20.0.11=1 10.20.0.12=1 10.20.0.13=1) || back=never
    d="all down: sorry server listed after ${gone} s, answered ${r[4]}/$k (${r[0]} ok); all up again after ${back} s"
    if [ "$gone" != never ] && [ "${r[4]}" = $k ] && [ "$back" != never ]; then
        result "(r) sorry server" PASS "$d"
    else result "(r) sorry server" FAIL "$d"; fi
}

# (u) with inhibit_on_failure (set by SIGHUP), rs2 stopped stays listed at weight 0 and gets
# none of M requests; started again, its weight is 1 again.
check_inhibit() {
    local m=$1 conf=$STATE/keepalived.conf saved=$TMP/keepalived.inhibit i w0='' w1='' r
    cp "$conf" "$saved"
    sed 's/^    delay_loop 1$/    delay_loop 1\n    inhibit_on_failure/' "$saved" >"$conf"
    "$LAB" reload >/dev/null
    sleep 0.5
    "$LAB" rs stop rs2 >/dev/null
    for i in $(seq 1 60); do w0=$(listed | awk '$1 == "10.20.0.12:80" {print $2}'); [ "$w0" = 0 ] && break; sleep 0.1; done
    read -r -a r <<<"$(requests "$m")"
    "$LAB" rs start rs2 >/dev/null
    for i in $(seq 1 60); do w1=$(listed | awk '$1 == "10.20.0.12:80" {print $2}'); [ "$w1" = 1 ] && break; sleep 0.1; done
    cp "$saved" "$conf"
    "$LAB" reload >/dev/null
    local d="rs2 stopped: listed at weight ${w0:-none}, ${r[0]}/$m ok, rs2 answered ${r[2]}; started: weight ${w1:-none}"
    if [ "$w0" = 0 ] && [ "${r[0]}" = "$m" ] && [ "${r[2]}" = 0 ] && [ "$w1" = 1 ]; then
        result "(u) inhibit_on_failure" PASS "$d"
    else result "(u) inhibit_on_failure" FAIL "$d"; fi
}

# (s) SIGHUP with a changed keepalived.conf (rs1 at weight 3, the sorry server a real server)
# during a 100 MiB download: rvsadm -Ln shows the new table within 5 s and the download ends
# intact. (t) SIGHUP with a syntax error in it: refused with its line, rvsadm -Sn unchanged.
check_reload() {
    local adm want pid got i table='' saved before after conf=$STATE/keepalived.conf
    if ! adm=$(rvsadm_bin); then
        result "(s) reload, download" SKIP "rvsadm not built"
        return
    fi
    saved=$TMP/keepalived.conf.orig
    cp "$conf" "$saved"
    want=$(cat "$CACHE/big.bin.sha256")
    (
        cl curl -sS --max-time 60 --limit-rate 20M "http://$VIP/big.bin" 2>"$TMP/reload.err" |
            sha256sum | cut -d' ' -f1 >"$TMP/reload.sha"
    ) &
    pid=$!
    BG_PIDS+=($pid)
    sleep 1
    sed -e '/real_server 10.20.0.11 80/{n;s/weight 1/weight 3/}' \
        -e 's/^    sorry_server \(.*\) 80$/    real_server \1 80 {\n        weight 1\n    }/' "$saved" >"$conf"
    "$LAB" reload >/dev/null
    for i in $(seq 1 50); do
        table=$(listed | sort | tr '\n' ' ')
        [ "$table" = "10.20.0.11:80 3 10.20.0.12:80 1 10.20.0.13:80 1 10.20.0.99:80 1 " ] && break
        sleep 0.1
    done
    wait "$pid" 2>/dev/null
    got=$(cat "$TMP/reload.sha" 2>/dev/null)
    local d="table after SIGHUP: ${table:-none}; download sha256 ${got:0:12}.. (want ${want:0:12}..)"
    if [ "$table" = "10.20.0.11:80 3 10.20.0.12:80 1 10.20.0.13:80 1 10.20.0.99:80 1 " ] && [ "$got" = "$want" ]; then
        result "(s) reload, download" PASS "$d"
    else result "(s) reload, download" FAIL "$d"; fi
    before=$("$adm" --socket "$SOCK" -Sn 2>&1)
    printf 'virtual_server 10.10.0.100 8080 {\n    lb_algo nonesuch\n' >>"$conf"
    "$LAB" reload >/dev/null
    sleep 1
    after=$("$adm" --socket "$SOCK" -Sn 2>&1)
    local refused
    refused=$(grep 'reload of .* refused' "$STATE/rvsd.log" | tail -n1)
    d="rvsadm -Sn $([ "$before" = "$after" ] && echo unchanged || echo CHANGED) ($(wc -l <<<"$after") lines); log: ${refused#rvsd: }"
    if [ -n "$before" ] && [ "$before" = "$after" ] && [[ $refused == *keepalived.conf:* ]]; then
        result "(t) reload refused" PASS "$d"
    else result "(t) reload refused" FAIL "$d"; fi
    cp "$saved" "$conf"
    "$LAB" reload >/dev/null
    wait_listed 10.20.0.99=0 >/dev/null || true
}

# (n) rvsd stopped: the box's kernel interfaces and their routes are gone.
check_kernel_gone() {
    local links routes
    links=$(ip -n rvs-lb -br link 2>/dev/null | awk '$1 == "wan" || $1 == "lan"' | wc -l)
    routes=$(ip -n rvs-lb -4 route 2>/dev/null | wc -l)
    local d="kernel interfaces left: $links, routes left: $routes"
    if [ "$links" -eq 0 ] && [ "$routes" -eq 0 ]; then result "(n) stopped: none left" PASS "$d"
    else result "(n) stopped: none left" FAIL "$d"; fi
}

# (g) the client's VLAN 100 is rvs's wan.100: served. (h) Its VLAN 101 is not configured on
# wan: its frames reach rvs (a static neighbour) and are dropped, counted as unknown_vlan.
check_vlans() {
    local i ok=0 answered=0 body before after
    for i in $(seq 1 6); do
        body=$(cl curl -sS --max-time "$REQ_TIMEOUT" --interface 10.10.100.2 "http://$VIP/" 2>>"$TMP/curl.err") &&
            [[ $body =~ ^rs[123]$ ]] && ok=$((ok + 1))
    done
    if [ $ok -eq 6 ]; then result "(g) VLAN 100 served" PASS "6/6 requests from 10.10.100.2 (vlan100: tagged 100 on eth0)"
    else result "(g) VLAN 100 served" FAIL "$ok/6 requests from 10.10.100.2 answered; $(tail -n1 "$TMP/curl.err" 2>/dev/null)"; fi
    before=$(unknown_vlan_drops)
    for i in 1 2; do
        cl curl -s -o /dev/null --max-time 2 --interface 10.10.101.2 "http://$VIP/" && answered=$((answered + 1))
    done
    after=$(unknown_vlan_drops)
    local d="$answered/2 requests from 10.10.101.2 (vlan101: tagged 101) answered; unknown_vlan drops $before -> $after"
    if [ $answered -eq 0 ] && [ "$after" -gt "$before" ]; then result "(h) VLAN 101 refused" PASS "$d"
    else result "(h) VLAN 101 refused" FAIL "$d"; fi
}

# (f) rvsd is in the path: stopped, requests fail; started again, they succeed.
check_restart() {
    local t i ok=0 failed_without=no
    t=$(now)
    if ! "$LAB" stop >"$TMP/stop.log" 2>&1; then
        result "(f) restart" FAIL "lab.sh stop: $(tail -n1 "$TMP/stop.log")"
        return
    fi
    cl curl -s -o /dev/null --max-time 3 "http://$VIP/" || failed_without=yes
    check_kernel_gone
    if ! "$LAB" start >"$TMP/start.log" 2>&1; then
        result "(f) restart" FAIL "without rvsd the request failed: $failed_without; lab.sh start: $(tail -n1 "$TMP/start.log")"
        return
    fi
    for i in $(seq 1 6); do get_index >/dev/null && ok=$((ok + 1)); done
    local d="without rvsd the request failed: $failed_without; after restart $ok/6 ok; $(elapsed "$t") s"
    if [ $failed_without = yes ] && [ $ok -eq 6 ]; then result "(f) stop fails, restart" PASS "$d"
    else result "(f) stop fails, restart" FAIL "$d"; fi
}

declare -A TIME
for MODE in "${MODES[@]}"; do
    t0=$(now)
    printf '%s== %s ==%s\n' "$_b" "$MODE" "$_n"
    if ! "$LAB" up "$MODE" >"$TMP/up.log" 2>&1; then
        result "lab up" FAIL "$(grep -i error "$TMP/up.log" | tail -n1)"
        sed 's/^/    | /' "$TMP/up.log" | tail -n 15
        [ -f "$STATE/rvsd.log" ] && sed 's/^/    rvsd.log | /' "$STATE/rvsd.log" | tail -n 10
        TIME[$MODE]=$(elapsed "$t0")
        continue
    fi
    result "lab up" PASS "$(grep -o 'answered by:.*' "$TMP/up.log")"
    case $MODE in nat) peer=10.10.0.2 flag=-m ;; fullnat) peer=10.20.0.250 flag=-b ;; dr) peer=10.10.0.2 flag=-g ;; tun) peer=10.10.0.2 flag=-i ;; esac
    if [ $WITHOUT_LB = 1 ] && ! "$LAB" stop >"$TMP/stop.log" 2>&1; then
        result "lab up" FAIL "lab.sh stop: $(tail -n1 "$TMP/stop.log")"
    fi
    marks=()
    for i in 0 1 2; do marks+=("$(lines "$(log_of "${RS_NAMES[$i]}")")"); done
    check_distribution
    check_peer_address "$peer" "${marks[@]}"
    check_echo
    check_big
    check_udp_fragments
    check_drain "$flag"
    check_vlans
    check_kernel
    check_kernel_burst
    check_kernel_arp
    check_flood
    check_health
    check_reload
    [ $WITHOUT_LB = 1 ] || check_restart
    "$LAB" down >/dev/null 2>&1
    TIME[$MODE]=$(elapsed "$t0")
    echo "  ($MODE: ${TIME[$MODE]} s)"
done

echo
printf '%sSummary%s\n' "$_b" "$_n"
for MODE in "${MODES[@]}"; do
    line=''
    for r in "${RESULTS[@]}"; do
        IFS='|' read -r m c s _ <<<"$r"
        [ "$m" = "$MODE" ] && line="$line ${c%% *}=$s"
    done
    printf '  %-8s %6s s %s\n' "$MODE" "${TIME[$MODE]:-?}" "$line"
done
if [ $FAILS -gt 0 ]; then printf '%s%d check(s) failed%s\n' "$_r" "$FAILS" "$_n"; exit 1; fi
printf '%sall checks passed%s\n' "$_g" "$_n"
