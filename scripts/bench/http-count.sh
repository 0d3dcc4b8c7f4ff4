#!/usr/bin/env bash
# Instructions per request for the HTTP servers, by callgrind: a count that does not move with
# the machine's load, so quasar and the baselines can be compared on a busy box.
#
# Each server runs under `valgrind --tool=callgrind` on one worker thread; the fixed-count
# client scripts/bench/http_count.py sends exactly N requests (and once more 5N) over
# CONNECTIONS keep-alive connections, DEPTH per write; the server's instructions are read
# from callgrind's totals. Per request = (I(5N) - I(N)) / 4N, so start-up, warm-up and exit
# cancel out. Any non-2xx answer or early close fails the run.
#
# usage: scripts/bench/http-count.sh [WORKLOAD...]
#   a WORKLOAD is SERVER:PATH:DEPTH, PATH a route or `mixed` (quasar only):
#   default: quasar, hyper and axum on /plaintext and /json at depth 1 and 16, quasar on
#   mixed at 1 and 16, quasar's /app/json/1 and /plain/json/1 at depth 1.
# Environment: N [4000]  CONNECTIONS [16]  SKIP_BUILD [0]  KEEP [empty: a directory to keep
#   the callgrind files in, for callgrind_annotate]  QUASAR [$BIN/quasar]
#   BASELINE [$BIN/quasar-baseline] (other binaries, e.g. an older build to compare with)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
N=${N:-4000}
CONNECTIONS=${CONNECTIONS:-16}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
QUASAR=${QUASAR:-$BIN/quasar}
BASELINE=${BASELINE:-$BIN/quasar-baseline}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/quasar-http-count.XXXXXX")
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

command -v valgrind >/dev/null || { echo "http-count.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p quasar -p quasar-baseline
fi

server_cmd() {
    case $1 in
    quasar) echo "$QUASAR serve http --bind 127.0.0.1:0 --workers 1" ;;
    hyper) echo "$BASELINE http --bind 127.0.0.1:0 --current-thread" ;;
    axum) echo "$BASELINE http-axum --bind 127.0.0.1:0 --current-thread" ;;
    *) echo "http-count.sh: unknown server $1" >&2; exit 1 ;;
    esac
}

# count SERVER PATH DEPTH REQUESTS: the server's total instructions serving REQUESTS.
RUN=0
count() {
    local out log addr line
    RUN=$((RUN + 1))
    # Files of their own per run: a background start could otherwise be read before its
    # redirection has emptied the previous run's output.
    out=$WORK/cg.$RUN.out
    log=$WORK/server.$RUN
    # shellcheck disable=SC2046 # commands are plain words
    valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
        $(server_cmd "$1") >"$log.out" 2>"$log.err" &
    SERVER_PID=$!
    addr=""
    for _ in $(seq 1 600); do
        line=$(grep -m1 -oE '127\.0\.0\.1:[0-9]+' "$log.out" 2>/dev/null || true)
        [ -n "$line" ] && { addr=$line; break; }
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "http-count.sh: $1 did not start: $(head -c 300 "$log.err")" >&2; return 1; }
    python3 "$HERE/http_count.py" "$addr" "$2" "$4" --connections "$CONNECTIONS" --depth "$3" >/dev/null || return 1
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        cp "$out" "$KEEP/callgrind.$1.$(echo "$2" | tr '/' '_').$3.$4.out"
    fi
    awk '/^summary:/ { print $2 }' "$out"
}

WORKLOADS=("$@")
if [ ${#WORKLOADS[@]} -eq 0 ]; then
    WORKLOADS=(quasar:/plaintext:1 hyper:/plaintext:1 axum:/plaintext:1
        quasar:/json:1 hyper:/json:1 axum:/json:1
        quasar:/plaintext:16 hyper:/plaintext:16 axum:/plaintext:16
        quasar:mixed:1 quasar:mixed:16
        quasar:/app/json/1:1 quasar:/plain/json/1:1)
fi

echo "| server | workload | depth | instructions / request |"
echo "|---|---|---:|---:|"
for w in "${WORKLOADS[@]}"; do
    IFS=: read -r server path depth <<<"$w"
    # `count` runs in a subshell: its failure is checked here, never averaged in.
    small=$(count "$server" "$path" "$depth" "$N") || { echo "http-count.sh: $w failed" >&2; exit 1; }
    RUN=$((RUN + 1))
    large=$(count "$server" "$path" "$depth" $((5 * N))) || { echo "http-count.sh: $w failed" >&2; exit 1; }
    RUN=$((RUN + 1))
    per=$(awk -v a="$small" -v b="$large" -v n="$N" 'BEGIN { printf "%.0f", (b - a) / (4 * n) }')
    echo "| $server | \`$path\` | $depth | $per |"
done
