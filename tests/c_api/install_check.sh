#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then the C example built against the installed
# header and library the way a user builds it (pkg-config --cflags --libs ipadapter), run on the
# tiny model; the PNG must have the request's size.
#   install_check.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -euo pipefail
build=$1 src=$2 cc=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name ipadapter.pc)
[ -n "$pc" ] || { echo "no ipadapter.pc installed under $prefix"; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
echo "pkg-config --cflags --libs ipadapter: $(pkg-config --cflags --libs ipadapter)"
[ "$(pkg-config --modversion ipadapter)" = "$(grep -oP 'project\(ipadapter VERSION \K[0-9.]+' "$src/CMakeLists.txt")" ]
libdir=$(realpath "$(pkg-config --variable=libdir ipadapter)")
# Only the installed files: the example is compiled outside the source tree's include/.
cp "$src/examples/c/generate.c" "$prefix/generate.c"
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror -pedantic "$prefix/generate.c" -o "$prefix/generate" \
  $(pkg-config --cflags --libs ipadapter) -Wl,-rpath,"$libdir"
# ldd's output held first: `ldd | grep -q` under pipefail fails when grep exits at its match and
# ldd then dies of SIGPIPE.
libs=$(ldd "$prefix/generate")
grep -q "$libdir/libipadapter.so" <<<"$libs" ||
  { echo "the example does not load the installed library:"; echo "$libs"; exit 1; }
"$prefix/generate" "$src/examples/c/tiny_sd15.json" "$prefix/out.png"
# The PNG's IHDR: width and height, big-endian, at bytes 16..23.
read -r w h < <(od -An -tu1 -j16 -N8 "$prefix/out.png" |
  awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
want_w=$(grep -oP '"width": \K[0-9]+' "$src/examples/c/tiny_sd15.json")
want_h=$(grep -oP '"height": \K[0-9]+' "$src/examples/c/tiny_sd15.json")
[ "$w" = "$want_w" ] && [ "$h" = "$want_h" ] ||
  { echo "out.png is ${w}x${h}, the request asks ${want_w}x${want_h}"; exit 1; }
echo "installed, built with pkg-config and generated ${w}x${h}"
