#!/usr/bin/env bash
# JSON-RPC benchmark: `calc.add` on `quasar serve http` (POST /rpc and WebSocket /rpc) against
# the same calculator on jsonrpsee's server (`quasar-baseline rpc-jsonrpsee`), alternating
# rounds.
#
# Two rows: HTTP (wrk, POST with a JSON body from a generated Lua script, keep-alive) and
# WebSocket (the `rpc_load` example of quasar-http: one socket per connection, IN_FLIGHT
# calls at once on each, every sum checked). Each round starts the server afresh pinned to
# core 0, the load on core 1, warms up, then measures; the server's CPU time comes from
# /proc/PID/stat. The deciding figure is calls per server CPU-second; a run with non-2xx
# answers or failed calls is flagged.
#
# Environment (defaults in brackets; DURATION and WARMUP in whole seconds, as wrk takes them):
#   ROUNDS [4] DURATION [5] WARMUP [1] CONNECTIONS [50]
#   IN_FLIGHT [1] WRK_THREADS [1] SKIP_BUILD [0] PIN [1] OUT [] BIN [target/release]
# Smoke run: ROUNDS=1 DURATION=1 WARMUP=1 scripts/bench/rpc.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-50}
IN_FLIGHT=${IN_FLIGHT:-1}
WRK_THREADS=${WRK_THREADS:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}
OUT=${OUT:-}
BIN=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release}

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
    cargo build --release -q -p quasar-http --example rpc_load
fi
LOAD=$BIN/examples/rpc_load
if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >/dev/null 2>&1
fi
command -v wrk >/dev/null || { echo "rpc.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$LOAD" ] || { echo "rpc.sh needs $LOAD (cargo build --release -p quasar-http --example rpc_load)" >&2; exit 1; }

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"
scratch_dir

cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jsonrpc":"2.0","method":"calc.add","params":[1,2],"id":1}'
EOF

server_cmd() {
    case $1 in
    quasar) echo "$BIN/quasar serve http --bind 127.0.0.1:0" ;;
    peer) echo "$BIN/quasar-baseline rpc-jsonrpsee --bind 127.0.0.1:0" ;;
    esac
}

# round SIDE ROW: one server start, warm-up and measured run of ROW (http or ws); appends
# "calls errors cpu_seconds wall_seconds" to $WORK/ROW.SIDE.rows.
round() {
    local side=$1 row=$2 pid addr c0 c1 calls errors wall
    # shellcheck disable=SC2046
    start "$side" 0 $(server_cmd "$side")
    pid=$PID addr=$ADDR
    if [ "$row" = http ]; then
        pin 1 wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" -s "$WORK/post.lua" \
            "http://$addr/rpc" >/dev/null
        c0=$(cpu_of "$pid")
        pin 1 wrk -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${DURATION}s" -s "$WORK/post.lua" \
            "http://$addr/rpc" >"$WORK/wrk.txt"
        c1=$(cpu_of "$pid")
        calls=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
        wall=$(awk '/requests in/ { sub(/s,$/, "", $4); print $4 }' "$WORK/wrk.txt")
        errors=$(awk '/Non-2xx/ { print $NF } /Socket errors/ { n = 0; for (i = 4; i <= NF; i += 2) n += $i; print n }' \
            "$WORK/wrk.txt" | awk '{ s += $1 } END { print s + 0 }')
    else
        # rpc_load counts nothing during its warm-up: sample the CPU across the measured part.
        pin 1 "$LOAD" "ws://$addr/rpc" --connections "$CONNECTIONS" --in-flight "$IN_FLIGHT" \
            --duration "$DURATION" --warmup "$WARMUP" >"$WORK/load.txt" &
        local load=$!
        sleep "$WARMUP"
        c0=$(cpu_of "$pid")
        sleep "$DURATION"
        c1=$(cpu_of "$pid")
        wait "$load"
        calls=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["calls"])' "$WORK/load.txt")
        errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$WORK/load.txt")
        wall=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$WORK/load.txt")
    fi
    echo "$calls $errors $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }') $wall" \
        >>"$WORK/$row.$side.rows"
    stop "$pid"
}

for row in http ws; do
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
        for side in $order; do round "$side" "$row"; done
    done
done

python3 - "$WORK" "$ROUNDS" "$CONNECTIONS" "$IN_FLIGHT" "$DURATION" <<'EOF' | tee -a "${OUT:-/dev/null}"
import statistics as st, sys, os
work, rounds, conns, in_flight, duration = sys.argv[1:6]
print(f"`calc.add` over JSON-RPC 2.0: {conns} connections, {rounds} alternating rounds of {duration} s,")
print("medians; server on core 0, load on core 1. Calls per server CPU-second decide.")
print()
print("| transport | server | calls/s | errors | server CPU-s | calls / CPU-s | quasar / peer (spread) |")
print("|---|---|---:|---:|---:|---:|---:|")
for row, label in (("http", "HTTP POST (wrk, keep-alive)"), ("ws", f"WebSocket ({in_flight} in flight per socket)")):
    rows = {s: [list(map(float, l.split())) for l in open(os.path.join(work, f"{row}.{s}.rows"))] for s in ("peer", "quasar")}
    per = {s: [c / max(cpu, 0.001) for c, e, cpu, w in rows[s]] for s in rows}
    ratios = [q / p for q, p in zip(per["quasar"], per["peer"])]
    for s, name in (("peer", "jsonrpsee 0.26"), ("quasar", "quasar serve http")):
        ratio = ""
        if s == "quasar":
            ratio = f"{st.median(per['quasar']) / st.median(per['peer']):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"| {label} | {name} | {st.median(c / w for c, e, cpu, w in rows[s]):,.0f} | "
              f"{sum(e for c, e, cpu, w in rows[s]):.0f} | {st.median(r[2] for r in rows[s]):.2f} | "
              f"{st.median(per[s]):,.0f} | {ratio} |")
EOF
