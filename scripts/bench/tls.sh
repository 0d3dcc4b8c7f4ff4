# TLS rows of scripts/bench.sh (sourced by it when TLS=1; uses its helpers and variables).
#
# quasar's echo behind its rustls TlsAcceptor (`quasar serve echo --raw --tls-cert/--tls-key`)
# next to a hand-written tokio-rustls echo (`quasar-baseline tls-echo`), same certificate, same
# rustls build and `ring` provider:
#   - raw 64-byte echo at pipeline 1 and 16 on $CONNECTIONS connections, handshakes done
#     before the measured window (`quasar bench echo --raw --tls --tls-ca CERT`);
#   - handshakes per second: a new TLS connection per request on $TLS_HANDSHAKE_CONNECTIONS
#     connections (`--connect-per-request`), each one handshake + one 64-byte echo + close.
# The deciding figure is requests per server CPU-second (target: quasar / peer >= 1.0).
# The certificate (ECDSA P-256, CN/SAN localhost and 127.0.0.1, CA:FALSE so rustls accepts it
# as a self-signed leaf, valid 2 days) is made with
# openssl in the run's work directory and removed with it.
#
# Environment: TLS [0; 1 runs these rows]  TLS_PIPELINES ["1 16"]  TLS_HANDSHAKE_CONNECTIONS [16]
#   QUASAR_TLS_CMD  [$BIN/quasar serve echo --bind 127.0.0.1:0 --raw --tls-cert C --tls-key K]
#   PEER_TLS_CMD    [$BIN/quasar-baseline tls-echo --bind 127.0.0.1:0 --cert C --key K]

TLS_PIPELINES=${TLS_PIPELINES:-"1 16"}
TLS_HANDSHAKE_CONNECTIONS=${TLS_HANDSHAKE_CONNECTIONS:-16}
TLS_CERT=$WORK/tls-cert.pem
TLS_KEY=$WORK/tls-key.pem
TLS_ROWS=()

if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$TLS_KEY" -out "$TLS_CERT" >/dev/null 2>&1; then
    log "tls: openssl could not make a certificate; TLS rows skipped"
    NOTES+=("TLS rows skipped: \`openssl req\` failed (is openssl installed?).")
else
    QUASAR_TLS_CMD=${QUASAR_TLS_CMD:-"$BIN/quasar serve echo --bind 127.0.0.1:0 --raw --tls-cert $TLS_CERT --tls-key $TLS_KEY"}
    PEER_TLS_CMD=${PEER_TLS_CMD:-"$BIN/quasar-baseline tls-echo --bind 127.0.0.1:0 --cert $TLS_CERT --key $TLS_KEY"}
    # The TLS rows get a section of their own: keep them out of the main table.
    tls_rows_before=("${ROWS[@]+"${ROWS[@]}"}")
    for p in $TLS_PIPELINES; do
        bench_row "tls-raw-p$p" "TLS echo, raw, pipeline $p" "$PEER_TLS_CMD" "$QUASAR_TLS_CMD" \
            echo --raw --tls --tls-ca "$TLS_CERT" --pipeline "$p" "${COMMON[@]}"
    done
    bench_row "tls-handshakes" "TLS handshakes (new connection per request)" "$PEER_TLS_CMD" "$QUASAR_TLS_CMD" \
        echo --raw --tls --tls-ca "$TLS_CERT" --connect-per-request --pipeline 1 --size "$SIZE" \
        --connections "$TLS_HANDSHAKE_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --threads "$BENCH_THREADS"
    TLS_ROWS=("${ROWS[@]:${#tls_rows_before[@]}}")
    ROWS=("${tls_rows_before[@]+"${tls_rows_before[@]}"}")
fi

# tls_report: the TLS section, appended to $OUT by bench.sh.
tls_report() {
    [ "${#TLS_ROWS[@]}" -gt 0 ] || return 0
    local row label prs qrs prc qrc flag
    echo "## TLS"
    echo
    echo "quasar's echo over its rustls \`TlsAcceptor\` against a hand-written tokio-rustls echo"
    echo "(\`quasar-baseline tls-echo\`), same certificate (ECDSA P-256), rustls build and \`ring\`"
    echo "provider. Echo rows: raw $SIZE-byte messages on $CONNECTIONS connections whose handshakes"
    echo "happened before the measured window. Handshake row: each of $TLS_HANDSHAKE_CONNECTIONS"
    echo "connection tasks opens a TLS connection, echoes one message and closes, again and again;"
    echo "its requests/s is handshakes per second. Target: requests per server CPU-second ratio >= 1.0."
    echo
    echo "| benchmark | peer req/s | quasar req/s | ratio | peer req / CPU-s | quasar req / CPU-s | ratio | peer p99 µs | quasar p99 µs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in "${TLS_ROWS[@]}"; do
        label=${LABEL[$row]}
        if [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ]; then
            echo "| $label | skipped: a server command failed to start | | | | | | | |"
            continue
        fi
        prs=$(med "$row" peer requests_per_sec)
        qrs=$(med "$row" quasar requests_per_sec)
        prc=$(med "$row" peer requests_per_cpu_second)
        qrc=$(med "$row" quasar requests_per_cpu_second)
        flag=""
        if [ -e "$WORK/$row.peer.errors" ] || [ -e "$WORK/$row.quasar.errors" ]; then
            flag=" (errors: figures not trustworthy)"
        fi
        echo "| $label$flag | $(fmt %.0f "$prs") | $(fmt %.0f "$qrs") | $(ratio "$qrs" "$prs") | $(fmt %.0f "$prc") | $(fmt %.0f "$qrc") | $(ratio "$qrc" "$prc") | $(fmt %.1f "$(med "$row" peer p99)") | $(fmt %.1f "$(med "$row" quasar p99)") |"
    done
    echo
    echo "Spread across rounds (min–max), requests per server CPU-second:"
    echo
    echo "| benchmark | peer | quasar |"
    echo "|---|---:|---:|"
    for row in "${TLS_ROWS[@]}"; do
        [ -e "$WORK/$row.quasar.failed" ] || [ -e "$WORK/$row.peer.failed" ] && continue
        echo "| ${LABEL[$row]} | $(spread "$row" peer requests_per_cpu_second) | $(spread "$row" quasar requests_per_cpu_second) |"
    done
    echo
    echo "Servers:"
    echo
    echo '```'
    echo "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem"
    echo "$PEER_TLS_CMD" | sed -e "s#$BIN/#target/release/#g" -e "s#$WORK/tls-##g"
    echo "$QUASAR_TLS_CMD" | sed -e "s#$BIN/#target/release/#g" -e "s#$WORK/tls-##g"
    echo '```'
    echo
}
