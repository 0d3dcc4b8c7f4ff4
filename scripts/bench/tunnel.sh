#!/usr/bin/env bash
# Tunnel benchmark: `quasar serve tunnel` against the hand-written tokio relay
# (`quasar-baseline relay`, copy_bidirectional per connection), both in front of the same
# upstream echo server (`quasar-baseline tcp-echo`), alternating rounds.
#
# Rows:
#   - echo through the tunnel, 50 connections, pipeline 1 and 16 (`quasar bench echo --raw`):
#     requests per second and per tunnel CPU-second (the deciding figure);
#   - one connection moving BULK bytes each way at once (a Python client writes and reads
#     through the tunnel to the echo upstream): bytes relayed per tunnel CPU-second.
# The tunnel under test is pinned to core 0; the upstream and the load to core 1 (PIN=0 turns
# pinning off). Prints a Markdown table; `OUT=FILE` appends it to FILE as well.
#
# Environment (defaults in brackets):
#   ROUNDS [4]  DURATION [5s]  WARMUP [1s]  CONNECTIONS [50]  SIZE [64]  PIPELINES ["1 16"]
#   BULK [1073741824]  SKIP_BUILD [0]  PIN [1]  OUT []
#   QUASAR_ARGS [] / PEER_ARGS []: extra flags (e.g. `--workers 1` / `--current-thread`)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-50}
SIZE=${SIZE:-64}
PIPELINES=${PIPELINES:-"1 16"}
BULK=${BULK:-1073741824}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}
OUT=${OUT:-}
QUASAR_ARGS=${QUASAR_ARGS:-}
PEER_ARGS=${PEER_ARGS:-}
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
fi

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"
scratch_dir

start upstream 1 "$BIN/quasar-baseline" tcp-echo --bind 127.0.0.1:0
UPSTREAM=$ADDR

tunnel_cmd() { # tunnel_cmd SIDE: the tunnel server's command line
    case $1 in
    quasar) echo "$BIN/quasar serve tunnel --bind 127.0.0.1:0 --upstream $UPSTREAM $QUASAR_ARGS" ;;
    peer) echo "$BIN/quasar-baseline relay --bind 127.0.0.1:0 --upstream $UPSTREAM $PEER_ARGS" ;;
    esac
}

# echo_round SIDE PIPELINE: one load run; appends "rps rps_per_cpu p99 errors" to a file.
echo_round() {
    local side=$1 p=$2
    # shellcheck disable=SC2046
    start "$side" 0 $(tunnel_cmd "$side")
    pin 1 "$BIN/quasar" bench echo --raw --addr "$ADDR" --connections "$CONNECTIONS" \
        --pipeline "$p" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$PID" --json "$WORK/run.json" --no-progress >/dev/null 2>&1 || true
    stop "$PID"
    python3 - "$WORK/run.json" >>"$WORK/echo-p$p.$side" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["requests_per_sec"], d["server"]["requests_per_cpu_second"], d["latency_us"]["p99"], d["errors"]["total"])
EOF
}

# bulk_round SIDE: BULK bytes each way over one connection; appends "bytes_per_cpu seconds".
bulk_round() {
    # shellcheck disable=SC2046
    start "$1" 0 $(tunnel_cmd "$1")
    bulk_through "$1"
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
    for side in $order; do
        for p in $PIPELINES; do echo_round "$side" "$p"; done
        bulk_round "$side"
    done
done

report() {
    python3 - "$HERE" "$WORK" "$PIPELINES" "$ROUNDS" "$CONNECTIONS" "$SIZE" "$BULK" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from sides import REQUEST_HEADER, print_bulk, request_row, rows
work, pipes, rounds, conns, size, bulk = sys.argv[2], sys.argv[3].split(), sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
print(f"Tunnel: `quasar serve tunnel` vs the tokio relay (`quasar-baseline relay`, copy_bidirectional),")
print(f"both in front of `quasar-baseline tcp-echo`; {rounds} alternating rounds, medians; spread = min-max")
print(f"of the per-round quasar/peer ratio. Tunnel pinned to core 0, upstream and load to core 1.")
print()
print(REQUEST_HEADER)
for p in pipes:
    print(request_row(f"echo {size} B, {conns} conns, pipeline {p}", rows(work, f"echo-p{p}")))
print_bulk(work, f"bulk: {bulk >> 20} MiB each way, 1 connection")
EOF
}
report | tee -a "${OUT:-/dev/null}"
