#!/usr/bin/env bash
# The rvs network-namespace lab: one client, one rvs box, three real servers, all in network
# namespaces on this machine, wired through a router namespace. See deploy/lab/README.md.
#
#   lab.sh up [nat|fullnat|dr|tun]   build the lab for a forwarding mode (default fullnat) and
#                                    start rvsd in it; up on a running lab tears it down first
#   lab.sh down                      stop everything the lab started, delete its namespaces
#   lab.sh status                    what is running, rvsadm -Ln (when rvsadm is built), hints
#   lab.sh stop | start              stop (SIGTERM) / start rvsd alone, same configuration
#   lab.sh reload                    SIGHUP: rvsd reloads rvsd.toml and keepalived.conf
#   lab.sh rs stop|start NAME        stop / start a real server's servers (rs1..rs3, sorry)
#   lab.sh rs fail|ok NAME           its /health answers 404 / 200 again
#   lab.sh cpus                      the cpus the lab's processes are pinned to (not the worker's)
#   lab.sh up MODE --ha [--nopreempt] two boxes, rvs-lb1 (VRRP priority 150) and rvs-lb2 (100),
#                                    each with rvsd (sync master and backup) and keepalived
#   lab.sh kill lb1|lb2 [--all]      SIGKILL the box's rvsd (its keepalived stays), or all of it
#   lab.sh start lb1|lb2             start what of the box is not running; status: the MASTER
#   lab.sh up dr|tun --fleet 2|3     boxes rvs-lb1..3 with rvsd and BIRD behind the router's
#                                    ECMP route (BGP); the client behind the router
#   lab.sh stop|start|kill BOX       in a fleet: SIGTERM the box's rvsd / start it / as --ha
#
#                 rvs-client 10.10.0.2/24 (default via 10.10.0.254)
#                     |
#   rvs-router  [ br-wan 10.10.0.254/24 ]----------+
#     (forwarding,     |                           |
#      rp_filter 0)  rvs-wan (no IP)               |
#                  rvs-lb: rvsd on net_af_packet   |  DR/TUN replies from the VIP
#                    rvs-lan (no IP)               |  come back through the router
#                      |                           |
#               [ br-lan 10.20.0.254/24 ]----------+
#                 |          |          |
#              rvs-rs1    rvs-rs2    rvs-rs3   10.20.0.11-13/24, python3 -m http.server 80,
#              (rvs-sorry 10.20.0.99)          socat echo on TCP 7, udp-echo.py on UDP 7
#
# rvs's addresses (config): wan 10.10.0.1/24 + VIP 10.10.0.100, lan 10.20.0.1/24, FULLNAT local
# address 10.20.0.250. Services: TCP 10.10.0.100:80 (http) and :7 (echo), UDP :7 (echo), rr
# over the three servers, forwarding method per mode. The http service is in a keepalived.conf
# ($STATE/keepalived.conf): an HTTP_GET of /health per server, the sorry server rvs-sorry.
#
# VLANs: rvs's wan carries VLAN 100 (wan.100, 10.10.100.1/24). The client has vlan100
# (10.10.100.2/24) and vlan101 (10.10.101.2/24, a VLAN rvs does not have): TAP devices that
# vlan-tap.py joins to eth0's VLANs 100 and 101 (no 8021q module needed). Traffic from either
# address goes out of its VLAN to rvs (policy routes: tables 100 and 101), so `curl --interface
# 10.10.100.2 http://VIP/` is served and `--interface 10.10.101.2` is refused (unknown_vlan).
# DR/TUN replies to 10.10.100.2 come back untagged (the router routes it via 10.10.0.2).
#
# Environment: RVS_BIN_DIR (where rvsd/rvsadm are; default target/release, relative paths are
# relative to the repository), RVS_LAB_STATE (default /run/rvs-lab), RVS_LAB_CACHE (the random
# files, default /var/cache/rvs-lab), RVS_LAB_EAL (EAL arguments, TOML array items).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
BIN_DIR=${RVS_BIN_DIR:-target/release}
case $BIN_DIR in /*) ;; *) BIN_DIR=$REPO/$BIN_DIR ;; esac
RVSD=$BIN_DIR/rvsd
STATE=${RVS_LAB_STATE:-/run/rvs-lab}
CACHE=${RVS_LAB_CACHE:-/var/cache/rvs-lab}
SOCK=$STATE/rvsd.sock
CONF=$STATE/rvsd.toml
KEEPALIVED_CONF=$STATE/keepalived.conf
# On the box's wan address: the box's kernel serves it, through rvs's exception path.
METRICS=10.10.0.1:9469
EXCEPTION_RATE=10000
LAB_EAL_ARGS=${RVS_LAB_EAL:-'"--no-huge", "-m", "512", "--no-shconf", "--no-telemetry", "--file-prefix", "rvslab"'}
EAL_ARGS=$LAB_EAL_ARGS
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

NS_ROUTER=rvs-router
NS_CLIENT=rvs-client
NS_LB=rvs-lb
# The real servers, then the sorry server (index 3): set up alike, only the http service has it.
RS_NAMES=(rs1 rs2 rs3 sorry)
RS_ADDRS=(10.20.0.11 10.20.0.12 10.20.0.13 10.20.0.99)
LAB_NS=(rvs-client rvs-lb rvs-rs1 rvs-rs2 rvs-rs3 rvs-sorry rvs-router)
# Every namespace a lab may have (the two-box lab's boxes too): what lab.sh down deletes.
ALL_NS=(rvs-client rvs-lb rvs-lb1 rvs-lb2 rvs-lb3 rvs-rs1 rvs-rs2 rvs-rs3 rvs-sorry rvs-router)
# The box's addresses, and what its rvsd is called in $STATE (pid, log): the two-box lab
# (ha.sh) sets them per box.
BOX_WAN=10.10.0.1
BOX_LAN=10.20.0.1
RVSD_NAME=rvsd
# More TOML for rvsd.toml (ha.sh: [vrrp], [sync]); the tunnels' sources the real servers take.
EXTRA_TOML=''
TUN_SOURCES=10.20.0.1
VIP=10.10.0.100
CLIENT=10.10.0.2
# The client's VLANs: one rvs's wan has, one it does not.
VLAN_OK=100
VLAN_BAD=101
LADDR=10.20.0.250
ECHO_PORT=7
# af_packet ring size (frames per queue; DPDK's default is 512): room for the bursts of a bulk
# TCP transfer while the worker is busy with the other port.
AFP_FRAMECNT=${RVS_LAB_FRAMECNT:-4096}
BIG_SIZE=$((100 * 1024 * 1024))
MID_SIZE=$((20 * 1024 * 1024))
SMALL_SIZE=$((1024 * 1024))

# The scheduler of the lab's services (the fleet's: mh, with mh-port).
LAB_SCHED=rr

# shellcheck source=deploy/lab/ha.sh
. "$LAB_DIR/ha.sh"
# shellcheck source=deploy/lab/fleet.sh
. "$LAB_DIR/fleet.sh"

if [ -t 1 ]; then _b=$'\033[1m' _r=$'\033[1;31m' _y=$'\033[1;33m' _n=$'\033[0m'; else _b='' _r='' _y='' _n=''; fi
say() { printf '%slab:%s %s\n' "$_b" "$_n" "$*"; }
warn() { printf '%slab: warning:%s %s\n' "$_y" "$_n" "$*" >&2; }
die() { printf '%slab: error:%s %s\n' "$_r" "$_n" "$*" >&2; exit 1; }

ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
ns_exists() { [ -e "/run/netns/$1" ]; }
q() { "$@" >/dev/null 2>&1 || true; } # best effort

need_root() {
    [ "$(id -u)" -eq 0 ] || die "the lab needs root (network namespaces, raw sockets)"
    local c
    for c in ip ethtool curl; do command -v "$c" >/dev/null 2>&1 || die "$c is missing (apt-get install iproute2 ethtool curl)"; done
    [ -n "$PYTHON" ] || die "python3 is missing"
}

# rvsadm, when it is built and answers; prints its path.
rvsadm_bin() {
    local b
    for b in "$BIN_DIR/rvsadm" "$(command -v rvsadm 2>/dev/null || true)"; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    return 1
}

# --- the random files, created once and shared by the three servers -------------------------
ensure_files() {
    mkdir -p "$CACHE"
    local f size
    for f in big:$BIG_SIZE mid:$MID_SIZE small:$SMALL_SIZE; do
        size=${f#*:} f=$CACHE/${f%%:*}.bin
        if [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" != "$size" ] || [ ! -s "$f.sha256" ]; then
            say "creating $f ($size random bytes, once)"
            head -c "$size" /dev/urandom >"$f.tmp"
            sha256sum "$f.tmp" | cut -d' ' -f1 >"$f.sha256"
            mv "$f.tmp" "$f"
        fi
    done
}

# --- topology ---------------------------------------------------------------------------------
# Offloads off on an interface: af_packet sees packets before checksumming and segmentation.
no_offload() {
    ns "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 ||
        ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 ||
        warn "$1/$2: could not turn every offload off"
}

ns_sysctl() { local n=$1; shift; local kv; for kv in "$@"; do ns "$n" sysctl -qw "$kv" >/dev/null; done; }

new_ns() {
    ip netns add "$1"
    ns "$1" ip link set lo up
    ns_sysctl "$1" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# veth NS IF BRIDGE PEER: IF in NS, PEER in the router on BRIDGE, both up, offloads off.
veth() {
    local n=$1 ifc=$2 br=$3 peer=$4
    ip link add "$ifc" netns "$n" type veth peer name "$peer" netns "$NS_ROUTER"
    ns "$NS_ROUTER" ip link set "$peer" master "$br"
    ns_sysctl "$n" "net.ipv6.conf.$ifc.disable_ipv6=1"
    no_offload "$n" "$ifc"
    no_offload "$NS_ROUTER" "$peer"
    ns "$NS_ROUTER" ip link set "$peer" up
    ns "$n" ip link set "$ifc" up
}

# build_box NS PEER: an rvs box: links up, no addresses, no IPv6, no ARP: the kernel must not
# answer for rvs's addresses. rvsd talks to both through net_af_packet.
build_box() {
    local n=$1 peer=$2 i
    veth "$n" rvs-wan br-wan "$peer-wan"
    veth "$n" rvs-lan br-lan "$peer-lan"
    for i in rvs-wan rvs-lan; do ns "$n" ip link set "$i" arp off; done
    # rvsd gives the box's kernel interfaces (wan, lan) its addresses; frames that reach the
    # veths raw must not reach the kernel's stack too (its routes lead to wan and lan).
    ns_sysctl "$n" net.ipv4.conf.rvs-wan.rp_filter=1 net.ipv4.conf.rvs-lan.rp_filter=1
}

build_topology() {
    local mode=$1 i n a
    for n in "${LAB_NS[@]}"; do new_ns "$n"; done

    # The router: two bridges, forwarding, no reverse-path filter (DR/TUN replies carry the VIP
    # as source on br-lan), no redirects.
    for n in br-wan br-lan; do
        ns "$NS_ROUTER" ip link add "$n" type bridge stp_state 0 forward_delay 0
        ns_sysctl "$NS_ROUTER" "net.ipv6.conf.$n.disable_ipv6=1"
    done
    ns "$NS_ROUTER" ip addr add 10.10.0.254/24 dev br-wan
    ns "$NS_ROUTER" ip addr add 10.20.0.254/24 dev br-lan
    for n in br-wan br-lan; do no_offload "$NS_ROUTER" "$n"; ns "$NS_ROUTER" ip link set "$n" up; done
    ns_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv4.conf.br-wan.rp_filter=0 net.ipv4.conf.br-lan.rp_filter=0 \
        net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
        net.ipv4.conf.br-wan.send_redirects=0 net.ipv4.conf.br-lan.send_redirects=0

    # The client.
    veth "$NS_CLIENT" eth0 br-wan client
    ns "$NS_CLIENT" ip addr add "$CLIENT/24" dev eth0
    ns "$NS_CLIENT" ip route add default via 10.10.0.254
    # Its VLANs, 100 (rvs's wan.100) and 101 (unknown to rvs): TAP devices with eth0's MAC that
    # vlan-tap.py (start_vlan_taps) joins to eth0's VLANs; each is the way to the VIP for its own
    # address. The bridge passes tagged frames as they are.
    local mac
    mac=$(ns "$NS_CLIENT" cat /sys/class/net/eth0/address)
    for n in "$VLAN_OK" "$VLAN_BAD"; do
        ns "$NS_CLIENT" ip tuntap add dev "vlan$n" mode tap
        ns "$NS_CLIENT" ip link set "vlan$n" address "$mac"
        ns_sysctl "$NS_CLIENT" "net.ipv6.conf.vlan$n.disable_ipv6=1"
        no_offload "$NS_CLIENT" "vlan$n"
        ns "$NS_CLIENT" ip addr add "10.10.$n.2/24" dev "vlan$n"
        ns "$NS_CLIENT" ip link set "vlan$n" up
        ns "$NS_CLIENT" ip rule add from "10.10.$n.2" lookup "$n"
        ns "$NS_CLIENT" ip route add default via "10.10.$n.1" dev "vlan$n" table "$n" onlink
    done
    # DR/TUN replies to the VLAN client do not pass rvs: the router sends them untagged.
    ns "$NS_ROUTER" ip route add "10.10.$VLAN_OK.0/24" via "$CLIENT"

    [ -n "${HA_UP:-}" ] || build_box "$NS_LB" lb
    # VLAN 101's way to the VIP ends at rvs's MAC (rvs answers no ARP there), so that the
    # client's frames themselves reach rvs, to be refused.
    [ -n "${HA_UP:-}" ] || ns "$NS_CLIENT" ip neigh replace "10.10.$VLAN_BAD.1" dev "vlan$VLAN_BAD" \
        nud permanent lladdr "$(ns "$NS_LB" cat /sys/class/net/rvs-wan/address)"

    # The real servers and the sorry server.
    for i in 0 1 2 3; do
        n=rvs-${RS_NAMES[$i]} a=${RS_ADDRS[$i]}
        veth "$n" eth0 br-lan "${RS_NAMES[$i]}"
        ns "$n" ip addr add "$a/24" dev eth0
        case $mode in
            nat) ns "$n" ip route add default via 10.20.0.1 ;; # replies go back through rvs
            *) ns "$n" ip route add default via 10.20.0.254 ;;
        esac
        case $mode in
            dr|tun)
                # The VIP is local but never announced (LVS-DR/TUN real server recipe).
                ns_sysctl "$n" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
                    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
                    net.ipv4.conf.lo.arp_ignore=1 net.ipv4.conf.lo.arp_announce=2 \
                    net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
                ;;
        esac
        case $mode in
            dr) ns "$n" ip addr add "$VIP/32" dev lo ;;
            tun)
                # No ipip module here: a persistent tun device holds the VIP and
                # ipip-decap.py feeds it the inner packets of the IP-in-IP it receives.
                ns "$n" ip tuntap add dev tun0 mode tun
                ns_sysctl "$n" net.ipv6.conf.tun0.disable_ipv6=1 net.ipv4.conf.tun0.rp_filter=0
                ns "$n" ip addr add "$VIP/32" dev tun0
                ns "$n" ip link set tun0 up
                ;;
        esac
    done
}

# The cpus the lab's own processes (servers, decapsulators, clients) run on: every cpu but the
# rvs worker's (cpu 1), so that the worker polls undisturbed, as on a real box; none (no
# pinning) on a one-cpu machine. RVS_LAB_CPUS overrides ('' = no pinning).
lab_cpus() {
    if [ -n "${RVS_LAB_CPUS+x}" ]; then echo "$RVS_LAB_CPUS"; return; fi
    "$PYTHON" -c 'import os; print(",".join(str(c) for c in sorted(os.sched_getaffinity(0) - {1})))'
}
LAB_CPUS=$(lab_cpus 2>/dev/null || true)
pin() { if [ -n "$LAB_CPUS" ] && command -v taskset >/dev/null 2>&1; then taskset -c "$LAB_CPUS" "$@"; else "$@"; fi; }

# bg NS NAME CMD...: start CMD in NS in the background, detached, logging to $STATE/NAME.log.
bg() {
    local n=$1 name=$2; shift 2
    ip netns exec "$n" setsid "$@" >>"$STATE/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
}
# bgp: bg, pinned to the lab's cpus.
bgp() {
    local n=$1 name=$2; shift 2
    if [ -n "$LAB_CPUS" ] && command -v taskset >/dev/null 2>&1; then bg "$n" "$name" taskset -c "$LAB_CPUS" "$@"
    else bg "$n" "$name" "$@"; fi
}

# start_server I: the servers of RS_NAMES[I], and a wait (bounded) for its http listener.
start_server() {
    local mode i=$1 n www tries
    mode=$(cat "$STATE/mode")
    n=rvs-${RS_NAMES[$i]} www=$STATE/www-${RS_NAMES[$i]}
    mkdir -p "$www"
    echo "${RS_NAMES[$i]}" >"$www/index.html"
    echo ok >"$www/health"
    ln -sf "$CACHE/big.bin" "$www/big.bin"
    ln -sf "$CACHE/mid.bin" "$www/mid.bin"
    ln -sf "$CACHE/small.bin" "$www/small.bin"
    # The access log (stderr) records the peer address of every request.
    bgp "$n" "${RS_NAMES[$i]}-http" "$PYTHON" -u -m http.server 80 --bind 0.0.0.0 --directory "$www"
    if command -v socat >/dev/null 2>&1; then
        # EXEC:cat, not PIPE: socat's PIPE echo stalls on transfers above the pipe's size.
        bgp "$n" "${RS_NAMES[$i]}-echo" socat -t 30 "TCP4-LISTEN:$ECHO_PORT,fork,reuseaddr" EXEC:cat
    fi
    # UDP echo on the same port (datagrams of any size: the fragments check).
    bgp "$n" "${RS_NAMES[$i]}-udp-echo" "$PYTHON" -u "$LAB_DIR/udp-echo.py" serve "$ECHO_PORT"
    if [ "$mode" = tun ]; then
        bgp "$n" "${RS_NAMES[$i]}-decap" "$PYTHON" -u "$LAB_DIR/ipip-decap.py" --tun tun0 --from "$TUN_SOURCES"
    fi
    for tries in $(seq 1 50); do
        ns "$n" curl -s -o /dev/null --max-time 1 "http://${RS_ADDRS[$i]}/" && return 0
        sleep 0.1
    done
    die "$n: http.server did not start (see $STATE/${RS_NAMES[$i]}-http.log)"
}

# stop_server I: ends every process in RS_NAMES[I]'s namespace (its servers).
stop_server() {
    local n=rvs-${RS_NAMES[$1]} p pids tries
    for tries in $(seq 1 30); do
        pids=$(ip netns pids "$n" 2>/dev/null || true)
        [ -z "$pids" ] && return 0
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        sleep 0.1
    done
    for p in $(ip netns pids "$n" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
}

start_servers() {
    local i
    for i in 0 1 2 3; do start_server "$i"; done
}

# lab.sh rs stop|start|fail|ok NAME
cmd_rs() {
    local action=${1:-} name=${2:-} i found=''
    for i in 0 1 2 3; do [ "${RS_NAMES[$i]}" = "$name" ] && found=$i; done
    [ -n "$found" ] || die "unknown server '$name' (${RS_NAMES[*]})"
    [ -f "$STATE/mode" ] || die "the lab is not up"
    case $action in
        stop) stop_server "$found"; say "$name: servers stopped" ;;
        start) stop_server "$found"; start_server "$found"; say "$name: servers started" ;;
        fail) rm -f "$STATE/www-$name/health"; say "$name: /health answers 404" ;;
        ok) echo ok >"$STATE/www-$name/health"; say "$name: /health answers 200" ;;
        *) die "lab.sh rs stop|start|fail|ok NAME" ;;
    esac
}

# The client's VLANs (see build_topology): a vlan-tap.py per TAP.
start_vlan_taps() {
    local n
    for n in "$VLAN_OK" "$VLAN_BAD"; do
        bgp "$NS_CLIENT" "vlan$n" "$PYTHON" -u "$LAB_DIR/vlan-tap.py" --parent eth0 --tap "vlan$n" --vid "$n"
    done
}

# The http service as keepalived.conf has it: an HTTP_GET of /health per real server (down
# within about 2 s of a failure: delay_loop 1 and one retry 1 s later), the sorry server.
write_keepalived_conf() {
    local mode=$1 kind i
    case $mode in nat) kind=NAT ;; fullnat) kind=FNAT ;; dr) kind=DR ;; tun) kind=TUN ;; esac
    {
        echo "# Written by deploy/lab/lab.sh for mode $mode."
        printf 'virtual_server %s 80 {\n    delay_loop 1\n    lb_algo %s\n    lb_kind %s\n    protocol TCP\n' "$VIP" "$LAB_SCHED" "$kind"
        [ "$LAB_SCHED" != mh ] || echo "    mh-port"
        [ "$mode" != fullnat ] || echo "    laddr_group_name lab_laddrs"
        printf '    sorry_server %s 80\n' "${RS_ADDRS[3]}"
        for i in 0 1 2; do
            cat <<EOF
    real_server ${RS_ADDRS[$i]} 80 {
        weight 1
        HTTP_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
EOF
        done
        echo "}"
        [ "$mode" != fullnat ] || printf 'local_address_group lab_laddrs {\n    %s lan\n}\n' "$LADDR"
    } >"$KEEPALIVED_CONF"
}

write_config() {
    local mode=$1 method laddrs='' s i
    case $mode in
        nat) method=nat ;;
        fullnat) method=fullnat laddrs="local_addrs = [\"$LADDR\"]" ;;
        dr) method=dr ;;
        tun) method=tunnel ;;
    esac
    write_keepalived_conf "$mode"
    {
        cat <<EOF
# Written by deploy/lab/lab.sh for mode $mode.
[eal]
args = [$EAL_ARGS]

[cores]
main = 0
workers = [1]

# net_af_packet's fanout group has the kernel reassemble IPv4 fragments for its sockets: rvs
# receives a fragmented datagram whole (up to the af_packet frame), so frames and mbufs hold
# 8 KiB. Larger datagrams arrive truncated (dropped as truncated).
[dataplane]
mbuf_data_room = 8320
# Idle workers sleep, so that the boxes, servers and tools share the two cores.
idle_sleep_us = 100

[control]
socket = "$SOCK"

[metrics]
listen = "$METRICS"

[[ports]]
name = "wan"
device = "net_af_packet0,iface=rvs-wan,qpairs=1,framecnt=$AFP_FRAMECNT,framesz=8192,blocksz=8192"
addrs = ["$BOX_WAN/24"]
vips = ["$VIP"]
# Low, so that e2e.sh's flood of the box's own address meets the limit.
exception_rate = $EXCEPTION_RATE
$(box_vlans)

[[ports]]
name = "lan"
device = "net_af_packet1,iface=rvs-lan,qpairs=1,framecnt=$AFP_FRAMECNT,framesz=8192,blocksz=8192"
addrs = ["$BOX_LAN/24"]

[[routes]]
prefix = "0.0.0.0/0"
via = "10.10.0.254"

# The http service (TCP $VIP:80) and its health checks.
[keepalived]
config = "$KEEPALIVED_CONF"
EOF
        for s in "tcp:$ECHO_PORT" "udp:$ECHO_PORT"; do
            printf '\n[[services]]\nprotocol = "%s"\nvip = "%s"\nport = %s\nscheduler = "%s"\n' "${s%%:*}" "$VIP" "${s#*:}" "$LAB_SCHED"
            [ "$LAB_SCHED" != mh ] || echo 'sched_flags = ["mh-port"]'
            [ -n "$laddrs" ] && echo "$laddrs"
            for i in 0 1 2; do
                printf '\n[[services.real_servers]]\naddr = "%s"\nport = %s\nweight = 1\nmethod = "%s"\n' "${RS_ADDRS[$i]}" "${s#*:}" "$method"
            done
        done
        [ -z "$EXTRA_TOML" ] || printf '\n%s\n' "$EXTRA_TOML"
    } >"$CONF"
}

# The wan port's VLAN (a single box only: two boxes would share its address).
box_vlans() {
    [ -z "${HA_BOX:-}" ] || return 0
    printf '\n[[ports.vlans]]\nid = %s\naddrs = ["10.10.%s.1/24"]\n' "$VLAN_OK" "$VLAN_OK"
}

rvsd_pid() {
    local p
    p=$(cat "$STATE/$RVSD_NAME.pid" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -d "/proc/$p" ] && grep -q rvsd "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

start_rvsd() {
    [ -x "$RVSD" ] || die "$RVSD not found: cargo build --release -p control --bin rvsd (or set RVS_BIN_DIR)"
    [ -f "$CONF" ] || die "no configuration at $CONF: run lab.sh up first"
    rvsd_pid >/dev/null && die "rvsd is already running (pid $(rvsd_pid))"
    "$RVSD" --config "$CONF" --check >/dev/null || die "rvsd refuses $CONF"
    rm -f "$SOCK"
    echo "=== $(date '+%F %T') starting rvsd" >>"$STATE/$RVSD_NAME.log"
    bg "$NS_LB" "$RVSD_NAME" "$RVSD" --config "$CONF"
    local pid i
    pid=$(cat "$STATE/$RVSD_NAME.pid")
    for i in $(seq 1 300); do
        [ -S "$SOCK" ] && break
        [ -d "/proc/$pid" ] || { tail -n 20 "$STATE/$RVSD_NAME.log" >&2; die "rvsd exited during start (log: $STATE/$RVSD_NAME.log)"; }
        sleep 0.1
    done
    [ -S "$SOCK" ] || { tail -n 20 "$STATE/$RVSD_NAME.log" >&2; die "rvsd: no control socket after 30 s"; }
    # Two boxes: keepalived decides which serves the VIP (ha.sh waits for that).
    [ -z "${HA_BOX:-}" ] || { say "$RVSD_NAME up (pid $pid)"; return 0; }
    if command -v ping >/dev/null 2>&1; then
        for i in $(seq 1 10); do
            ns "$NS_CLIENT" ping -c1 -W1 -q "$VIP" >/dev/null 2>&1 && break
        done
        ns "$NS_CLIENT" ping -c1 -W1 -q "$VIP" >/dev/null 2>&1 || die "rvsd is up (pid $pid) but the VIP does not answer ping from $NS_CLIENT"
    fi
    # rvs resolves the real servers' MACs with ARP after start; a SYN arriving before that is
    # refused (no_neighbour) and retransmitted. Wait until every server answers through the VIP.
    local seen
    seen=$(servers_answer 20) || die "rvsd is up (pid $pid) but http://$VIP/ reached only:${seen:- nothing}"
    say "rvsd up (pid $pid); http://$VIP/ answered by:$seen"
}

# servers_answer TRIES: requests to the VIP (at most TRIES) until all three servers answered;
# prints those that did, fails if one did not.
servers_answer() {
    local seen='' body i
    for i in $(seq 1 "$1"); do
        body=$(pin ip netns exec "$NS_CLIENT" curl -s --max-time 3 "http://$VIP/" 2>/dev/null) || continue
        case " $seen " in *" $body "*) ;; *) seen="$seen $body" ;; esac
        [ "$(wc -w <<<"$seen")" -ge 3 ] && break
    done
    echo "$seen"
    [ "$(wc -w <<<"$seen")" -ge 3 ]
}

stop_rvsd() {
    local pid i
    pid=$(rvsd_pid) || { rm -f "$STATE/$RVSD_NAME.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then
        warn "rvsd (pid $pid) still running 10 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$STATE/$RVSD_NAME.pid"
}

cmd_down() {
    local n p pids i
    stop_rvsd 2>/dev/null || true
    # Whatever else runs in the lab's namespaces was started by the lab (servers, decapsulators,
    # transfers): end those processes by pid, then delete the namespaces (and with them every
    # veth, bridge and tun device).
    for n in "${ALL_NS[@]}"; do
        ns_exists "$n" || continue
        pids=$(ip netns pids "$n" 2>/dev/null || true)
        if [ -n "$pids" ]; then
            for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
            for i in $(seq 1 30); do
                pids=$(ip netns pids "$n" 2>/dev/null || true)
                [ -z "$pids" ] && break
                sleep 0.1
            done
            for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
        fi
        ip netns del "$n" 2>/dev/null || warn "could not delete namespace $n"
    done
    rm -rf "$STATE" /var/run/dpdk/rvslab /var/run/dpdk/rvslab-lb1 /var/run/dpdk/rvslab-lb2 /var/run/dpdk/rvslab-lb3
}

cmd_up() {
    local mode=${1:-fullnat} ha='' preempt=yes fleet=''
    [ $# -gt 0 ] && shift
    while [ $# -gt 0 ]; do
        case $1 in
            --ha) ha=1 ;;
            --nopreempt) preempt=no ;;
            --fleet) fleet=${2:-}; [ $# -gt 1 ] && shift ;;
            *) die "unknown option '$1' (--ha, --nopreempt, --fleet N)" ;;
        esac
        shift
    done
    case $mode in nat|fullnat|dr|tun) ;; *) die "unknown mode '$mode' (nat|fullnat|dr|tun)" ;; esac
    [ -x "$RVSD" ] || die "$RVSD not found: cargo build --release -p control --bin rvsd (or set RVS_BIN_DIR)"
    [ "$mode" != tun ] || [ -c /dev/net/tun ] || die "TUN mode needs /dev/net/tun"
    local n any=0
    for n in "${ALL_NS[@]}"; do ns_exists "$n" && any=1; done
    if [ $any = 1 ] || [ -e "$STATE" ]; then say "lab already (partly) up: taking it down first"; cmd_down; fi
    ensure_files
    mkdir -p "$STATE"
    echo "$mode" >"$STATE/mode"
    if [ -n "$fleet" ]; then
        HA_UP=1
        say "mode $mode, a fleet of $fleet boxes behind the router's ECMP route (BGP)"
        fleet_up "$mode" "$fleet"
        say "lab is up ($mode, $fleet boxes). Try: lab.sh status; lab.sh kill lb1; lab.sh start lb1"
        return 0
    fi
    if [ -n "$ha" ]; then
        HA_UP=1
        say "mode $mode, two boxes: rvs-lb1 and rvs-lb2 with keepalived (preempt: $preempt)"
        ha_up "$mode" "$preempt"
        say "lab is up ($mode, two boxes). Try: lab.sh status; lab.sh kill lb1; lab.sh start lb1"
        return 0
    fi
    say "mode $mode: namespaces ${LAB_NS[*]}"
    build_topology "$mode"
    start_servers
    start_vlan_taps
    write_config "$mode"
    start_rvsd
    say "lab is up ($mode). Try: ip netns exec $NS_CLIENT curl http://$VIP/   (lab.sh status; lab.sh down)"
}

cmd_status() {
    local n mode pid adm
    mode=$(cat "$STATE/mode" 2>/dev/null || echo '-')
    echo "mode:        $mode"
    if is_ha; then ha_status; return 0; fi
    if is_fleet; then fleet_status; return 0; fi
    printf 'namespaces: '
    for n in "${LAB_NS[@]}"; do ns_exists "$n" && printf ' %s' "$n" || printf ' (%s missing)' "$n"; done
    echo
    if pid=$(rvsd_pid); then echo "rvsd:        running, pid $pid, config $CONF, socket $SOCK, log $STATE/$RVSD_NAME.log"
    else echo "rvsd:        not running"; fi
    echo "servers:     ${RS_ADDRS[*]} (logs $STATE/rsN-http.log)"
    echo "metrics:     the box's kernel serves them on wan: ip netns exec $NS_CLIENT curl -s http://$METRICS/metrics"
    echo "client:      ip netns exec $NS_CLIENT curl http://$VIP/"
    echo "capture:     ip netns exec $NS_ROUTER tcpdump -ni br-lan   (or br-wan)"
    if adm=$(rvsadm_bin); then
        echo "rvsadm:      $adm --socket $SOCK -Ln"
        if [ -S "$SOCK" ]; then
            "$adm" --socket "$SOCK" -Ln || warn "rvsadm failed"
            "$adm" --socket "$SOCK" --health || warn "rvsadm --health failed"
        fi
    else
        echo "rvsadm:      not built ($BIN_DIR/rvsadm): cargo build --release -p rvsadm"
    fi
}

main() {
    local cmd=${1:-} pid
    [ $# -gt 0 ] && shift
    case $cmd in
        up) need_root; cmd_up "$@" ;;
        down) need_root; cmd_down; say "lab is down" ;;
        status) cmd_status ;;
        stop)
            need_root
            if is_fleet; then use_box "${1:-}"; fi
            stop_rvsd; say "${HA_BOX:-the box}: rvsd stopped" ;;
        kill) need_root; is_ha || is_fleet || die "kill BOX is for the two-box lab or a fleet"; ha_kill "$@" ;;
        rs) need_root; cmd_rs "$@" ;;
        reload) need_root; pid=$(rvsd_pid) || die "rvsd is not running"; kill -HUP "$pid"; say "rvsd: SIGHUP sent" ;;
        start)
            need_root
            if is_ha; then ha_start "${1:-}"; ha_wait_holder
            elif is_fleet; then fleet_start "${1:-}"
            else start_rvsd; fi ;;
        cpus) echo "$LAB_CPUS" ;;
        *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || [ "$cmd" = help ] || [ "$cmd" = -h ] || exit 2 ;;
    esac
}

main "$@"
