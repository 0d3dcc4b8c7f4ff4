# shellcheck shell=bash
# HTTP section of scripts/bench.sh: wrk against `GET /` for quasar and three baselines.
#
# Sourced by scripts/bench.sh after its main report is written (it reuses start_server,
# stop_server, median, ratio, fmt, log, BIN, WORK, ROUNDS, DURATION, WARMUP, PIN_TOOL, OUT) and
# appends its own section to $OUT. Enabled by HTTP_WRK=1.
#
# Each server runs pinned to one CPU (bench.sh's taskset), wrk to the other. Modes: without
# pipelining and pipelined WRK_PIPELINE deep (scripts/bench/pipeline.lua). Every round starts
# each server afresh, warms it with a WARMUP-long wrk run, then measures one DURATION-long run;
# the server order reverses every other round so drift on a shared machine hits all alike.
# The deciding figure is requests per server CPU-second: wrk's request count over the
# server's utime+stime (/proc/PID/stat) across the measured run.
#
# Environment (defaults in brackets):
#   HTTP_WRK [0]  WRK_CONNECTIONS [64]  WRK_PIPELINE [16]  WRK_THREADS [1]
#   HTTP_WRK_SERVERS ["quasar hyper actix may"]
#   WRK_QUASAR_CMD [$BIN/quasar serve http --bind 127.0.0.1:0 --workers 1]
#   WRK_HYPER_CMD  [$BIN/quasar-baseline http --bind 127.0.0.1:0 --current-thread]
#   WRK_ACTIX_CMD  [$BIN/quasar-baseline http-actix --bind 127.0.0.1:0]
#   WRK_MAY_CMD    [$BIN/quasar-baseline http-may --bind 127.0.0.1:0]

WRK_CONNECTIONS=${WRK_CONNECTIONS:-64}
WRK_PIPELINE=${WRK_PIPELINE:-16}
WRK_THREADS=${WRK_THREADS:-1}
HTTP_WRK_SERVERS=${HTTP_WRK_SERVERS:-"quasar hyper actix may"}
declare -A WRK_CMD=(
    [quasar]=${WRK_QUASAR_CMD:-"$BIN/quasar serve http --bind 127.0.0.1:0 --workers 1"}
    [hyper]=${WRK_HYPER_CMD:-"$BIN/quasar-baseline http --bind 127.0.0.1:0 --current-thread"}
    [actix]=${WRK_ACTIX_CMD:-"$BIN/quasar-baseline http-actix --bind 127.0.0.1:0"}
    [may]=${WRK_MAY_CMD:-"$BIN/quasar-baseline http-may --bind 127.0.0.1:0"}
)
declare -A WRK_LABEL=([quasar]="quasar serve http" [hyper]="hyper 1.x" [actix]="actix-web 4" [may]="may_minihttp")
WRK_LUA=$ROOT/scripts/bench/pipeline.lua
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >/dev/null 2>&1
fi

# cpu_ticks PID: utime+stime of the whole process (all threads), in clock ticks.
cpu_ticks() {
    # Field 2 (comm) may hold spaces: count fields after its closing parenthesis.
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# to_us VALUE-WITH-UNIT: wrk's "635.91us" / "1.01ms" / "1.20s" in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v + 0 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
        else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 }
        else print "n/a" }'
}

# wrk_run MODE ADDR DURATION OUT: one wrk run; MODE is p1 or pN.
wrk_run() {
    local mode=$1 addr=$2 dur=$3 out=$4 script=()
    [ "$mode" != p1 ] && script=(-s "$WRK_LUA" -- "$WRK_PIPELINE")
    "${PIN_TOOL[@]+"${PIN_TOOL[@]}"}" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "$dur" \
        --latency "http://$addr/" "${script[@]+"${script[@]}"}" >"$out" 2>&1
}

