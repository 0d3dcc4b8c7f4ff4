# Helpers the standalone benchmark scripts share (sourced): core pinning (reads $PIN),
# starting and stopping a server under test (writes its output under $WORK), its CPU time.
# shellcheck shell=bash

# scratch_dir: a scratch directory in $WORK for the run's output, removed at exit together
# with every server still running (KEEP=1 keeps the directory, and says where it is).
scratch_dir() {
    WORK=$(mktemp -d)
    [ "${KEEP:-0}" = 1 ] && echo "work: $WORK" >&2
    trap 'kill $(jobs -p) 2>/dev/null || true; [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
}

# pinning: whether to pin (PIN=1, 2+ cores, taskset present).
pinning() { [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; }

# pin CORE CMD...: run CMD on CORE when pinning is on (taskset execs CMD: same PID).
pin() {
    local core=$1
    shift
    if pinning; then
        taskset -c "$core" "$@"
    else
        "$@"
    fi
}

# start NAME CORE CMD...: starts a server on CORE, waits up to $START_WAIT seconds [5] for the
# first 127.0.0.1:PORT its stdout prints, sets ADDR to it and PID to the server's own PID
# (taskset execs it, and no shell function stands in between). Output in $WORK/NAME.{out,err}.
start() {
    local name=$1 core=$2 tries
    shift 2
    if pinning; then
        taskset -c "$core" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    else
        "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    fi
    PID=$!
    tries=$((${START_WAIT:-5} * 20))
    for _ in $(seq 1 "$tries"); do
        ADDR=$(grep -oE '127\.0\.0\.1:[0-9]+' "$WORK/$name.out" 2>/dev/null | head -1 || true)
        [ -n "$ADDR" ] && return 0
        sleep 0.05
    done
    echo "$name did not start: $(cat "$WORK/$name.err")" >&2
    exit 1
}

# stop PID: ends a server started with `start` and reaps it.
stop() {
    kill "$1"
    wait "$1" 2>/dev/null || true
}

# cpu_of PID: the process's user + system CPU seconds so far (its name may hold spaces).
cpu_of() {
    local ticks
    ticks=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# bulk_through SIDE [TARGET]: moves $BULK bytes each way through the server started last
# (ADDR, PID; with TARGET as a CONNECT tunnel to it), stops the server and appends
# "bytes_per_cpu_second seconds" to $WORK/bulk.SIDE.
bulk_through() {
    local side=$1 before after
    shift
    before=$(cpu_of "$PID")
    pin 1 python3 "$(dirname "${BASH_SOURCE[0]}")/bulk.py" "$ADDR" "$BULK" "$@" >"$WORK/bulk.out"
    after=$(cpu_of "$PID")
    stop "$PID"
    python3 -c "import sys; c=float(sys.argv[2])-float(sys.argv[1]); print(2*int(sys.argv[3])/max(c,0.01), open(sys.argv[4]).read().strip())" \
        "$before" "$after" "$BULK" "$WORK/bulk.out" >>"$WORK/bulk.$side"
}
