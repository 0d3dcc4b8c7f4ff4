#!/usr/bin/env bash
# WebSocket chat fan-out: `quasar serve http`'s /chat (in-process broker) against the
# tokio-tungstenite + tokio `broadcast` chat (`quasar-baseline ws-chat`, same JSON shape),
# alternating rounds.
#
# MEMBERS WebSocket clients join /chat; one of them publishes RATE messages per second for
# DURATION seconds; every member (the publisher too) must receive every message. Each message
# carries its send time; SAMPLE members parse every frame for the latency, the others count
# bytes (every frame has the same size). The server is pinned to core 0, the Python load
# (standard library only: raw sockets, a hand-made handshake) to core 1. Reported per side:
# deliveries and whether all arrived, server CPU-seconds, server CPU microseconds per
# delivered message (the deciding figure), latency p50/p99; then the ratio quasar/peer of
# deliveries per CPU-second with its spread.
#
# Environment (defaults in brackets): ROUNDS [4] MEMBERS [1000] RATE [100] DURATION [10]
#   SAMPLE [50] PROFILE [release] SKIP_BUILD [0] PIN [1] OUT [] WRAP []
# Smoke run: PROFILE=debug ROUNDS=1 MEMBERS=50 DURATION=2 scripts/bench/ws_chat.sh
# Instruction counts: WRAP='valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p' runs each
# server under callgrind (the CPU columns then measure valgrind; compare the Ir totals per
# delivery instead).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

ROUNDS=${ROUNDS:-4}
MEMBERS=${MEMBERS:-1000}
RATE=${RATE:-100}
DURATION=${DURATION:-10}
SAMPLE=${SAMPLE:-50}
PROFILE=${PROFILE:-release}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}
OUT=${OUT:-}
WRAP=${WRAP:-}
BIN=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE
# Up to a minute for a server to start: one under WRAP=valgrind starts slowly.
START_WAIT=60

# A thousand members are a thousand sockets on each side.
ulimit -n 65536 2>/dev/null || ulimit -n 4096 2>/dev/null || true

if [ "$SKIP_BUILD" != 1 ]; then
    if [ "$PROFILE" = release ]; then
        cargo build --release -q -p quasar -p quasar-baseline
    else
        cargo build -q -p quasar -p quasar-baseline
    fi
fi

# shellcheck source=scripts/bench/pin.sh
. "$HERE/pin.sh"
scratch_dir

server_cmd() {
    case $1 in
    quasar) echo "$WRAP $BIN/quasar serve http --bind 127.0.0.1:0" ;;
    peer) echo "$WRAP $BIN/quasar-baseline ws-chat --bind 127.0.0.1:0" ;;
    esac
}

