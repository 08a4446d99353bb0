#!/usr/bin/env python3
"""Paired, interleaved A/B of `zerotick run` configurations.

usage: scripts/interleave.py ROUNDS 'LABEL|ENV|BINARY|FLAGS' ...

Round r runs every configuration once, starting at a rotated position, so that a slow spell of
a shared machine lands on every configuration alike. ENV is space-separated KEY=VALUE pairs
(may be empty), FLAGS the `zerotick run` flags (may be empty). Prints each round's ticks/s,
then per configuration the median ticks/s and the median (q1, q3) of the per-round ratios to
the first configuration: the figure to read, since both sides of a ratio ran in the same
minute. Example (is `--pool-batches 32` better than the default?):

    scripts/interleave.py 10 'default||target/release/zerotick|' \
        'pool32||target/release/zerotick|--pool-batches 32'
"""
import json
import os
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cfgs = []
    for arg in sys.argv[2:]:
        parts = arg.split("|")
        if len(parts) != 4:
            sys.exit(f"bad configuration {arg!r}: want LABEL|ENV|BINARY|FLAGS")
        cfgs.append(parts)
    rates = {c[0]: [] for c in cfgs}
    sums = {c[0]: set() for c in cfgs}
    for r in range(rounds):
        k = r % len(cfgs)
        for label, envs, binary, flags in cfgs[k:] + cfgs[:k]:
            env = dict(os.environ)
            for kv in envs.split():
                key, _, value = kv.partition("=")
                env[key] = value
            out = subprocess.run([binary, "run", "--json", *flags.split()], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{label}: exit {out.returncode}: {out.stderr.strip()[-500:]}")
            j = json.loads(out.stdout)
            rates[label].append(j["ticks_per_s"])
            sums[label].add(j["checksum"])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1] / 1e6:.2f}" for k, v in rates.items()),
              flush=True)
    base = rates[cfgs[0][0]]
    for label, v in rates.items():
        ratios = sorted(a / b for a, b in zip(v, base))
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(f"{label:24s} median {statistics.median(v) / 1e6:6.2f} M ticks/s  "
              f"ratio {statistics.median(ratios):.3f} (q1 {q[0]:.3f}, q3 {q[2]:.3f})  "
              f"checksum {','.join(sorted(sums[label]))}")


if __name__ == "__main__":
    main()
