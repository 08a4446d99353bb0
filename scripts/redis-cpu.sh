#!/usr/bin/env bash
# CPU time of redis-server against zerotick's own for publishing and consuming a feed through
# Redis Streams: the command behind the redis-server CPU figures in docs/transports.md.
#
# Starts a throwaway redis-server (no persistence, temporary directory, 127.0.0.1:$PORT), then
#   1. `zerotick publish` of $TICKS synthetic ticks into $SHARDS stream shards,
#   2. one `zerotick run` consuming every shard (--sink null),
# and for each step prints redis-server's CPU seconds (utime + stime from /proc/PID/stat, read
# before and after the step) beside zerotick's user + sys seconds and the step's wall time.
# The server is stopped (by its pid) at exit. The consumer's own profile is
# `scripts/profile-run.sh --feed redis://...` against a server fed the same way.
#
# Usage: scripts/redis-cpu.sh
# Environment (defaults): ZEROTICK (target/release/zerotick, built if missing), PORT (6390),
# TICKS (1000000), SHARDS (4).
set -euo pipefail
cd "$(dirname "$0")/.."

ZEROTICK=${ZEROTICK:-target/release/zerotick}
PORT=${PORT:-6390}
TICKS=${TICKS:-1000000}
SHARDS=${SHARDS:-4}
STREAM=ticks
URL="redis://127.0.0.1:${PORT}/${STREAM}"

command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)" >&2; exit 1; }
command -v redis-cli >/dev/null || { echo "redis-cli is missing (apt-get install redis-tools)" >&2; exit 1; }
if [ ! -x "$ZEROTICK" ]; then
    echo "building $ZEROTICK (cargo build --release -p zerotick)" >&2
    cargo build --release -p zerotick
fi

# shellcheck source=lib/redis-server.sh
. scripts/lib/redis-server.sh
start_redis redis-cpu

SERVER_PID="$REDIS_PID"
SERVER_NAME=redis-server
# shellcheck source=lib/server-cpu.sh
. scripts/lib/server-cpu.sh

scripts/machine.sh
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), no persistence, 127.0.0.1:$PORT; $TICKS ticks over $SHARDS shards"
echo

step publish "$ZEROTICK" publish --to "$URL" --shards-total "$SHARDS" --ticks "$TICKS"

shard_list=$(seq -s, 0 $((SHARDS - 1)))
consume=("$ZEROTICK" run --feed "$URL" --group g --consumer a --shards "$shard_list" --sink null --json)
step consume "${consume[@]}"
echo
echo "pending after consume: $(for i in $(seq 0 $((SHARDS - 1))); do
    redis-cli -p "$PORT" xpending "$STREAM.$i" g | head -1; done | paste -sd+ | bc) entries"
