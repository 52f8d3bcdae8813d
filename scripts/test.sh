#!/usr/bin/env bash
# The whole test suite, as `make test` (and CI) runs it:
#   1. unit tests (fakes, no servers);
#   2. build the real binaries;
#   3. start the real local stack (DynamoDB Local, fauxqs, versitygw) — any
#      server that cannot start fails the run, never skips it;
#   4. Chromium for the dashboard test (installed from Debian if missing)
#      and DuckDB for the lake tests (from npm);
#   5. end-to-end tests of the binaries against that stack (build tag e2e).
# RACE=1 turns the race detector on everywhere, binaries included.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK_DIR=${STACK_DIR:-$PWD/.stack-test}
race=()
if [[ "${RACE:-}" == 1 ]]; then
  race=(-race)
  export CGO_ENABLED=1
fi

echo "== unit tests"
go test "${race[@]}" -count=1 ./...

echo "== build binaries"
bindir=$PWD/bin/test
mkdir -p "$bindir"
go build "${race[@]}" -o "$bindir/coordinator" ./coordinator
go build "${race[@]}" -o "$bindir/worker" ./worker

echo "== local stack"
bash scripts/stack.sh up "$STACK_DIR"
trap 'bash scripts/stack.sh down "$STACK_DIR" >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
. "$STACK_DIR/env"

echo "== browser"
# The dashboard's test runs in a real headless Chromium; it fails (never
# skips) under CI when the browser cannot be installed.
bash scripts/browser.sh
export DDBFLEET_REQUIRE_BROWSER=1

echo "== DuckDB"
# The lake tests read the files with a real SQL engine; its Node client
# comes from npm into the cache. Required: a missing engine fails the run.
bash scripts/duckdb/install.sh >/dev/null
export DDBFLEET_REQUIRE_DUCKDB=1

echo "== integration and end-to-end tests"
# Every package with files tagged e2e: the conformance suites of each seam
# against the real servers, then the binaries end to end (e2e/, last).
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^//go:build e2e' . | xargs -n1 dirname | sort -u | grep -vx ./e2e)
pkgs+=(./e2e)
DDBFLEET_BIN_DIR=$bindir go test "${race[@]}" -tags e2e -count=1 -timeout 40m -p 1 "${pkgs[@]}"
