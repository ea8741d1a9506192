#!/usr/bin/env bash
# The GPU check (docs/cuda.md): runs on the GPU machine from the repository root, with the
# bundle of scripts/gpu-bundle.sh in .gpu-bundle/ (carried there by the device tool). Builds
# nothing. Steps, each with its own time limit so the whole stays under ~8 minutes:
#   1. nvidia-smi                                           → nvidia-smi.txt
#   2. cuda_tests: every CUDA op against the CPU op          → cuda_tests.json
#   3. golden_tests with IPADAPTER_TEST_DEVICE=cuda          → golden_tests.json
#   4. ipadapter bench --device cuda, SD1.5 512² and SDXL 1024², CFG, batch 1, IP-Adapter active
#                                                           → bench_sd15.json, bench_sdxl.json
# and summary.txt (one line per step: PASS/FAIL, seconds) plus logs.tar.xz (every step's
# output), all in $OUT (default ./gpu-check-out): 7 files, within what the device tool returns.
#
# The CUDA libraries come from the machine's Python wheels (nvidia-cublas, nvidia-cudnn-cu13,
# nvidia-cuda-runtime): every nvidia/*/lib folder goes on LD_LIBRARY_PATH after the bundle's.
#
# Usage (on the GPU machine): scripts/gpu-check.sh
#   GPU_CHECK_STEPS="cuda golden sd15 sdxl"   the steps to run (default all)
#   GPU_CHECK_GOLDEN_FILTER=...               a gtest filter for step 3 (default all)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd -P)"
OUT="${OUT:-$REPO/gpu-check-out}"
STEPS="${GPU_CHECK_STEPS:-cuda golden sd15 sdxl}"
mkdir -p "$OUT"
LOGS="$(mktemp -d)"
B="$(mktemp -d)"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

[ -f .gpu-bundle/bundle.tar.xz ] || { note "FAIL: .gpu-bundle/bundle.tar.xz missing (run scripts/gpu-bundle.sh here first, carry .gpu-bundle)"; exit 1; }
tar -C "$B" -xJf .gpu-bundle/bundle.tar.xz
note "bundle: $(grep -E '^(commit|built)=' "$B/bundle.env" | tr '\n' ' ')"

# The source folder and the CLI path compiled into the test binaries, recreated as links.
src_dir=$(sed -n 's/^source_dir=//p' "$B/bundle.env")
cli_path=$(sed -n 's/^cli_path=//p' "$B/bundle.env")
if [ "$src_dir" != "$REPO" ] && [ ! -e "$src_dir" ]; then
  mkdir -p "$(dirname "$src_dir")" && ln -s "$REPO" "$src_dir"
fi
if [ ! -e "$cli_path" ]; then
  mkdir -p "$(dirname "$cli_path")" 2>/dev/null && ln -s "$B/bin/ipadapter" "$cli_path" ||
    note "warning: cannot link the CLI at $cli_path (the CLI golden tests will fail)"
fi

nvroot=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null)
cuda_libs=$(find "$nvroot/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
[ -n "$cuda_libs" ] || note "warning: no nvidia wheel libraries found under '$nvroot'"
export LD_LIBRARY_PATH="$B/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export IPADAPTER_GOLDEN_DIR="${IPADAPTER_GOLDEN_DIR:-$REPO/tests/data}"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-/tmp/ipa-cache}"
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
  found=$(IFS=:; for d in $LD_LIBRARY_PATH; do [ -e "$d/$lib" ] && echo "$d/$lib" && break; done)
  note "library $lib: ${found:-NOT FOUND on LD_LIBRARY_PATH}"
done

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || note "warning: nvidia-smi failed"
note "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null)"

# step NAME LIMIT_S COMMAND...: runs with a time limit, logs, one summary line.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  local verdict=PASS
  [ "$rc" -eq 0 ] || verdict="FAIL (exit $rc$([ "$rc" -eq 124 ] && echo ', time limit'))"
  note "$name: $verdict in $((SECONDS - t0)) s (limit $limit s)"
}

for s in $STEPS; do
  case "$s" in
    cuda)
      step cuda_tests 60 env IPA_CUDA_TESTS_REQUIRE_GPU=1 "$B/bin/cuda_tests" \
        --gtest_output="json:$OUT/cuda_tests.json" ;;
    golden)
      step golden_tests 180 env IPADAPTER_TEST_DEVICE=cuda "$B/bin/golden_tests" \
        --gtest_filter="${GPU_CHECK_GOLDEN_FILTER:-*}" --gtest_output="json:$OUT/golden_tests.json" ;;
    sd15)
      step bench_sd15 90 sh -c "'$B/bin/ipadapter' bench --device cuda --arch sd15 --width 512 \
        --height 512 --steps 20 --peak-seconds 0.2 --json >'$OUT/bench_sd15.json'" ;;
    sdxl)
      step bench_sdxl 150 sh -c "'$B/bin/ipadapter' bench --device cuda --arch sdxl --width 1024 \
        --height 1024 --steps 10 --peak-seconds 0.2 --json >'$OUT/bench_sdxl.json'" ;;
    *) note "unknown step '$s'" ;;
  esac
done

# The op errors the CUDA tests measured, for the summary.
grep -h '\[err\]' "$LOGS/cuda_tests.log" 2>/dev/null | awk '{print $(NF-2), $0}' | sort -g |
  tail -5 | cut -d' ' -f2- | sed 's/^ */worst: /' >>"$SUMMARY"
tar -C "$LOGS" -cJf "$OUT/logs.tar.xz" .
rm -rf "$LOGS"
cat "$SUMMARY"
! grep -q FAIL "$SUMMARY"
