# Sourced by scripts/redis-cpu.sh and scripts/kafka-cpu.sh: a server's CPU time beside
# zerotick's, per step. The caller sets SERVER_PID (the server's pid), SERVER_NAME (how the
# output names it), DIR (a temporary directory) and TICKS (ticks per step).

CLK_TCK=$(getconf CLK_TCK)

# utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the fields
# are counted after the command name, which is in parentheses and may contain spaces).
cpu_ticks() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat")
    # After ") ", field 3 (state) is word 1, so utime (field 14) is word 12, stime word 13.
    awk '{ print $12 + $13 }' <<<"$rest"
}

# step NAME COMMAND...: run COMMAND under GNU time, print the CPU figures of both sides.
step() {
    local name=$1
    shift
    local before after tfile
    tfile="$DIR/time.$name"
    before=$(cpu_ticks "$SERVER_PID")
    /usr/bin/time -f '%U %S %e' -o "$tfile" "$@" >"$DIR/out.$name"
    after=$(cpu_ticks "$SERVER_PID")
    read -r user sys wall <"$tfile"
    awk -v n="$name" -v b="$before" -v a="$after" -v hz="$CLK_TCK" -v u="$user" -v s="$sys" \
        -v w="$wall" -v t="$TICKS" -v srv="$SERVER_NAME" 'BEGIN {
            r = (a - b) / hz
            printf "%-10s wall %6.2f s (%4.0f k ticks/s)  %s CPU %6.2f s (%.2f us/tick)  zerotick CPU %6.2f s (user %.2f + sys %.2f)\n",
                n, w, t / w / 1e3, srv, r, r / t * 1e6, u + s, u, s
        }'
}
