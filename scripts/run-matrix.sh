#!/usr/bin/env bash
# The main job over thread layouts, ring and batch sizes and SIMD tiers, one line each
# (median of RUNS runs: Mticks/s, p50, p99, checksum), so a default that a flag beats shows at
# once. The project's equivalent of shared/tools/run-matrix, extended with the layout flags
# zerotick has: --workers, --pin, --no-pin, --ring-capacity, --batch-rows, --pool-batches.
# For latency, pass the paced flags: scripts/run-matrix.sh --paced --rate 300000 --seconds 6
# Run from the repository root after `cargo build --release`.
#   usage: scripts/run-matrix.sh [extra run flags...]     (RUNS=3 by default)
set -u
bin=target/release/zerotick
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
runs=${RUNS:-3}
median='
import json, sys, statistics
rows = [json.loads(l) for l in sys.stdin if l.strip()]
if not rows:
    print("failed - - -"); sys.exit()
tps = statistics.median(r["ticks_per_s"] for r in rows) / 1e6
p50 = statistics.median(r["latency_ns"]["p50"] for r in rows) / 1e3
p99 = statistics.median(r["latency_ns"]["p99"] for r in rows) / 1e3
sums = sorted({r["checksum"] for r in rows})
print("%.2f %.0f %.0f %s" % (tps, p50, p99, ",".join(sums)))
'
tiers="native"
grep -qw avx2 /proc/cpuinfo && grep -qw avx512f /proc/cpuinfo && tiers="native avx2"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), tiers: $tiers, $runs runs each, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-26s %10s %9s %9s  %s\n' tier layout "Mticks/s" "p50 us" "p99 us" checksum
layouts=(default "--workers 0" "--workers 0 --pin" "--no-pin" "--workers 1" \
    "--ring-capacity 65536" "--ring-capacity 4096" "--ring-capacity 1024" \
    "--batch-rows 8" "--batch-rows 32" "--batch-rows 64" "--batch-rows 128" "--pool-batches 8" "--pool-batches 32")
# Runs are interleaved (round r runs every layout once, in a rotated order) so that a slow
# spell of a shared machine lands on every layout alike instead of on one layout's runs.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for tier in $tiers; do
  env_=""; [ "$tier" = native ] || env_="ZEROTICK_SIMD=$tier"
  n=${#layouts[@]}
  for r in $(seq "$runs"); do
    for k in $(seq 0 $((n - 1))); do
      i=$(( (k + r) % n ))
      layout=${layouts[$i]}
      flags=""; [ "$layout" = default ] || flags=$layout
      env $env_ "$bin" run --json $flags "$@" 2>/dev/null >>"$tmp/$tier.$i" || true
    done
  done
  for i in $(seq 0 $((n - 1))); do
    read -r tps p50 p99 sum <<<"$(python3 -c "$median" <"$tmp/$tier.$i" 2>/dev/null || echo "failed - - -")"
    printf '%-8s %-26s %10s %9s %9s  %s\n' "$tier" "${layouts[$i]}" "$tps" "$p50" "$p99" "$sum"
  done
done
