#!/usr/bin/env bash
# Chat fan-out benchmark: `quasar serve chat` against the tokio chat (`quasar-baseline chat`,
# a tokio `broadcast` channel + tokio-util `LinesCodec`), same protocol, alternating rounds.
#
# MEMBERS clients join; one of them sends RATE lines per second (in 10 ms batches) for
# DURATION seconds; every other member must receive every line. The server is pinned to core
# 0, the Python load to core 1. Reported: lines delivered, server CPU-seconds, deliveries per
# server CPU-second (the deciding figure) and the ratio quasar/peer with its spread.
#
# Environment (defaults in brackets): ROUNDS [4] MEMBERS [100] RATE [1000] DURATION [5]
#   SKIP_BUILD [0] PIN [1] OUT []
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

ROUNDS=${ROUNDS:-4}
MEMBERS=${MEMBERS:-100}
RATE=${RATE:-1000}
DURATION=${DURATION:-5}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}
OUT=${OUT:-}
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
fi

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"
scratch_dir

server_cmd() {
    case $1 in
    quasar) echo "$BIN/quasar serve chat --bind 127.0.0.1:0" ;;
    peer) echo "$BIN/quasar-baseline chat --bind 127.0.0.1:0" ;;
    esac
}

round() {
    local side=$1 pid addr before after
    # shellcheck disable=SC2046
    start "$side" 0 $(server_cmd "$side")
    pid=$PID addr=$ADDR
    pin 1 python3 - "$addr" "$MEMBERS" "$RATE" "$DURATION" "$pid" >>"$WORK/$side.rows" <<'EOF'
import selectors, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
members, rate, duration, pid = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100
socks = []
for _ in range(members):
    s = socket.create_connection((host, int(port)))
    socks.append(s)
# Everyone's welcome and the join lines: wait until the last member's welcome came.
time.sleep(0.5)
sel = selectors.DefaultSelector()
for s in socks[1:]:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
for s in socks[1:]:
    try:
        while s.recv(1 << 16):
            pass
    except BlockingIOError:
        pass
sender = socks[0]
expected = 0
got = 0
line = b"x" * 40 + b"\n"
t0 = time.monotonic()
c0 = cpu()
tick = 0.01
per_tick = max(1, int(rate * tick))
next_send = t0
sent = 0
total_lines = int(rate * duration)
while sent < total_lines or got < expected:
    now = time.monotonic()
    if sent < total_lines and now >= next_send:
        n = min(per_tick, total_lines - sent)
        sender.sendall(line * n)
        sent += n
        expected += n * (members - 1)
        next_send += tick
    if now - t0 > duration + 30:
        break
    for key, _ in sel.select(timeout=0.002):
        try:
            data = key.fileobj.recv(1 << 16)
        except BlockingIOError:
            continue
        got += data.count(b"\n")
c1 = cpu()
print(got, expected, c1 - c0, time.monotonic() - t0)
EOF
    stop "$pid"
}

for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
    for side in $order; do round "$side"; done
done

python3 - "$WORK" "$ROUNDS" "$MEMBERS" "$RATE" "$DURATION" <<'EOF' | tee -a "${OUT:-/dev/null}"
import statistics as st, sys, os
work, rounds, members, rate, duration = sys.argv[1:6]
rows = {s: [list(map(float, l.split())) for l in open(os.path.join(work, f"{s}.rows")) if l.strip()] for s in ("peer", "quasar")}
per = {s: [g / max(c, 0.01) for g, e, c, t in rows[s]] for s in rows}
ok = {s: all(g >= e for g, e, c, t in rows[s]) for s in rows}
ratios = [q / p for q, p in zip(per["quasar"], per["peer"])]
print(f"Chat fan-out: {members} members, one sends {rate} lines/s for {duration} s; {rounds} alternating rounds,")
print("medians; server on core 0, Python load on core 1. Deliveries per server CPU-second decide.")
print()
print("| server | deliveries / round | all delivered | server CPU-s | deliveries / CPU-s |")
print("|---|---:|---|---:|---:|")
for s, name in (("peer", "tokio broadcast + LinesCodec"), ("quasar", "quasar serve chat")):
    print(f"| {name} | {st.median(r[0] for r in rows[s]):,.0f} | {'yes' if ok[s] else 'NO'} | "
          f"{st.median(r[2] for r in rows[s]):.2f} | {st.median(per[s]):,.0f} |")
print()
print(f"quasar / peer deliveries per CPU-second: {st.median(per['quasar'])/st.median(per['peer']):.2f}x "
      f"(per-round spread {min(ratios):.2f}-{max(ratios):.2f})")
EOF
