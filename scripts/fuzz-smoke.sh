#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang 14, ASan + UBSan) and runs each for
# N seconds (default 30, or $FUZZ_SECONDS) from the seed corpus in tests/fuzz/corpus/<target>.
# Exits non-zero when any target finds a crash, leak, sanitizer report, timeout or OOM; the
# reproducer is written to build/fuzz/artifacts/. Usage: scripts/fuzz-smoke.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-30}}"
targets=(fuzz_safetensors fuzz_pytorch fuzz_pickle fuzz_pdparams fuzz_request_json fuzz_checkpoint_names)
declare -A dict=([fuzz_safetensors]=safetensors.dict [fuzz_pytorch]=pickle.dict [fuzz_pickle]=pickle.dict
  [fuzz_pdparams]=pdparams.dict [fuzz_request_json]=request_json.dict
  [fuzz_checkpoint_names]=safetensors.dict)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}"

artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
failed=()
for t in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the committed seeds stay as they are.
  work="build/fuzz/corpus/$t"
  mkdir -p "$work"
  echo "=== $t: ${seconds}s"
  if ! "build/fuzz/tests/fuzz/$t" "$work" "tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -use_value_profile=1 -dict="tests/fuzz/${dict[$t]}" \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t-" 2>"build/fuzz/$t.log"; then
    failed+=("$t")
  fi
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)' \
    "build/fuzz/$t.log" || true
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (logs: build/fuzz/<target>.log, reproducers: $artifacts/)" >&2
  exit 1
fi
echo "fuzz-smoke: all targets ran ${seconds}s without findings"