round() {
    local side=$1 pid addr
    # shellcheck disable=SC2046
    start "$side" 0 $(server_cmd "$side")
    pid=$PID addr=$ADDR
    pin 1 python3 - "$addr" "$MEMBERS" "$RATE" "$DURATION" "$SAMPLE" "$pid" >>"$WORK/$side.rows" <<'EOF'
import base64, json, os, selectors, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
members, rate, duration, sample, pid = (int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                                        int(sys.argv[5]), sys.argv[6])
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck

def join():
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /chat?name=m HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "closed during the handshake"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert not rest
    s.setblocking(False)
    return s

def text(seq):
    # Fixed width, so every delivered frame has the same size.
    return f"{seq:08d} {time.monotonic_ns():020d}"

def frame(payload):
    # A masked client text frame; the all-zero mask leaves the payload as it is.
    data = payload.encode()
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data

size = 2 + len(json.dumps({"message": text(0), "from": "m"}, separators=(",", ":")))
msg_at = 2 + len('{"message":"')
socks = [join() for _ in range(members)]
sel = selectors.DefaultSelector()
for i, s in enumerate(socks):
    sel.register(s, selectors.EVENT_READ, i)
sender = socks[0]

def pump(timeout, on_data):
    for key, _ in sel.select(timeout=timeout):
        try:
            data = key.fileobj.recv(1 << 16)
        except BlockingIOError:
            continue
        if not data:
            raise SystemExit(f"member {key.data} was closed by the server")
        on_data(key.data, data)

# Joined: every member has received a warm-up message (its subscription is in place).
heard = set()
deadline = time.monotonic() + 60
while len(heard) < members:
    assert time.monotonic() < deadline, f"only {len(heard)} of {members} members joined"
    sender.sendall(frame(text(99999999)))
    end = time.monotonic() + 0.1
    while time.monotonic() < end:
        pump(0.01, lambda i, d: heard.add(i))
end = time.monotonic() + 0.5
while time.monotonic() < end:
    pump(0.01, lambda i, d: None)

got_bytes = [0] * members
pending = [b""] * sample
latencies = []
def on_data(i, data):
    got_bytes[i] += len(data)
    if i < sample:
        now = time.monotonic_ns()
        buf = pending[i] + data
        while len(buf) >= size:
            f, buf = buf[:size], buf[size:]
            latencies.append(now - int(f[msg_at + 9:msg_at + 29]))
        pending[i] = buf

total = int(rate * duration)
tick = 0.05
per_tick = max(1, round(rate * tick))
t0 = time.monotonic()
c0 = cpu()
next_send, sent = t0, 0
while True:
    now = time.monotonic()
    if sent < total and now >= next_send:
        n = min(per_tick, total - sent)
        sender.sendall(b"".join(frame(text(sent + k)) for k in range(n)))
        sent += n
        next_send += tick
    got = sum(got_bytes) // size
    if sent == total and got >= total * members:
        break
    if now - t0 > duration + 30:
        break
    pump(0.002, on_data)
c1 = cpu()
latencies.sort()
q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] / 1e6 if latencies else float("nan")
print(sum(got_bytes) // size, total * members, c1 - c0, q(0.5), q(0.99))
EOF
    stop "$pid"
}

for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="peer quasar"; else order="quasar peer"; fi
    for side in $order; do round "$side"; done
done

python3 - "$WORK" "$ROUNDS" "$MEMBERS" "$RATE" "$DURATION" "$PROFILE" <<'EOF' | tee -a "${OUT:-/dev/null}"
import statistics as st, sys, os
work, rounds, members, rate, duration, profile = sys.argv[1:7]
rows = {s: [list(map(float, l.split())) for l in open(os.path.join(work, f"{s}.rows")) if l.strip()]
        for s in ("peer", "quasar")}
per = {s: [g / max(c, 0.01) for g, e, c, p50, p99 in rows[s]] for s in rows}
ok = {s: all(g >= e for g, e, c, p50, p99 in rows[s]) for s in rows}
ratios = [q / p for q, p in zip(per["quasar"], per["peer"])]
print(f"WebSocket chat fan-out: {members} members, one publishes {rate} messages/s for {duration} s; "
      f"{rounds} alternating rounds ({profile} build),")
print("medians; server on core 0, Python load on core 1. Server CPU per delivered message decides.")
print()
print("| server | deliveries / round | all delivered | server CPU-s | CPU us / delivery | p50 ms | p99 ms |")
print("|---|---:|---|---:|---:|---:|---:|")
for s, name in (("peer", "tokio-tungstenite + broadcast"), ("quasar", "quasar serve http /chat")):
    r = rows[s]
    print(f"| {name} | {st.median(x[0] for x in r):,.0f} | {'yes' if ok[s] else 'NO'} | "
          f"{st.median(x[2] for x in r):.2f} | {1e6 / st.median(per[s]):.2f} | "
          f"{st.median(x[3] for x in r):.2f} | {st.median(x[4] for x in r):.2f} |")
print()
print(f"quasar / peer deliveries per CPU-second: {st.median(per['quasar'])/st.median(per['peer']):.2f}x "
      f"(per-round spread {min(ratios):.2f}-{max(ratios):.2f})")
EOF
