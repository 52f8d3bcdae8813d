#!/usr/bin/env bash
# bench.sh — `make bench`: start a private local stack, fill a table, and
# measure a ddbfleet export against the raw-scan, scan+encode and upload
# floors in one run (scripts/bench/main.go does the measuring and prints
# the table, then the export's tail from the workers' logs: time after the
# last segment claim, the fleet's idle fraction, per-segment durations).
#
# Knobs (environment):
#   BENCH_SHAPE               item shape: bench (~1 KB order records, the
#                             default), demo (make demo's sampledata.Item,
#                             200 bytes of padding), skew (bench, with 1
#                             in 4 items under one partition key: one
#                             oversized segment, for the tail) or random
#                             (~1.1 KB of random letters and digits that
#                             gzip only ~1.5×: the upload path's worst case)
#   BENCH_ITEMS               items (default 200000, 100000 for demo,
#                             120000 in latency mode; 1000000 for the
#                             memory check in docs/performance.md)
#   BENCH_SEGMENTS            scan segments for every run (default 8; 2 in
#                             latency mode)
#   BENCH_WORKERS             worker processes (default 2; 1 in latency mode)
#   BENCH_WORKER_CONCURRENCY  segments per worker (default 4, the worker's;
#                             2 in latency mode)
#   BENCH_PAGE_SIZE           Scan Limit (default 1000)
#   BENCH_PARQUET=1           also export the table as Parquet and compare
#                             it with the JSON gzip export (wall, peak RSS)
#   BENCH_ROUNDS              rounds of the runs; best of each shown
#                             (default 3: the machine may be shared)
#   BENCH_FLOOR_GZIP          the upload floor's gzip: klauspost (default:
#                             the worker's library and level) or stdlib
#                             (compress/gzip, default level: a naive tool)
#   BENCH_OUT                 also write the markdown table to this file
#   BENCH_STACK_DIR           stack folder (default $PWD/.stack/bench)
#   BENCH_KEEP_STACK=1        leave the stack up afterwards (for re-runs;
#                             the filled table is then reused)
#
# Latency mode (AWS-like round trips; see scripts/latencyproxy):
#   BENCH_LATENCY=1           turn it on with the defaults below
#   BENCH_DDB_LATENCY         delay per Scan (default 30ms; setting it turns
#                             latency mode on)
#   BENCH_DDB_OTHER_LATENCY   delay per other DynamoDB call (default 3ms)
#   BENCH_DDB_JITTER          ± uniform jitter on every delay (default 0s)
# In latency mode the floors, the coordinator and the workers reach
# DynamoDB through the proxy, and the floors are the upload floor read page
# by page and pipelined.
#
# The stack is its own (not `make demo`'s), so a bench never measures
# someone else's tables, and it is stopped on every exit path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK_DIR="${BENCH_STACK_DIR:-$ROOT/.stack/bench}"

die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

[ -x bin/coordinator ] && [ -x bin/worker ] || die "bin/coordinator and bin/worker missing: run 'make build' (make bench does)"

PROXY_PID=""
cleanup() {
  local rc=$?
  if [ -n "$PROXY_PID" ]; then
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
  fi
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

if [ "${BENCH_LATENCY:-0}" = 1 ] || [ -n "${BENCH_DDB_LATENCY:-}" ]; then
  export BENCH_DDB_LATENCY="${BENCH_DDB_LATENCY:-30ms}"
  export BENCH_DDB_OTHER_LATENCY="${BENCH_DDB_OTHER_LATENCY:-3ms}"
  go build -o "$STACK_DIR/latencyproxy" ./scripts/latencyproxy
  addr_file="$STACK_DIR/latencyproxy.addr"
  rm -f "$addr_file"
  "$STACK_DIR/latencyproxy" --target "$AWS_ENDPOINT_URL_DYNAMODB" \
    --scan "$BENCH_DDB_LATENCY" --other "$BENCH_DDB_OTHER_LATENCY" --jitter "${BENCH_DDB_JITTER:-0s}" \
    --addr-file "$addr_file" 2>>"$STACK_DIR/logs/latencyproxy.log" &
  PROXY_PID=$!
  # Wait for the proxy to say where it listens (it writes the file only
  # once it accepts connections), failing fast if it died.
  for _ in $(seq 1 100); do
    [ -s "$addr_file" ] && break
    kill -0 "$PROXY_PID" 2>/dev/null || die "latencyproxy exited: $(tail -n 5 "$STACK_DIR/logs/latencyproxy.log")"
    sleep 0.1
  done
  [ -s "$addr_file" ] || die "latencyproxy did not start within 10 s"
  BENCH_DDB_PROXY="$(cat "$addr_file")"
  export BENCH_DDB_PROXY
  printf 'bench: latency mode: DynamoDB via %s (Scan +%s, other calls +%s, jitter ±%s)\n' \
    "$BENCH_DDB_PROXY" "$BENCH_DDB_LATENCY" "$BENCH_DDB_OTHER_LATENCY" "${BENCH_DDB_JITTER:-0s}" >&2
fi

"$STACK_DIR/bench" --bin "$ROOT/bin" "$@"
