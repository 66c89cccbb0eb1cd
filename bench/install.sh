#!/usr/bin/env bash
# Install benchmark: `envpack install` against py-rattler's rattler.install
# (from PyPI, in a throwaway venv, driven by bench/rattler_install.py), in one
# run, on the same explicit spec: the 45 real conda-forge packages of
# ../shared/conda-packages/conda-forge-linux-64-py312 that form a closed set
# without python, as file:// URLs with their sha256, in conda-meta/history
# order. Nothing is downloaded.
#   cold: empty package cache, fresh prefix;
#   warm: the cache the same tool filled on its previous install, fresh prefix.
# Median wall time of RUNS runs and peak RSS (/usr/bin/time) of the whole
# process; rattler's includes python start-up and reading the 45 index.json,
# so the time of the rattler.install call alone is shown too. The page cache
# is warm. As root, cache and prefix are on a tmpfs (as in bench/unpack.sh:
# ext4's inode allocator swings run to run); BENCH_DISK=1 measures on the disk.
# Every install is checked, untimed: 45 records in conda-meta, bin/openssl
# version -d shows the prefix's ssl dir, bin/zstd --version runs.
#
#   bash bench/install.sh     (RUNS=3; ENVPACK=path/to/envpack skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
PKGS=$(cd "${ENVPACK_CONDA_PACKAGES:-../shared/conda-packages}" 2>/dev/null && pwd)/conda-forge-linux-64-py312
OUT=$(mktemp -d /tmp/envpack-bench-install.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
[ -f "$PKGS/conda-meta/history" ] || { echo "no conda packages at $PKGS (set ENVPACK_CONDA_PACKAGES)" >&2; exit 1; }

if [ -z "${ENVPACK:-}" ]; then
  bash scripts/deps.sh
  swift build -c release --product envpack >&2
  ENVPACK=$PWD/.build/release/envpack
fi
[[ $("$ENVPACK" install --help 2>&1) == *--pkgs-dir* ]] || { echo "$ENVPACK has no install command (with --pkgs-dir)" >&2; exit 1; }

VENV=${RATTLER_VENV:-/tmp/envpack-bench-rattler-venv}
if ! "$VENV/bin/python" -c 'import rattler' 2> /dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q py-rattler >&2
fi
RATTLER_VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("py-rattler"))')

# The explicit spec, as `conda list --explicit --sha256` writes it.
SPEC=$OUT/spec.txt
python3 - "$PKGS" > "$SPEC" <<'EOF'
import json, os, sys
pkgs = sys.argv[1]
closed = set("""_libgcc_mutex _openmp_mutex bzip2 c-ares ca-certificates fmt keyutils
  krb5 ld_impl_linux-64 libarchive libcurl libedit libev libexpat libffi libgcc
  libgcc-ng libgomp libiconv liblzma libmamba libnghttp2 libnsl libsolv libsqlite
  libssh2 libstdcxx libstdcxx-ng libuuid libxcrypt libxml2 libzlib lz4-c lzo ncurses
  openssl pybind11-abi python_abi readline reproc reproc-cpp tk tzdata yaml-cpp
  zstd""".split())
print("# platform: linux-64\n@EXPLICIT")
n = 0
for line in open(f"{pkgs}/conda-meta/history"):
    if line.startswith("+conda-forge::"):
        rec = json.load(open(f"{pkgs}/conda-meta/{line.strip()[14:]}.json"))
        if rec["name"] in closed:
            assert os.path.isfile(f"{pkgs}/{rec['fn']}"), rec["fn"]
            print(f"file://{pkgs}/{rec['fn']}#{rec['sha256']}")
            n += 1
assert n == len(closed), f"{n} packages in the spec, not {len(closed)}"
EOF
FILES=$(sed -n 's|^file://\(.*\)#.*|\1|p' "$SPEC")
NPKGS=$(echo "$FILES" | wc -l)
# shellcheck disable=SC2086
cat $FILES > /dev/null   # warm the page cache

