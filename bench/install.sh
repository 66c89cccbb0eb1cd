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
# Lock files: the same 45 packages as a conda-lock.yml (entries shuffled, with
# their dependencies, so envpack must order them) against the explicit spec,
# warm cache: the lock parsing and ordering must cost at most 5%. The two are
# interleaved, LOCK_RUNS runs each (default 21), timed with perf_counter, and
# the parse and ordering alone are timed too (bench/lock_vs_spec.py).
#
# Wheels: envpack installing a lock of the fixture CPython package plus
# real wheels from PyPI (downloaded once into /var/cache/envpack/bench-wheels,
# pinned) against `uv pip install --offline --no-deps` (uv from PyPI in a
# throwaway venv) of the same local wheel files into a venv of the same
# python. envpack's wheel part is (python + wheels) minus (python alone),
# both warm; uv's is timed cold (fresh uv cache) and warm (uv's cache filled
# by the previous run: it links from its own unzipped copies).
#
#   bash bench/install.sh     (RUNS=3; ENVPACK=path/to/envpack skips the build;
#                              BENCH_PARTS="tools lock wheels" chooses the parts)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
LOCK_RUNS=${LOCK_RUNS:-21}
PARTS=" ${BENCH_PARTS:-tools lock wheels} "
part() { [[ $PARTS == *" $1 "* ]]; }
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
RATTLER_VERSION="(not run)"
if part tools; then
  if ! "$VENV/bin/python" -c 'import rattler' 2> /dev/null; then
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q py-rattler >&2
  fi
  RATTLER_VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("py-rattler"))')
fi

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
if part tools; then
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
fi

# --- Lock files: conda-lock.yml against the explicit spec (warm cache) ---
if part lock; then
LOCK=$OUT/conda-lock.yml
python3 - "$PKGS" "$SPEC" > "$LOCK" <<'EOF'
import json, random, re, sys
pkgs, spec = sys.argv[1], sys.argv[2]
entries = []
for line in open(spec):
    if line.startswith("file://"):
        url, sha = line.strip().split("#")
        fn = url.rsplit("/", 1)[1]
        for ext in (".conda", ".tar.bz2"):
            if fn.endswith(ext): dist = fn[: -len(ext)]
        entries.append((url, sha, json.load(open(f"{pkgs}/conda-meta/{dist}.json"))))
random.Random(12).shuffle(entries)
q = json.dumps
print("version: 1\nmetadata:\n  platforms:\n  - linux-64\n  sources: []\npackage:")
for url, sha, r in entries:
    print(f"- name: {q(r['name'])}\n  version: {q(r['version'])}\n  manager: conda\n  platform: linux-64")
    deps = r.get("depends", [])
    if not deps: print("  dependencies: {}")
    else:
        print("  dependencies:")
        for d in deps:
            name = re.split(r"[ =<>!~\[]", d.strip(), 1)[0]
            rest = d.strip()[len(name):].strip() or "*"
            print(f"    {q(name)}: {q(rest)}")
    print(f"  url: {q(url)}\n  hash:\n    md5: {r['md5']}\n    sha256: {sha}\n  category: main\n  optional: false")
EOF
echo
python3 bench/lock_vs_spec.py "$ENVPACK" "$SPEC" "$LOCK" "$PREFIX" "$EP_CACHE" "$NPKGS" "$LOCK_RUNS"
fi

if ! part wheels; then exit 0; fi

# --- Wheels: envpack against uv pip install --offline, same local wheels ---
FIX=${ENVPACK_FIXTURES:-/tmp/envpack-fixtures}
PYPKG=$FIX/pkgs/python-3.12.1-h0_envpack.conda
FIXPY=$FIX/envs/python/bin/python3.12
[ -f "$PYPKG" ] && [ -x "$FIXPY" ] || { echo "no fixture python at $FIX: run bash Fixtures/build.sh $FIX" >&2; exit 1; }
WHEELS=${BENCH_WHEELS:-/var/cache/envpack/bench-wheels}
WHEEL_SET="numpy==2.1.3 requests==2.32.3 urllib3==2.2.3 idna==3.10 certifi==2024.8.30 charset-normalizer==3.4.0 packaging==24.2 six==1.16.0 PyYAML==6.0.2 MarkupSafe==3.0.2 Jinja2==3.1.4"
if [ "$(ls "$WHEELS"/*.whl 2> /dev/null | wc -l)" -lt 11 ]; then
  mkdir -p "$WHEELS"
  # shellcheck disable=SC2086
  "$FIXPY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$WHEELS" $WHEEL_SET >&2
