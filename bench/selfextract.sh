#!/usr/bin/env bash
# Self-extractor benchmark, on the >= 250 MB fixture environment:
#   sh env.sh DEST (pack --format sh: helper copied out, payload sha256
#   checked, extracted, relocated), envpack unpack of the plain tar.zst, and
#   the floor zstd -dc | tar -x (no relocation); median wall time of RUNS
#   runs and peak RSS, warm page cache, destination on tmpfs as root (as
#   bench/unpack.sh). Then the sizes: the helper, the static envpack, and
#   the .sh file's overhead over the plain archive.
#
#   bash bench/selfextract.sh [ENV]        (default: $ENVPACK_FIXTURES/envs/big)
# envpack is the static build (scripts/build-static.sh; ENVPACK=path for
# another), the helper scripts/build-helper.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
FIX=${ENVPACK_FIXTURES:-/tmp/envpack-fixtures}
ENV=${1:-$FIX/envs/big}
RUNS=${RUNS:-3}
[ -d "$ENV/conda-meta" ] || { echo "no environment at $ENV: run bash Fixtures/build.sh $FIX" >&2; exit 1; }
[ -x .build/envpack-unpack-static ] || bash scripts/build-helper.sh 2>/dev/null
HELPER=$PWD/.build/envpack-unpack-static
if [ -z "${ENVPACK:-}" ]; then
  [ -x .build/envpack-static ] || bash scripts/build-static.sh
  ENVPACK=$PWD/.build/envpack-static
fi
OUT=$(mktemp -d /tmp/envpack-bench-sfx.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

ENVPACK_HELPER=$HELPER "$ENVPACK" pack -q -p "$ENV" -o "$OUT/env.tar.zst"
ENVPACK_HELPER=$HELPER "$ENVPACK" pack -q -p "$ENV" -o "$OUT/env.sh"
cat "$OUT/env.tar.zst" "$OUT/env.sh" > /dev/null   # warm the page cache
echo "environment: $ENV ($(du -sh "$ENV" | cut -f1))"

mkdir -p "$OUT/dst"
if [ "$(id -u)" -eq 0 ] && [ -z "${BENCH_DISK:-}" ]; then
  mount -t tmpfs -o size=4g envpack-bench "$OUT/dst"
  trap 'umount "$OUT/dst" 2>/dev/null; rm -rf "$OUT"' EXIT
  echo "destination: tmpfs (BENCH_DISK=1 for the disk)"
fi
DEST=$OUT/dst/env
measure() {
  local name=$1 setup=$2 cmd=$3 times=() rss=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$DEST"; sh -c "$setup"
    /usr/bin/time -f "%e %M" -o "$OUT/time" sh -c "$cmd" > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
    read -r t m < <(tail -1 "$OUT/time"); times+=("$t"); rss+=("$m")
  done
  local t m
  t=$(printf '%s\n' "${times[@]}" | median)
  m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  printf '%-34s %8.2f s %8d KB peak RSS\n' "$name" "$t" "$m"
  echo "$t" > "$OUT/$name.t"
}
measure "floor: zstd -dc | tar -x" "mkdir -p '$DEST'" "zstd -dc '$OUT/env.tar.zst' | tar -xf - -C '$DEST'"
measure "envpack unpack" "true" "'$ENVPACK' unpack -q '$OUT/env.tar.zst' '$DEST'"
measure "sh env.sh DEST" "true" "sh '$OUT/env.sh' '$DEST'"
measure "envpack-unpack ARCHIVE DEST" "true" "'$HELPER' -q '$OUT/env.tar.zst' '$DEST'"

f=$(cat "$OUT/floor: zstd -dc | tar -x.t"); e=$(cat "$OUT/envpack unpack.t"); s=$(cat "$OUT/sh env.sh DEST.t")
awk -v f="$f" -v e="$e" -v s="$s" 'BEGIN {
  printf "sh env.sh / envpack unpack: %.2fx (target <= 1.2); envpack unpack / floor: %.2fx\n", s / e, e / f
}'
tz=$(stat -c %s "$OUT/env.tar.zst"); sz=$(stat -c %s "$OUT/env.sh")
echo "sizes: helper $(stat -c %s "$HELPER") bytes; static envpack $(stat -c %s "$ENVPACK") bytes; env.tar.zst $tz bytes; env.sh $sz bytes (+$((sz - tz)) bytes: header and helper)"
