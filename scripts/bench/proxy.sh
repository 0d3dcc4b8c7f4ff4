#!/usr/bin/env bash
# Forward proxy benchmark: `quasar serve proxy` against the hand-written hyper proxy
# (`quasar-baseline proxy`: hyper server + hyper-util legacy pooled client,
# copy_bidirectional for CONNECT), alternating rounds, the same upstreams for both.
#
# Rows:
#   - GET through the proxy: wrk -> proxy -> `quasar serve http` (`GET /`, absolute-form
#     requests, keep-alive pooled upstream connections): requests per second and per proxy
#     CPU-second (the deciding figure), p99, errors (non-2xx and socket errors);
#   - a CONNECT tunnel moving BULK bytes each way at once over one connection (a Python
#     client: CONNECT, then writes and reads through the tunnel to `quasar-baseline
#     tcp-echo`): bytes relayed per proxy CPU-second.
# The proxy under test is pinned to core 0; the upstreams and the load to core 1 (PIN=0
# turns pinning off). Prints a Markdown table; `OUT=FILE` appends it to FILE as well.
#
# Environment (defaults in brackets):
#   ROUNDS [4]  DURATION [10s]  WARMUP [2s]  CONNECTIONS [50]  THREADS [1]
#   BULK [1073741824]  SKIP_BUILD [0]  PIN [1]  OUT []
#   QUASAR_ARGS [] / PEER_ARGS []: extra flags (e.g. `--workers 1` / `--current-thread`)
# Smoke run: ROUNDS=1 DURATION=1s WARMUP=1s BULK=67108864 scripts/bench/proxy.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-1}
BULK=${BULK:-1073741824}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}
OUT=${OUT:-}
QUASAR_ARGS=${QUASAR_ARGS:-}
PEER_ARGS=${PEER_ARGS:-}
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
fi

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"
scratch_dir

start http 1 "$BIN/quasar" serve http --bind 127.0.0.1:0
HTTP=$ADDR
start echo 1 "$BIN/quasar-baseline" tcp-echo --bind 127.0.0.1:0
ECHO=$ADDR

proxy_cmd() { # proxy_cmd SIDE: the proxy's command line
    case $1 in
    quasar) echo "$BIN/quasar serve proxy --bind 127.0.0.1:0 --connect-ports * $QUASAR_ARGS" ;;
    peer) echo "$BIN/quasar-baseline proxy --bind 127.0.0.1:0 $PEER_ARGS" ;;
    esac
}

# wrk sends absolute-form requests to the proxy it connects to.
cat >"$WORK/proxy.lua" <<EOF
wrk.path = "http://$HTTP/"
EOF

# get_round SIDE: warm up, measure; appends "rps rps_per_cpu p99_us errors".
get_round() {
    local side=$1 before after
    set -f
    # shellcheck disable=SC2046
    start "$side" 0 $(proxy_cmd "$side")
    set +f
    pin 1 wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" -s "$WORK/proxy.lua" "http://$ADDR" >/dev/null 2>&1 || true
    before=$(cpu_of "$PID")
    pin 1 wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency -s "$WORK/proxy.lua" \
        "http://$ADDR" >"$WORK/wrk.txt" 2>&1 || true
    after=$(cpu_of "$PID")
    stop "$PID"
    python3 - "$WORK/wrk.txt" "$before" "$after" >>"$WORK/get.$side" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
cpu = float(sys.argv[3]) - float(sys.argv[2])
reqs = int(re.search(r"(\d+) requests in", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", text)
p99 = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else 0
errs = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errs += sum(map(int, s.groups())) if s else 0
print(rps, reqs / max(cpu, 0.01), p99, errs)
EOF
}

# bulk_round SIDE: BULK bytes each way through one CONNECT tunnel; appends
# "bytes_per_cpu seconds".
bulk_round() {
    set -f
    # shellcheck disable=SC2046
    start "$1" 0 $(proxy_cmd "$1")
    set +f
    bulk_through "$1" "$ECHO"
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
    for side in $order; do
        get_round "$side"
        bulk_round "$side"
    done
done

report() {
    python3 - "$HERE" "$WORK" "$ROUNDS" "$CONNECTIONS" "$BULK" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from sides import REQUEST_HEADER, print_bulk, request_row, rows
work, rounds, conns, bulk = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
print("Forward proxy: `quasar serve proxy` vs the hyper proxy (`quasar-baseline proxy`: hyper server,")
print(f"hyper-util legacy client, copy_bidirectional for CONNECT); {rounds} alternating rounds, medians;")
print("spread = min-max of the per-round quasar/peer ratio. Proxy pinned to core 0, upstreams and load")
print("to core 1.")
print()
print(REQUEST_HEADER)
print(request_row(f"GET / via proxy -> quasar serve http, {conns} conns", rows(work, "get")))
print_bulk(work, f"CONNECT tunnel: {bulk >> 20} MiB each way, 1 connection")
EOF
}
report | tee -a "${OUT:-/dev/null}"
