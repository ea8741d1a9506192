#!/usr/bin/env bash
# Fresh-machine check: does README's set-up work on a bare Debian 12?
#
# Builds a brand-new Debian 12 (bookworm) root with `debootstrap --variant=minbase`, copies the
# project into it and, inside it (chroot), does what README tells a new user to do:
#   1. scripts/install-deps.sh            (as root: a fresh machine has no sudo)
#   2. cmake --preset ci                  (README's configure step, as an unprivileged user)
#   3. cmake --build --preset ci --target ipadapter_cli   (only the CLI, to keep the check short)
#   4. README's "main job": the fenced block right after the line starting with "**The main job**",
#      taken from README.md verbatim (leading "$ " prompts stripped) and run with bash in the
#      repository root; its --out file (out.png) must then exist and be a PNG.
# It catches packages that install-deps.sh forgets but this (CI) machine happens to have, like
# ocl-icd-opencl-dev, which oneDNN's CMake config needs and libdnnl-dev only recommends.
#
# Nothing is cached between runs: every run debootstraps a new root from the mirror in the
# machine's apt sources and deletes it at the end (also on failure or interruption, after
# unmounting what it mounted). Prints each phase's time and PASS/FAIL; exits non-zero on failure,
# naming the phase.
#
# What is copied: the files of the working tree that git tracks plus untracked, not-ignored ones
# (`git ls-files -co --exclude-standard`). In CI, a clean clone of main, that is exactly
# `git archive HEAD`; locally it lets the check test uncommitted changes (e.g. to
# install-deps.sh). FRESH_MACHINE_SOURCE=head copies `git archive HEAD` instead. build*/ and
# other ignored paths never go in.
#
# Environment:
#   FRESH_MACHINE_CHECK   auto (default outside CI): skip with exit 0 when it cannot run here
#                         (no mount/chroot permission, no bookworm mirror reachable); not root:
#                         re-run through passwordless sudo, else skipped (in CI too);
#                         required (default when CI=true): those cases fail instead;
#                         skip: do nothing.
#   FRESH_MACHINE_MIRROR  Debian mirror for debootstrap (default: from the apt sources).
#   FRESH_MACHINE_SOURCE  worktree (default) or head, see above.
#   FRESH_MACHINE_TMPDIR  where the root is made (default /var/tmp; needs ~1.5 GB, no noexec/nodev).
#   FRESH_MACHINE_TMPFS   1: the root is a tmpfs (RAM) mounted there, 0: plain disk; default 1 when
#                         8 GiB of memory are available. Only where the bytes live: dpkg's fsyncs
#                         and deleting ~60k files cost minutes on a slow disk, nothing on tmpfs.
#   FRESH_MACHINE_LOGS    if set, a folder to copy every phase's full log to (kept after the run).
# Usage: scripts/fresh-machine-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd -P)"

mode="${FRESH_MACHINE_CHECK:-}"
if [ -z "$mode" ]; then
  if [ "${CI:-}" = true ]; then mode=required; else mode=auto; fi
fi
case "$mode" in
  required|auto) ;;
  skip|off|no|0) echo "fresh-machine check: SKIPPED (FRESH_MACHINE_CHECK=$mode)"; exit 0 ;;
  *) echo "fresh-machine check: FRESH_MACHINE_CHECK must be auto, required or skip (got '$mode')" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------------
# Phases, timing, cleanup
PHASE="preflight"
declare -a TIMES=()
phase_start=0
W=""         # work dir: $W/root is the fresh machine, $W/logs the phase logs
R=""
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0="$(now)"

summary() {
  local t
  echo "fresh-machine check: phase times"
  for t in "${TIMES[@]}"; do echo "  $t"; done
  echo "  total: $(elapsed "$t0") s"
}

skip_or_fail() {  # cannot run here: skip (auto) or fail (required)
  if [ "$mode" = required ]; then
    echo "fresh-machine check: FAIL [phase: $PHASE] cannot run here: $*" >&2
    exit 1
  fi
  echo "fresh-machine check: SKIPPED: $* (set FRESH_MACHINE_CHECK=required to make this an error)"
  exit 0
}

