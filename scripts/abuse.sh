#!/usr/bin/env bash
# The abuse suite (issue 12): builds the release binary and runs scripts/abuse.py, which
# attacks `quasar serve echo` / `udp-echo` on loopback and writes docs/reliability.md.
# SCALE=0.3 for a quick run; ONLY=slowloris,udp-reflection to pick attacks.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -p quasar >&2
# Enough descriptors for the attackers and the server (both are children of this shell).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 scripts/abuse.py --quasar "$TARGET/release/quasar" "$@"
