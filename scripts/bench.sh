#!/usr/bin/env bash
# bench.sh — `make bench`: start a private local stack, fill a table, and
# measure a ddbfleet export against the raw-scan and scan+encode floors in
# one run (scripts/bench/main.go does the measuring and prints the table,
# then the export's tail from the workers' logs: time after the last
# segment claim, the fleet's idle fraction, per-segment durations).
#
# Knobs (environment):
#   BENCH_SHAPE               item shape: bench (~1 KB order records, the
#                             default), demo (make demo's sampledata.Item,
#                             200 bytes of padding) or skew (bench, with 1
#                             in 4 items under one partition key: one
#                             oversized segment, for the tail)
#   BENCH_ITEMS               items (default 200000, 100000 for demo;
#                             1000000 for the memory check in
#                             docs/performance.md)
#   BENCH_SEGMENTS            scan segments for every run (default 8)
#   BENCH_WORKERS             worker processes (default 2)
#   BENCH_WORKER_CONCURRENCY  segments per worker (default 4, the worker's)
#   BENCH_PAGE_SIZE           Scan Limit (default 1000)
#   BENCH_ROUNDS              rounds of the three runs; best of each shown
#                             (default 3: the machine may be shared)
#   BENCH_OUT                 also write the markdown table to this file
#   BENCH_STACK_DIR           stack folder (default $PWD/.stack/bench)
#   BENCH_KEEP_STACK=1        leave the stack up afterwards (for re-runs;
#                             the filled table is then reused)
#
# The stack is its own (not `make demo`'s), so a bench never measures
# someone else's tables, and it is stopped on every exit path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK_DIR="${BENCH_STACK_DIR:-$ROOT/.stack/bench}"

die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

[ -x bin/coordinator ] && [ -x bin/worker ] || die "bin/coordinator and bin/worker missing: run 'make build' (make bench does)"

cleanup() {
  local rc=$?
  if [ "${BENCH_KEEP_STACK:-0}" != 1 ]; then
    bash scripts/stack.sh down "$STACK_DIR" >/dev/null 2>&1 || printf 'bench: could not stop the stack in %s\n' "$STACK_DIR" >&2
  else
    printf 'bench: stack left up in %s (BENCH_KEEP_STACK=1)\n' "$STACK_DIR" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

bash scripts/stack.sh up "$STACK_DIR" >&2
# shellcheck disable=SC1091
. "$STACK_DIR/env"

# Build the harness once rather than `go run`, so its compile time is not
# in anyone's measurement and a compile error fails before the fill.
go build -o "$STACK_DIR/bench" ./scripts/bench
"$STACK_DIR/bench" --bin "$ROOT/bin" "$@"
