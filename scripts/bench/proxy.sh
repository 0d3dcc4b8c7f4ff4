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
WORK=$(mktemp -d)
echo "work: $WORK" >&2
trap 'kill $(jobs -p) 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
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

cpu_of() { # cpu_of PID: user+system CPU seconds so far (comm may hold spaces)
    sed 's/.*) //' "/proc/$1/stat" | awk '{ printf "%.2f", ($12 + $13) / 100 }'
}

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
    kill "$PID"
    wait "$PID" 2>/dev/null || true
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
    local side=$1 before after
    set -f
    # shellcheck disable=SC2046
    start "$side" 0 $(proxy_cmd "$side")
    set +f
    before=$(cpu_of "$PID")
    pin 1 python3 - "$ADDR" "$ECHO" "$BULK" >"$WORK/bulk.out" <<'EOF'
import socket, sys, threading, time
host, port = sys.argv[1].rsplit(":", 1)
target, total = sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, int(port)))
s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(1)
    assert b, head
    head += b
assert head.startswith(b"HTTP/1.1 200"), head
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
        get_round "$side"
        bulk_round "$side"
    done
done

report() {
    python3 - "$WORK" "$ROUNDS" "$CONNECTIONS" "$BULK" <<'EOF'
import statistics as st, sys, os
work, rounds, conns, bulk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def rows(name):
    out = {}
    for side in ("peer", "quasar"):
        with open(os.path.join(work, f"{name}.{side}")) as f:
            out[side] = [list(map(float, l.split())) for l in f if l.strip()]
    return out
print("Forward proxy: `quasar serve proxy` vs the hyper proxy (`quasar-baseline proxy`: hyper server,")
print(f"hyper-util legacy client, copy_bidirectional for CONNECT); {rounds} alternating rounds, medians;")
print("spread = min-max of the per-round quasar/peer ratio. Proxy pinned to core 0, upstreams and load")
print("to core 1.")
print()
print("| row | peer req/s | quasar req/s | peer req/CPU-s | quasar req/CPU-s | ratio (CPU) | spread | peer p99 µs | quasar p99 µs | errors |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
r = rows("get")
med = lambda side, i: st.median(x[i] for x in r[side])
ratios = [q[1] / pe[1] for q, pe in zip(r["quasar"], r["peer"]) if pe[1] > 0]
errs = int(sum(x[3] for s in r.values() for x in s))
print(f"| GET / via proxy -> quasar serve http, {conns} conns | {med('peer',0):,.0f} | {med('quasar',0):,.0f} | "
      f"{med('peer',1):,.0f} | {med('quasar',1):,.0f} | {med('quasar',1)/med('peer',1):.2f}x | "
      f"{min(ratios):.2f}-{max(ratios):.2f} | {med('peer',2):,.0f} | {med('quasar',2):,.0f} | {errs} |")
r = rows("bulk")
mb = lambda side: st.median(x[0] for x in r[side]) / 1e6
secs = lambda side: st.median(x[1] for x in r[side])
ratios = [q[0] / pe[0] for q, pe in zip(r["quasar"], r["peer"])]
print()
print(f"| CONNECT tunnel: {bulk >> 20} MiB each way, 1 connection | peer MB relayed / CPU-s | quasar MB relayed / CPU-s | ratio | spread | peer s | quasar s |")
print("|---|---:|---:|---:|---|---:|---:|")
print(f"| | {mb('peer'):,.0f} | {mb('quasar'):,.0f} | {mb('quasar')/mb('peer'):.2f}x | {min(ratios):.2f}-{max(ratios):.2f} | {secs('peer'):.2f} | {secs('quasar'):.2f} |")
EOF
}
report | tee -a "${OUT:-/dev/null}"
