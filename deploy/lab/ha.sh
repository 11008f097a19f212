# The two-box lab (lab.sh up MODE --ha), sourced by lab.sh: the directors of "LVS + keepalived".
#
#   rvs-lb1 (VRRP priority 150) and rvs-lb2 (priority 100) are rvs boxes like the one-box lab's,
#   each with its own addresses (wan 10.10.0.3 / .4, lan 10.20.0.3 / .4), on the same bridges.
#   On each, rvsd follows the floating addresses ([vrrp]) and runs both connection sync daemons
#   on lan (syncid 1), and Debian's keepalived (--vrrp: its checkers are rvsd's) moves the VIP on
#   wan and, on lan, the NAT servers' gateway 10.20.0.1 or the FULLNAT local address 10.20.0.250,
#   as one vrrp_sync_group. keepalived.conf per box: its vrrp blocks, then the lab's
#   virtual_server (which rvsd reads; keepalived --vrrp skips it).

HA_BOXES=(lb1 lb2)
HA_PRIORITY=(150 100)
# The boxes' addresses (the fleet lab, fleet.sh, has a third box).
HA_WAN=(10.10.0.3 10.10.0.4 10.10.0.5)
HA_LAN=(10.20.0.3 10.20.0.4 10.20.0.5)
NAT_GATEWAY=10.20.0.1
KEEPALIVED=${KEEPALIVED:-$(command -v keepalived || echo /usr/sbin/keepalived)}
# VRRPv3 adverts every 0.5 s: a backup takes over about 1.8 s after the master went silent.
ADVERT_INT=0.5

is_ha() { [ -f "$STATE/ha" ]; }

ha_index() {
    case $1 in lb1) echo 0 ;; lb2) echo 1 ;; lb3) echo 2 ;; *) die "unknown box '$1' (lb1, lb2, lb3)" ;; esac
}

# use_box BOX: lab.sh's per-box settings for BOX (namespace, addresses, files, EAL prefix), in
# the two-box lab or the fleet.
use_box() {
    local i mode
    i=$(ha_index "$1")
    mode=$(cat "$STATE/mode" 2>/dev/null || echo nat)
    HA_BOX=$1 NS_LB=rvs-$1 RVSD_NAME=$1-rvsd
    BOX_WAN=${HA_WAN[$i]} BOX_LAN=${HA_LAN[$i]}
    CONF=$STATE/$1.toml SOCK=$STATE/$1.sock METRICS=${HA_WAN[$i]}:9469
    KEEPALIVED_CONF=$STATE/$1-keepalived.conf
    EAL_ARGS=${LAB_EAL_ARGS//\"rvslab\"/\"rvslab-$1\"}
    if is_fleet; then
        LAB_SCHED=mh EXTRA_TOML=$(fleet_toml)
    else
        EXTRA_TOML=$(ha_toml "$mode")
    fi
}

# rvsd's [vrrp] and [sync] on a box.
ha_toml() {
    [ "$1" != nat ] || printf '[vrrp]\naddrs = ["%s"]\n\n' "$NAT_GATEWAY"
    [ "$1" = nat ] || printf '[vrrp]\n\n'
    # The master sends its established connections again every second: a box started again
    # learns the running downloads before keepalived gives it the VIP back.
    printf '[sync]\nrefresh_period = 1\n\n'
    printf '[sync.master]\nmcast_interface = "lan"\nsyncid = 1\n\n'
    printf '[sync.backup]\nmcast_interface = "lan"\nsyncid = 1\n'
}

# The floating addresses keepalived moves on lan, per mode.
lan_floating() {
    case $1 in nat) echo "$NAT_GATEWAY/24" ;; fullnat) echo "$LADDR/32" ;; esac
}

