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
WORK=$(mktemp -d)
echo "work: $WORK" >&2
trap 'kill $(jobs -p) 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
fi

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"

# start NAME CORE CMD...: starts a server on CORE, waits for its address line, sets ADDR and
# PID (the server's own PID: taskset execs it, and no shell function stands in between).
start() {
    local name=$1 core=$2
    shift 2
    if pinning; then
        taskset -c "$core" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    else
        "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    fi
    PID=$!
    for _ in $(seq 1 100); do
        ADDR=$(grep -oE '127\.0\.0\.1:[0-9]+' "$WORK/$name.out" | head -1 || true)
        [ -n "$ADDR" ] && return 0
        sleep 0.05
    done
    echo "$name did not start: $(cat "$WORK/$name.err")" >&2
    exit 1
}

cpu_of() { # cpu_of PID: user+system CPU seconds so far
    awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}

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
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    python3 - "$WORK/run.json" >>"$WORK/echo-p$p.$side" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["requests_per_sec"], d["server"]["requests_per_cpu_second"], d["latency_us"]["p99"], d["errors"]["total"])
EOF
}

# bulk_round SIDE: BULK bytes each way over one connection; appends "bytes_per_cpu seconds".
bulk_round() {
    local side=$1 before after
    # shellcheck disable=SC2046
    start "$side" 0 $(tunnel_cmd "$side")
    before=$(cpu_of "$PID")
    pin 1 python3 - "$ADDR" "$BULK" >"$WORK/bulk.out" <<'EOF'
import socket, sys, threading, time
host, port = sys.argv[1].rsplit(":", 1)
total = int(sys.argv[2])
s = socket.create_connection((host, int(port)))
chunk = b"x" * (256 * 1024)
def send():
    left = total
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
t0 = time.monotonic()
w = threading.Thread(target=send)
w.start()
got = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += len(b)
w.join()
assert got == total, (got, total)
print(time.monotonic() - t0)
EOF
    after=$(cpu_of "$PID")
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    python3 -c "import sys; c=float(sys.argv[2])-float(sys.argv[1]); print(2*int(sys.argv[3])/max(c,0.01), open(sys.argv[4]).read().strip())" \
        "$before" "$after" "$BULK" "$WORK/bulk.out" >>"$WORK/bulk.$side"
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
    for side in $order; do
        for p in $PIPELINES; do echo_round "$side" "$p"; done
        bulk_round "$side"
    done
done

report() {
    python3 - "$WORK" "$PIPELINES" "$ROUNDS" "$CONNECTIONS" "$SIZE" "$BULK" <<'EOF'
import statistics as st, sys, os
work, pipes, rounds, conns, size, bulk = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
def rows(name):
    out = {}
    for side in ("peer", "quasar"):
        with open(os.path.join(work, f"{name}.{side}")) as f:
            out[side] = [list(map(float, l.split())) for l in f if l.strip()]
    return out
print(f"Tunnel: `quasar serve tunnel` vs the tokio relay (`quasar-baseline relay`, copy_bidirectional),")
print(f"both in front of `quasar-baseline tcp-echo`; {rounds} alternating rounds, medians; spread = min-max")
print(f"of the per-round quasar/peer ratio. Tunnel pinned to core 0, upstream and load to core 1.")
print()
print("| row | peer req/s | quasar req/s | peer req/CPU-s | quasar req/CPU-s | ratio (CPU) | spread | peer p99 µs | quasar p99 µs | errors |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
for p in pipes:
    r = rows(f"echo-p{p}")
    med = lambda side, i: st.median(x[i] for x in r[side])
    ratios = [q[1] / pe[1] for q, pe in zip(r["quasar"], r["peer"]) if pe[1] > 0]
    errs = int(sum(x[3] for s in r.values() for x in s))
    print(f"| echo {size} B, {conns} conns, pipeline {p} | {med('peer',0):,.0f} | {med('quasar',0):,.0f} | "
          f"{med('peer',1):,.0f} | {med('quasar',1):,.0f} | {med('quasar',1)/med('peer',1):.2f}x | "
          f"{min(ratios):.2f}-{max(ratios):.2f} | {med('peer',2):,.0f} | {med('quasar',2):,.0f} | {errs} |")
r = rows("bulk")
mb = lambda side: st.median(x[0] for x in r[side]) / 1e6
secs = lambda side: st.median(x[1] for x in r[side])
ratios = [q[0] / pe[0] for q, pe in zip(r["quasar"], r["peer"])]
print()
print(f"| bulk: {bulk >> 20} MiB each way, 1 connection | peer MB relayed / CPU-s | quasar MB relayed / CPU-s | ratio | spread | peer s | quasar s |")
print("|---|---:|---:|---:|---|---:|---:|")
print(f"| | {mb('peer'):,.0f} | {mb('quasar'):,.0f} | {mb('quasar')/mb('peer'):.2f}x | {min(ratios):.2f}-{max(ratios):.2f} | {secs('peer'):.2f} | {secs('quasar'):.2f} |")
EOF
}
report | tee -a "${OUT:-/dev/null}"
