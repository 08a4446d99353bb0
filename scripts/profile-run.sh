#!/usr/bin/env bash
# Where the time of `zerotick run` goes: `perf record -g` over one run of the release binary,
# then `perf report --no-children` (self time per function, call graphs folded away) above a
# percent limit. This is the command behind the "share of samples" figures in docs/pipeline.md
# and docs/transports.md.
#
# Usage: scripts/profile-run.sh [ZEROTICK RUN FLAGS...]
#   scripts/profile-run.sh                                   # the default synthetic run
#   scripts/profile-run.sh --feed redis://127.0.0.1:6390/ticks --group g --consumer a --sink null
# Environment:
#   ZEROTICK        binary to profile (default target/release/zerotick, built if missing)
#   PERCENT_LIMIT   smallest share printed, in percent (default 1)
#   PERF_FREQ       sampling frequency in Hz (default 999)
#   OUT             perf data file (default a temporary file, removed at exit)
# Needs `perf` and perf_event_paranoid <= 2 (user-space samples of our own process). Prints the
# machine (CPU model, SIMD flags) and the commit first, so the figures can be labelled.
set -euo pipefail
cd "$(dirname "$0")/.."

ZEROTICK=${ZEROTICK:-target/release/zerotick}
PERCENT_LIMIT=${PERCENT_LIMIT:-1}
PERF_FREQ=${PERF_FREQ:-999}

command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf or linux-tools)" >&2; exit 1; }
if [ ! -x "$ZEROTICK" ]; then
    echo "building $ZEROTICK (cargo build --release -p zerotick)" >&2
    cargo build --release -p zerotick
fi

if [ -z "${OUT:-}" ]; then
    OUT=$(mktemp -t zerotick-perf.XXXXXX)
    trap 'rm -f "$OUT" "$OUT.old"' EXIT
fi

scripts/machine.sh
echo "command: perf record -g -F $PERF_FREQ -- $ZEROTICK run $*"
echo

perf record -g -F "$PERF_FREQ" -o "$OUT" -- "$ZEROTICK" run "$@"
echo
perf report -i "$OUT" --no-children --percent-limit "$PERCENT_LIMIT" --stdio \
    --sort dso,symbol -g none 2>/dev/null
