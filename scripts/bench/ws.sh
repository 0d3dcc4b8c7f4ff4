# WebSocket echo rows for scripts/bench.sh (sourced by it; uses its helpers run_side, med,
# spread, fmt, ratio and its settings). Enabled by WS_BENCH=1 (the default; WS_BENCH=0 skips).
#
# Each row: `quasar bench ws` (64-byte binary messages, verified echoes, handshake at connect
# time and not measured) against the tokio-tungstenite echo in crates/quasar-baseline
# (`ws-echo`) and `quasar serve http`'s GET /ws echo, alternating rounds as bench_row does.
# Neither side compresses: the load tool offers no extension. The deciding figure is
# messages per server CPU-second.
#
# Environment (defaults in brackets):
#   WS_BENCH [1]  WS_PIPELINES ["1 16"]  WS_CONNECTIONS [$CONNECTIONS]  WS_SIZE [64]
#   QUASAR_WS_CMD [$BIN/quasar serve http --bind 127.0.0.1:0]
#   PEER_WS_CMD   [$BIN/quasar-baseline ws-echo --bind 127.0.0.1:0]
# shellcheck shell=bash

WS_BENCH=${WS_BENCH:-1}
WS_PIPELINES=${WS_PIPELINES:-"1 16"}
WS_CONNECTIONS=${WS_CONNECTIONS:-$CONNECTIONS}
WS_SIZE=${WS_SIZE:-64}
QUASAR_WS_CMD=${QUASAR_WS_CMD:-"$BIN/quasar serve http --bind 127.0.0.1:0"}
PEER_WS_CMD=${PEER_WS_CMD:-"$BIN/quasar-baseline ws-echo --bind 127.0.0.1:0"}
WS_ROWS=()
declare -A WS_LABEL

# ws_row ROW LABEL BENCH-ARGS...: ROUNDS alternating rounds of both servers.
ws_row() {
    local row=$1 label=$2 round
    shift 2
    WS_ROWS+=("$row")
    WS_LABEL[$row]=$label
    for round in $(seq 1 "$ROUNDS"); do
        if [ $((round % 2)) -eq 1 ]; then
            run_side "$row" peer "$round" "$PEER_WS_CMD" "$@"
            [ -e "$WORK/$row.quasar.failed" ] || run_side "$row" quasar "$round" "$QUASAR_WS_CMD" "$@"
        else
            [ -e "$WORK/$row.quasar.failed" ] || run_side "$row" quasar "$round" "$QUASAR_WS_CMD" "$@"
            run_side "$row" peer "$round" "$PEER_WS_CMD" "$@"
        fi
        if [ -e "$WORK/$row.peer.failed" ] || [ -e "$WORK/$row.quasar.failed" ]; then
            break
        fi
    done
}

if [ "$WS_BENCH" = 1 ]; then
    for p in $WS_PIPELINES; do
        ws_row "ws-p$p" "WebSocket echo, $WS_SIZE B, pipeline $p" \
            ws --path /ws --pipeline "$p" --connections "$WS_CONNECTIONS" --size "$WS_SIZE" \
            --duration "$DURATION" --warmup "$WARMUP" --threads "$BENCH_THREADS"
    done
fi

# ws_report: appends the WebSocket section to $OUT (called after the main report is written).
ws_report() {
    [ "$WS_BENCH" = 1 ] || return 0
    local row label prs qrs prc qrc flag
    {
        echo
        echo "## WebSocket echo"
        echo
        echo "\`quasar bench ws --path /ws\`: $WS_CONNECTIONS connections, $WS_SIZE-byte binary messages,"
        echo "every echo verified; median of $ROUNDS alternating rounds. Peer: tokio-tungstenite"
        echo "(\`$(echo "$PEER_WS_CMD" | sed "s#$BIN/#target/release/#g")\`); quasar:"
        echo "\`$(echo "$QUASAR_WS_CMD" | sed "s#$BIN/#target/release/#g")\` (GET /ws). No compression on"
        echo "either side (the load tool offers no extension). Messages per server CPU-second decide."
        echo
        echo "| benchmark | peer msg/s | quasar msg/s | ratio | peer msg / CPU-s | quasar msg / CPU-s | ratio | peer p99 µs | quasar p99 µs | quasar msg / CPU-s spread |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for row in "${WS_ROWS[@]+"${WS_ROWS[@]}"}"; do
            label=${WS_LABEL[$row]}
            if [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ]; then
                echo "| $label | skipped: a server command failed to start | | | | | | | | |"
                continue
            fi
            flag=""
            if [ -e "$WORK/$row.peer.errors" ] || [ -e "$WORK/$row.quasar.errors" ]; then
                flag=" (errors: a run reported failed echoes or a non-zero exit)"
            fi
            prs=$(med "$row" peer requests_per_sec)
            qrs=$(med "$row" quasar requests_per_sec)
            prc=$(med "$row" peer requests_per_cpu_second)
            qrc=$(med "$row" quasar requests_per_cpu_second)
            echo "| $label$flag | $(fmt %.0f "$prs") | $(fmt %.0f "$qrs") | $(ratio "$qrs" "$prs") | $(fmt %.0f "$prc") | $(fmt %.0f "$qrc") | $(ratio "$qrc" "$prc") | $(fmt %.1f "$(med "$row" peer p99)") | $(fmt %.1f "$(med "$row" quasar p99)") | $(spread "$row" quasar requests_per_cpu_second) |"
        done
        echo
        echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION WS_PIPELINES=\"$WS_PIPELINES\" scripts/bench.sh\`"
    } >>"$OUT"
}
