# shellcheck shell=bash
# The Redis-protocol server row of scripts/bench.sh: `quasar serve resp` next to a real
# redis-server, driven by redis-benchmark. Sourced by bench.sh when RESP_BENCH=1; reuses its
# helpers (log, median, ratio, fmt) and settings (ROUNDS, BIN, PIN_SERVER, PIN_TOOL, OUT, WORK),
# and appends its own section to $OUT.
#
# For every round (the order of the two servers alternates between rounds) each server is
# started fresh and pinned to the server CPU, and redis-benchmark (on the other CPU) runs each
# test of RESP_TESTS on its own at every pipeline depth of RESP_PIPELINES, so the server's CPU
# time can be read around each test. The deciding figure is requests per server CPU-second:
# on two cores the benchmark tool and the server compete, so requests/s alone says little.
#
# Server CPU: the sum of the server's threads' on-CPU nanoseconds from
# /proc/PID/task/*/schedstat (utime+stime from /proc/PID/stat when schedstat is missing; that
# one counts in 10 ms ticks, too coarse for short tests).
#
# Environment (defaults in brackets):
#   RESP_BENCH [0]  RESP_TESTS [ping,set,get,incr,lpush,rpush,lpop,sadd,hset,lrange_100,mset]
#   RESP_REQUESTS [200000]  RESP_CLIENTS [50]  RESP_PIPELINES ["1 16"]
#   RESP_W2_PIPELINES ["1 16"; "" skips the --workers 2 row]
#   QUASAR_RESP_CMD  [$BIN/quasar serve resp --bind 127.0.0.1:0 --workers 1]
#   QUASAR_RESP2_CMD [$BIN/quasar serve resp --bind 127.0.0.1:0 --workers 2]
#   REDIS_SERVER [redis-server]  REDIS_BENCHMARK [redis-benchmark]  REDIS_CLI [redis-cli]

RESP_TESTS=${RESP_TESTS:-ping,set,get,incr,lpush,rpush,lpop,sadd,hset,lrange_100,mset}
RESP_REQUESTS=${RESP_REQUESTS:-200000}
RESP_CLIENTS=${RESP_CLIENTS:-50}
RESP_PIPELINES=${RESP_PIPELINES:-"1 16"}
RESP_W2_PIPELINES=${RESP_W2_PIPELINES-"1 16"}
QUASAR_RESP_CMD=${QUASAR_RESP_CMD:-"$BIN/quasar serve resp --bind 127.0.0.1:0 --workers 1"}
QUASAR_RESP2_CMD=${QUASAR_RESP2_CMD:-"$BIN/quasar serve resp --bind 127.0.0.1:0 --workers 2"}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
RESP_PID=""
RESP_PORT=""

