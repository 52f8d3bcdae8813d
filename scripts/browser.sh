#!/usr/bin/env bash
# Installs Chromium for the dashboard's browser test
# (coordinator/internal/dashboard/dashboard_e2e_test.go) when it is not
# there yet. Idempotent: a second run does nothing. The test itself starts
# Chromium headless with the flags this machine needs and fails, rather
# than skips, without it when CI or DDBFLEET_REQUIRE_BROWSER=1 is set.
set -euo pipefail

CHROMIUM=${DDBFLEET_CHROMIUM:-/usr/bin/chromium}
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser.sh: $CHROMIUM is missing and apt-get is not available; install Chromium and set DDBFLEET_CHROMIUM" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
echo "== installing chromium (for the dashboard browser test)"
# Debian's package lists may be missing or stale on a fresh machine.
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
if [[ ! -x "$CHROMIUM" ]]; then
  echo "browser.sh: chromium installed but $CHROMIUM is still missing" >&2
  exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
