#!/usr/bin/env bash
# Compare quasar's servers with the hand-written tokio baselines, side by side in one run, on
# loopback, and write the table to docs/benchmarks.md.
#
# Every row runs ROUNDS rounds; each round starts a fresh peer (baseline) server and a fresh quasar
# server one after the other (the order alternates between rounds so slow drift on a shared
# machine hits both sides alike), loads each with `quasar bench`, and stops it. The table shows
# medians. Servers and the load tool are pinned to different cores with taskset when there are
# 2+ cores. A row whose server command fails to start is skipped and the report says so.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5s]  WARMUP [1s]  CONNECTIONS [50]  SIZE [64]  PIPELINES ["1 16"]
#   UDP_PIPELINES ["1"]  HTTP_PIPELINES [""; "1" adds the HTTP row once `quasar serve http` exists]  BENCH_THREADS [1]
#   IDLE_CONNECTIONS [10000; 0 skips]  IDLE_HOLD [2s]
#   HTTP_WRK [0; 1 adds the wrk section of handler routes, see scripts/bench/http.sh (which also runs alone)]
#   OUT [docs/benchmarks.md]  SKIP_BUILD [0]  PIN [1]
#   Server commands (the address is parsed from their first stdout line holding one):
#   QUASAR_ECHO_RAW_CMD  [$BIN/quasar serve echo --bind 127.0.0.1:0 --raw]
#   QUASAR_ECHO_CMD      [$BIN/quasar serve echo --bind 127.0.0.1:0]
#   QUASAR_UDP_CMD       [$BIN/quasar serve udp-echo --bind 127.0.0.1:0]
#   QUASAR_HTTP_CMD      [$BIN/quasar serve http --bind 127.0.0.1:0]
#   PEER_TCP_CMD         [$BIN/quasar-baseline tcp-echo --bind 127.0.0.1:0]
#   PEER_UDP_CMD         [$BIN/quasar-baseline udp-echo --bind 127.0.0.1:0]
#   PEER_HTTP_CMD        [$BIN/quasar-baseline http --bind 127.0.0.1:0]
#   Setting a QUASAR_* command to a baseline tests the script's mechanics; the report then says
#   which commands ran.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-50}
SIZE=${SIZE:-64}
PIPELINES=${PIPELINES:-"1 16"}
UDP_PIPELINES=${UDP_PIPELINES:-"1"}
HTTP_PIPELINES=${HTTP_PIPELINES-""}
BENCH_THREADS=${BENCH_THREADS:-1}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
IDLE_HOLD=${IDLE_HOLD:-2s}
OUT=${OUT:-docs/benchmarks.md}
SKIP_BUILD=${SKIP_BUILD:-0}
PIN=${PIN:-1}

OVERRIDES=""
for v in QUASAR_ECHO_RAW_CMD QUASAR_ECHO_CMD QUASAR_UDP_CMD QUASAR_HTTP_CMD PEER_TCP_CMD PEER_UDP_CMD PEER_HTTP_CMD; do
    [ -n "${!v+x}" ] && OVERRIDES+=" $v=\"${!v}\""
done
QUASAR_OVERRIDDEN=0
for v in QUASAR_ECHO_RAW_CMD QUASAR_ECHO_CMD QUASAR_UDP_CMD QUASAR_HTTP_CMD; do
    [ -n "${!v+x}" ] && QUASAR_OVERRIDDEN=1
done

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
QUASAR_ECHO_RAW_CMD=${QUASAR_ECHO_RAW_CMD:-"$BIN/quasar serve echo --bind 127.0.0.1:0 --raw"}
QUASAR_ECHO_CMD=${QUASAR_ECHO_CMD:-"$BIN/quasar serve echo --bind 127.0.0.1:0"}
QUASAR_UDP_CMD=${QUASAR_UDP_CMD:-"$BIN/quasar serve udp-echo --bind 127.0.0.1:0"}
PEER_TCP_CMD=${PEER_TCP_CMD:-"$BIN/quasar-baseline tcp-echo --bind 127.0.0.1:0"}
PEER_UDP_CMD=${PEER_UDP_CMD:-"$BIN/quasar-baseline udp-echo --bind 127.0.0.1:0"}
QUASAR_HTTP_CMD=${QUASAR_HTTP_CMD:-"$BIN/quasar serve http --bind 127.0.0.1:0"}
PEER_HTTP_CMD=${PEER_HTTP_CMD:-"$BIN/quasar-baseline http --bind 127.0.0.1:0"}

