#!/usr/bin/env bash
# Makes the working tree small enough for the device tool, which copies the tree (tracked and
# untracked-not-ignored files, plus the carried paths) and refuses more than 64 MiB in all:
# on a new branch gpu-check-<commit>, removes tests/data except the golden cases the device
# goldens read, commits that, and prints what will travel. docs/cuda.md "The GPU check".
#
# Usage: scripts/gpu-slim-tree.sh            (from a clean checkout, after scripts/gpu-bundle.sh)
#   GPU_SLIM_CASES="unet_sd15_ip vae ..."    the golden cases to keep (default: those below)
# Back afterwards: git checkout <your branch> && git branch -D gpu-check-<commit>
set -euo pipefail
cd "$(dirname "$0")/.."

# tests/golden/test_device_goldens.cpp reads these (embed_variants, 10 MB, is left out by
# default: with it the tree and the bundle pass 64 MiB; run its test in a second call).
CASES="${GPU_SLIM_CASES:-unet_sd15_ip sdxl vae pipeline_sd15 pipeline_sdxl controlnet_sd15}"
LIMIT=$((64 * 1024 * 1024))

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "gpu-slim-tree: the checkout has uncommitted changes; commit or stash them first" >&2
  exit 1
fi
for c in $CASES; do
  [ -d "tests/data/$c" ] || { echo "gpu-slim-tree: no golden case tests/data/$c" >&2; exit 1; }
done

branch="gpu-check-$(git rev-parse --short HEAD)"
git checkout -q -b "$branch"
for entry in tests/data/*; do
  name=$(basename "$entry")
  [ -d "$entry" ] || continue  # the top-level manifest and readme stay
  case " $CASES " in *" $name "*) continue ;; esac
  git rm -r -q "$entry"
done
git commit -q -m "gpu-check: only the golden cases the device goldens read ($CASES)"

tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
bundle=0
[ -d .gpu-bundle ] && bundle=$(du -cb .gpu-bundle | tail -1 | cut -f1)
total=$((tracked + bundle))
echo "branch $branch: tracked files $((tracked / 1048576)) MiB + .gpu-bundle $((bundle / 1048576)) MiB = $((total / 1048576)) MiB (limit 64 MiB)"
if [ "$total" -gt "$LIMIT" ]; then
  echo "gpu-slim-tree: still above 64 MiB: keep fewer cases (GPU_SLIM_CASES)" >&2
  exit 1
fi
echo "now: run(command=\"OUT=\$OUT GPU_CHECK_GOLDEN_FILTER='Devices/*:-*Embedder*' scripts/gpu-check.sh\", carry=[\".gpu-bundle\"], timeout_s=600)"
echo "then: git checkout - && git branch -D $branch"
