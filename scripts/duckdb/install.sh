#!/usr/bin/env bash
# install.sh — install DuckDB's Node client into the ddbfleet cache, once.
#
# The Parquet e2e test (shared/parquetfile, build tag e2e) reads the files it
# wrote with a real engine; DuckDB is the one that installs without a server
# or a JVM: the npm package ships a prebuilt linux-x64 library.
#
# Prints the install prefix on stdout (query.mjs runs with NODE_PATH set to
# its node_modules). Safe to run repeatedly: a cached install of the pinned
# version is reused without touching the network.
set -euo pipefail

readonly PKG="@duckdb/node-api"
readonly VERSION="1.5.6-r.1"
CACHE="${DDBFLEET_CACHE:-$HOME/.cache/ddbfleet}"
readonly PREFIX="$CACHE/duckdb-node"
readonly PKG_JSON="$PREFIX/node_modules/$PKG/package.json"

log() { printf 'duckdb: %s\n' "$*" >&2; }
die() { printf 'duckdb: ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "'node' is required but not on PATH"

have=""
if [ -f "$PKG_JSON" ]; then
  have="$(node -p 'require(process.argv[1]).version' "$PKG_JSON" 2>/dev/null || true)"
fi
if [ "$have" != "$VERSION" ]; then
  command -v npm >/dev/null 2>&1 || die "'npm' is required to install $PKG"
  log "installing $PKG@$VERSION into $PREFIX"
  mkdir -p "$PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$PREFIX" "$PKG@$VERSION" >/dev/null
  [ -f "$PKG_JSON" ] || die "$PKG missing after install (expected $PKG_JSON)"
fi

# Loading the native binding is what fails on an unsupported platform, so
# check it here rather than in the middle of a test.
NODE_PATH="$PREFIX/node_modules" node -e 'require("@duckdb/node-api")' \
  || die "$PKG@$VERSION is installed but does not load on this machine"
printf '%s\n' "$PREFIX"
