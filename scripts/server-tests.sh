#!/usr/bin/env bash
# The server's tests outside ctest (run by .ci/run after it; docs/server.md): the load and fault
# test (scripts/server-load-test.py) and the web page in headless Chromium
# (scripts/server-browser-test.py; Debian's chromium + chromedriver, installed here by
# install-deps.sh --browser). Both on loopback, each bounded in time; figures, logs and the
# page's screenshot go to build/ci/artifacts/. Usage: scripts/server-tests.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/ci}"
scripts/install-deps.sh --browser
mkdir -p "$build/artifacts"
timeout 360 python3 scripts/server-load-test.py --cli "$build/ipadapter" \
  --out "$build/artifacts/server-load.json" --log "$build/artifacts/server-load.log"
timeout 300 python3 scripts/server-browser-test.py --cli "$build/ipadapter" \
  --artifacts "$build/artifacts"