log() { printf '%s\n' "bench.sh: $*" >&2; }

if [ "$SKIP_BUILD" != 1 ]; then
    log "building (release)"
    cargo build --release -p quasar -p quasar-baseline || exit 1
fi
TOOL=$BIN/quasar
[ -x "$TOOL" ] || { log "no load tool at $TOOL"; exit 1; }

# The 10,000-connection memory row needs as many descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

CORES=$(nproc)
PIN_SERVER=()
PIN_TOOL=()
PINNING="none"
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$CORES" -ge 2 ]; then
    half=$((CORES / 2))
    server_cpus=0
    [ "$half" -gt 1 ] && server_cpus="0-$((half - 1))"
    tool_cpus=$half
    [ $((CORES - 1)) -gt "$half" ] && tool_cpus="$half-$((CORES - 1))"
    PIN_SERVER=(taskset -c "$server_cpus")
    PIN_TOOL=(taskset -c "$tool_cpus")
    PINNING="server on CPU $server_cpus, load tool on CPU $tool_cpus (taskset)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/quasar-bench.XXXXXX")
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COMMANDS=()
NOTES=()
declare -A FAILED_CMD
note_command() {
    local c
    for c in "${COMMANDS[@]+"${COMMANDS[@]}"}"; do [ "$c" = "$1" ] && return; done
    COMMANDS+=("$1")
}

# start_server CMD: runs CMD pinned, waits for its address; sets SERVER_PID and SERVER_ADDR.
start_server() {
    local cmd=$1 out=$WORK/server.out err=$WORK/server.err line i
    : >"$out"
    # shellcheck disable=SC2086 # commands are plain words
    "${PIN_SERVER[@]+"${PIN_SERVER[@]}"}" $cmd >"$out" 2>"$err" &
    SERVER_PID=$!
    SERVER_ADDR=""
    for i in $(seq 1 100); do
        line=$(grep -m1 -E '([0-9]+\.){3}[0-9]+:[0-9]+|\]:[0-9]+' "$out" 2>/dev/null || true)
        if [ -n "$line" ]; then
            SERVER_ADDR=${line##* }
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "server did not start: $cmd ($(head -c 300 "$err" | tr '\n' ' '))"
    FAILED_CMD[$cmd]=1
    stop_server
    return 1
}

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}

# json_get FILE KEY: the first number (or null) under "KEY" in a pretty-printed report.
json_get() {
    grep -m1 "\"$2\":" "$1" 2>/dev/null | sed -E 's/.*": *([-0-9.eE+]+|null).*/\1/'
}

# median: of the numbers on stdin ("n/a" when none).
median() {
    grep -E '^-?[0-9.eE+]+$' | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "n/a";
              else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fmt PRINTF-FORMAT VALUE: formats a number, passes "n/a" through.
fmt() { case $2 in n/a | "" | null) echo "n/a" ;; *) awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }' ;; esac; }
ratio() {
    case "$1$2" in *n/a*) echo "n/a" ;; *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' ;; esac
}

# run_side ROW SIDE ROUND CMD BENCH-ARGS...: one measurement; result in $WORK/ROW.SIDE.ROUND.json
run_side() {
    local row=$1 side=$2 round=$3 cmd=$4
    shift 4
    local json=$WORK/$row.$side.$round.json
    if ! start_server "$cmd"; then
        : >"$WORK/$row.$side.failed"
        return 1
    fi
    note_command "quasar bench $* --addr ADDR --server-pid PID --json FILE"
    "${PIN_TOOL[@]+"${PIN_TOOL[@]}"}" "$TOOL" bench "$@" --addr "$SERVER_ADDR" \
        --server-pid "$SERVER_PID" --json "$json" --no-progress >"$json.txt" 2>&1
    local rc=$?
    stop_server
    if [ "$rc" -ne 0 ]; then
        log "$row $side round $round: load tool exit $rc: $(tail -n 3 "$json.txt" | tr '\n' ' ')"
        : >"$WORK/$row.$side.errors"
    fi
    log "$row $side round $round: $(json_get "$json" requests_per_sec) req/s"
}

ROWS=()
declare -A LABEL