# ha_vrrp_conf MODE BOX PREEMPT: keepalived's vrrp blocks for BOX.
ha_vrrp_conf() {
    local mode=$1 box=$2 preempt=$3 i lan instances
    i=$(ha_index "$box")
    lan=$(lan_floating "$mode")
    instances=rvs_wan
    [ -z "$lan" ] || instances="rvs_wan rvs_lan"
    cat <<EOF
# Written by deploy/lab/ha.sh: VRRP for box $box (mode $mode).
global_defs {
    router_id rvs-$box
    dynamic_interfaces
    vrrp_version 3
}
EOF
    [ -z "$lan" ] || printf 'vrrp_sync_group rvs {\n    group {\n        rvs_wan\n        rvs_lan\n    }\n}\n'
    for inst in $instances; do
        local ifc=${inst#rvs_} vrid=51 addr="$VIP/32"
        [ "$ifc" = wan ] || vrid=52 addr=$lan
        cat <<EOF
vrrp_instance $inst {
    state BACKUP
    interface $ifc
    virtual_router_id $vrid
    priority ${HA_PRIORITY[$i]}
    advert_int $ADVERT_INT
$([ "$preempt" = yes ] || echo "    nopreempt")
    virtual_ipaddress {
        $addr dev $ifc
    }
}
EOF
    done
}

ha_build() {
    local mode=$1 box
    LAB_NS=(rvs-client rvs-lb1 rvs-lb2 rvs-rs1 rvs-rs2 rvs-rs3 rvs-sorry rvs-router)
    TUN_SOURCES=$(IFS=,; echo "${HA_LAN[*]}")
    build_topology "$mode"
    for box in "${HA_BOXES[@]}"; do build_box "rvs-$box" "$box"; done
}

keepalived_pid() {
    local p
    p=$(cat "$STATE/$1-keepalived.pid" 2>/dev/null) || return 1
    [ -n "$p" ] && [ -d "/proc/$p" ] && grep -q keepalived "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}

start_keepalived() {
    local box=$1
    keepalived_pid "$box" >/dev/null && return 0
    [ -x "$KEEPALIVED" ] || die "keepalived is missing (apt-get install keepalived)"
    bg "rvs-$box" "$box-keepalived" "$KEEPALIVED" --vrrp --dont-fork --log-console --log-detail \
        -f "$STATE/$box-keepalived.conf" -p "$STATE/$box-keepalived.main.pid" \
        -r "$STATE/$box-keepalived.vrrp.pid"
    say "$box: keepalived (VRRP) started"
}

# The box that holds the VIP now (on its kernel interface wan), if any.
vip_holder() {
    local box
    for box in "${HA_BOXES[@]}"; do
        ns_exists "rvs-$box" || continue
        ns "rvs-$box" ip -4 -o addr show dev wan 2>/dev/null | grep -q " $VIP/" && { echo "$box"; return 0; }
    done
    return 1
}

# ha_start BOX: whatever of the box is not running (rvsd first: it makes the interfaces
# keepalived uses).
ha_start() {
    use_box "$1"
    rvsd_pid >/dev/null || start_rvsd
    start_keepalived "$1"
}

# Waits (bounded) until BOX holds the VIP and it answers with every real server.
ha_wait_serving() {
    local box=$1 i seen
    for i in $(seq 1 100); do [ "$(vip_holder || true)" = "$box" ] && break; sleep 0.1; done
    [ "$(vip_holder || true)" = "$box" ] || die "$box does not hold the VIP after 10 s (holder: $(vip_holder || echo none))"
    seen=$(servers_answer 30) || die "$box holds the VIP but http://$VIP/ reached only:${seen:- nothing}"
    say "$box is MASTER; http://$VIP/ answered by:$seen"
}

# Waits (bounded) until a box holds the VIP; says which.
ha_wait_holder() {
    local i
    for i in $(seq 1 100); do vip_holder >/dev/null && break; sleep 0.1; done
    say "MASTER: $(vip_holder || echo 'none after 10 s')"
}

# lab.sh up MODE --ha [--nopreempt]
ha_up() {
    local mode=$1 preempt=$2 box
    ha_build "$mode"
    echo 1 >"$STATE/ha"
    start_servers
    for box in "${HA_BOXES[@]}"; do
        use_box "$box"
        write_config "$mode"
        { ha_vrrp_conf "$mode" "$box" "$preempt"; cat "$KEEPALIVED_CONF"; } >"$KEEPALIVED_CONF.new"
        mv "$KEEPALIVED_CONF.new" "$KEEPALIVED_CONF"
    done
    for box in "${HA_BOXES[@]}"; do ha_start "$box"; done
    ha_wait_serving lb1
}

# lab.sh kill BOX [--all]: SIGKILL the box's rvsd (its keepalived stays and must give the VIP up
# by itself), or every process of the box.
ha_kill() {
    local box=$1 all=${2:-} p
    use_box "$box"
    if [ "$all" = --all ]; then
        for p in $(ip netns pids "rvs-$box" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        say "$box: every process killed"
    else
        p=$(rvsd_pid) || die "$box: rvsd is not running"
        kill -KILL "$p"
        say "$box: rvsd killed (pid $p)"
    fi
}

ha_status() {
    local box holder
    holder=$(vip_holder || echo none)
    for box in "${HA_BOXES[@]}"; do
        use_box "$box"
        printf '%s: rvsd %s, keepalived %s, %s\n' "$box" \
            "$(rvsd_pid >/dev/null && echo running || echo stopped)" \
            "$(keepalived_pid "$box" >/dev/null && echo running || echo stopped)" \
            "$([ "$holder" = "$box" ] && echo "MASTER (holds $VIP)" || echo BACKUP)"
    done
}