fi
UVENV=${UV_VENV:-/tmp/envpack-bench-uv-venv}
[ -x "$UVENV/bin/uv" ] || { python3 -m venv "$UVENV" >&2; "$UVENV/bin/pip" install -q uv >&2; }
UV_VERSION=$("$UVENV/bin/uv" --version)
WLOCK=$OUT/wheels-lock.yml
PYLOCK=$OUT/python-lock.yml
python3 - "$PYPKG" "$WHEELS" "$WLOCK" "$PYLOCK" <<'EOF'
import glob, hashlib, os, sys
pypkg, wheels, wlock, pylock = sys.argv[1:]
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
head = ("version: 1\nmetadata:\n  platforms:\n  - linux-64\n  sources: []\npackage:\n"
        f"- name: python\n  version: 3.12.1\n  manager: conda\n  platform: linux-64\n  dependencies: {{}}\n"
        f"  url: file://{pypkg}\n  hash:\n    sha256: {sha(pypkg)}\n  category: main\n  optional: false\n")
open(pylock, "w").write(head)
body = ""
for w in sorted(glob.glob(f"{wheels}/*.whl")):
    name, version = os.path.basename(w).split("-")[:2]
    body += (f"- name: {name}\n  version: \"{version}\"\n  manager: pip\n  platform: linux-64\n  dependencies: {{}}\n"
             f"  url: file://{w}\n  hash:\n    sha256: {sha(w)}\n  category: main\n  optional: false\n")
open(wlock, "w").write(head + body)
EOF
NWHEELS=$(ls "$WHEELS"/*.whl | wc -l)
# shellcheck disable=SC2012
echo; echo "wheels: $NWHEELS from $WHEELS ($(du -cb "$WHEELS"/*.whl | tail -1 | cut -f1) bytes); $UV_VERSION"
check() {   # the wheel installs: every module imports
  "$PREFIX/bin/python3.12" -c 'import numpy, requests, yaml, jinja2, markupsafe, charset_normalizer, six, packaging' \
    || { echo "$1: the wheels do not import" >&2; exit 1; }
}
check_python() { "$PREFIX/bin/python3.12" -c 'pass' || { echo "$1: python does not run" >&2; exit 1; }; }
WCACHE=$DST/cache-wheels
rm -rf "$WCACHE" "$PREFIX"; mkdir -p "$WCACHE"
"$ENVPACK" install --file "$WLOCK" -p "$PREFIX" --pkgs-dir "$WCACHE" -q   # fill the cache, untimed
measure "envpack, python + wheels" warm "$WCACHE" \
  "$ENVPACK" install --file "$WLOCK" -p "$PREFIX" --pkgs-dir "$WCACHE" -q
check() { check_python "$@"; }
measure "envpack, python alone" warm "$WCACHE" \
  "$ENVPACK" install --file "$PYLOCK" -p "$PREFIX" --pkgs-dir "$WCACHE" -q
check() {
  "$PREFIX/bin/python" -c 'import numpy, requests, yaml, jinja2, markupsafe, charset_normalizer, six, packaging' \
    || { echo "$1: the wheels do not import" >&2; exit 1; }
}
UVCACHE=$DST/cache-uv
uv_install() {   # a fresh venv (untimed), then the timed install
  rm -rf "$PREFIX"; "$UVENV/bin/uv" venv -q --python "$FIXPY" "$PREFIX"
  /usr/bin/time -f "%e %M" -o "$OUT/uvtime" "$UVENV/bin/uv" pip install -q --offline --no-deps --cache-dir "$UVCACHE" \
    --python "$PREFIX/bin/python" "$WHEELS"/*.whl
}
uv_measure() {
  local name=$1 mode=$2 times=() rss=()
  for _ in $(seq "$RUNS"); do
    if [ "$mode" = cold ]; then rm -rf "$UVCACHE"; fi
    sync
    uv_install > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
    read -r t m < <(tail -1 "$OUT/uvtime"); times+=("$t"); rss+=("$m")
    check "$name"
  done
  t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  m=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
  printf '%-30s %8.2f s %8d KB peak RSS\n' "$name" "$t" "$m"
  echo "$t" > "$OUT/$name.t"
}
uv_measure "uv pip install, cold uv cache" cold
uv_measure "uv pip install, warm uv cache" warm
awk -v a="$(cat "$OUT/envpack, python + wheels.t")" -v p="$(cat "$OUT/envpack, python alone.t")" \
    -v c="$(cat "$OUT/uv pip install, cold uv cache.t")" -v w="$(cat "$OUT/uv pip install, warm uv cache.t")" 'BEGIN {
  printf "envpack wheel part (python + wheels - python alone): %.2f s; uv cold %.2f s (%.2fx), uv warm %.2f s (%.2fx)\n", a - p, c, (a - p) / c, w, (a - p) / w }'