DST=$OUT/dst
mkdir -p "$DST"
if [ "$(id -u)" -eq 0 ] && [ -z "${BENCH_DISK:-}" ]; then
  mount -t tmpfs -o size=2g envpack-bench "$DST"
  trap 'umount "$DST" 2>/dev/null; rm -rf "$OUT"' EXIT
  where="tmpfs (BENCH_DISK=1 for the disk)"
else
  where="disk"
fi
PREFIX=$DST/prefix   # the same prefix path for both tools

# shellcheck disable=SC2086
echo "spec: $NPKGS packages from $PKGS ($(du -cb $FILES | tail -1 | cut -f1) bytes of archives); cache and prefix on $where"
echo "machine: $(nproc) cores; envpack $("$ENVPACK" --version); py-rattler $RATTLER_VERSION"

# check NAME: the install in $PREFIX is real.
check() {
  local n d
  [ -d "$PREFIX/conda-meta" ] || { echo "$1: no conda-meta in the prefix" >&2; exit 1; }
  n=$(find "$PREFIX/conda-meta" -name '*.json' | wc -l)
  [ "$n" -eq "$NPKGS" ] || { echo "$1: $n records in conda-meta, not $NPKGS" >&2; exit 1; }
  d=$("$PREFIX/bin/openssl" version -d) || { echo "$1: bin/openssl does not run" >&2; exit 1; }
  [ "$d" = "OPENSSLDIR: \"$PREFIX/ssl\"" ] || { echo "$1: bin/openssl version -d printed $d, not $PREFIX/ssl" >&2; exit 1; }
  "$PREFIX/bin/zstd" --version > /dev/null || { echo "$1: bin/zstd does not run" >&2; exit 1; }
}

# measure NAME cold|warm CACHE CMD...: median wall time and peak RSS of CMD
# over RUNS runs, each into a fresh $PREFIX; cold empties CACHE first, warm
# keeps what the previous install left in it (both untimed).
measure() {
  local name=$1 mode=$2 cache=$3; shift 3
  local times=() rss=() calls=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$PREFIX"
    if [ "$mode" = cold ]; then rm -rf "$cache"; mkdir -p "$cache"; fi
    [ -n "$(ls -A "$cache" 2> /dev/null)" ] || [ "$mode" = cold ] || { echo "$name: the cache is empty" >&2; exit 1; }
    sync
    /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
    read -r t m < <(tail -1 "$OUT/time")
    times+=("$t"); rss+=("$m")
    calls+=("$(sed -n 's/^install-only: //p' "$OUT/err")")   # rattler_install.py only
    check "$name"
  done
  local t m c
  t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  c=$(printf '%s\n' "${calls[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '%-30s %8.2f s %8d KB peak RSS' "$name" "$t" "$m"
  if [ -n "$c" ]; then printf '   (the rattler.install call alone: %.2f s)' "$c"; fi
  echo
  echo "$t" > "$OUT/$name.t"; echo "${c:-$t}" > "$OUT/$name.c"
}

EP_CACHE=$DST/cache-envpack
RT_CACHE=$DST/cache-rattler
measure "envpack install, cold cache" cold "$EP_CACHE" \
  "$ENVPACK" install --file "$SPEC" -p "$PREFIX" --pkgs-dir "$EP_CACHE" -q
measure "envpack install, warm cache" warm "$EP_CACHE" \
  "$ENVPACK" install --file "$SPEC" -p "$PREFIX" --pkgs-dir "$EP_CACHE" -q
measure "rattler.install, cold cache" cold "$RT_CACHE" \
  "$VENV/bin/python" bench/rattler_install.py "$SPEC" "$PREFIX" "$RT_CACHE"
measure "rattler.install, warm cache" warm "$RT_CACHE" \
  "$VENV/bin/python" bench/rattler_install.py "$SPEC" "$PREFIX" "$RT_CACHE"

for mode in cold warm; do
  awk -v mode="$mode" -v e="$(cat "$OUT/envpack install, $mode cache.t")" \
      -v r="$(cat "$OUT/rattler.install, $mode cache.t")" -v c="$(cat "$OUT/rattler.install, $mode cache.c")" 'BEGIN {
    printf "envpack / rattler, %s cache: %.2fx (target <= 1); against the rattler.install call alone: %.2fx\n", mode, e / r, e / c
  }'
done