# wrk_side MODE NAME ROUND: start NAME's server, warm up, measure, record in $WORK/wrk.*.
wrk_side() {
    local mode=$1 name=$2 round=$3 base=$WORK/wrk.$1.$2.$3 t0 t1 reqs p99 errs
    if ! start_server "${WRK_CMD[$name]}"; then
        : >"$WORK/wrk.$mode.$name.failed"
        return
    fi
    wrk_run "$mode" "$SERVER_ADDR" "$WARMUP" "$base.warmup.txt"
    t0=$(cpu_ticks "$SERVER_PID")
    wrk_run "$mode" "$SERVER_ADDR" "$DURATION" "$base.txt"
    t1=$(cpu_ticks "$SERVER_PID")
    stop_server
    reqs=$(awk '/requests in/ { print $1; exit }' "$base.txt")
    p99=$(awk '$1 == "99%" { print $2; exit }' "$base.txt")
    errs=$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
        /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$base.txt")
    {
        echo "rps $(awk '/^Requests\/sec:/ { print $2; exit }' "$base.txt")"
        if [ -n "$reqs" ] && [ -n "$t0" ] && [ -n "$t1" ] && [ "$t1" -gt "$t0" ]; then
            echo "rpc $(awk -v r="$reqs" -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", r / (t / hz) }')"
        fi
        [ -n "$p99" ] && echo "p99 $(to_us "$p99")"
        echo "errors $errs"
    } >"$base.res"
    [ "$errs" -gt 0 ] && : >"$WORK/wrk.$mode.$name.errors"
    log "wrk $mode $name round $round: $(tr '\n' ' ' <"$base.res")"
}

# wrk_get MODE NAME KEY: KEY of every round, one per line.
wrk_get() {
    local f
    for f in "$WORK/wrk.$1.$2".*.res; do
        [ -e "$f" ] && awk -v k="$3" '$1 == k { print $2 }' "$f"
    done
}

WRK_MODES=(p1 "p$WRK_PIPELINE")
read -r -a WRK_SERVERS <<<"$HTTP_WRK_SERVERS"
for mode in "${WRK_MODES[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
        order=("${WRK_SERVERS[@]}")
        if [ $((round % 2)) -eq 0 ]; then
            order=()
            for ((i = ${#WRK_SERVERS[@]} - 1; i >= 0; i--)); do order+=("${WRK_SERVERS[$i]}"); done
        fi
        for name in "${order[@]}"; do
            [ -e "$WORK/wrk.$mode.$name.failed" ] || wrk_side "$mode" "$name" "$round"
        done
    done
done

{
    echo
    echo "## HTTP: wrk against \`GET /\` (Hello, World!)"
    echo
    echo "Each server on one worker thread pinned to one CPU, wrk (\`-t $WRK_THREADS -c $WRK_CONNECTIONS --latency\`)"
    echo "pinned to the other; $ROUNDS round(s) of $DURATION after a $WARMUP warm-up, server order reversed"
    echo "every other round. **req / CPU-s** is wrk's request count over the server's utime+stime in"
    echo "the measured run (median of the rounds; *spread* is min–max); the ratio is to hyper's."
    echo "Pipelined rows send $WRK_PIPELINE requests per write (\`scripts/bench/pipeline.lua\`). p99 is"
    echo "wrk's (median of the rounds, microseconds)."
    echo
    echo "| mode | server | req/s | req / CPU-s | ratio to hyper | spread req / CPU-s | p99 µs | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for mode in "${WRK_MODES[@]}"; do
        label="no pipelining"
        [ "$mode" != p1 ] && label="pipelined $WRK_PIPELINE"
        hyper_rpc=$(wrk_get "$mode" hyper rpc | median)
        for name in "${WRK_SERVERS[@]}"; do
            if [ -e "$WORK/wrk.$mode.$name.failed" ]; then
                echo "| $label | ${WRK_LABEL[$name]:-$name} | skipped: the server failed to start | | | | | |"
                continue
            fi
            rpc=$(wrk_get "$mode" "$name" rpc | median)
            spread=$(wrk_get "$mode" "$name" rpc | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
                END { if (NR == 0) print "n/a"; else printf "%.0f–%.0f", lo, hi }')
            errs=$(wrk_get "$mode" "$name" errors | awk '{ n += $1 } END { print n + 0 }')
            echo "| $label | ${WRK_LABEL[$name]:-$name} | $(fmt %.0f "$(wrk_get "$mode" "$name" rps | median)") | $(fmt %.0f "$rpc") | $(ratio "$rpc" "$hyper_rpc") | $spread | $(fmt %.0f "$(wrk_get "$mode" "$name" p99 | median)") | $errs |"
        done
    done
    echo
    echo "Servers:"
    echo
    echo '```'
    for name in "${WRK_SERVERS[@]}"; do
        printf '%-8s %s\n' "$name:" "$(echo "${WRK_CMD[$name]}" | sed "s#$BIN/#target/release/#g")"
    done
    echo '```'
    echo
    echo "Run: \`HTTP_WRK=1 ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WRK_CONNECTIONS=$WRK_CONNECTIONS WRK_PIPELINE=$WRK_PIPELINE scripts/bench.sh\`"
    echo "($(wrk --version 2>&1 | head -n1 | cut -c1-60))."
} >>"$OUT"
