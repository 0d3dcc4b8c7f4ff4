#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (`wstest -m fuzzingclient`) against the WebSocket
# echo of `quasar serve http` (GET /ws) and writes a summary.
#
# wstest (PyPI `autobahntestsuite`, 25.10.1 included) is Python 2 only: its package uses
# implicit relative imports. The script finds a Python 2.7 (`$AUTOBAHN_PYTHON`, `python2.7`
# on PATH, or pyenv's 2.7.x) and installs the suite into target/autobahn-py2 with
# `pip install --target` on first use. Without a Python 2.7 it says so and exits 2.
#
# Environment (defaults in brackets):
#   CASES ["1.* 2.* 3.* 4.* 5.* 6.* 7.* 8.* 9.* 10.* 11.* 12.* 13.*"]  (space-separated)
#   EXCLUDE [""]           case patterns to leave out
#   QUASAR_BIN [$CARGO_TARGET_DIR/release/quasar]  SKIP_BUILD [0]
#   AUTOBAHN_PYTHON [auto]  AUTOBAHN_SITE [target/autobahn-py2]
#   REPORT_DIR [target/autobahn]   SUMMARY [$REPORT_DIR/summary.md]
# Exit status: 0 when every case is OK, NON-STRICT or INFORMATIONAL; 1 otherwise.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CASES=${CASES:-"1.* 2.* 3.* 4.* 5.* 6.* 7.* 8.* 9.* 10.* 11.* 12.* 13.*"}
EXCLUDE=${EXCLUDE:-""}
QUASAR_BIN=${QUASAR_BIN:-$TARGET/release/quasar}
SKIP_BUILD=${SKIP_BUILD:-0}
AUTOBAHN_SITE=${AUTOBAHN_SITE:-$TARGET/autobahn-py2}
REPORT_DIR=${REPORT_DIR:-$TARGET/autobahn}
SUMMARY=${SUMMARY:-$REPORT_DIR/summary.md}

log() { printf '%s\n' "autobahn.sh: $*" >&2; }

find_python2() {
    if [ -n "${AUTOBAHN_PYTHON:-}" ]; then echo "$AUTOBAHN_PYTHON"; return 0; fi
    local p
    for p in python2.7 python2; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; assert sys.version_info[0] == 2' 2>/dev/null; then
            command -v "$p"; return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local v
        v=$(pyenv versions --bare 2>/dev/null | grep -E '^2\.7' | tail -1)
        if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python2.7"; return 0; fi
    fi
    return 1
}

PY2=$(find_python2) || {
    log "no Python 2.7 found (wstest needs one): cannot run Autobahn here"
    exit 2
}
# wstest run from the --target directory (its .pth files need site.addsitedir).
wstest() {
    "$PY2" -c "import site, sys; site.addsitedir('$AUTOBAHN_SITE'); sys.argv[0] = 'wstest'; \
from autobahntestsuite.wstest import run; sys.exit(run())" "$@"
}
if ! "$PY2" -c "import site; site.addsitedir('$AUTOBAHN_SITE'); import autobahntestsuite" 2>/dev/null; then
    log "installing autobahntestsuite into $AUTOBAHN_SITE"
    "$PY2" -m pip install -q --target "$AUTOBAHN_SITE" autobahntestsuite || {
        log "pip install autobahntestsuite failed: cannot run Autobahn here"
        exit 2
    }
fi

if [ "$SKIP_BUILD" != 1 ]; then
    cargo build --release -p quasar || exit 1
fi
[ -x "$QUASAR_BIN" ] || { log "no quasar binary at $QUASAR_BIN"; exit 1; }

rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"
SERVER_OUT=$REPORT_DIR/server.out
"$QUASAR_BIN" serve http --bind 127.0.0.1:0 >"$SERVER_OUT" 2>"$REPORT_DIR/server.err" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null' EXIT
ADDR=""
for _ in $(seq 1 100); do
    ADDR=$(grep -m1 -oE '([0-9]+\.){3}[0-9]+:[0-9]+' "$SERVER_OUT" 2>/dev/null || true)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { log "the server did not start"; cat "$REPORT_DIR/server.err" >&2; exit 1; }

json_list() {
    local first=1 c
    printf '['
    for c in $1; do
        [ $first = 1 ] || printf ', '
        printf '"%s"' "$c"
        first=0
    done
    printf ']'
}
cat >"$REPORT_DIR/fuzzingclient.json" <<EOF
{
  "outdir": "$REPORT_DIR/reports",
  "servers": [{"agent": "quasar", "url": "ws://$ADDR/ws"}],
  "cases": $(json_list "$CASES"),
  "exclude-cases": $(json_list "$EXCLUDE"),
  "exclude-agent-cases": {}
}
EOF

log "running cases [$CASES] against ws://$ADDR/ws"
START=$(date +%s)
(cd "$REPORT_DIR" && wstest -m fuzzingclient -s fuzzingclient.json) >"$REPORT_DIR/wstest.log" 2>&1
RC=$?
ELAPSED=$(( $(date +%s) - START ))
INDEX=$REPORT_DIR/reports/index.json
if [ $RC -ne 0 ] || [ ! -f "$INDEX" ]; then
    log "wstest failed (exit $RC); see $REPORT_DIR/wstest.log"
    tail -20 "$REPORT_DIR/wstest.log" >&2
    exit 1
fi

python3 - "$INDEX" "$SUMMARY" "$ELAPSED" "$CASES" <<'EOF'
import json, sys
from collections import Counter

index, summary, elapsed, cases = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
results = json.load(open(index))["quasar"]
ok = {"OK", "NON-STRICT", "INFORMATIONAL"}
def section(case):
    return int(case.split(".")[0])
by_section = {}
bad = []
for case, r in results.items():
    worst = r["behavior"] if r["behavior"] not in ok else r["behaviorClose"]
    by_section.setdefault(section(case), Counter())[r["behavior"]] += 1
    if r["behavior"] not in ok or r["behaviorClose"] not in ok:
        bad.append((case, r["behavior"], r["behaviorClose"]))
total = Counter()
for c in by_section.values():
    total.update(c)
lines = [
    "Autobahn|Testsuite fuzzingclient against `quasar serve http` /ws",
    "(cases: %s; %d cases in %ss)" % (cases, len(results), elapsed),
    "",
    "| section | " + " | ".join(sorted(total)) + " |",
    "|---|" + "---|" * len(total),
]
for s in sorted(by_section):
    lines.append("| %d | " % s + " | ".join(str(by_section[s][k]) for k in sorted(total)) + " |")
lines.append("| all | " + " | ".join(str(total[k]) for k in sorted(total)) + " |")
lines.append("")
if bad:
    lines.append("Not OK: " + ", ".join("%s (%s/%s)" % b for b in sorted(bad, key=lambda b: [int(x) for x in b[0].split(".")])))
else:
    lines.append("Every case OK, NON-STRICT or INFORMATIONAL (behaviour and close behaviour).")
open(summary, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if bad else 0)
EOF
