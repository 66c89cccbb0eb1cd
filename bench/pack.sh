#!/usr/bin/env bash
# Pack benchmark: envpack against conda-pack (from PyPI, in a throwaway venv,
# with its defaults) and against `tar -cf - | zstd -T0` (the floor), on the
# same >= 250 MB fixture environment, in one run. Reports the median of RUNS
# wall times, peak RSS and archive sizes. The page cache is warmed first, so
# the figures measure packing, not the disk. Then tar.gz on threads: envpack
# -j 1 and -j 2 against conda-pack -j 2, all at level 4.
#
#   bash bench/pack.sh [ENV]        (default: $ENVPACK_FIXTURES/envs/big)
#   ONLY=gzip bash bench/pack.sh    (the tar.gz comparison alone)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d /tmp/envpack-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
source bench/lib.sh

CP_VERSION=$("$VENV/bin/conda-pack" --version 2>&1 | tail -1)

echo "environment: $ENV ($(du -sh "$ENV" | cut -f1), $(find "$ENV" -type f | wc -l) files)"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); envpack $("$ENVPACK" --version); $CP_VERSION; $(zstd --version | head -1)"
tar -cf - -C "$ENV" . > /dev/null   # warm the page cache

# measure NAME OUTPUT CMD...: median wall time and peak RSS over RUNS runs.
measure() {
  local name=$1 output=$2; shift 2
  local times=() rss=()
  for _ in $(seq "$RUNS"); do
    rm -f "$output"
    /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
    read -r t m < <(tail -1 "$OUT/time")
    times+=("$t"); rss+=("$m")
  done
  local t m
  t=$(printf '%s\n' "${times[@]}" | median)
  m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  printf '%-34s %8.2f s %8d KB peak RSS %12d bytes\n' "$name" "$t" "$m" "$(stat -c %s "$output")"
  echo "$t" > "$OUT/$name.t"
  stat -c %s "$output" > "$OUT/$name.s"
}

# size NAME: the archive size a measure recorded.
size() { cat "$OUT/$1.s"; }

if [ "${ONLY:-}" != gzip ]; then
measure "tar | zstd -T0 (floor)" "$OUT/floor.tar.zst" \
  sh -c "tar -cf - -C '$ENV' . | zstd -T0 -q > '$OUT/floor.tar.zst'"
measure "envpack (tar.zst, defaults)" "$OUT/envpack.tar.zst" \
  "$ENVPACK" pack -q -p "$ENV" -o "$OUT/envpack.tar.zst" --force
measure "conda-pack (tar.gz, defaults)" "$OUT/cp.tar.gz" \
  "$VENV/bin/conda-pack" -q -p "$ENV" -o "$OUT/cp.tar.gz" --force
measure "envpack (tar.gz, like conda-pack)" "$OUT/envpack.tar.gz" \
  "$ENVPACK" pack -q -p "$ENV" -o "$OUT/envpack.tar.gz" --force

floor=$(cat "$OUT/tar | zstd -T0 (floor).t")
ep=$(cat "$OUT/envpack (tar.zst, defaults).t")
cp=$(cat "$OUT/conda-pack (tar.gz, defaults).t")
awk -v f="$floor" -v e="$ep" -v c="$cp" 'BEGIN {
  printf "envpack / floor: %.2fx (target <= 1.3)\n", e / f
  printf "conda-pack / envpack: %.1fx (target >= 8)\n", c / e
}'
fi

# tar.gz on threads, all at conda-pack's default level 4. The runs are
# interleaved (one of each per round), so a change of load on a shared
# machine hits the three alike. CPU is user + system time: on a busy machine
# with autogroup scheduling a session gets one share however many threads
# it runs, so only the wall times of a quiet machine show the speed-up.
# once NAME OUTPUT CMD...: one run, wall time and peak RSS appended.
once() {
  local name=$1 output=$2; shift 2
  rm -f "$output"
  /usr/bin/time -f "%e %M %U %S" -o "$OUT/time" "$@" > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
  read -r t m u k < <(tail -1 "$OUT/time")
  echo "$t" >> "$OUT/$name.times"; echo "$m" >> "$OUT/$name.rss"
  awk -v u="$u" -v k="$k" 'BEGIN { printf "%.2f\n", u + k }' >> "$OUT/$name.cpu"
  stat -c %s "$output" > "$OUT/$name.s"
}
for _ in $(seq "$RUNS"); do
  once "envpack tar.gz -j 1" "$OUT/gz1.tar.gz" \
    "$ENVPACK" pack -q -p "$ENV" -o "$OUT/gz1.tar.gz" --force --compress-level 4 -j 1
  once "envpack tar.gz -j 2" "$OUT/gz2.tar.gz" \
    "$ENVPACK" pack -q -p "$ENV" -o "$OUT/gz2.tar.gz" --force --compress-level 4 -j 2
  once "conda-pack tar.gz -j 2" "$OUT/cpgz2.tar.gz" \
    "$VENV/bin/conda-pack" -q -p "$ENV" -o "$OUT/cpgz2.tar.gz" --force --compress-level 4 -j 2
done
for name in "envpack tar.gz -j 1" "envpack tar.gz -j 2" "conda-pack tar.gz -j 2"; do
  median < "$OUT/$name.times" > "$OUT/$name.t"
  printf '%-34s %8.2f s %8d KB peak RSS %12d bytes  %6.2f s CPU  (runs: %s)\n' "$name" "$(cat "$OUT/$name.t")" \
    "$(sort -n "$OUT/$name.rss" | tail -1)" "$(size "$name")" "$(median < "$OUT/$name.cpu")" "$(paste -sd' ' "$OUT/$name.times")"
done
cmp -s "$OUT/gz1.tar.gz" "$OUT/gz2.tar.gz" || { echo "envpack tar.gz -j 1 and -j 2 differ" >&2; exit 1; }
awk -v t1="$(cat "$OUT/envpack tar.gz -j 1.t")" -v t2="$(cat "$OUT/envpack tar.gz -j 2.t")" \
    -v tc="$(cat "$OUT/conda-pack tar.gz -j 2.t")" -v s1="$(size "envpack tar.gz -j 1")" \
    -v s2="$(size "envpack tar.gz -j 2")" -v sc="$(size "conda-pack tar.gz -j 2")" 'BEGIN {
  printf "tar.gz -j 1 / -j 2: %.2fx (target >= 1.7)\n", t1 / t2
  printf "conda-pack -j 2 / envpack -j 2: %.2fx (target > 1)\n", tc / t2
  printf "size -j 2 vs -j 1: %+.2f%%, vs conda-pack -j 2: %+.2f%% (target within 2%%)\n", (s2 - s1) * 100 / s1, (s2 - sc) * 100 / sc
}'
# What the static helper (in every envpack archive, where conda-pack ships a
# small python script) adds: its size gzipped at the same level.
helpergz=$(gzip -4 -c "${ENVPACK_HELPER:-.build/envpack-unpack-static}" | wc -c)
awk -v h="$helpergz" -v s2="$(size "envpack tar.gz -j 2")" -v sc="$(size "conda-pack tar.gz -j 2")" 'BEGIN {
  printf "of which the helper (gzip -4): %d bytes; without it, vs conda-pack -j 2: %+.2f%%\n", h, (s2 - h - sc) * 100 / sc
}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
