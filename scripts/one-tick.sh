#!/usr/bin/env bash
# Start-up cost: the wall time (`seconds`) of one-tick runs of zerotick and of the idiomatic
# pipeline, N runs each, per zerotick-baseline binary given: median, min and quartiles in ms.
#   usage: scripts/one-tick.sh N BINARY...     (e.g. scripts/one-tick.sh 15 target/release/zerotick-baseline)
set -eu
[ $# -ge 2 ] || { sed -n '2,4p' "$0"; exit 2; }
n=$1; shift
for b in "$@"; do
    for w in zerotick idiomatic-2; do
        for _ in $(seq "$n"); do
            "$b" --inner "$w" --ticks 1 --seed 42 --symbols 64 --warmup-ticks 0 |
                python3 -c 'import json, sys; print(json.load(sys.stdin)["seconds"] * 1000)'
        done | sort -n | awk -v b="$(basename "$b")" -v w="$w" '{ a[NR] = $1 } END {
            printf "%s %s: median %.1f ms, min %.1f, q1 %.1f, q3 %.1f (%d runs)\n",
                b, w, a[int((NR + 1) / 2)], a[1], a[int(NR / 4) + 1], a[int(3 * NR / 4)], NR }'
    done
done
