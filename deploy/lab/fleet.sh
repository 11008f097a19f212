# The fleet lab (lab.sh up dr|tun --fleet N), sourced by lab.sh: N rvs boxes behind a router's
# ECMP route, announced over BGP.
#
#   The client (10.30.0.2/24) sits behind the router on br-client (10.30.0.254/24), so every
#   packet to the VIP crosses the router's route to it. Boxes rvs-lb1..N (wan 10.10.0.3.., lan
#   10.20.0.3..) each run rvsd ([announce]: VIP/32 in table 100 on wan while each service of the
#   VIP can serve; [sysctl] sloppy_tcp; mh with mh-port) and Debian's BIRD: a kernel protocol learns
#   table 100, a BGP session (AS 65001, BFD) exports it to the router's BIRD (AS 65000), which
#   merges the boxes' paths into one ECMP route (fib_multipath_hash_policy 1: L4 hash). A box
#   whose rvsd dies loses its kernel interface and the route with it; the router's BFD notices
#   too.

FLEET_MAX=3
FLEET_CLIENT=10.30.0.2
FLEET_CLIENT_GW=10.30.0.254
FLEET_AS=65001
ROUTER_AS=65000
ANNOUNCE_TABLE=100
BIRD=${BIRD:-$(command -v bird || echo /usr/sbin/bird)}
BIRDC=${BIRDC:-$(command -v birdc || echo /usr/sbin/birdc)}

is_fleet() { [ -f "$STATE/fleet" ]; }
fleet_boxes() { local i; for i in $(seq 1 "$(cat "$STATE/fleet")"); do echo "lb$i"; done; }

# rvsd's [announce] and [sysctl] on a fleet box.
fleet_toml() {
    printf '[announce]\ntable = %s\n\n[sysctl]\nsloppy_tcp = 1\n' "$ANNOUNCE_TABLE"
}

# BFD and BGP timers both sides share: a silent peer is down in 0.5 s (BFD) or 3 s (hold), and
# a session that failed is tried again after 1 s.
bgp_timers() {
    printf '    hold time 3;\n    keepalive time 1;\n    connect retry time 1;\n'
    printf '    error wait time 1, 5;\n    bfd on;\n'
}
bfd_conf() {
    printf 'protocol bfd {\n    interface "%s" {\n        min rx interval 100 ms;\n' "$1"
    printf '        min tx interval 100 ms;\n        multiplier 5;\n    };\n}\n'
}

# The router's BIRD: a BGP session per box, the merged paths into the kernel.
router_bird_conf() {
    local i
    cat <<EOF
# Written by deploy/lab/fleet.sh: the router of the fleet lab.
log stderr all;
router id 10.10.0.254;
protocol device { scan time 10; }
protocol kernel {
    merge paths on;
    ipv4 { import none; export all; };
}
$(bfd_conf br-wan)
EOF
    for i in $(seq 1 "$1"); do
        printf 'protocol bgp lb%s {\n    local 10.10.0.254 as %s;\n' "$i" "$ROUTER_AS"
        printf '    neighbor %s as %s;\n%s\n' "${HA_WAN[$((i - 1))]}" "$FLEET_AS" "$(bgp_timers)"
        printf '    ipv4 { import all; export none; };\n}\n'
    done
}

# A box's BIRD: table 100 (rvsd's announcements) learned, exported to the router.
box_bird_conf() {
    local i
    i=$(ha_index "$1")
    cat <<EOF
# Written by deploy/lab/fleet.sh: BIRD of box $1.
log stderr all;
router id ${HA_WAN[$i]};
protocol device { scan time 10; }
protocol kernel {
    kernel table $ANNOUNCE_TABLE;
    learn;
    scan time 1;
    ipv4 { import all; export none; };
}
$(bfd_conf wan)
protocol bgp uplink {
    local ${HA_WAN[$i]} as $FLEET_AS;
    neighbor 10.10.0.254 as $ROUTER_AS;
$(bgp_timers)
    ipv4 { import none; export all; };
}
EOF
}

