#!/usr/bin/env bash
# What checkpoints cost: ticks/s of a Redis Streams consumer with checkpoints (the default) and
# with --no-checkpoints,
# the command behind the figures in README.md ("Deterministic failover").
#
# Starts a throwaway redis-server (no persistence, temporary directory, 127.0.0.1:$PORT),
# publishes $TICKS synthetic ticks into one stream shard, then runs $RUNS pairs of consumers
# (each in a group of its own, so each reads the whole stream), alternating without and with
# `--checkpoint-every $EVERY` (plain: `--no-checkpoints`), `--sink null`, and prints each run's ticks/s
# (`ticks_per_s` of `zerotick run --json`), checkpoints stored and checkpoint size, then the
# medians. The server is stopped (by its pid) at exit.
#
# Usage: scripts/checkpoint-cost.sh
# Environment (defaults): ZEROTICK (target/release/zerotick, built if missing), PORT (6391),
# TICKS (1000000), RUNS (5), EVERY (262144, the default of --checkpoint-every), ORDER
# ("plain ckpt": the order within a pair; "ckpt plain" to check that the order is not the
# difference).
set -euo pipefail
cd "$(dirname "$0")/.."

ZEROTICK=${ZEROTICK:-target/release/zerotick}
PORT=${PORT:-6391}
TICKS=${TICKS:-1000000}
RUNS=${RUNS:-5}
EVERY=${EVERY:-262144}
URL="redis://127.0.0.1:${PORT}/ticks"

command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
if [ ! -x "$ZEROTICK" ]; then
    echo "building $ZEROTICK (cargo build --release -p zerotick)" >&2
    cargo build --release -p zerotick
fi

# shellcheck source=lib/redis-server.sh
. scripts/lib/redis-server.sh
start_redis ckpt-cost

"$ZEROTICK" publish --to "$URL" --stream-shards 1 --ticks "$TICKS" --json >/dev/null

field() { python3 -c "import json,sys; j=json.loads(sys.stdin.read().splitlines()[-1]); print($1)"; }
plain=()
ckpt=()
for i in $(seq "$RUNS"); do
    for mode in ${ORDER:-plain ckpt}; do
        extra=(--no-checkpoints)
        if [ "$mode" = ckpt ]; then extra=(--checkpoint-every "$EVERY"); fi
        out=$("$ZEROTICK" run --feed "$URL" --stream-shards 0 --group "g-$mode-$i" --consumer c \
            --sink null --json "${extra[@]}")
        tps=$(field "round(j['ticks_per_s'])" <<<"$out")
        info=$(field "'checkpoints %d, last %d bytes' % (j['redis']['checkpoints'], j['redis']['checkpoint_bytes'])" <<<"$out")
        echo "run $i $mode: $tps ticks/s ($info)"
        if [ "$mode" = plain ]; then plain+=("$tps"); else ckpt+=("$tps"); fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mp=$(median "${plain[@]}")
mc=$(median "${ckpt[@]}")
echo "median without checkpoints: $mp ticks/s; with: $mc ticks/s; ratio $(python3 -c "print(round($mc/$mp, 3))")"
