#!/usr/bin/env bash
# Soak (issue 12): mixed echo / HTTP / WebSocket / RESP load with client faults against
# fresh `quasar serve echo|http|resp` processes for DURATION (default 30m), sampling each
# server's RSS and descriptor count every 10 s, then writes the "Soak" section of
# docs/reliability.md: RSS and fds at start / end, the trend (last quarter's mean RSS over
# the second quarter's; the first is warm-up), panics, exit codes. Not run in CI.
# REPORT_ONLY=1 rewrites the section from the samples of the last run in SOAK_DIR.
#
#   DURATION=5m scripts/soak.sh              # a short run
#   QUASAR=target/release/quasar SKIP_BUILD=1 DURATION=30m scripts/soak.sh
#
# Load per server (closed loops held to RATE requests/s each): echo and http by
# `quasar bench`, WebSocket by `quasar bench ws --path /ws`, RESP by redis-benchmark
# (set, get, incr, lpush+lpop: a keyspace that does not grow)
# (skipped with a note if it is not installed). Faults: `quasar bench --faults FAULTS`
# on echo, http and ws (resets mid-message, half-closes, 5 s stalls, in turn).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-30m}"
RATE="${RATE:-500}"
FAULTS="${FAULTS:-5}"
OUT="${OUT:-docs/reliability.md}"
WORK="${SOAK_DIR:-/tmp/quasar-soak}"
TARGET="${CARGO_TARGET_DIR:-target}"
QUASAR="${QUASAR:-$TARGET/release/quasar}"
RESP_NOTE=""
if [ -n "${REPORT_ONLY:-}" ]; then
  # Rewrite the section from the samples of an earlier run in $SOAK_DIR.
  read -r c_echo c_http c_resp <"$WORK/codes.txt"
