#!/usr/bin/env bash
# demo.sh — what `make demo` runs: the whole product, end to end, on a local
# stack, in about a minute and a half on a laptop.
#
#   1. start DynamoDB Local, fauxqs (SQS) and versitygw (S3) on free ports
#      (scripts/stack.sh installs them, and Java 17, if missing)
#   2. create and fill a sample table (DEMO_ITEMS items, default 100000)
#      and create a bucket; names are unique per run
#   3. coordinator init: control table, work queue, dead-letter queue
#   4. start 3 workers in the background (logs in $STACK_DIR/logs/)
#   5. coordinator export --wait: plan, enqueue, follow progress
#   6. coordinator verify: re-read every data file against the manifest
#   7. print where the files are and what they hold
#   8. stop the workers (SIGTERM: they drain and exit 0) and the stack
#
# Environment knobs:
#   STACK_DIR    where the stack runs and versitygw keeps its files
#                (default $PWD/.stack)
#   DEMO_ITEMS   items in the sample table (default 100000)
#   KEEP_STACK   1: leave the stack (and the exported files) up at the end;
#                source $STACK_DIR/env to keep using it
#
# Any failing step stops the demo with a non-zero exit; workers and the
# stack are stopped on every exit, Ctrl-C included. A stack that was
# already up before the demo started is left up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STACK_DIR="${STACK_DIR:-$PWD/.stack}"
DEMO_ITEMS="${DEMO_ITEMS:-100000}"
KEEP_STACK="${KEEP_STACK:-0}"
readonly WORKERS=3
readonly PREFIX_TEMPLATE='exports/{table}/dt={yyyy}-{mm}-{dd}'

case "$DEMO_ITEMS" in
  '' | *[!0-9]*) echo "demo: DEMO_ITEMS must be a whole number, got '$DEMO_ITEMS'" >&2; exit 2 ;;
esac

# ------------------------------------------------------------- rendering ---

if [ -t 1 ]; then
  B=$'\033[1m' DIM=$'\033[2m' GRN=$'\033[32m' RED=$'\033[31m' CYN=$'\033[36m' RST=$'\033[0m'
else
  B='' DIM='' GRN='' RED='' CYN='' RST=''
fi
STEP=0
readonly STEPS=8
heading() {
  STEP=$((STEP + 1))
  printf '\n%s== [%d/%d] %s ==%s\n' "$B" "$STEP" "$STEPS" "$*" "$RST"
}
# Shows a command before running it, so the demo also teaches the CLI.
show() { printf '%s$ %s%s\n' "$CYN" "$*" "$RST"; }
info() { printf '%s\n' "$*"; }
die() { printf '%sdemo: ERROR: %s%s\n' "$RED" "$*" "$RST" >&2; exit 1; }

now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# Reads one field of a JSON document on stdin (node is there: the stack needs it).
json_field() {
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const v = JSON.parse(s)[process.argv[1]];
      if (v === undefined) { console.error("no field " + process.argv[1]); process.exit(1); }
      console.log(v);
    });' "$1"
}

# --------------------------------------------------------------- cleanup ---

STACK_STARTED_HERE=0
WORKER_PIDS=()

