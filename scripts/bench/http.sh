#!/usr/bin/env bash
# shellcheck shell=bash
# HTTP benchmark: wrk against handler routes built per request, quasar vs hyper 1.x, axum 0.8,
# actix-web 4 and may_minihttp; a mixed workload; the application layer's extractor cost.
#
# Two ways to run it:
#   - standalone: `scripts/bench/http.sh` (builds the release binaries unless SKIP_BUILD=1,
#     writes the section to OUT, default stdout). Smoke run:
#     `ROUNDS=1 DURATION=2s WARMUP=1s scripts/bench/http.sh`.
#   - from scripts/bench.sh with HTTP_WRK=1, which sources it after its main report (reusing
#     its start_server, stop_server, median, ratio, fmt, log, BIN, WORK, ROUNDS, DURATION,
#     WARMUP, PIN_TOOL, OUT) and appends this section to $OUT.
#
# Every server runs on one worker thread pinned to one CPU, wrk pinned to the other
# (scripts/bench/pin.sh when standalone). Each measurement starts the server afresh, warms it
# with a WARMUP-long wrk run, then measures one DURATION-long run; within a case the server
# order reverses every other round so drift on a shared machine hits all alike. The deciding
# figure is requests per server CPU-second: wrk's request count over the server's
# utime+stime (/proc/PID/stat) across the measured run.
#
# Cases:
#   - every route of HTTP_WRK_ROUTES on every server of HTTP_WRK_SERVERS, without pipelining
#     and pipelined WRK_PIPELINE deep (scripts/bench/pipeline.lua). Each server's handler
#     builds the response per request (`/json` through serde_json).
#   - HTTP_WRK_STATIC=1: quasar's `GET /`, a pre-encoded static response (`Router::fixed`),
#     next to hyper's `GET /` (a handler).
#   - mixed: quasar alone on scripts/bench/mixed.lua (six routes of the demo application, a
#     path parameter, a JSON POST, varied headers), without and with pipelining.
#   - extractors: quasar's `/app/json/1` (typed `Path` + `State` extractors, `Json` response)
#     against `/plain/json/1` (the same answer from a plain handler), alternating.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [5s]  WARMUP [1s]  SKIP_BUILD [0]  PIN [1]  OUT [stdout, standalone]
#   WRK_CONNECTIONS [64]  WRK_PIPELINE [16]  WRK_THREADS [1]
#   HTTP_WRK_SERVERS ["quasar hyper axum actix may"]  HTTP_WRK_ROUTES ["/plaintext /json"]
#   HTTP_WRK_STATIC [1]  HTTP_WRK_MIXED [1]  HTTP_WRK_EXTRACT [1]
#   WRK_QUASAR_CMD [$BIN/quasar serve http --bind 127.0.0.1:0 --workers 1]
#   WRK_HYPER_CMD  [$BIN/quasar-baseline http --bind 127.0.0.1:0 --current-thread]
#   WRK_AXUM_CMD   [$BIN/quasar-baseline http-axum --bind 127.0.0.1:0 --current-thread]
#   WRK_ACTIX_CMD  [$BIN/quasar-baseline http-actix --bind 127.0.0.1:0]
#   WRK_MAY_CMD    [$BIN/quasar-baseline http-may --bind 127.0.0.1:0]

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # Standalone: the helpers scripts/bench.sh would have defined.
    set -uo pipefail
    HTTP_HERE=$(cd "$(dirname "$0")" && pwd)
    ROOT=$(cd "$HTTP_HERE/../.." && pwd)
    cd "$ROOT" || exit 1
    ROUNDS=${ROUNDS:-3}
    DURATION=${DURATION:-5s}
    WARMUP=${WARMUP:-1s}
    PIN=${PIN:-1}
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
    log() { printf '%s\n' "http.sh: $*" >&2; }
    median() {
        grep -E '^-?[0-9.eE+]+$' | sort -g | awk '{ v[NR] = $1 }
            END { if (NR == 0) print "n/a";
                  else if (NR % 2) print v[(NR + 1) / 2];
                  else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
    }
    fmt() { case $2 in n/a | "" | null) echo "n/a" ;; *) awk -v f="$1" -v v="$2" 'BEGIN { printf f, v }' ;; esac; }
    ratio() {
        case "$1$2" in *n/a*) echo "n/a" ;; *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' ;; esac
    }
    # shellcheck source=scripts/bench/pin.sh
    . "$HTTP_HERE/pin.sh"
    PIN_SERVER=()
    PIN_TOOL=()
    if pinning; then
        PIN_SERVER=(taskset -c 0)
        PIN_TOOL=(taskset -c 1)
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/quasar-http-bench.XXXXXX")
    SERVER_PID=""
    trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
    start_server() {
        local cmd=$1 line
        # shellcheck disable=SC2086 # commands are plain words
        "${PIN_SERVER[@]+"${PIN_SERVER[@]}"}" $cmd >"$WORK/server.out" 2>"$WORK/server.err" &
        SERVER_PID=$!
        SERVER_ADDR=""
        for _ in $(seq 1 100); do
            line=$(grep -m1 -E '([0-9]+\.){3}[0-9]+:[0-9]+' "$WORK/server.out" 2>/dev/null || true)
            if [ -n "$line" ]; then
                SERVER_ADDR=${line##* }
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        log "server did not start: $cmd ($(head -c 300 "$WORK/server.err" | tr '\n' ' '))"
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
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building (release)"
        cargo build --release -q -p quasar -p quasar-baseline || exit 1
    fi
    HTTP_STANDALONE=1
else
    HTTP_STANDALONE=0
fi

WRK_CONNECTIONS=${WRK_CONNECTIONS:-64}
WRK_PIPELINE=${WRK_PIPELINE:-16}
WRK_THREADS=${WRK_THREADS:-1}
HTTP_WRK_SERVERS=${HTTP_WRK_SERVERS:-"quasar hyper axum actix may"}
HTTP_WRK_ROUTES=${HTTP_WRK_ROUTES:-"/plaintext /json"}
HTTP_WRK_STATIC=${HTTP_WRK_STATIC:-1}
HTTP_WRK_MIXED=${HTTP_WRK_MIXED:-1}
HTTP_WRK_EXTRACT=${HTTP_WRK_EXTRACT:-1}
declare -A WRK_CMD=(
    [quasar]=${WRK_QUASAR_CMD:-"$BIN/quasar serve http --bind 127.0.0.1:0 --workers 1"}
    [hyper]=${WRK_HYPER_CMD:-"$BIN/quasar-baseline http --bind 127.0.0.1:0 --current-thread"}
    [axum]=${WRK_AXUM_CMD:-"$BIN/quasar-baseline http-axum --bind 127.0.0.1:0 --current-thread"}
    [actix]=${WRK_ACTIX_CMD:-"$BIN/quasar-baseline http-actix --bind 127.0.0.1:0"}
    [may]=${WRK_MAY_CMD:-"$BIN/quasar-baseline http-may --bind 127.0.0.1:0"}
)
declare -A WRK_LABEL=([quasar]="quasar serve http" [hyper]="hyper 1.x" [axum]="axum 0.8" [actix]="actix-web 4" [may]="may_minihttp")
WRK_PIPE_LUA=$ROOT/scripts/bench/pipeline.lua
WRK_MIXED_LUA=$ROOT/scripts/bench/mixed.lua
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >/dev/null 2>&1
fi
command -v wrk >/dev/null || { log "wrk is missing and could not be installed"; exit 1; }

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

# wrk_run MODE PATH LUA ADDR DURATION OUT: one wrk run; MODE is p1 or pN; LUA is "pipe"
# (pipeline.lua, only when pipelined) or "mixed" (mixed.lua at the mode's depth).
wrk_run() {
    local mode=$1 path=$2 lua=$3 addr=$4 dur=$5 out=$6 depth script=()
    depth=${mode#p}
    if [ "$lua" = mixed ]; then
        script=(-s "$WRK_MIXED_LUA" -- "$depth")
    elif [ "$depth" != 1 ]; then
        script=(-s "$WRK_PIPE_LUA" -- "$depth")
    fi
    "${PIN_TOOL[@]+"${PIN_TOOL[@]}"}" wrk -t "$WRK_THREADS" -c "$WRK_CONNECTIONS" -d "$dur" \
        --latency "http://$addr$path" "${script[@]+"${script[@]}"}" >"$out" 2>&1
}

# wrk_side CASE NAME ROUND MODE PATH LUA: start NAME's server, warm up, measure, record in
# $WORK/wrk.CASE.NAME.ROUND.res.
wrk_side() {
    local case=$1 name=$2 round=$3 mode=$4 path=$5 lua=$6 base t0 t1 reqs p99 errs
    base=$WORK/wrk.$case.$(fkey "$name").$round
    if ! start_server "${WRK_CMD[$name]}"; then
        : >"$WORK/wrk.$case.$(fkey "$name").failed"
        return
    fi
    wrk_run "$mode" "$path" "$lua" "$SERVER_ADDR" "$WARMUP" "$base.warmup.txt"
    t0=$(cpu_ticks "$SERVER_PID")
    wrk_run "$mode" "$path" "$lua" "$SERVER_ADDR" "$DURATION" "$base.txt"
    t1=$(cpu_ticks "$SERVER_PID")
    stop_server
    if ! grep -q '^Requests/sec:' "$base.txt"; then
        log "wrk $case $name round $round gave no result: $(tail -n 3 "$base.txt" | tr '\n' ' ')"
    fi
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
    log "wrk $case $name round $round: $(tr '\n' ' ' <"$base.res")"
}

# fkey ENTRY: an entry as a file-name part (NAME@PATH holds slashes).
fkey() { echo "${1//\//_}"; }

# wrk_get CASE NAME KEY: KEY of every round, one per line.
wrk_get() {
    local f
    for f in "$WORK/wrk.$1.$(fkey "$2")".*.res; do
        [ -e "$f" ] && awk -v k="$3" '$1 == k { print $2 }' "$f"
    done
}

# wrk_case CASE MODE PATH LUA SERVER...: ROUNDS rounds over the servers, order reversed
# every other round. A "server" may be NAME@PATH to give it its own path.
wrk_case() {
    local case=$1 mode=$2 path=$3 lua=$4 round i entry name p order
    shift 4
    local servers=("$@")
    for round in $(seq 1 "$ROUNDS"); do
        order=("${servers[@]}")
        if [ $((round % 2)) -eq 0 ]; then
            order=()
            for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[$i]}"); done
        fi
        for entry in "${order[@]}"; do
            name=${entry%%@*}
            p=$path
            [ "$entry" != "$name" ] && p=${entry#*@}
            [ -e "$WORK/wrk.$case.$(fkey "$entry").failed" ] || wrk_side "$case" "$entry" "$round" "$mode" "$p" "$lua"
        done
    done
}

# The server name of a case entry (NAME@PATH runs NAME's command).
declare -A WRK_ENTRY_LABEL=()

# wrk_row CASE LABEL ENTRY REF: one table row; the ratio is to REF's median.
wrk_row() {
    local case=$1 label=$2 entry=$3 ref=$4 rpc ref_rpc spread errs
    if [ -e "$WORK/wrk.$case.$(fkey "$entry").failed" ]; then
        echo "| $label | ${WRK_ENTRY_LABEL[$entry]:-$entry} | skipped: the server failed to start | | | | | |"
        return
    fi
    rpc=$(wrk_get "$case" "$entry" rpc | median)
    ref_rpc=$(wrk_get "$case" "$ref" rpc | median)
    spread=$(wrk_get "$case" "$entry" rpc | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { if (NR == 0) print "n/a"; else printf "%.0f–%.0f", lo, hi }')
    errs=$(wrk_get "$case" "$entry" errors | awk '{ n += $1 } END { print n + 0 }')
    echo "| $label | ${WRK_ENTRY_LABEL[$entry]:-$entry} | $(fmt %.0f "$(wrk_get "$case" "$entry" rps | median)") | $(fmt %.0f "$rpc") | $(ratio "$rpc" "$ref_rpc") | $spread | $(fmt %.0f "$(wrk_get "$case" "$entry" p99 | median)") | $errs |"
}

# The entries of a case run the commands of their server names.
for name in "${!WRK_CMD[@]}"; do WRK_ENTRY_LABEL[$name]=${WRK_LABEL[$name]}; done
wrk_side_cmd_fix() {
    local entry
    for entry in "$@"; do
        WRK_CMD[$entry]=${WRK_CMD[${entry%%@*}]}
    done
}

WRK_MODES=(p1 "p$WRK_PIPELINE")
read -r -a WRK_SERVERS <<<"$HTTP_WRK_SERVERS"
read -r -a WRK_ROUTES <<<"$HTTP_WRK_ROUTES"
ROWS=()
for route in "${WRK_ROUTES[@]}"; do
    for mode in "${WRK_MODES[@]}"; do
        case_id="route${route//\//_}.$mode"
        wrk_case "$case_id" "$mode" "$route" pipe "${WRK_SERVERS[@]}"
        ROWS+=("$case_id|$route|$mode")
    done
done
if [ "$HTTP_WRK_STATIC" = 1 ]; then
    for mode in "${WRK_MODES[@]}"; do
        wrk_case "static.$mode" "$mode" / pipe quasar hyper
    done
fi
if [ "$HTTP_WRK_MIXED" = 1 ]; then
    for mode in "${WRK_MODES[@]}"; do
        wrk_case "mixed.$mode" "$mode" / mixed quasar
    done
fi
if [ "$HTTP_WRK_EXTRACT" = 1 ]; then
    WRK_ENTRY_LABEL["quasar@/app/json/1"]="quasar, \`/app/json/1\`: \`Path<u64>\` + \`State\` + \`Json\`"
    WRK_ENTRY_LABEL["quasar@/plain/json/1"]="quasar, \`/plain/json/1\`: plain handler"
    wrk_side_cmd_fix "quasar@/app/json/1" "quasar@/plain/json/1"
    for mode in "${WRK_MODES[@]}"; do
        wrk_case "extract.$mode" "$mode" / pipe "quasar@/plain/json/1" "quasar@/app/json/1"
    done
fi

mode_label() {
    if [ "$1" = p1 ]; then echo "no pipelining"; else echo "pipelined ${1#p}"; fi
}

http_report() {
    echo
    echo "## HTTP: handler routes under wrk (quasar, hyper, axum, actix-web, may_minihttp)"
    echo
    echo "Every server answers \`GET /plaintext\` (\"Hello, World!\", a response built per request) and"
    echo "\`GET /json\` (\`{\"message\":\"Hello, World!\"}\` serialised by serde_json per request) from an"
    echo "ordinary handler. Each server on one worker thread pinned to one CPU, wrk (\`-t $WRK_THREADS -c $WRK_CONNECTIONS --latency\`)"
    echo "pinned to the other; $ROUNDS round(s) of $DURATION after a $WARMUP warm-up, server order reversed"
    echo "every other round. **req / CPU-s** is wrk's request count over the server's utime+stime in"
    echo "the measured run (median of the rounds; *spread* is min–max); the ratio is quasar's (or"
    echo "the row's) to the reference named in each table. Pipelined rows send $WRK_PIPELINE requests per"
    echo "write (\`scripts/bench/pipeline.lua\`). p99 is wrk's (median of the rounds, microseconds)."
    echo
    echo "| route | mode | server | req/s | req / CPU-s | ratio to hyper | spread req / CPU-s | p99 µs | errors |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
    local row case_id route mode name
    for row in "${ROWS[@]}"; do
        IFS='|' read -r case_id route mode <<<"$row"
        for name in "${WRK_SERVERS[@]}"; do
            wrk_row "$case_id" "$(mode_label "$mode")" "$name" hyper | sed "s#^| #| \`$route\` | #"
        done
    done
    if [ -e "$WORK/wrk.route_plaintext.p1.quasar.1.res" ] || [ -e "$WORK/wrk.route_json.p1.quasar.1.res" ]; then
        echo
        echo "quasar's ratio to each server (req / CPU-s, medians):"
        echo
        echo "| route | mode | / hyper | / axum | / actix-web | / may_minihttp |"
        echo "|---|---|---:|---:|---:|---:|"
        for row in "${ROWS[@]}"; do
            IFS='|' read -r case_id route mode <<<"$row"
            local q
            q=$(wrk_get "$case_id" quasar rpc | median)
            echo "| \`$route\` | $(mode_label "$mode") | $(ratio "$q" "$(wrk_get "$case_id" hyper rpc | median)") | $(ratio "$q" "$(wrk_get "$case_id" axum rpc | median)") | $(ratio "$q" "$(wrk_get "$case_id" actix rpc | median)") | $(ratio "$q" "$(wrk_get "$case_id" may rpc | median)") |"
        done
    fi
    if [ "$HTTP_WRK_STATIC" = 1 ]; then
        echo
        echo "Pre-encoded static response: quasar's \`GET /\` is a \`Router::fixed\` route (the response"
        echo "encoded once), hyper's a handler; not the user's path, shown apart."
        echo
        echo "| mode | server | req/s | req / CPU-s | ratio to hyper | spread req / CPU-s | p99 µs | errors |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        for mode in "${WRK_MODES[@]}"; do
            wrk_row "static.$mode" "$(mode_label "$mode")" quasar hyper
            wrk_row "static.$mode" "$(mode_label "$mode")" hyper hyper
        done
    fi
    if [ "$HTTP_WRK_MIXED" = 1 ]; then
        echo
        echo "Mixed workload (\`scripts/bench/mixed.lua\`, quasar alone): \`/plaintext\`, \`/json\`,"
        echo "\`/app/json/42\`, a 47-byte JSON \`POST /echo\`, \`/plain/json/7\`, \`/get?page=2&sort=name\` in turn,"
        echo "each with its own headers (user agents, cookies, accept lists, request ids)."
        echo
        echo "| mode | server | req/s | req / CPU-s | ratio | spread req / CPU-s | p99 µs | errors |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        for mode in "${WRK_MODES[@]}"; do
            wrk_row "mixed.$mode" "$(mode_label "$mode")" quasar quasar
        done
    fi
    if [ "$HTTP_WRK_EXTRACT" = 1 ]; then
        echo
        echo "Extractor cost: the same JSON answer (\`{\"message\":\"Hello, World!\",\"id\":1}\`) from a typed"
        echo "handler and from a plain one, alternating; the ratio is to the plain handler (1.00 = no cost)."
        echo
        echo "| mode | route | req/s | req / CPU-s | ratio to plain | spread req / CPU-s | p99 µs | errors |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        for mode in "${WRK_MODES[@]}"; do
            wrk_row "extract.$mode" "$(mode_label "$mode")" "quasar@/plain/json/1" "quasar@/plain/json/1"
            wrk_row "extract.$mode" "$(mode_label "$mode")" "quasar@/app/json/1" "quasar@/plain/json/1"
        done
    fi
    echo
    echo "Servers:"
    echo
    echo '```'
    for name in "${WRK_SERVERS[@]}"; do
        printf '%-8s %s\n' "$name:" "$(echo "${WRK_CMD[$name]}" | sed "s#$BIN/#target/release/#g")"
    done
    echo '```'
    echo
    echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WRK_CONNECTIONS=$WRK_CONNECTIONS WRK_PIPELINE=$WRK_PIPELINE scripts/bench/http.sh\`"
    echo "(or \`HTTP_WRK=1 scripts/bench.sh\`; $(wrk --version 2>&1 | head -n1 | cut -c1-60))."
}

if [ "$HTTP_STANDALONE" = 1 ] && [ -z "${OUT:-}" ]; then
    http_report
else
    http_report >>"$OUT"
fi
