# Core pinning for the standalone benchmark scripts (sourced; reads $PIN).
# shellcheck shell=bash

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
