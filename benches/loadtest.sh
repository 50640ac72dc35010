#!/usr/bin/env bash
# End-to-end unary load over 127.0.0.1, side by side in one run: our tokio
# greeter, our blocking greeter and a tonic greeter (same helloworld
# messages, same reply), each driven by the same h2load command.
#
#   bash benches/loadtest.sh            # N=20000 requests per configuration, R=1
#   N=100000 R=3 bash benches/loadtest.sh
#   CONFS="1/1 4/10" SERVERS="tokio tonic" R=5 bash benches/loadtest.sh   # a focused A/B
#
# With R rounds the servers alternate (tokio, blocking, tonic, tokio, ...);
# every run is printed, then a table of the medians per server and
# configuration with the ratios ours/tonic.
#
# The server is pinned to CPU 0 and h2load to CPU 1 (taskset); the tokio
# and tonic greeters run one worker thread. Before the
# load, our greeter client checks that each server answers a real gRPC call
# with "Hello world" (status OK). h2load counts only 2xx responses, and it
# cannot see trailers, so each greeter (run with --report-ms) prints how
# many calls its handler answered OK: a run counts only if h2load saw N
# 2xx responses and the server answered exactly N calls OK meanwhile.
# Prints one Markdown table row per server and configuration: requests/s,
# mean and p99 latency, server CPU seconds per 100k RPCs, server peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
R=${R:-1}
CONFS=${CONFS:-1/1 4/10 16/100 64/100}
SERVERS=${SERVERS:-tokio blocking tonic}
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release -q -p grpc-sansio-tokio --example greeter_server --example greeter_client
cargo build --release -q -p grpc-sansio-blocking --example blocking_greeter_server
cargo build --release -q -p grpc-sansio-benches --example tonic_greeter

work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT
# HelloRequest { name: "world" } in a gRPC length-prefixed frame.
printf '\x00\x00\x00\x00\x07\x0a\x05world' > "$work/body"
clk=$(getconf CLK_TCK)
# The last count of calls a greeter answered OK, from its log.
replied() { awk '/^replied / {n = $2} END {print n + 0}' "$1"; }

echo "| server | c | m | req/s | mean | p99 | CPU s / 100k RPCs | peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
# Below the kernel's ephemeral range (32768 and up by default), so that no
# client socket of an earlier run holds a port a server is to listen on.
port=20070
rows="$work/rows"
: > "$rows"
for round in $(seq 1 "$R"); do
for server in $SERVERS; do
    port=$((port + 1))
    case $server in
        tokio) bin="target/release/examples/greeter_server --workers 1" ;;
        blocking) bin=target/release/examples/blocking_greeter_server ;;
        tonic) bin=target/release/examples/tonic_greeter ;;
    esac
    taskset -c 0 $bin --port "$port" --report-ms 100 > "$work/$server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        if reply=$(target/release/examples/greeter_client --addr "http://127.0.0.1:$port" --name world 2>/dev/null); then
            break
        fi
        sleep 0.05
    done
    if [[ "${reply:-}" != *"Hello world"* ]]; then
        echo "$server: no correct gRPC answer before the load (port $port); its log:" >&2
        tail -n 20 "$work/$server.log" >&2
        exit 1
    fi
    for conf in $CONFS; do
        c=${conf%/*} m=${conf#*/}
        sleep 0.3
        ok_before=$(replied "$work/$server.log")
        read -r ut st _ < <(awk '{print $14, $15}' "/proc/$pid/stat")
        rm -f "$work/h2load.log"
        taskset -c 1 h2load -n "$N" -c "$c" -m "$m" --data="$work/body" \
            -H 'content-type: application/grpc' -H 'te: trailers' \
            --log-file="$work/h2load.log" \
            "http://127.0.0.1:$port/helloworld.Greeter/SayHello" > "$work/out" 2>&1
        read -r ut2 st2 _ < <(awk '{print $14, $15}' "/proc/$pid/stat")
        ok=$(awk '/status codes:/ {gsub(",", "", $3); print $3}' "$work/out")
        if [[ "$ok" != "$N" ]]; then
            echo "$server c=$c m=$m: only $ok of $N responses were 2xx" >&2
            cat "$work/out" >&2
            exit 1
        fi
        sleep 0.3
        answered=$(( $(replied "$work/$server.log") - ok_before ))
        if [[ "$answered" != "$N" ]]; then
            echo "$server c=$c m=$m: the server answered $answered calls OK, not $N" >&2
            exit 1
        fi
        rps=$(awk '/finished in/ {print $4}' "$work/out")
        mean=$(awk '/time for request:/ {print $6}' "$work/out")
        p99=$(awk '{print $3}' "$work/h2load.log" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.0fus", a[i]}')
        cpu=$(awk -v a="$ut" -v b="$st" -v c="$ut2" -v d="$st2" -v k="$clk" -v n="$N" 'BEGIN {printf "%.2f", ((c+d)-(a+b))/k*100000/n}')
        rss=$(awk '/VmHWM/ {print $2 " kB"}' "/proc/$pid/status")
        echo "| $server | $c | $m | $rps | $mean | $p99 | $cpu | $rss |"
        echo "$server $c $m $rps $mean $p99 $cpu ${rss% kB}" >> "$rows"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
done

# Medians per server and configuration, and ratios against tonic (for
# latencies and CPU, tonic's over ours: above 1 means ours is better).
python3 - "$rows" <<'PY'
import statistics, sys
def us(v):
    for unit, f in (("us", 1), ("ms", 1000), ("s", 1000000)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
runs = {}
for line in open(sys.argv[1]):
    s, c, m, rps, mean, p99, cpu, rss = line.split()
    runs.setdefault((s, int(c), int(m)), []).append(
        (float(rps), us(mean), us(p99), float(cpu), float(rss)))
med = {k: [statistics.median(col) for col in zip(*v)] for k, v in runs.items()}
n = max(len(v) for v in runs.values())
print(f"\nMedians of {n} run(s) per cell:\n")
print("| server | c | m | req/s | mean | p99 | CPU s / 100k | peak RSS | req/s vs tonic | p99 tonic/ours | CPU tonic/ours |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (s, c, m), (rps, mean, p99, cpu, rss) in sorted(med.items(), key=lambda kv: (["tokio", "blocking", "tonic"].index(kv[0][0]), kv[0][1])):
    t = med.get(("tonic", c, m))
    ratio = f"{rps / t[0]:.2f}x" if t else ""
    p99r = f"{t[2] / p99:.2f}x" if t and p99 else ""
    cpur = f"{t[3] / cpu:.2f}x" if t and cpu else ""
    print(f"| {s} | {c} | {m} | {rps:.0f} | {mean:.0f}us | {p99:.0f}us | {cpu:.2f} | {rss:.0f} kB | {ratio} | {p99r} | {cpur} |")
PY
