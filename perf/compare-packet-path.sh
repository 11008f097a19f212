#!/bin/bash
# Compares the packet_path burst benches of two commits over several link layouts.
#
#   perf/compare-packet-path.sh BEFORE [AFTER] [-s SEEDS] [-r ROUNDS]
#
# A build's burst figures move by up to 20 % with where the linker puts its functions (the same
# source linked in another order), so one build of each side compares layouts, not code. This
# links each side SEEDS times (default 6) in a different order (lld --shuffle-sections), runs all
# binaries alternated ROUNDS times (default 4), keeps each binary's fastest, and prints per bench
# the median and the minimum over the layouts of each side. AFTER defaults to the work tree.
# Builds go to a scratch directory (default /tmp/rvs-compare, or $COMPARE_DIR).
set -euo pipefail
before=${1:?usage: compare-packet-path.sh BEFORE [AFTER] [-s SEEDS] [-r ROUNDS]}
shift
after=worktree
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then after=$1; shift; fi
seeds=6 rounds=4
while getopts s:r: o; do
    case $o in s) seeds=$OPTARG ;; r) rounds=$OPTARG ;; *) exit 2 ;; esac
done
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
dir=${COMPARE_DIR:-/tmp/rvs-compare}
sysroot=$(rustc --print sysroot)
gccld=$sysroot/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld
mkdir -p "$dir/bin"

# tree NAME REV: a detached work tree of REV (the work tree itself for "worktree").
tree() {
    if [ "$2" = worktree ]; then echo "$repo"; return; fi
    local t=$dir/$1
    [ -d "$t" ] || git -C "$repo" worktree add --detach -f "$t" "$2" >/dev/null
    git -C "$t" checkout -q --detach "$2"
    echo "$t"
}

# build NAME REV: one packet_path binary per seed, $dir/bin/NAME.SEED.
build() {
    local src seed exe
    src=$(tree "$1" "$2")
    for seed in $(seq 1 "$seeds"); do
        echo "building $1 ($2), layout $seed of $seeds" >&2
        exe=$(cd "$src" && cargo rustc -q -p dataplane --bench packet_path --profile bench \
            --message-format=json -- -C link-arg=-fuse-ld=lld -C "link-arg=-B$gccld" \
            "-C" "link-arg=-Wl,--shuffle-sections=.text*=$seed" |
            python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -1)
        cp "$exe" "$dir/bin/$1.$seed"
    done
}

build before "$before"
build after "$after"
python3 - "$dir/bin" "$seeds" "$rounds" "$repo/dataplane" <<'EOF'
import os, re, statistics, subprocess, sys
bins, seeds, rounds, cwd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
unit = {"ps": 1e-3, "ns": 1, "µs": 1e3, "ms": 1e6}
env = dict(os.environ, DIVAN_SAMPLE_COUNT="300")
runs = [(side, s) for s in range(1, seeds + 1) for side in ("before", "after")]
best = {}
for r in range(rounds):
    for side, s in runs if r % 2 == 0 else runs[::-1]:
        out = subprocess.run([f"{bins}/{side}.{s}", "--bench", "burst"], capture_output=True,
                             text=True, env=env, cwd=cwd, check=True).stdout
        for m in re.finditer(r"[├╰]─ (\w+)\s+([\d.]+) (ps|ns|µs|ms)", out):
            ns = float(m.group(2)) * unit[m.group(3)] / 32
            key = (side, s, m.group(1))
            best[key] = min(best.get(key, ns), ns)
print(f"ns per packet, each layout's fastest of {rounds} alternated runs, {seeds} layouts a side")
print(f"{'bench':14} {'before':>8} {'after':>8} {'median':>7} {'min b':>7} {'min a':>7} {'min':>7}")
for name in sorted({k[2] for k in best}):
    b = [best[("before", s, name)] for s in range(1, seeds + 1)]
    a = [best[("after", s, name)] for s in range(1, seeds + 1)]
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"{name:14} {mb:8.1f} {ma:8.1f} {100 * (ma - mb) / mb:+6.1f}% "
          f"{min(b):7.1f} {min(a):7.1f} {100 * (min(a) - min(b)) / min(b):+6.1f}%")
EOF