# Sends SIGTERM to the workers this script started and waits for each to
# drain (at most their 25 s drain budget plus a margin), then KILLs any
# that are left. Returns non-zero if a worker did not exit 0.
stop_workers() {
  local pid rc=0 i
  [ "${#WORKER_PIDS[@]}" -gt 0 ] || return 0
  for pid in "${WORKER_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${WORKER_PIDS[@]}"; do
    for i in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: worker pid $pid did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      rc=1
    fi
    if ! wait "$pid"; then
      rc=1
    fi
  done
  WORKER_PIDS=()
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${#WORKER_PIDS[@]}" -gt 0 ]; then
    echo "demo: stopping workers" >&2
    stop_workers || true
  fi
  if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
    printf '\n%sdemo interrupted.%s Logs: %s/logs/\n' "$RED$B" "$RST" "$STACK_DIR" >&2
  elif [ "$rc" -ne 0 ]; then
    printf '\n%sdemo FAILED (exit %d).%s Logs: %s/logs/\n' "$RED$B" "$rc" "$RST" "$STACK_DIR" >&2
    local f
    for f in "$STACK_DIR"/logs/demo-worker-*.log; do
      [ -s "$f" ] || continue
      printf '%s--- last lines of %s%s\n' "$DIM" "$f" "$RST" >&2
      tail -n 5 "$f" >&2 || true
    done
  fi
  if [ "$STACK_STARTED_HERE" -eq 1 ]; then
    if [ "$KEEP_STACK" = 1 ]; then
      echo "demo: KEEP_STACK=1: the stack stays up; use it with: . $STACK_DIR/env   stop it with: bash scripts/stack.sh down $STACK_DIR" >&2
    else
      bash scripts/stack.sh down "$STACK_DIR" >/dev/null 2>&1 ||
        echo "demo: could not stop the stack; run: bash scripts/stack.sh down $STACK_DIR" >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- steps ---

DEMO_START="$(now_ms)"
printf '%sddbfleet demo%s: export a %d-item DynamoDB table to S3 with %d workers, all on this machine.\n' \
  "$B" "$RST" "$DEMO_ITEMS" "$WORKERS"

if [ ! -x bin/coordinator ] || [ ! -x bin/worker ]; then
  die "bin/coordinator and bin/worker are missing: run 'make build' (or 'make demo')"
fi

heading "Local AWS stack (DynamoDB Local, fauxqs for SQS, versitygw for S3)"
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"
rm -f "$STACK_DIR"/logs/demo-worker-*.log # a failure must not show an earlier run's logs
# Captured first: grep -q closing the pipe early would fail the pipeline.
STACK_STATUS="$(bash scripts/stack.sh status "$STACK_DIR" 2>/dev/null || true)"
if [ -n "$STACK_STATUS" ] && ! grep -q ' down ' <<<"$STACK_STATUS"; then
  info "a stack is already running in $STACK_DIR; using it and leaving it up"
else
  STACK_STARTED_HERE=1
fi
show "bash scripts/stack.sh up $STACK_DIR"
bash scripts/stack.sh up "$STACK_DIR"
# The stack's endpoints and dummy credentials; nothing from the caller's own
# AWS setup may leak into the demo.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL DDBFLEET_CONTROL_TABLE DDBFLEET_QUEUE_NAME \
  DDBFLEET_LEASE_DURATION DDBFLEET_LOG_FORMAT DDBFLEET_LOG_LEVEL
# shellcheck source=/dev/null
. "$STACK_DIR/env"
info "endpoints: DynamoDB $AWS_ENDPOINT_URL_DYNAMODB  SQS $AWS_ENDPOINT_URL_SQS  S3 $AWS_ENDPOINT_URL_S3"

RUN_ID="$(date -u +%Y%m%d-%H%M%S)-$((RANDOM % 1000))"
TABLE="demo-orders-$RUN_ID"
BUCKET="ddbfleet-demo-$RUN_ID"

heading "Sample table $TABLE ($DEMO_ITEMS items) and bucket $BUCKET"
# Built first so the fill time below is the fill's alone.
mkdir -p "$STACK_DIR/bin"
go build -o "$STACK_DIR/bin/seed" ./scripts/seed
show "go run ./scripts/seed --table $TABLE --items $DEMO_ITEMS --bucket $BUCKET"
FILL_START="$(now_ms)"
"$STACK_DIR/bin/seed" --table "$TABLE" --items "$DEMO_ITEMS" --bucket "$BUCKET"
FILL_SECS="$(secs_since "$FILL_START")"

heading "coordinator init (control table, work queue, dead-letter queue)"
show "bin/coordinator init"
bin/coordinator init

heading "Start $WORKERS workers in the background"
mkdir -p "$STACK_DIR/logs"
for i in $(seq 1 "$WORKERS"); do
  log="$STACK_DIR/logs/demo-worker-$i.log"
  bin/worker run >"$log" 2>&1 &
  WORKER_PIDS+=("$!")
  info "worker $i: pid $! (bin/worker run), log $log"
done

heading "coordinator export --wait (progress on stderr)"
show "bin/coordinator export --table $TABLE --bucket $BUCKET --prefix '$PREFIX_TEMPLATE' --wait"
EXPORT_START="$(now_ms)"
EXPORT_ID="$(bin/coordinator export --table "$TABLE" --bucket "$BUCKET" --prefix "$PREFIX_TEMPLATE" --wait)" ||
  die "export of $TABLE did not complete (exit $?)"
EXPORT_WALL="$(secs_since "$EXPORT_START")"
info "export id: $EXPORT_ID"
for pid in "${WORKER_PIDS[@]}"; do
  kill -0 "$pid" 2>/dev/null || die "worker pid $pid died during the export; see $STACK_DIR/logs/"
done

heading "coordinator verify (re-read every data file against the manifest)"
show "bin/coordinator verify --export-id $EXPORT_ID"
bin/coordinator verify --export-id "$EXPORT_ID"
VERIFY_JSON="$(bin/coordinator verify --export-id "$EXPORT_ID" --json 2>/dev/null)"
STATUS_JSON="$(bin/coordinator status --export-id "$EXPORT_ID" --json 2>/dev/null)"

heading "Stop the workers (SIGTERM: they drain and exit 0)"
stop_workers || die "a worker did not stop cleanly; see $STACK_DIR/logs/demo-worker-*.log"
info "all $WORKERS workers exited 0"

# ---------------------------------------------------------------- summary ---

STATE="$(json_field state <<<"$STATUS_JSON")"
ITEMS="$(json_field itemCount <<<"$STATUS_JSON")"
BYTES="$(json_field bytes <<<"$STATUS_JSON")"
ROOT_URL="$(json_field exportRoot <<<"$STATUS_JSON")"
SUMMARY_KEY="$(json_field manifestSummaryKey <<<"$STATUS_JSON")"
FILES="$(json_field files <<<"$VERIFY_JSON")"
# The export's own duration, from the control table (start to manifest).
EXPORT_SECS="$(node -e '
  const s = JSON.parse(process.argv[1]);
  console.log(((Date.parse(s.endTime) - Date.parse(s.startTime)) / 1000).toFixed(1));' "$STATUS_JSON")"

[ "$STATE" = COMPLETED ] || die "export $EXPORT_ID is $STATE, want COMPLETED"
[ "$ITEMS" -eq "$DEMO_ITEMS" ] || die "export holds $ITEMS items, the table $DEMO_ITEMS"

EXPORT_ROOT_KEY="${ROOT_URL#s3://"$BUCKET"/}"
EXPORT_ROOT_KEY="${EXPORT_ROOT_KEY%/}"
LOCAL_ROOT="$STACK_DIR/s3data/$BUCKET/$EXPORT_ROOT_KEY"
SAMPLE_FILE="$(find "$LOCAL_ROOT/data" -name '*.json.gz' | sort | head -n 1)"
[ -n "$SAMPLE_FILE" ] || die "no data file under $LOCAL_ROOT/data"
RATE="$(awk -v n="$ITEMS" -v s="$EXPORT_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')"
MB="$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')"

heading "Summary"
printf '%s%-11s%s %s\n' "$B" "export" "$RST" "$EXPORT_ID  ${GRN}${STATE}, verified${RST}"
printf '%s%-11s%s %s\n' "$B" "table" "$RST" "$TABLE ($DEMO_ITEMS items, filled in ${FILL_SECS}s)"
printf '%s%-11s%s %s\n' "$B" "S3" "$RST" "$ROOT_URL"
printf '%s%-11s%s %s\n' "$B" "on disk" "$RST" "$LOCAL_ROOT"
printf '%s%-11s%s %s\n' "$B" "manifest" "$RST" "s3://$BUCKET/$SUMMARY_KEY"
printf '%s%-11s%s %s\n' "$B" "data" "$RST" "$FILES files (.json.gz), $ITEMS items, $BYTES bytes ($MB MB) compressed"
printf '%s%-11s%s %s\n' "$B" "export" "$RST" "${EXPORT_SECS}s start to manifest (${EXPORT_WALL}s wall with --wait), $RATE items/s with $WORKERS workers"
printf '%s%-11s%s %s\n' "$B" "total" "$RST" "$(secs_since "$DEMO_START")s for the whole demo"
printf '\n%sfiles:%s\n' "$B" "$RST"
(cd "$LOCAL_ROOT" && find . -maxdepth 1 -type f | sort | sed 's|^\./|  |')
printf '  data/  %s\n' "$(find "$LOCAL_ROOT/data" -type f | wc -l | tr -d ' ') files, e.g. ${SAMPLE_FILE#"$LOCAL_ROOT/"}"
printf '\n%sa data line%s (zcat %s | head -c 300):\n' "$B" "$RST" "${SAMPLE_FILE#"$STACK_DIR/"}"
# head closes the pipe early; zcat's SIGPIPE is expected, not a failure.
(set +o pipefail; zcat "$SAMPLE_FILE" | head -c 300)
printf '…\n'
if [ "$KEEP_STACK" = 1 ] || [ "$STACK_STARTED_HERE" -eq 0 ]; then
  printf '\nThe stack stays up: . %s/env && bin/coordinator status --export-id %s\n' "$STACK_DIR" "$EXPORT_ID"
else
  printf '\nStopping the stack (KEEP_STACK=1 keeps it up; the files above stay on disk either way).\n'
fi
printf '\n%sdemo OK%s\n' "$GRN$B" "$RST"