bird_pid() { # NAME
    local p
    p=$(cat "$STATE/$1-bird.pid" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -d "/proc/$p" ] && grep -q bird "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

start_bird() { # NAMESPACE NAME
    bird_pid "$2" >/dev/null && return 0
    [ -x "$BIRD" ] || die "BIRD is missing (apt-get install bird2)"
    bg "$1" "$2-bird" "$BIRD" -f -c "$STATE/$2-bird.conf" -s "$STATE/$2-bird.ctl"
    say "$2: BIRD started"
}

# The client on a subnet of its own behind the router.
fleet_client() {
    ns "$NS_ROUTER" ip link add br-client type bridge stp_state 0 forward_delay 0
    ns_sysctl "$NS_ROUTER" net.ipv6.conf.br-client.disable_ipv6=1
    ns "$NS_ROUTER" ip addr add "$FLEET_CLIENT_GW/24" dev br-client
    no_offload "$NS_ROUTER" br-client
    ns "$NS_ROUTER" ip link set br-client up
    ns_sysctl "$NS_ROUTER" net.ipv4.conf.br-client.rp_filter=0 net.ipv4.conf.br-client.send_redirects=0 \
        net.ipv4.fib_multipath_hash_policy=1
    ns "$NS_ROUTER" ip link set client nomaster
    ns "$NS_ROUTER" ip link set client master br-client
    ns "$NS_CLIENT" ip addr flush dev eth0
    ns "$NS_CLIENT" ip addr add "$FLEET_CLIENT/24" dev eth0
    ns "$NS_CLIENT" ip route replace default via "$FLEET_CLIENT_GW"
    # Small receive buffers: a transfer's data waits at the server for the client's ACKs (which
    # cross the boxes), not in the client's buffer.
    ns_sysctl "$NS_CLIENT" "net.ipv4.tcp_rmem=4096 65536 262144"
}

# The router's route to the VIP: its next hops, one per box that announces it.
vip_next_hops() {
    ns "$NS_ROUTER" ip -4 route show "$VIP/32" 2>/dev/null | grep -o 'via [0-9.]*' | cut -d' ' -f2 | sort | tr '\n' ' '
}

# Waits (bounded) until the router routes the VIP through N boxes.
fleet_wait_paths() {
    local n=$1 i
    for i in $(seq 1 150); do
        [ "$(wc -w <<<"$(vip_next_hops)")" -ge "$n" ] && return 0
        sleep 0.2
    done
    return 1
}

# fleet_start BOX: whatever of the box is not running (rvsd first: BIRD speaks through its
# kernel interface).
fleet_start() {
    use_box "$1"
    rvsd_pid >/dev/null || start_rvsd
    start_bird "rvs-$1" "$1"
}

# lab.sh up dr|tun --fleet N
fleet_up() {
    local mode=$1 n=$2 box i
    case $mode in dr|tun) ;; *) die "a fleet is for dr and tun (NAT and FULLNAT need connection sync: --ha)" ;; esac
    case $n in 2|3) ;; *) die "--fleet takes 2 or 3 boxes" ;; esac
    echo "$n" >"$STATE/fleet"
    LAB_NS=(rvs-client rvs-rs1 rvs-rs2 rvs-rs3 rvs-sorry rvs-router)
    local sources=()
    for i in $(seq 1 "$n"); do LAB_NS+=("rvs-lb$i"); sources+=("${HA_LAN[$((i - 1))]}"); done
    TUN_SOURCES=$(IFS=,; echo "${sources[*]}")
    build_topology "$mode"
    fleet_client
    for box in $(fleet_boxes); do build_box "rvs-$box" "$box"; done
    router_bird_conf "$n" >"$STATE/router-bird.conf"
    start_bird "$NS_ROUTER" router
    start_servers
    for box in $(fleet_boxes); do
        use_box "$box"
        write_config "$mode"
        box_bird_conf "$box" >"$STATE/$box-bird.conf"
        fleet_start "$box"
    done
    fleet_wait_paths "$n" || die "the router routes $VIP through: $(vip_next_hops) (want $n boxes; see $STATE/router-bird.log)"
    local seen
    seen=$(servers_answer 30) || die "http://$VIP/ reached only:${seen:- nothing}"
    say "the router routes $VIP through: $(vip_next_hops); answered by:$seen"
}

fleet_status() {
    local box
    echo "router:      $VIP via $(vip_next_hops)(ip netns exec $NS_ROUTER ip route show $VIP)"
    for box in $(fleet_boxes); do
        use_box "$box"
        printf '%s: rvsd %s, BIRD %s, announces: %s\n' "$box" \
            "$(rvsd_pid >/dev/null && echo running || echo stopped)" \
            "$(bird_pid "$box" >/dev/null && echo running || echo stopped)" \
            "$(ns "rvs-$box" ip -4 route show table "$ANNOUNCE_TABLE" 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')"
    done
}