# bench_row ROW LABEL PEER-CMD QUASAR-CMD BENCH-ARGS...
bench_row() {
    local row=$1 label=$2 peer=$3 quasar=$4 round
    shift 4
    ROWS+=("$row")
    LABEL[$row]=$label
    for round in $(seq 1 "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            run_side "$row" peer "$round" "$peer" "$@"
            [ -e "$WORK/$row.quasar.failed" ] || run_side "$row" quasar "$round" "$quasar" "$@"
        else
            [ -e "$WORK/$row.quasar.failed" ] || run_side "$row" quasar "$round" "$quasar" "$@"
            run_side "$row" peer "$round" "$peer" "$@"
        fi
        if [ -e "$WORK/$row.peer.failed" ] || [ -e "$WORK/$row.quasar.failed" ]; then
            break
        fi
    done
}

# med ROW SIDE KEY: median of KEY over the rounds.
med() {
    local f
    for f in "$WORK/$1.$2".*.json; do
        [ -e "$f" ] && json_get "$f" "$3"
    done | median
}

# spread ROW SIDE KEY: "min–max" of KEY over the rounds.
spread() {
    local f
    for f in "$WORK/$1.$2".*.json; do
        [ -e "$f" ] && json_get "$f" "$3"
    done | grep -E '^-?[0-9.eE+]+$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { if (NR == 0) print "n/a"; else printf "%.0f–%.0f", lo, hi }'
}

COMMON=(--connections "$CONNECTIONS" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" --threads "$BENCH_THREADS")
LOAD_AVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')

for p in $PIPELINES; do
    bench_row "echo-raw-p$p" "TCP echo, raw, pipeline $p" "$PEER_TCP_CMD" "$QUASAR_ECHO_RAW_CMD" \
        echo --raw --pipeline "$p" "${COMMON[@]}"
done
for p in $PIPELINES; do
    bench_row "echo-framed-p$p" "TCP echo, pulsar framing, pipeline $p" "$PEER_TCP_CMD" "$QUASAR_ECHO_CMD" \
        echo --pipeline "$p" "${COMMON[@]}"
done
for p in $UDP_PIPELINES; do
    bench_row "udp-p$p" "UDP echo, pipeline $p" "$PEER_UDP_CMD" "$QUASAR_UDP_CMD" \
        udp --pipeline "$p" "${COMMON[@]}"
done

for p in $HTTP_PIPELINES; do
    bench_row "http-p$p" "HTTP/1.1 GET, pipeline $p" "$PEER_HTTP_CMD" "$QUASAR_HTTP_CMD" \
        http --pipeline "$p" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --threads "$BENCH_THREADS"
done

# TLS rows (scripts/bench/tls.sh): TLS=1 runs them; their section is appended to $OUT.
if [ "${TLS:-0}" = 1 ]; then . "$ROOT/scripts/bench/tls.sh"; fi
# WebSocket echo rows; their section is appended to the report (scripts/bench/ws.sh).
if [ -f "$ROOT/scripts/bench/ws.sh" ]; then . "$ROOT/scripts/bench/ws.sh"; fi

# Memory: server RSS growth per idle connection.
MEMORY_ROWS=()
if [ "$IDLE_CONNECTIONS" -gt 0 ]; then
    idle=$IDLE_CONNECTIONS
    if [ "$NOFILE" != unlimited ] && [ $((idle + 200)) -gt "$NOFILE" ]; then
        idle=$((NOFILE - 200))
        NOTES+=("The open-file limit here is $NOFILE, so the memory row opened $idle connections instead of $IDLE_CONNECTIONS.")
    fi
    for side in peer quasar; do
        if [ "$side" = peer ]; then cmd=$PEER_TCP_CMD; else cmd=$QUASAR_ECHO_CMD; fi
        json=$WORK/idle.$side.json
        if start_server "$cmd"; then
            note_command "quasar bench echo --idle-connections $idle --size $SIZE --duration $IDLE_HOLD --addr ADDR --server-pid PID --json FILE"
            "${PIN_TOOL[@]+"${PIN_TOOL[@]}"}" "$TOOL" bench echo --idle-connections "$idle" --size "$SIZE" \
                --duration "$IDLE_HOLD" --addr "$SERVER_ADDR" --server-pid "$SERVER_PID" \
                --json "$json" --no-progress >"$json.txt" 2>&1 || log "idle $side: load tool failed: $(tail -n 3 "$json.txt" | tr '\n' ' ')"
            stop_server
            log "idle $side: $(json_get "$json" rss_bytes_per_connection) bytes per connection"
        fi
        MEMORY_ROWS+=("$side|$cmd|$json")
    done
fi

# ===== report =====

CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Only changes to what gets built or run make the commit id an incomplete description.
DIRTY=$(git status --porcelain -- crates scripts Cargo.toml Cargo.lock 2>/dev/null | grep -q . &&
    echo " (with uncommitted changes to the code)")
RUSTC=$(rustc --version 2>/dev/null || echo unknown)

mkdir -p "$(dirname "$OUT")"
{
    echo "# Benchmarks"
    echo
    echo "Generated by \`scripts/bench.sh\` on $STARTED from commit $COMMIT$DIRTY. Each figure is the"
    echo "median of $ROUNDS rounds; in every round the peer (the hand-written tokio baseline in"
    echo "\`crates/quasar-baseline\`) and quasar each ran on a freshly started server, alternating which"
    echo "went first. Loopback, $CONNECTIONS connections, $SIZE-byte messages, $DURATION measured after"
    echo "$WARMUP of warm-up, closed loop (each connection keeps \`pipeline\` requests outstanding),"
    echo "every reply verified byte for byte by \`quasar bench\` (see \`docs/load-tool.md\`)."
    echo
    echo "Server CPU is utime+stime from \`/proc/PID/stat\` over the measured window. On two cores the"
    echo "load tool and the server compete for the machine, so **requests per server CPU-second** is"
    echo "the deciding figure: requests/s also depends on how much CPU the tool left the server."
    echo "Ratios are quasar / peer (above 1 is better for quasar, except for CPU per request)."
    echo "Read every ratio against the *Spread across rounds* table: where the two sides' ranges"
    echo "overlap, the difference is within this machine's noise."
    echo
    echo "Earlier runs, and notes on what changed between them, are in"
    echo "[perf/benchmarks.md](perf/benchmarks.md)."
    echo
    if [ "$QUASAR_OVERRIDDEN" = 1 ]; then
        echo "> **Mechanics run:** the \"quasar\" column was produced by overridden commands (see"
        echo "> *Commands* below), not by quasar's own servers. Do not read these as quasar's figures."
        echo
    fi
    echo "## Throughput and CPU"
    echo
    echo "| benchmark | peer req/s | quasar req/s | ratio | peer CPU s / 1k req | quasar CPU s / 1k req | peer req / CPU-s | quasar req / CPU-s | ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        label=${LABEL[$row]}
        if [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ]; then
            which=quasar
            [ -e "$WORK/$row.peer.failed" ] && which=peer
            echo "| $label | skipped: the $which server command failed to start | | | | | | | |"
            continue
        fi
        prs=$(med "$row" peer requests_per_sec)
        qrs=$(med "$row" quasar requests_per_sec)
        pcpu=$(med "$row" peer cpu_seconds_per_1000_requests)
        qcpu=$(med "$row" quasar cpu_seconds_per_1000_requests)
        prc=$(med "$row" peer requests_per_cpu_second)
        qrc=$(med "$row" quasar requests_per_cpu_second)
        flag=""
        if [ -e "$WORK/$row.peer.errors" ] || [ -e "$WORK/$row.quasar.errors" ]; then
            flag=" (errors, see below)"
            NOTES+=("$label: at least one run reported errors or a non-zero exit; its figures are not trustworthy.")
        fi
        echo "| $label$flag | $(fmt %.0f "$prs") | $(fmt %.0f "$qrs") | $(ratio "$qrs" "$prs") | $(fmt %.5f "$pcpu") | $(fmt %.5f "$qcpu") | $(fmt %.0f "$prc") | $(fmt %.0f "$qrc") | $(ratio "$qrc" "$prc") |"
    done
    echo
    echo "## Latency (medians of each round's percentile, microseconds)"
    echo
    echo "| benchmark | peer p50 | quasar p50 | peer p99 | quasar p99 | peer p99.9 | quasar p99.9 |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ] && continue
        echo "| ${LABEL[$row]} | $(fmt %.1f "$(med "$row" peer p50)") | $(fmt %.1f "$(med "$row" quasar p50)") | $(fmt %.1f "$(med "$row" peer p99)") | $(fmt %.1f "$(med "$row" quasar p99)") | $(fmt %.1f "$(med "$row" peer p999)") | $(fmt %.1f "$(med "$row" quasar p999)") |"
    done
    echo
    echo "## Spread across rounds (min–max)"
    echo
    echo "How far the rounds behind each median lie apart: requests/s moves with whatever else the"
    echo "machine runs; requests per server CPU-second should move much less."
    echo
    echo "| benchmark | peer req/s | quasar req/s | peer req / CPU-s | quasar req / CPU-s |"
    echo "|---|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ] && continue
        echo "| ${LABEL[$row]} | $(spread "$row" peer requests_per_sec) | $(spread "$row" quasar requests_per_sec) | $(spread "$row" peer requests_per_cpu_second) | $(spread "$row" quasar requests_per_cpu_second) |"
    done
    echo
    if [ "${#MEMORY_ROWS[@]}" -gt 0 ]; then
        echo "## Memory per idle connection"
        echo
        echo "\`quasar bench echo --idle-connections N\` opens N connections, verifies one echo on each,"
        echo "holds them for $IDLE_HOLD and reads the server's VmRSS before and after (one run each)."
        echo
        echo "| server | connections opened | RSS before (KiB) | RSS after (KiB) | bytes per connection |"
        echo "|---|---:|---:|---:|---:|"
        for entry in "${MEMORY_ROWS[@]}"; do
            IFS='|' read -r side cmd json <<<"$entry"
            if [ ! -s "$json" ]; then
                echo "| $side | skipped: the server command failed to start or the tool failed | | | |"
                continue
            fi
            echo "| $side | $(json_get "$json" opened) | $(json_get "$json" rss_before_kib) | $(json_get "$json" rss_after_kib) | $(fmt %.0f "$(json_get "$json" rss_bytes_per_connection)") |"
        done
        echo
    fi
    echo "## Machine"
    echo
    echo "- CPU: $CPU_MODEL, \`nproc\` = $CORES"
    echo "- Kernel: $(uname -sr); $RUSTC; release profile (thin LTO, codegen-units 4)"
    echo "- Pinning: $PINNING"
    echo "- Load tool: $BENCH_THREADS thread(s); open-file limit $NOFILE"
    echo "- Load average when the run started: $LOAD_AVG_START (the machine is shared; figures from a busy machine are noisier)"
    echo
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo "## Notes"
        echo
        for n in "${NOTES[@]}"; do echo "- $n"; done
        echo
    fi
    echo "## Commands"
    echo
    echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS SIZE=$SIZE PIPELINES=\"$PIPELINES\" IDLE_CONNECTIONS=$IDLE_CONNECTIONS$OVERRIDES scripts/bench.sh\`" | sed "s#$BIN/#target/release/#g"
    echo
    echo "Servers (each prints its bound address on stdout; the script takes the last word of the"
    echo "first line holding one):"
    echo
    echo '```'
    for role in "peer TCP echo|$PEER_TCP_CMD" "peer UDP echo|$PEER_UDP_CMD" \
        "quasar TCP echo, raw|$QUASAR_ECHO_RAW_CMD" "quasar TCP echo, framed|$QUASAR_ECHO_CMD" \
        "quasar UDP echo|$QUASAR_UDP_CMD" "peer HTTP|$PEER_HTTP_CMD" "quasar HTTP|$QUASAR_HTTP_CMD"; do
        name=${role%%|*}
        cmd=${role#*|}
        failed=""
        [ -n "${FAILED_CMD[$cmd]+x}" ] && failed="   # failed to start: rows using it were skipped"
        printf '%-26s %s%s\n' "$name:" "$(echo "$cmd" | sed "s#$BIN/#target/release/#g")" "$failed"
    done
    echo '```'
    echo
    echo "Load tool (\`target/release/quasar\`), once per server per round:"
    echo
    echo '```'
    echo "cargo build --release -p quasar -p quasar-baseline"
    for c in "${COMMANDS[@]+"${COMMANDS[@]}"}"; do echo "$c"; done
    echo '```'
    echo
    [ "$PINNING" != none ] && echo "Servers ran under \`${PIN_SERVER[*]}\`, the load tool under \`${PIN_TOOL[*]}\`."
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"

if declare -F tls_report >/dev/null; then tls_report >>"$OUT"; fi
if declare -F ws_report >/dev/null; then ws_report; fi
# HTTP handler routes against wrk and four baselines (HTTP_WRK=1): appends its own section.
if [ "${HTTP_WRK:-0}" = 1 ]; then . "$ROOT/scripts/bench/http.sh"; fi
# The Redis-protocol server section (appends to $OUT).
if [ "${RESP_BENCH:-0}" = 1 ]; then . "$ROOT/scripts/bench/resp.sh"; fi

log "wrote $OUT"
cat "$OUT"