else
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release -p quasar >&2; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$WORK"
rm -f "$WORK"/*

secs() { # 30m / 90s / 1h -> seconds
  case "$1" in
    *h) echo $(( ${1%h} * 3600 ));; *m) echo $(( ${1%m} * 60 ));;
    *s) echo "${1%s}";; *) echo "$1";;
  esac
}
TOTAL=$(secs "$DURATION")

declare -A PID ADDR
for s in echo http resp; do
  "$QUASAR" serve "$s" --bind 127.0.0.1:0 >"$WORK/$s.out" 2>"$WORK/$s.log" &
  PID[$s]=$!
done
for s in echo http resp; do
  for _ in $(seq 100); do [ -s "$WORK/$s.out" ] && break; sleep 0.1; done
  ADDR[$s]=$(awk 'NR==1{print $3}' "$WORK/$s.out")
  [ -n "${ADDR[$s]}" ] || { echo "soak: $s did not start" >&2; exit 1; }
done
echo "soak: echo ${ADDR[echo]} http ${ADDR[http]} resp ${ADDR[resp]} for ${TOTAL}s" >&2

sample() { # server -> "rss_kib fds"
  local p=${PID[$1]}
  echo "$(awk '/^VmRSS:/{print $2}' /proc/$p/status 2>/dev/null || echo 0) $(ls /proc/$p/fd 2>/dev/null | wc -l)"
}
echo "t server rss_kib fds" >"$WORK/samples.txt"
for s in echo http resp; do echo "0 $s $(sample $s)" >>"$WORK/samples.txt"; done

LOADS=()
"$QUASAR" bench echo --addr "${ADDR[echo]}" -c 8 --rate "$RATE" -d "${TOTAL}s" --faults "$FAULTS" >"$WORK/bench-echo.txt" 2>&1 & LOADS+=($!)
"$QUASAR" bench http --addr "${ADDR[http]}" -c 8 --rate "$RATE" -d "${TOTAL}s" --faults "$FAULTS" >"$WORK/bench-http.txt" 2>&1 & LOADS+=($!)
"$QUASAR" bench ws --addr "${ADDR[http]}" --path /ws -c 8 --rate "$RATE" -d "${TOTAL}s" --faults "$FAULTS" >"$WORK/bench-ws.txt" 2>&1 & LOADS+=($!)
if command -v redis-benchmark >/dev/null; then
  ( port=${ADDR[resp]##*:}; end=$(( $(date +%s) + TOTAL ))
    while [ "$(date +%s)" -lt "$end" ]; do
      timeout $(( end - $(date +%s) + 1 )) redis-benchmark -p "$port" -c 8 -n 20000 -t set,get,incr,lpush,lpop -q >>"$WORK/bench-resp.txt" 2>&1 || true
      sleep 1
    done ) & LOADS+=($!)
else
  RESP_NOTE=" (no RESP load: redis-benchmark not installed)"
fi

t=0
while [ "$t" -lt "$TOTAL" ]; do
  sleep 10; t=$((t + 10))
  for s in echo http resp; do echo "$t $s $(sample $s)" >>"$WORK/samples.txt"; done
done
for p in "${LOADS[@]}"; do wait "$p" || true; done
sleep 6 # stalled fault connections and closes settle
for s in echo http resp; do echo "end $s $(sample $s)" >>"$WORK/samples.txt"; done
declare -A CODE
for s in echo http resp; do
  kill -TERM "${PID[$s]}"
  CODE[$s]=0; wait "${PID[$s]}" || CODE[$s]=$?
done
c_echo=${CODE[echo]} c_http=${CODE[http]} c_resp=${CODE[resp]}
echo "$c_echo $c_http $c_resp" >"$WORK/codes.txt"
fi

python3 - "$WORK" "$OUT" "$DURATION" "$RATE" "$FAULTS" "$RESP_NOTE" "$c_echo" "$c_http" "$c_resp" <<'PY'
import re, sys, statistics
work, out, duration, rate, faults, resp_note = sys.argv[1:7]
codes = dict(zip(["echo", "http", "resp"], sys.argv[7:10]))
rows = [l.split() for l in open(f"{work}/samples.txt").read().splitlines()[1:]]
table = []
for s in ["echo", "http", "resp"]:
    pts = [(r[0], int(r[2]), int(r[3])) for r in rows if r[1] == s]
    timed = [p for p in pts if p[0] != "end"]
    q = max(1, len(timed) // 4)
    # The first quarter is warm-up (allocator arenas, buffers): compare the second's.
    first = statistics.mean(p[1] for p in timed[q:2 * q]) if len(timed) >= 2 * q else timed[0][1]
    last = statistics.mean(p[1] for p in timed[-q:])
    panics = sum("panicked" in l for l in open(f"{work}/{s}.log", errors="replace"))
    trend = last / first if first else 0
    base_fds, end_fds = pts[0][2], pts[-1][2]
    ok = trend < 1.10 and end_fds <= base_fds + 1 and panics == 0 and codes[s] == "0"
    table.append(f"| {s} | {pts[0][1] / 1024:.1f} | {max(p[1] for p in pts) / 1024:.1f} | "
                 f"{pts[-1][1] / 1024:.1f} | {trend:.2f} | {base_fds} -> {max(p[2] for p in pts)} -> {end_fds} | "
                 f"{panics} | {codes[s]} | {'PASS' if ok else 'FAIL'} |")
def tail(name):
    try:
        text = open(f"{work}/bench-{name}.txt", errors="replace").read()
    except OSError:
        return f"{name}: no output"
    keep = [l.strip() for l in text.splitlines()
            if re.match(r"\s*(requests/s|errors|faults:|latency)", l)]
    return f"{name}: " + "; ".join(keep)
loads = [tail(n) for n in ["echo", "http", "ws"]]
try:
    resp = [l.strip() for l in open(f"{work}/bench-resp.txt", errors="replace") if "requests per second" in l]
    loads.append(f"resp (redis-benchmark, {len(resp)} lines): " + "; ".join(resp[-4:]))
except OSError:
    loads.append("resp: no load" + resp_note)
section = [
    "## Soak", "",
    f"Written by `scripts/soak.sh`: {duration} of mixed load against fresh `quasar serve echo`,",
    f"`http` (HTTP and WebSocket) and `resp`, each load held to {rate} requests/s over 8",
    f"connections, with {faults} client faults/s per load (`quasar bench --faults`: resets",
    "mid-message, half-closes, 5 s stalls in turn). RSS in MiB sampled every 10 s; trend = mean RSS",
    "of the last quarter over the second quarter's (the first is warm-up); fds",
    "start -> peak -> end (end = after the load and 6 s to settle). PASS: trend < 1.10,",
    "descriptors back to the start (+1), 0 panics, exit 0 on SIGTERM." + resp_note, "",
    "| server | RSS start | peak | end | trend | fds | panics | exit | verdict |",
    "|---|---:|---:|---:|---:|---|---:|---:|---|",
    *table, "", "Load figures:", "",
    *[f"- {l}" for l in loads], "",
]
try:
    text = open(out).read()
except OSError:
    text = "# Reliability\n\n"
if "## Soak" in text:
    head, _, rest = text.partition("## Soak")
    nxt = rest.find("\n## ")
    text = head + "\n".join(section) + (rest[nxt + 1:] if nxt >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + "\n".join(section)
open(out, "w").write(text)
print("\n".join(section))
PY
