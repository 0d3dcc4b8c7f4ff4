#!/usr/bin/env bash
# Does the workspace still build warning-free against the newest compatible dependencies?
#
# `cargo install` without `--locked`, and every program that depends on quasar-net with a lock
# file of its own, resolve to the newest semver-compatible versions, not to our Cargo.lock. A
# new release that deprecates an API we call (rustls did, for `crypto::ring::default_provider`)
# breaks their `-D warnings` builds before ours. This script sees it first: it copies the
# tracked files to a scratch directory, runs `cargo update` there and then clippy with
# `-D warnings`. The repository's own Cargo.lock is never touched.
#
# Usage: scripts/check-latest.sh [--report-only] [--lib]
#   --report-only  always exit 0, printing the verdict (for a scheduled job that should report
#                  the next deprecation without failing on the registry's state).
#   --lib          check libraries and binaries only (what `cargo install` and dependent
#                  programs compile), not tests, benches and examples, and not the
#                  unpublished benchmark baselines (quasar-baseline): much less to check.
# Environment: CHECK_LATEST_DIR [target/check-latest] the scratch copy. It builds into the
# repository's target directory ($CARGO_TARGET_DIR or target/), so only the workspace crates
# and the dependencies that changed are compiled again.
# Exit status without --report-only: 0 clean, 1 clippy failed, 2 `cargo update` failed
# (registry unreachable) or an unknown option.
set -uo pipefail
cd "$(dirname "$0")/.."

report_only=0
targets=(--all-targets)
for arg in "$@"; do
  case "$arg" in
    --report-only) report_only=1 ;;
    --lib) targets=(--lib --bins --exclude quasar-baseline) ;;
    *) echo "usage: $0 [--report-only] [--lib]" >&2; exit 2 ;;
  esac
done
scratch=${CHECK_LATEST_DIR:-$PWD/target/check-latest}
log=$scratch.log
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

finish() {
  local rc=$1 verdict=$2
  echo "check-latest: $verdict"
  if [ "$report_only" = 1 ]; then exit 0; fi
  exit "$rc"
}

rm -rf "$scratch"
mkdir -p "$scratch"
git ls-files -z | tar --null -cf - -T - | tar -xf - -C "$scratch"

# Short network timeouts: offline, this gives up quickly rather than hanging.
if ! (cd "$scratch" && CARGO_HTTP_TIMEOUT=20 CARGO_NET_RETRY=1 cargo update) >"$log" 2>&1; then
  finish 2 "cargo update failed (offline?), nothing checked; see $log"
fi
echo "check-latest: updates over Cargo.lock:"
grep -E '^\s+(Updating|Adding|Removing) ' "$log" | grep -v ' index$' | sed 's/^ */  /' \
  || echo "  (none)"

if (cd "$scratch" && cargo clippy --workspace "${targets[@]}" -- -D warnings) >>"$log" 2>&1; then
  finish 0 "clean against the newest compatible dependencies"
fi
grep -E -A6 '^(error|warning)' "$log" | head -40
finish 1 "clippy FAILS against the newest compatible dependencies (full log: $log);
  users who build without our Cargo.lock hit this: fix it before they do"
