#!/usr/bin/env bash
# One line to label a measurement with: date, commit, CPU model, vCPUs, SIMD tier flags, load.
# Every figure in README.md and docs/ states the machine it was measured on; this prints it.
set -euo pipefail
cd "$(dirname "$0")/.."

model=$(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m 1 '^flags' /proc/cpuinfo)
simd=()
for f in avx2 fma avx512f; do
    case " ${flags#*:} " in *" $f "*) simd+=("$f") ;; esac
done
case " ${simd[*]} " in *" avx512f "*) ;; *) simd+=("no-avx512") ;; esac
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)
echo "date: $(date -u +%Y-%m-%d)  commit: ${commit}${dirty}  cpu: ${model}, $(nproc) vCPU, ${simd[*]}  load: $(cut -d' ' -f1-3 /proc/loadavg)"