phase_begin() {
  PHASE="$1"
  phase_start="$(now)"
  echo "== fresh-machine check: $PHASE"
}
phase_end() {
  local s; s="$(elapsed "$phase_start")"
  TIMES+=("$(printf '%-13s %7s s' "$PHASE:" "$s")")
  echo "   $PHASE: $s s"
}

# logged WHAT CMD...: runs CMD with its output in $W/logs/<phase>.log, in its own process group
# and waited for in the background, so that an interruption is handled at once (cleanup kills the
# group); on failure prints the log's tail and fails the phase.
CHILD=""
logged() {
  local what="$1" log="$W/logs/$PHASE.log" rc=0
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  if [ "$rc" -ne 0 ]; then
    echo "---- last 60 lines of $PHASE output:" >&2
    tail -n 60 "$log" >&2
    echo "----" >&2
    fail "$what exited with status $rc"
  fi
}

fail() {
  TIMES+=("$(printf '%-13s %7s s  (FAILED)' "$PHASE:" "$(elapsed "$phase_start")")")
  summary >&2
  echo "fresh-machine check: FAIL [phase: $PHASE] $*" >&2
  exit 1
}

mounts_under() {  # mount points at or below $1, deepest first
  awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

cleanup() {
  local rc=$? p m left c0
  trap - EXIT INT TERM
  c0="$(now)"
  if [ -n "$CHILD" ]; then  # interrupted during a phase: end what it started
    kill -KILL -- "-$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  if [ -n "$R" ] && [ -d "$R" ]; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do  # processes left inside the root (started by this check)
      left=0
      for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; left=1; fi
      done
      [ "$left" -eq 0 ] && break
      sleep 0.5
    done
    for m in $(mounts_under "$R"); do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  fi
  if [ -n "$W" ] && [ -d "$W" ]; then
    if [ -n "${FRESH_MACHINE_LOGS:-}" ]; then
      mkdir -p "$FRESH_MACHINE_LOGS" && cp "$W"/logs/*.log "$FRESH_MACHINE_LOGS"/ 2>/dev/null || true
    fi
    if [ -n "$R" ] && [ -n "$(mounts_under "$R")" ]; then
      echo "fresh-machine check: could not unmount everything under $R; left $W in place" >&2
    else
      rm -rf --one-file-system "$W"
      echo "   cleanup (root deleted): $(elapsed "$c0") s"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "fresh-machine check: INTERRUPTED [phase: $PHASE]" >&2; exit 130' INT
trap 'echo "fresh-machine check: TERMINATED [phase: $PHASE]" >&2; exit 143' TERM

# ---------------------------------------------------------------------------------------------
phase_begin preflight

if [ "$(id -u)" -ne 0 ]; then
  # Root is needed for debootstrap, mount and chroot: take it through passwordless sudo where
  # there is one; a machine that offers neither cannot run this check at all, so it is
  # skipped there (with this message) even in CI.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n -E "$0" "$@"
  fi
  echo "fresh-machine check: SKIPPED: needs root (debootstrap, mount, chroot) and there is no passwordless sudo"
  exit 0
fi
command -v chroot >/dev/null && chroot / true 2>/dev/null || skip_or_fail "chroot does not work here"

if ! command -v debootstrap >/dev/null; then
  echo "   installing debootstrap on the host"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap; } >/dev/null 2>&1 \
     || ! command -v debootstrap >/dev/null; then
    skip_or_fail "debootstrap is missing and could not be installed with apt-get"
  fi
fi

# The machine's Debian sources: every entry whose suites are all bookworm[-*], from the one-line
# (sources.list, *.list) and deb822 (*.sources) files. They become the fresh root's sources, so it
# sees the same archive (updates and security included) as this machine; debootstrap uses the
# first URI that serves plain "bookworm".
W="$(mktemp -d "${FRESH_MACHINE_TMPDIR:-/var/tmp}/fresh-machine-check.XXXXXX")"
W="$(cd "$W" && pwd -P)"   # canonical: compared with /proc/self/mounts and /proc/PID/root
R="$W/root"
mkdir -p "$W/logs" "$W/apt"
shopt -s nullglob
list_files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
deb822_files=(/etc/apt/sources.list.d/*.sources)
shopt -u nullglob
existing=()
for f in "${list_files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
: >"$W/apt/debian.list"
: >"$W/apt/debian.sources"
: >"$W/apt/found"
if [ ${#existing[@]} -gt 0 ]; then
  awk -v out="$W/apt/debian.list" '
    { sub(/#.*/, "") }
    $1 != "deb" { next }
    {
      line = $0; rest = $0; sub(/^[ \t]*deb[ \t]+/, "", rest); opts = ""
      if (rest ~ /^\[/) { opts = substr(rest, 1, index(rest, "]")); rest = substr(rest, index(rest, "]") + 1) }
      n = split(rest, w, /[ \t]+/); k = 0
      for (i = 1; i <= n; i++) if (w[i] != "") f[++k] = w[i]
      uri = f[1]; suite = f[2]
      if (suite !~ /^bookworm(-[a-z]+)?$/) next
      print line > out
      if (suite == "bookworm") print "mirror", uri
      gsub(/[][]/, " ", opts); no = split(opts, o, /[ \t]+/)
      for (i = 1; i <= no; i++) if (o[i] ~ /^signed-by=\//) print "key", substr(o[i], 11)
    }' "${existing[@]}" >>"$W/apt/found"
fi
if [ ${#deb822_files[@]} -gt 0 ]; then
  awk -v out="$W/apt/debian.sources" '
    BEGIN { RS = ""; FS = "\n" }
    {
      types = ""; uris = ""; suites = ""; enabled = "yes"; signed = ""; text = ""
      for (i = 1; i <= NF; i++) {
        l = $i
        if (l ~ /^#/) continue
        text = text l "\n"
        if (l ~ /^[ \t]/ || index(l, ":") == 0) continue
        key = tolower(substr(l, 1, index(l, ":") - 1)); val = substr(l, index(l, ":") + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", val)
        if (key == "types") types = val; else if (key == "uris") uris = val
        else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val)
        else if (key == "signed-by") signed = val
      }
      if ((" " types " ") !~ /[ \t]deb[ \t]/ || enabled == "no" || suites == "") next
      ns = split(suites, s, /[ \t]+/); plain = 0; ok = 1
      for (i = 1; i <= ns; i++) {
        if (s[i] == "") continue
        if (s[i] !~ /^bookworm(-[a-z]+)?$/) ok = 0
        if (s[i] == "bookworm") plain = 1
      }
      if (!ok) next
      printf "%s\n", text > out
      if (plain) { split(uris, u, /[ \t]+/); print "mirror", u[1] }
      if (signed ~ /^\//) print "key", signed
    }' "${deb822_files[@]}" >>"$W/apt/found"
fi
MIRROR="${FRESH_MACHINE_MIRROR:-$(awk '$1 == "mirror" { print $2; exit }' "$W/apt/found")}"
[ -n "$MIRROR" ] || skip_or_fail "no Debian 12 (bookworm) mirror in this machine's apt sources (set FRESH_MACHINE_MIRROR)"
echo "   mirror: $MIRROR"

# apt settings that decide whether the mirror can be reached (proxies) or accepted (a frozen
# snapshot's Valid-Until), in apt.conf syntax, for the fresh root; the proxy also for debootstrap.
apt-config dump 2>/dev/null \
  | grep -E '^Acquire::(https?|ftp)::Proxy|^Acquire::(http|https)::Proxy-Auto-Detect|^Acquire::Check-Valid-Until|^Acquire::Check-Date' \
  >"$W/apt/99host-acquire" || true
http_proxy_conf="$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")"
https_proxy_conf="$(apt-config shell P Acquire::https::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")"
if [ -n "$http_proxy_conf" ] && [ "$http_proxy_conf" != DIRECT ]; then export http_proxy="$http_proxy_conf"; fi
if [ -n "$https_proxy_conf" ] && [ "$https_proxy_conf" != DIRECT ]; then export https_proxy="$https_proxy_conf"; fi
# A proxy that only the environment names goes into the root's apt.conf too (env -i clears it).
if [ -n "${http_proxy:-}" ] && ! grep -q '^Acquire::http::Proxy ' "$W/apt/99host-acquire"; then
  echo "Acquire::http::Proxy \"$http_proxy\";" >>"$W/apt/99host-acquire"
fi
if [ -n "${https_proxy:-}" ] && ! grep -q '^Acquire::https::Proxy ' "$W/apt/99host-acquire"; then
  echo "Acquire::https::Proxy \"$https_proxy\";" >>"$W/apt/99host-acquire"
fi

# Can this machine mount (proc, sysfs, tmpfs for the root) and reach the mirror?
mkdir -p "$W/probe"
if mount -t proc proc "$W/probe" 2>/dev/null; then
  umount "$W/probe"
else
  skip_or_fail "cannot mount here (no permission to mount proc)"
fi
rmdir "$W/probe"
mknod "$W/probe-null" c 1 3 2>/dev/null || skip_or_fail "cannot create device nodes (debootstrap needs mknod)"
rm -f "$W/probe-null"
mkdir -p "$R"
use_tmpfs="${FRESH_MACHINE_TMPFS:-}"
if [ -z "$use_tmpfs" ]; then
  avail_kb="$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)"
  if [ "${avail_kb:-0}" -ge $((8 * 1024 * 1024)) ]; then use_tmpfs=1; else use_tmpfs=0; fi
fi
if [ "$use_tmpfs" = 1 ]; then
  mount -t tmpfs -o size=6g,mode=0755 fresh-machine-root "$R" || skip_or_fail "cannot mount a tmpfs for the root"
  echo "   root: tmpfs at $R"
else
  echo "   root: $R (disk)"
fi
if [ -x /usr/lib/apt/apt-helper ]; then
  /usr/lib/apt/apt-helper download-file "${MIRROR%/}/dists/bookworm/InRelease" "$W/probe-InRelease" >/dev/null 2>&1 \
    || skip_or_fail "mirror $MIRROR not reachable"
  rm -f "$W/probe-InRelease"
fi
phase_end

# ---------------------------------------------------------------------------------------------
phase_begin debootstrap
include=()
# A machine installed from an https mirror has ca-certificates; apt in the root needs it then.
if grep -qE 'https://' "$W/apt/debian.list" "$W/apt/debian.sources" || [[ "$MIRROR" == https://* ]]; then
  include=(--include=ca-certificates)
fi
logged debootstrap debootstrap --variant=minbase "${include[@]}" bookworm "$R" "$MIRROR"
phase_end

# ---------------------------------------------------------------------------------------------
phase_begin setup
# apt: this machine's Debian sources (keyrings they name, if the root lacks them) and settings.
if [ -s "$W/apt/debian.list" ] || [ -s "$W/apt/debian.sources" ]; then
  rm -f "$R/etc/apt/sources.list"
  [ -s "$W/apt/debian.list" ] && cp "$W/apt/debian.list" "$R/etc/apt/sources.list.d/host-debian.list"
  [ -s "$W/apt/debian.sources" ] && cp "$W/apt/debian.sources" "$R/etc/apt/sources.list.d/host-debian.sources"
  for k in $(awk '$1 == "key" { print $2 }' "$W/apt/found" | sort -u); do
    if [ -f "$k" ] && [ ! -e "$R$k" ]; then mkdir -p "$R$(dirname "$k")"; cp "$k" "$R$k"; fi
  done
fi
[ -s "$W/apt/99host-acquire" ] && cp "$W/apt/99host-acquire" "$R/etc/apt/apt.conf.d/99host-acquire"
[ -f /etc/apt/auth.conf ] && install -m 600 /etc/apt/auth.conf "$R/etc/apt/auth.conf"
if [ -d /etc/apt/auth.conf.d ]; then
  for f in /etc/apt/auth.conf.d/*; do [ -f "$f" ] && install -m 600 "$f" "$R/etc/apt/auth.conf.d/"; done
fi
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
# What apt, dpkg, cmake and the program expect of a running machine; /dev has debootstrap's nodes.
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"

# A new user and the project in their home.
chroot "$R" useradd --create-home --shell /bin/bash builder >/dev/null
SRC_IN_ROOT=/home/builder/ipadapter.cpp
DEST="$R$SRC_IN_ROOT"
mkdir -p "$DEST"
source_mode="${FRESH_MACHINE_SOURCE:-worktree}"
if ! git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  source_mode=copy
fi
case "$source_mode" in
  head)
    git -C "$REPO" archive --format=tar HEAD | tar -x -C "$DEST" ;;
  worktree)
    git -C "$REPO" ls-files -z -co --exclude-standard \
      | while IFS= read -r -d '' f; do  # tracked files deleted in the working tree stay out
          if [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ]; then printf '%s\0' "$f"; fi
        done \
      | tar -c -C "$REPO" --null --no-recursion -T - | tar -x -C "$DEST" ;;
  copy)  # not a git checkout (e.g. an unpacked tarball): everything but build folders
    tar -c -C "$REPO" --exclude='./build*' --exclude=./.git --exclude=./.gpu-bundle . | tar -x -C "$DEST" ;;
  *) fail "FRESH_MACHINE_SOURCE must be worktree or head (got '$source_mode')" ;;
esac
chroot "$R" chown -R builder:builder "$SRC_IN_ROOT"
echo "   project: $(find "$DEST" -type f | wc -l) files ($source_mode) in $SRC_IN_ROOT"

# README's main job: the fenced block right after the line starting with "**The main job**"
# (the first fence before the next heading), with any leading "$ " shell prompt removed.
awk '
  /^\*\*The main job\*\*/ { seen = 1; next }
  seen && !infence && /^#/ { exit }
  seen && !infence && /^[ \t]*```/ { infence = 1; next }
  infence && /^[ \t]*```/ { found = 1; exit }
  infence { sub(/^[ \t]*\$ /, ""); print }
  END { if (!found) exit 1 }
' "$DEST/README.md" >"$R/home/builder/main-job.sh" || fail "no fenced block after \"**The main job**\" in README.md"
[ -s "$R/home/builder/main-job.sh" ] || fail "the main-job block in README.md is empty"
OUT_FILE="$(grep -oE -- '--out[= ][[:space:]]*[^[:space:]\\]+' "$R/home/builder/main-job.sh" | tail -n 1 \
  | sed -E 's/^--out[= ][[:space:]]*//; s/^["'\'']//; s/["'\'']$//')"
OUT_FILE="${OUT_FILE:-out.png}"
case "$OUT_FILE" in /*) OUT_HOST="$R$OUT_FILE" ;; *) OUT_HOST="$DEST/$OUT_FILE" ;; esac
rm -f "$OUT_HOST"   # an untracked out.png from the working tree must not count
phase_end

# Commands inside the root from a fresh login shell: install-deps as root (a fresh machine has no
# sudo), the rest as the new user "builder", in the project's folder.
as_root() {
  logged "$1 (as root)" chroot "$R" /usr/bin/env -i HOME=/root TERM=dumb \
    /bin/bash --login -c "cd $SRC_IN_ROOT && $1"
}
as_builder() {
  logged "$1" chroot --userspec=builder:builder "$R" /usr/bin/env -i HOME=/home/builder USER=builder \
    LOGNAME=builder SHELL=/bin/bash TERM=dumb /bin/bash --login -c "cd $SRC_IN_ROOT && $1"
}

# ---------------------------------------------------------------------------------------------
phase_begin install-deps
as_root scripts/install-deps.sh
phase_end

phase_begin configure
as_builder "cmake --preset ci"
phase_end

phase_begin build
as_builder "cmake --build --preset ci --target ipadapter_cli"
phase_end

phase_begin main-job
echo "   README main job:"
sed 's/^/     | /' "$R/home/builder/main-job.sh"
as_builder "bash -e -o pipefail /home/builder/main-job.sh"
[ -f "$OUT_HOST" ] || fail "the main job did not write $OUT_FILE"
magic="$(head -c 8 "$OUT_HOST" | od -An -tx1 | tr -d ' \n')"
[ "$magic" = 89504e470d0a1a0a ] || fail "$OUT_FILE is not a PNG (starts with $magic)"
echo "   $OUT_FILE: PNG, $(stat -c %s "$OUT_HOST") bytes"
[ "$use_tmpfs" = 1 ] && echo "   root used: $(df -m --output=used "$R" | tail -n 1 | tr -d ' ') MB"
phase_end

summary
echo "fresh-machine check: PASS (README set-up and main job on a fresh Debian 12 root)"
