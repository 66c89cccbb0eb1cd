#!/usr/bin/env bash
# Installs envpack for users: PREFIX/bin/envpack and the static helper every
# archive carries at PREFIX/libexec/envpack/envpack-unpack, which is where
# envpack looks for it (beside itself, then ../libexec/envpack/), so no
# ENVPACK_HELPER is needed afterwards.
#
#   bash scripts/install.sh PREFIX        e.g. /usr/local or ~/.local
#
# Builds what is not built yet: envpack as one static executable
# (scripts/build-static.sh: no shared libraries at all, so the installed
# binary runs on any x86-64 Linux machine, with no Swift toolchain and no
# Debian libraries), and the static helper through scripts/build-helper.sh. Already built files can be named
# instead: ENVPACK_BIN=path/to/envpack, ENVPACK_HELPER=path/to/static/helper.
# Each file is copied beside its place and renamed into it, so a running
# envpack is never overwritten in place.
set -euo pipefail

usage() { echo "usage: $0 PREFIX   (installs PREFIX/bin/envpack and PREFIX/libexec/envpack/envpack-unpack)" >&2; exit 64; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage;; "") usage;; esac

root=$(cd "$(dirname "$0")/.." && pwd)

bin=${ENVPACK_BIN:-}
if [ -z "$bin" ]; then
  bin="$root/.build/envpack-static"
  if [ ! -f "$bin" ]; then
    echo "== building envpack (release, static executable)" >&2
    bash "$root/scripts/build-static.sh"
  fi
fi
helper=${ENVPACK_HELPER:-}
if [ -z "$helper" ]; then
  helper="$root/.build/envpack-unpack-static"
  if [ ! -f "$helper" ]; then
    echo "== building the static helper" >&2
    bash "$root/scripts/build-helper.sh"
  fi
fi
for f in "$bin" "$helper"; do
  [ -f "$f" ] && [ -x "$f" ] || { echo "install.sh: $f is not an executable file" >&2; exit 1; }
done
# envpack accepts only a static helper (the target machine may have no
# Swift runtime): refuse a dynamically linked one here rather than later.
if LC_ALL=C readelf -l "$helper" 2>/dev/null | grep -q 'INTERP'; then
  echo "install.sh: $helper is dynamically linked; build the static helper with scripts/build-helper.sh" >&2
  exit 1
fi

mkdir -p "$1"
prefix=$(cd "$1" && pwd)

place() {  # place SOURCE DEST: copy beside DEST, then rename over it
  local dir tmp
  dir=$(dirname "$2")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.envpack-install.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cp "$1" "$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$2"
  trap - EXIT
  echo "installed $2" >&2
}
place "$bin" "$prefix/bin/envpack"
place "$helper" "$prefix/libexec/envpack/envpack-unpack"
echo "done: put $prefix/bin on PATH and run: envpack pack -n ENV" >&2
