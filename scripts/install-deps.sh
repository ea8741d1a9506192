#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 / Ubuntu packages. Idempotent.
# --browser adds Chromium and its WebDriver for the web page's test (scripts/server-tests.sh).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format
  libdnnl-dev ocl-icd-opencl-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev zlib1g-dev libminizip-dev libicu-dev
  libcpp-httplib-dev wrk python3 ccache
)
if [ "${1:-}" = "--browser" ]; then
  PACKAGES+=(chromium chromium-driver)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
