#!/usr/bin/env bash
# Large messages and idle connections over 127.0.0.1, for three stacks,
# each stack's own client against its own server: our tokio adapter, our
# blocking adapter and tonic 0.14 (benches/examples/e2e_bulk.rs says what
# is measured and how).
#
#   bash benches/bulk.sh                    # R=3 rounds
#   R=5 CALLS=128 bash benches/bulk.sh
#   WINDOW_KIB=4096 bash benches/bulk.sh    # every HTTP/2 window 4 MiB
#
# Each round starts each server in turn (tokio, blocking, tonic, then the
# next round), as its own process pinned to CPU 0, and runs the client,
# pinned to CPU 1, three times against it: 1,000 idle connections (RSS
# before and after), CALLS unary echoes of 4 MiB, one 1 GiB server stream
# of 64 KiB messages. Then the server is killed. Prints every run, then a
# Markdown table of the medians per stack and the ratios ours/tonic.
# Flow-control windows are each stack's defaults unless WINDOW_KIB is set.
# Every client run is bounded by `timeout`; any failed check ends the
# script with an error.
set -euo pipefail
cd "$(dirname "$0")/.."

R=${R:-3}
CALLS=${CALLS:-64}
CONNS=${CONNS:-1000}
STACKS=${STACKS:-"tokio blocking tonic"}
window=()
if [ -n "${WINDOW_KIB:-}" ]; then
    window=(--window-kib "$WINDOW_KIB")
fi

# Each idle connection is a descriptor in the client and one in the server.
if [ "$(ulimit -n)" -lt $((CONNS + 1024)) ]; then
    ulimit -n $((CONNS + 1024 > 4096 ? CONNS + 1024 : 4096))
fi

nice cargo build --release -q -p grpc-sansio-benches --example e2e_bulk
bin=target/release/examples/e2e_bulk

work=$(mktemp -d)
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT
clk=$(getconf CLK_TCK)

# The value of key $1 in a line of key=value pairs $2.
val() { tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p"; }

# Starts server $1 on a free port; sets server_pid and port. Ports below
# Linux's ephemeral range (32768 and up), where the thousands of client
# connections of a run (and their TIME_WAIT) take theirs.
port=$((21000 + RANDOM % 8000))
start_server() {
    for _ in 1 2 3 4 5; do
        port=$((port + 1))
        taskset -c 0 "$bin" serve --stack "$1" --port "$port" "${window[@]}" > "$work/server.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 100); do
            if grep -qs listening "$work/server.log"; then
                return 0
            fi
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_server
    done
    echo "$1 server did not start:" >&2
    cat "$work/server.log" >&2
    return 1
}

drive() {
    timeout 150 taskset -c 1 "$bin" drive --stack "$stack" --addr "127.0.0.1:$port" \
        --pid "$server_pid" --clk-tck "$clk" "${window[@]}" "$@"
}

if [ -n "${WINDOW_KIB:-}" ]; then
    echo "HTTP/2 windows: $WINDOW_KIB KiB for every stack"
else
    echo "HTTP/2 windows: each stack's defaults"
fi
echo
echo "| round | stack | 4 MiB echo MB/s | 1 GiB stream MB/s | server CPU s, echo | server CPU s, stream | RSS before | RSS with $CONNS idle | bytes/conn |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for round in $(seq 1 "$R"); do
    for stack in $STACKS; do
        start_server "$stack"
        idle=$(drive --what idle --conns "$CONNS")
        echo=$(drive --what echo --calls "$CALLS")
        stream=$(drive --what stream)
        stop_server
        row="$stack $(val echo_mbps "$echo") $(val stream_mbps "$stream")"
        row="$row $(val echo_server_cpu_s "$echo") $(val stream_server_cpu_s "$stream")"
        row="$row $(val rss_before_kib "$idle") $(val rss_after_kib "$idle") $(val bytes_per_conn "$idle")"
        echo "$row" >> "$work/runs"
        set -- $row
        echo "| $round | $1 | $2 | $3 | $4 | $5 | $6 KiB | $7 KiB | $8 |"
    done
done

# The median of column $2 for stack $1.
median() {
    awk -v s="$1" -v c="$2" '$1 == s {print $c}' "$work/runs" | sort -g |
        awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

echo
echo "Medians of $R runs:"
echo
echo "| stack | 4 MiB echo MB/s | 1 GiB stream MB/s | server CPU s, echo | server CPU s, stream | RSS before | RSS with $CONNS idle | bytes/conn |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for stack in $STACKS; do
    line="| $stack"
    for c in 2 3 4 5; do line="$line | $(median "$stack" $c)"; done
    line="$line | $(median "$stack" 6) KiB | $(median "$stack" 7) KiB | $(median "$stack" 8) |"
    echo "$line"
done

if [[ " $STACKS " == *" tonic "* ]]; then
    echo
    echo "Ratios of the medians, ours/tonic (throughput: above 1 is faster; CPU and bytes/conn: below 1 is less):"
    echo
    echo "| stack | echo MB/s | stream MB/s | server CPU, echo | server CPU, stream | bytes/conn |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for stack in $STACKS; do
        [ "$stack" = tonic ] && continue
        line="| $stack/tonic"
        for c in 2 3 4 5 8; do
            line="$line | $(awk -v a="$(median "$stack" $c)" -v b="$(median tonic $c)" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a / b}')"
        done
        echo "$line |"
    done
fi