# resp_cpu_ns PID: the process's CPU time so far, in nanoseconds.
resp_cpu_ns() {
    local pid=$1 t sum=0 have=0 f
    for f in /proc/"$pid"/task/*/schedstat; do
        [ -r "$f" ] || continue
        read -r t _ <"$f" 2>/dev/null || continue
        sum=$((sum + t))
        have=1
    done
    if [ "$have" = 1 ]; then
        echo "$sum"
        return
    fi
    # Fields 14 and 15 (utime, stime) in clock ticks; the name in field 2 has no spaces here.
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' /proc/"$pid"/stat
}

resp_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# resp_start KIND PINNED: starts a server (quasar1, quasar2 or redis); sets RESP_PID, RESP_PORT.
resp_start() {
    local kind=$1 pinned=$2 out=$WORK/resp.server.out i line
    local pin=()
    [ "$pinned" = 1 ] && pin=("${PIN_SERVER[@]+"${PIN_SERVER[@]}"}")
    : >"$out"
    RESP_PORT=""
    case $kind in
    redis)
        RESP_PORT=$(resp_free_port)
        "${pin[@]+"${pin[@]}"}" "$REDIS_SERVER" --port "$RESP_PORT" --bind 127.0.0.1 --save '' \
            --appendonly no --daemonize no >"$out" 2>&1 &
        ;;
    quasar1)
        # shellcheck disable=SC2086 # commands are plain words
        "${pin[@]+"${pin[@]}"}" $QUASAR_RESP_CMD >"$out" 2>"$out.log" &
        ;;
    quasar2)
        # shellcheck disable=SC2086
        "${pin[@]+"${pin[@]}"}" $QUASAR_RESP2_CMD >"$out" 2>"$out.log" &
        ;;
    esac
    RESP_PID=$!
    for i in $(seq 1 100); do
        if [ -z "$RESP_PORT" ]; then
            # quasar's address line on stdout ("resp tcp 127.0.0.1:PORT"), not a log line
            # that mentions the configured bind address.
            line=$(grep -m1 -E '127\.0\.0\.1:[0-9]+$' "$out" 2>/dev/null || true)
            [ -n "$line" ] && RESP_PORT=${line##*:}
        fi
        if [ -n "$RESP_PORT" ] && [ "$(timeout 2 "$REDIS_CLI" -p "$RESP_PORT" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        kill -0 "$RESP_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "resp: $kind server did not start: $(cat "$out" "$out.log" 2>/dev/null | head -c 300 | tr '\n' ' ')"
    resp_stop
    return 1
}

resp_stop() {
    if [ -n "$RESP_PID" ]; then
        kill -TERM "$RESP_PID" 2>/dev/null
        wait "$RESP_PID" 2>/dev/null
        RESP_PID=""
    fi
}

# resp_csv_rps FILE TEST: the requests/s redis-benchmark printed for TEST.
resp_csv_rps() {
    local name
    name=$(echo "$2" | tr '[:lower:]' '[:upper:]')
    # Rows look like "SET","123456.79",...; LRANGE_100 is "LRANGE_100 (first 100 elements)",
    # MSET "MSET (10 keys)", and `ping` runs PING_INLINE then PING_MBULK (the row shown).
    [ "$name" = PING ] && name=PING_MBULK
    grep -E "^\"$name( \\(|\")" "$1" | head -n 1 | cut -d, -f2 | tr -d '"'
}

# resp_csv_rows FILE: how many tests one redis-benchmark run made (`ping` runs two, and
# `lrange_100` first fills its list with an LPUSH run), so every request inside the CPU
# window is counted.
resp_csv_rows() {
    grep -c -E '^"[A-Z]' "$1" | awk '{ print ($1 > 0 ? $1 : 1) }'
}

# resp_run KIND PINNED TAG ROUND PIPELINES: every test against one fresh server; writes
# $WORK/resp.TAG.P.TEST.ROUND holding "requests/s cpu-ns".
resp_run() {
    local kind=$1 pinned=$2 tag=$3 round=$4 pipelines=$5 p t before after csv rps
    local tool=()
    [ "$pinned" = 1 ] && tool=("${PIN_TOOL[@]+"${PIN_TOOL[@]}"}")
    resp_start "$kind" "$pinned" || return 1
    for p in $pipelines; do
        for t in ${RESP_TESTS//,/ }; do
            csv=$WORK/resp.$tag.$p.$t.$round.csv
            before=$(resp_cpu_ns "$RESP_PID")
            "${tool[@]+"${tool[@]}"}" "$REDIS_BENCHMARK" -p "$RESP_PORT" -t "$t" -n "$RESP_REQUESTS" \
                -c "$RESP_CLIENTS" -P "$p" --csv >"$csv" 2>&1
            after=$(resp_cpu_ns "$RESP_PID")
            rps=$(resp_csv_rps "$csv" "$t")
            [ -n "$rps" ] || { log "resp: $tag $t -P $p: no result ($(head -c 200 "$csv" | tr '\n' ' '))"; rps=n/a; }
            echo "$rps $((after - before)) $(resp_csv_rows "$csv")" >"$WORK/resp.$tag.$p.$t.$round"
        done
    done
    log "resp: $tag round $round done"
    resp_stop
}

# resp_med TAG P TEST FIELD: median over rounds; FIELD rps or rpc (requests per CPU-second).
resp_med() {
    local f
    for f in "$WORK/resp.$1.$2.$3".[0-9]*; do
        case $f in *.csv) continue ;; esac
        [ -e "$f" ] || continue
        if [ "$4" = rps ]; then
            cut -d' ' -f1 "$f"
        else
            awk -v n="$RESP_REQUESTS" '$2 > 0 { printf "%.0f\n", n * $3 * 1e9 / $2 }' "$f"
        fi
    done | median
}

if ! command -v "$REDIS_SERVER" >/dev/null || ! command -v "$REDIS_BENCHMARK" >/dev/null; then
    log "resp: redis-server or redis-benchmark missing; skipping the Redis rows"
    {
        echo
        echo "## Redis protocol (RESP) server"
        echo
        echo "Skipped: \`$REDIS_SERVER\` or \`$REDIS_BENCHMARK\` is not installed."
    } >>"$OUT"
else
    for round in $(seq 1 "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            resp_run redis 1 redis "$round" "$RESP_PIPELINES"
            resp_run quasar1 1 quasar "$round" "$RESP_PIPELINES"
        else
            resp_run quasar1 1 quasar "$round" "$RESP_PIPELINES"
            resp_run redis 1 redis "$round" "$RESP_PIPELINES"
        fi
        if [ -n "$RESP_W2_PIPELINES" ]; then
            if [ $((round % 2)) -eq 1 ]; then
                resp_run redis 0 redis-free "$round" "$RESP_W2_PIPELINES"
                resp_run quasar2 0 quasar2 "$round" "$RESP_W2_PIPELINES"
            else
                resp_run quasar2 0 quasar2 "$round" "$RESP_W2_PIPELINES"
                resp_run redis 0 redis-free "$round" "$RESP_W2_PIPELINES"
            fi
        fi
    done
    {
        echo
        echo "## Redis protocol (RESP) server"
        echo
        echo "\`redis-benchmark -t TEST -n $RESP_REQUESTS -c $RESP_CLIENTS -P P --csv\`, one test at a"
        echo "time, against \`$(echo "$QUASAR_RESP_CMD" | sed "s#$BIN/#target/release/#g")\` and"
        echo "\`$REDIS_SERVER --save '' --appendonly no\` ($("$REDIS_SERVER" --version | cut -d' ' -f3)),"
        echo "each freshly started per round, pinned as: $PINNING. Medians of $ROUNDS round(s),"
        echo "alternating which server went first. Server CPU is the sum of its threads' on-CPU time"
        echo "(\`/proc/PID/task/*/schedstat\`) around each test, over every request in that window"
        echo "(\`ping\` is PING_INLINE and PING_MBULK, req/s shows the latter; \`lrange_100\` includes"
        echo "the LPUSH that fills its list). Ratios are quasar / redis;"
        echo "the target is >= 1.0 per CPU-second on SET, GET and INCR and >= 0.8 on the rest."
        echo
        echo "| test | pipeline | redis req/s | quasar req/s | redis req / CPU-s | quasar req / CPU-s | ratio per CPU-s |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for p in $RESP_PIPELINES; do
            for t in ${RESP_TESTS//,/ }; do
                rr=$(resp_med redis "$p" "$t" rps)
                qr=$(resp_med quasar "$p" "$t" rps)
                rc=$(resp_med redis "$p" "$t" rpc)
                qc=$(resp_med quasar "$p" "$t" rpc)
                echo "| $t | $p | $(fmt %.0f "$rr") | $(fmt %.0f "$qr") | $(fmt %.0f "$rc") | $(fmt %.0f "$qc") | $(ratio "$qc" "$rc") |"
            done
        done
        if [ -n "$RESP_W2_PIPELINES" ]; then
            echo
            echo "### \`--workers 2\` against redis-server's single thread (requests/s, nothing pinned)"
            echo
            echo "\`$(echo "$QUASAR_RESP2_CMD" | sed "s#$BIN/#target/release/#g")\`; server and"
            echo "redis-benchmark share the two cores, so this is requests/s only. redis-benchmark is"
            echo "single-threaded and at \`-P 1\` needs most of a core itself; on a 2-core machine a"
            echo "second worker can only take CPU from the load tool, so the \`-P 1\` rows measure the"
            echo "machine's limit rather than the server's (a second worker pays off where the"
            echo "load comes from elsewhere: \`-P 16\`, where the tool needs less CPU per request)."
            echo
            echo "| test | pipeline | redis req/s | quasar --workers 2 req/s | ratio |"
            echo "|---|---:|---:|---:|---:|"
            for p in $RESP_W2_PIPELINES; do
                for t in ${RESP_TESTS//,/ }; do
                    rr=$(resp_med redis-free "$p" "$t" rps)
                    qr=$(resp_med quasar2 "$p" "$t" rps)
                    echo "| $t | $p | $(fmt %.0f "$rr") | $(fmt %.0f "$qr") | $(ratio "$qr" "$rr") |"
                done
            done
        fi
        echo
        echo "Run: \`RESP_BENCH=1 ROUNDS=$ROUNDS RESP_REQUESTS=$RESP_REQUESTS RESP_PIPELINES=\"$RESP_PIPELINES\" RESP_W2_PIPELINES=\"$RESP_W2_PIPELINES\" scripts/bench.sh\`"
    } >>"$OUT"
fi
