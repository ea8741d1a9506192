#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh runs on a GPU machine (docs/cuda.md, "The GPU check") into
# .gpu-bundle/ (git-ignored; pass it to the device tool's `carry`): our binaries from an
# IPA_CUDA build (cuda_tests, golden_tests, the CLI), stripped, and the shared libraries they
# need from this machine (oneDNN, libpng, libjpeg, libwebp, minizip, ICU, libgomp, libstdc++,
# ...), one xz-compressed tar. Not packed: glibc itself (the GPU machine's is newer) and the
# CUDA libraries (cudart, cuBLAS/cuBLASLt, cuDNN), which come from the GPU machine's Python
# wheels. The goldens are not packed either: tests/data is tracked and travels with the tree.
#
# Then it checks the bundle here: unpacked into a temporary folder, each binary must start with
# LD_LIBRARY_PATH set to the bundle's lib/ alone, and cuda_tests must pass with its GPU tests
# skipped (no GPU here). Fails when the bundle exceeds IPA_BUNDLE_MAX_MIB (default 40: the
# device tool carries 64 MiB in all, tree included).
#
# Usage: scripts/gpu-bundle.sh [BUILD_DIR]   (default build/cuda; build it first:
#        cmake --preset cuda && cmake --build --preset cuda --target cuda_tests golden_tests ipadapter_cli)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd -P)"
BUILD="${1:-build/cuda}"
MAX_MIB="${IPA_BUNDLE_MAX_MIB:-40}"
OUTDIR="$REPO/.gpu-bundle"

bins=("$BUILD/tests/cuda_tests" "$BUILD/tests/golden_tests" "$BUILD/ipadapter")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "gpu-bundle: $b is missing; build the cuda preset first (see the header)" >&2; exit 1; }
done
grep -q "^IPA_CUDA:BOOL=ON" "$BUILD/CMakeCache.txt" ||
  { echo "gpu-bundle: $BUILD is not an IPA_CUDA=ON build" >&2; exit 1; }

STAGE="$(mktemp -d)"
CHECK="$(mktemp -d)"
trap 'rm -rf "$STAGE" "$CHECK"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"
for b in "${bins[@]}"; do
  cp "$b" "$STAGE/bin/"
  strip --strip-unneeded "$STAGE/bin/$(basename "$b")"
done

# The libraries the binaries load (by soname, links resolved), but glibc's own and CUDA's.
skip='^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux[^.]*)\.so|^lib(cuda|cudart|cublas|cublasLt|cudnn[a-z_]*|nvrtc[a-z-]*|nvJitLink)\.so'
for b in "${bins[@]}"; do
  ldd "$b" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r soname path; do
  if [[ "$soname" =~ $skip ]]; then continue; fi
  cp -L "$path" "$STAGE/lib/$soname"
  strip --strip-unneeded "$STAGE/lib/$soname" 2>/dev/null || true
done

# Where the binaries were built: gpu-check.sh recreates these paths as links on the GPU
# machine, since the test binaries have the source folder and the CLI's path compiled in.
{
  echo "source_dir=$REPO"
  echo "cli_path=$(cd "$BUILD" && pwd -P)/ipadapter"
  echo "commit=$(git rev-parse HEAD)$(git diff --quiet HEAD || echo '+dirty')"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
} >"$STAGE/bundle.env"

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
tar -C "$STAGE" -cf - . | xz -9 -T2 >"$OUTDIR/bundle.tar.xz"
raw=$(du -sb "$STAGE" | cut -f1)
packed=$(stat -c %s "$OUTDIR/bundle.tar.xz")
{
  cat "$STAGE/bundle.env"
  echo "unpacked_bytes=$raw"
  echo "packed_bytes=$packed"
  (cd "$STAGE" && find . -type f -printf '%s %p\n' | sort -k2)
} >"$OUTDIR/MANIFEST"
echo "gpu-bundle: $(ls "$STAGE/lib" | wc -l) libraries, $((raw >> 20)) MiB unpacked, $((packed >> 20)) MiB packed → $OUTDIR/bundle.tar.xz"
if [ "$packed" -gt $((MAX_MIB << 20)) ]; then
  echo "gpu-bundle: FAIL: the bundle is over ${MAX_MIB} MiB" >&2
  exit 1
fi

# Check: the binaries start on the bundle's libraries alone (CUDA's come from the build's
# RUNPATH here, from the wheels there) and the CUDA tests skip cleanly without a GPU.
tar -C "$CHECK" -xJf "$OUTDIR/bundle.tar.xz"
export LD_LIBRARY_PATH="$CHECK/lib"
missing=$(for b in "$CHECK"/bin/*; do ldd "$b" | grep "not found" || true; done)
[ -z "$missing" ] || { echo "gpu-bundle: FAIL: unresolved libraries:" >&2; echo "$missing" >&2; exit 1; }
"$CHECK/bin/ipadapter" --help >/dev/null
"$CHECK/bin/golden_tests" --gtest_list_tests >/dev/null
"$CHECK/bin/cuda_tests" --gtest_brief=1 >"$CHECK/cuda_tests.log" 2>&1 ||
  { cat "$CHECK/cuda_tests.log" >&2; echo "gpu-bundle: FAIL: cuda_tests failed" >&2; exit 1; }
skipped=$(grep -o 'SKIPPED \] [0-9]* test' "$CHECK/cuda_tests.log" | grep -o '[0-9]*' || echo 0)
reason=$(grep -m1 -o 'no gpu\] .*' "$CHECK/cuda_tests.log" || echo 'a GPU is present')
echo "gpu-bundle: OK: the bundled binaries start; cuda_tests passed with $skipped GPU tests skipped ($reason)"
