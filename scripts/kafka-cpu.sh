#!/usr/bin/env bash
# CPU time of the tansu broker against zerotick's own for publishing and consuming a feed
# through Kafka: the command behind the Kafka figures in docs/transports.md.
#
# Starts a throwaway tansu broker (memory storage, 127.0.0.1:$PORT), then
#   1. `zerotick publish` of $TICKS synthetic ticks into a topic of $PARTITIONS partitions,
#   2. one `zerotick run --until-end` of group g1 consuming every partition (--sink null),
#   3. two `zerotick run --until-end` of group g2 started together (wall time of both),
# and for each step prints the broker's CPU seconds (utime + stime from /proc/PID/stat, read
# before and after the step) beside zerotick's user + sys seconds and the step's wall time.
# The broker is stopped (by its pid) at exit.
#
# Usage: scripts/kafka-cpu.sh
# Environment (defaults): ZEROTICK (target/release/zerotick, built if missing), TANSU
# ($ZEROTICK_TANSU, else tansu on PATH), PORT (9093), TICKS (1000000), PARTITIONS (4).
set -euo pipefail
cd "$(dirname "$0")/.."

ZEROTICK=${ZEROTICK:-target/release/zerotick}
TANSU=${TANSU:-${ZEROTICK_TANSU:-$(command -v tansu || true)}}
PORT=${PORT:-9093}
TICKS=${TICKS:-1000000}
PARTITIONS=${PARTITIONS:-4}
URL="kafka://127.0.0.1:${PORT}/ticks"

[ -x "$TANSU" ] || { echo "tansu is missing: set TANSU or ZEROTICK_TANSU (docs/transports.md says how to get it)" >&2; exit 1; }
if [ ! -x "$ZEROTICK" ]; then
    echo "building $ZEROTICK (cargo build --release -p zerotick)" >&2
    cargo build --release -p zerotick
fi

DIR=$(mktemp -d -t zerotick-kafka-cpu.XXXXXX)
BROKER_PID=
cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

"$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >"$DIR/tansu.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

SERVER_PID="$BROKER_PID"
SERVER_NAME=broker
# shellcheck source=lib/server-cpu.sh
. scripts/lib/server-cpu.sh

# Two members of group g2 started together; the step ends when both did.
TWO='"$0" run --feed "$1" --group g2 --consumer a --until-end --sink null --json >"$2/a.json" &
"$0" run --feed "$1" --group g2 --consumer b --until-end --sink null --json >"$2/b.json"
wait'

scripts/machine.sh
echo "$("$TANSU" --version), memory storage, 127.0.0.1:$PORT; $TICKS ticks over $PARTITIONS partitions"
echo

step publish "$ZEROTICK" publish --to "$URL" --partitions "$PARTITIONS" --ticks "$TICKS"
step consume-1 "$ZEROTICK" run --feed "$URL" --group g1 --consumer a --until-end --sink null --json
step consume-2 bash -c "$TWO" "$ZEROTICK" "$URL" "$DIR"
echo
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
one = json.load(open(d + "/out.consume-1"))
# The pipeline's own rate runs from its first tick: it leaves out the group join (tansu holds
# a group's first JoinGroup for half the session timeout, 5 s by default).
print("consume-1: %d ticks, %.0f k ticks/s from the first tick, lag %d, committed %s" % (
    one["ticks_processed"], one["ticks_per_s"] / 1e3, one["kafka"]["lag"],
    [p["committed"] for p in one["kafka"]["partitions"]]))
for m in "ab":
    j = json.load(open("%s/%s.json" % (d, m)))
    print("consume-2 %s: %d ticks, %.0f k ticks/s from the first tick, rebalances %d, partitions %s" % (
        m, j["ticks_processed"], j["ticks_per_s"] / 1e3, j["kafka"]["rebalances"],
        [p["partition"] for p in j["kafka"]["partitions"] if p["records"] > 0]))
PY
