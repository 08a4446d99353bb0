#!/usr/bin/env python3
"""Paired, alternating A/B of zerotick-baseline builds on one inner pipeline.

usage: scripts/ab-inner.py ROUNDS TICKS WHICH BINARY...

Runs `BINARY --inner WHICH --ticks TICKS --seed 42 --symbols 64` for every binary once a
round, starting at a rotated position, and prints per binary the median wall time, the median
steady-state ticks/s and the median per-round ratios to the first binary (wall speed-up and
steady-state ratio), with the checksums seen. WHICH is zerotick, idiomatic-2, idiomatic-3 or
origin. Copy each build's target/release/zerotick-baseline aside to compare builds, e.g.

    scripts/ab-inner.py 8 2000000 zerotick /tmp/zb-before target/release/zerotick-baseline
"""
import json
import os
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rounds, ticks, which = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bins = sys.argv[4:]
    res = {b: [] for b in bins}
    for r in range(rounds):
        k = r % len(bins)
        for b in bins[k:] + bins[:k]:
            out = subprocess.run(
                [b, "--inner", which, "--ticks", ticks, "--seed", "42", "--symbols", "64"],
                capture_output=True, text=True, check=True,
            ).stdout
            d = json.loads(out)
            res[b].append((d["seconds"], d["steady_ticks_per_s"] or 0.0, d["checksum"]))
    base = res[bins[0]]
    for b in bins:
        runs = res[b]
        wall = statistics.median(x[0] for x in runs) * 1e3
        steady = statistics.median(x[1] for x in runs) / 1e6
        speedup = statistics.median(base[i][0] / runs[i][0] for i in range(rounds))
        ratio = statistics.median(
            runs[i][1] / base[i][1] if base[i][1] else 0.0 for i in range(rounds)
        )
        sums = sorted({x[2] for x in runs})
        print(f"{os.path.basename(b):24s} wall {wall:8.1f} ms  steady {steady:6.2f} M ticks/s  "
              f"wall speed-up {speedup:.3f}  steady ratio {ratio:.3f}  checksum {','.join(sums)}")


if __name__ == "__main__":
    main()
