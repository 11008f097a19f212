#!/usr/bin/env bash
# rvs's main job: a real load-balanced TCP service in the network-namespace lab (deploy/lab).
# Installs what is missing, builds rvsd and rvsadm (release), brings the lab up in MODE (a client,
# the rvs box on DPDK's net_af_packet, three real servers running python3 http.server), sends a
# few requests through the VIP showing which real server answered each, and prints the table,
# the counters and where the metrics are. The lab stays up to play with; the last lines say how
# to take it down. Safe to run again (it rebuilds the lab). Needs root.
#
# Usage: ./demo.sh [nat|fullnat|dr|tun]     (default fullnat)
set -euo pipefail
cd "$(dirname "$0")"
MODE=${1:-fullnat}
case $MODE in nat|fullnat|dr|tun) ;; -h|--help|help) sed -n 2,9p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown mode '$MODE': nat, fullnat, dr or tun" >&2; exit 2 ;; esac
. deploy/setup.sh
rvs_setup
say "building rvsd and rvsadm (release; the first build takes a few minutes)"
cargo build --release --quiet -p control --bin rvsd
cargo build --release --quiet -p rvsadm
ADM=target/release/rvsadm
SOCK=/run/rvs-lab/rvsd.sock
VIP=10.10.0.100

say "bringing the lab up in $MODE mode (deploy/lab/lab.sh up $MODE)"
bash deploy/lab/lab.sh up "$MODE"

say "six requests from the client namespace to http://$VIP/ (each real server's page names it)"
for i in 1 2 3 4 5 6; do
    if body=$(ip netns exec rvs-client curl -sS --max-time 5 "http://$VIP/"); then
        printf '    request %d -> answered by %s\n' "$i" "$body"
    else
        die "request $i through the VIP failed (deploy/lab/lab.sh status; log /run/rvs-lab/rvsd.log)"
    fi
done

say "rvsadm -Ln (ipvsadm syntax over rvsd's control socket)"
"$ADM" --socket "$SOCK" -Ln
say "rvsadm -Ln --stats"
"$ADM" --socket "$SOCK" -Ln --stats
say "rvsadm -Lnc (connections)"
"$ADM" --socket "$SOCK" -Lnc | head -n 12

cat <<TXT

$(say "the VIP is live; things to try")
    ip netns exec rvs-client curl http://$VIP/              # one more request
    $ADM --socket $SOCK -Ln --rate                  # rates (sampled every 2 s)
    $ADM --socket $SOCK -e -t $VIP:80 -r 10.20.0.11:80 $(case $MODE in nat) echo -m ;; fullnat) echo -b ;; dr) echo -g ;; tun) echo -i ;; esac) -w 0   # drain rs1
    ip netns exec rvs-client curl -s http://10.10.0.1:9469/metrics | grep rvs_ipvs   # metrics, served by the box's kernel through rvs
    bash deploy/lab/lab.sh status                            # what runs where, logs
    ./demo.sh nat | ./demo.sh dr | ./demo.sh tun             # the other forwarding modes

$(say "tear it down with: bash deploy/lab/lab.sh down")
TXT
