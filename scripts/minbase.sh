#!/usr/bin/env bash
# A Debian minbase root (debootstrap --variant=minbase), made once and cached
# for the tests that need a bare machine: no zstd, no python, no Swift. The
# mirror is the one apt on this machine is configured with (deb822 .sources
# or a sources.list line), never a hard-coded host; the suite is this
# machine's. Prints the root's path. Concurrent callers wait for one build
# (flock); a half-made root is never used (it is built beside and renamed).
#   scripts/minbase.sh            -> prints e.g. /var/cache/envpack/minbase-bookworm
#   ENVPACK_MINBASE_CACHE=DIR     -> cache folder (default /var/cache/envpack)
set -euo pipefail

# shellcheck disable=SC1091
. /etc/os-release
suite="${VERSION_CODENAME:?cannot tell the Debian suite from /etc/os-release}"
cache="${ENVPACK_MINBASE_CACHE:-/var/cache/envpack}"
root="$cache/minbase-$suite"

mirror() {
  local f line
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # The first deb822 stanza of type deb that carries this suite.
    awk -v suite="$suite" '
      /^[[:space:]]*$/ { if (types ~ /deb/ && suites ~ "(^| )" suite "( |$)" && uri != "") { print uri; exit } types=""; suites=""; uri=""; next }
      /^Types:/ { types=$0 } /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites=$0 }
      /^URIs:/ { uri=$2 }
      END { if (types ~ /deb/ && suites ~ "(^| )" suite "( |$)" && uri != "") print uri }' "$f" | head -n1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    while read -r line; do
      # deb [options] URI SUITE COMPONENTS
      set -- $line
      [ "${1:-}" = deb ] || continue
      shift
      case "${1:-}" in \[*) while [ $# -gt 0 ] && [[ "$1" != *\] ]]; do shift; done; shift ;; esac
      [ "${2:-}" = "$suite" ] && { echo "$1"; return; }
    done < "$f"
  done
}

if [ ! -x "$root/bin/sh" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/minbase-$suite.lock"
  flock 9
  if [ ! -x "$root/bin/sh" ]; then
    command -v debootstrap >/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    }
    url="$(mirror | head -n1)"
    [ -n "$url" ] || { echo "minbase: no apt source for $suite found in /etc/apt" >&2; exit 1; }
    rm -rf "$root.part"
    echo "== debootstrap --variant=minbase $suite from $url (cached in $root)" >&2
    debootstrap --variant=minbase "$suite" "$root.part" "$url" >"$cache/minbase-$suite.log" 2>&1 ||
      { echo "minbase: debootstrap failed, see $cache/minbase-$suite.log" >&2; exit 1; }
    rm -rf "$root.part/var/cache/apt/archives/"*.deb
    mv "$root.part" "$root"
  fi
fi
echo "$root"
