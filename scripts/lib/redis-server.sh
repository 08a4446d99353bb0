# Sourced by the scripts that measure against Redis (redis-cpu.sh, checkpoint-cost.sh).
#
# start_redis NAME: a throwaway redis-server (no persistence) on 127.0.0.1:$PORT, its data and
# log in a fresh temporary directory $DIR (zerotick-NAME.XXXXXX); sets REDIS_PID, waits until
# the port answers (exits 1 if it never does), and stops the server and removes $DIR at exit.

stop_redis() {
    if [ -n "${REDIS_PID:-}" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}

start_redis() {
    DIR=$(mktemp -d -t "zerotick-$1.XXXXXX")
    REDIS_PID=
    trap stop_redis EXIT
    redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
        --logfile "$DIR/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "redis-server did not start on port $PORT" >&2
    exit 1
}
