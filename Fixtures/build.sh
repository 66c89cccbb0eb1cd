#!/usr/bin/env bash
# Build envpack's test fixtures: conda packages in real conda formats and
# conda environments made from them. See Fixtures/README.md.
#
#   bash Fixtures/build.sh [OUT]          (OUT default: /tmp/envpack-fixtures)
#
# OUT/pkgs/   the fixture packages
# OUT/envs/   demo, python, conda-forge, big
# OUT/fixtures.json   what was built (packages, placeholders, envs, skips)
#
# Environment:
#   ENVPACK_FIXTURE_PYTHON   prefix of the CPython 3.X to package as `python`
#                            (default: newest /root/.pyenv/versions/3.12.*)
#   ENVPACK_SHARED_PACKAGES  the shared real-package folder
#                            (default: REPO/../shared/conda-packages)
#   PYTHON3                  python used to run the stdlib-only helper scripts
#   ENVPACK_FIXTURE_ONLY     "demo": build only the demo packages and env (the quick start)
#
# The envs embed their absolute prefix, so they are built in place: a rerun
# removes OUT (only if it holds a previous fixture build) and rebuilds it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUT=${1:-/tmp/envpack-fixtures}
case "$OUT" in
  /*) ;;
  *) OUT="$PWD/$OUT" ;;
esac
OUT=${OUT%/}
[ -n "$OUT" ] && [ "$OUT" != / ] || { echo "build.sh: refusing OUT=/" >&2; exit 2; }

PY=${PYTHON3:-}
if [ -z "$PY" ]; then
  if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=$(command -v python3); fi
fi
SHARED=${ENVPACK_SHARED_PACKAGES:-$REPO/../shared/conda-packages}
SHARED=$(cd "$SHARED" 2>/dev/null && pwd -P || echo "$SHARED")
CF="$SHARED/conda-forge-linux-64-py312"
export SOURCE_DATE_EPOCH=1700000000
export LC_ALL=C.UTF-8
T0=$(date +%s.%N)

elapsed() { awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%5.1f", a - b }'; }
log() { printf '== [%ss] %s\n' "$(elapsed)" "$*"; }
skip() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf 'SKIP: %s\n' "$*" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  printf 'SKIP: %s\n' "$*"
  SKIPS+=("$*")
}
SKIPS=()

for tool in gcc zstd "$PY"; do
  command -v "$tool" >/dev/null || { echo "build.sh: missing tool: $tool" >&2; exit 2; }
done

# ------------------------------------------------------------------ OUT dir
MARK=.envpack-fixtures
log "output: $OUT"
if [ -e "$OUT" ]; then
  if [ -e "$OUT/$MARK" ]; then
    rm -rf "$OUT"
  elif [ -d "$OUT" ] && [ -z "$(ls -A "$OUT")" ]; then
    rmdir "$OUT"
  else
    echo "build.sh: $OUT exists and is not a fixture dir (no $MARK); not touching it" >&2
    exit 2
  fi
fi
mkdir -p "$OUT/pkgs" "$OUT/envs"
touch "$OUT/$MARK"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/envpack-fixtures-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PKGS="$OUT/pkgs"

ph() { "$PY" "$HERE/mkpkg.py" placeholder "$1" "$2"; }
mkpkg() { "$PY" "$HERE/mkpkg.py" build --out "$PKGS" "$@"; }
mkenv() { "$PY" "$HERE/mkenv.py" "$@"; }

# ------------------------------------------------------------------ 1. envpack-demo (.conda)
PH_DEMO=$(ph envpack-demo 1700000000000)
log "envpack-demo (C, .conda)"
S="$WORK/stage/envpack-demo"
D="$HERE/src/demo"
mkdir -p "$S"/{bin,lib/pkgconfig,include,etc/envpack-demo,share/envpack-demo,var/envpack-demo/empty}
DEF=(-DENVPACK_PREFIX="\"$PH_DEMO\"")
gcc -O2 -Wall -fPIC -shared -Wl,-soname,libgreet.so.1 "${DEF[@]}" \
  -o "$S/lib/libgreet.so.1.0.0" "$D/libgreet.c" -ldl
ln -s libgreet.so.1.0.0 "$S/lib/libgreet.so.1"
ln -s libgreet.so.1 "$S/lib/libgreet.so"
gcc -O2 -Wall "${DEF[@]}" -I"$D" -o "$S/bin/greet" "$D/greet.c" \
  -L"$S/lib" -lgreet -Wl,-rpath,"$PH_DEMO/lib" -Wl,--disable-new-dtags
gcc -O2 -Wall "${DEF[@]}" -I"$D" -o "$S/bin/greet-runpath" "$D/greet.c" \
  -L"$S/lib" -lgreet -Wl,-rpath,"$PH_DEMO/lib" -Wl,--enable-new-dtags
gcc -O2 -Wall -o "$S/bin/demo-interp" "$D/demo-interp.c"
gcc -Os -Wall "${DEF[@]}" -Wl,-O1 -o "$S/bin/tailmerge" "$D/tailmerge.c"
cp "$D/greet.h" "$S/include/greet.h"
printf '#!%s/bin/demo-interp\n# envpack-demo: shebang script run by an interpreter inside the env\necho "prefix=%s"\n' \
  "$PH_DEMO" "$PH_DEMO" > "$S/bin/demo-script"
printf '#!%s/bin/demo-interp --from-shebang\n# envpack-demo: shebang with an interpreter argument\n' \
  "$PH_DEMO" > "$S/bin/demo-script-arg"
printf '#!/bin/sh\n# envpack-demo: wrapper that holds the prefix in its body\nexec "%s/bin/greet" "$@"\n' \
  "$PH_DEMO" > "$S/bin/greet-wrapper"
chmod 0755 "$S"/bin/*
printf '# envpack-demo configuration\nprefix = %s\ndata_dir = %s/share/envpack-demo\n' \
  "$PH_DEMO" "$PH_DEMO" > "$S/etc/envpack-demo.conf"
printf 'secret_dir = %s/var/envpack-demo\n' "$PH_DEMO" > "$S/etc/envpack-demo/private.conf"
chmod 0600 "$S/etc/envpack-demo/private.conf"
cat > "$S/lib/pkgconfig/envpack-demo.pc" <<EOF
prefix=$PH_DEMO
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: envpack-demo
Description: envpack test fixture library
Version: 1.0
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lgreet
Cflags: -I\${includedir}
EOF
echo "Hello from envpack-demo!" > "$S/share/envpack-demo/greeting.txt"
printf 'a file name with a space; prefix: %s\n' "$PH_DEMO" > "$S/share/envpack-demo/with space.txt"
printf 'a non-ASCII file name; prefix: %s\n' "$PH_DEMO" > "$S/share/envpack-demo/ünïcødé.txt"
printf 'read-only (0444) file holding the prefix: %s\n' "$PH_DEMO" > "$S/share/envpack-demo/readonly.txt"
chmod 0444 "$S/share/envpack-demo/readonly.txt"
echo "one inode, two paths (hard-linked pair)" > "$S/share/envpack-demo/hardlink-a.txt"
ln "$S/share/envpack-demo/hardlink-a.txt" "$S/share/envpack-demo/hardlink-b.txt"
ln -s greeting.txt "$S/share/envpack-demo/greeting-link.txt"
ln -s does-not-exist.txt "$S/share/envpack-demo/dangling-link"
ln -s envpack-demo "$S/share/envpack-demo-data"
chmod 0644 "$S/include/greet.h" "$S/etc/envpack-demo.conf" "$S/lib/pkgconfig/envpack-demo.pc" \
  "$S/share/envpack-demo/greeting.txt" "$S/share/envpack-demo/with space.txt" \
  "$S/share/envpack-demo/ünïcødé.txt" "$S/share/envpack-demo/hardlink-a.txt"
mkpkg --root "$S" --name envpack-demo --version 1.0 --build h0_envpack \
  --placeholder "$PH_DEMO" --format conda --depends "__glibc >=2.17,<3.0.a0" \
  --summary "envpack-demo: C library + programs with RPATH/RUNPATH, prefix files, links"
PKG_DEMO="$PKGS/envpack-demo-1.0-h0_envpack.conda"

# ------------------------------------------------------------------ 2. envpack-legacy (legacy .tar.bz2)
PH_LEGACY=$(ph envpack-legacy 1700000001000)
log "envpack-legacy (C, legacy .tar.bz2: info/files + info/has_prefix, no paths.json)"
S="$WORK/stage/envpack-legacy"
mkdir -p "$S"/{bin,etc,share/envpack-legacy}
gcc -O2 -Wall -DENVPACK_PREFIX="\"$PH_LEGACY\"" -o "$S/bin/legacy-hello" "$HERE/src/legacy/legacy-hello.c"
chmod 0755 "$S/bin/legacy-hello"
printf 'envpack-legacy config from %s\n' "$PH_LEGACY" > "$S/etc/envpack-legacy.conf"
printf 'old default placeholder: /opt/anaconda1anaconda2anaconda3/share/envpack-legacy\n' \
  > "$S/share/envpack-legacy/old-style.txt"
printf 'spaces in a has_prefix path; prefix: %s\n' "$PH_LEGACY" > "$S/share/envpack-legacy/notes with space.txt"
printf 'listed in info/no_link (conda copies it instead of hard-linking)\n' > "$S/share/envpack-legacy/no-link.dat"
chmod 0644 "$S"/etc/* "$S"/share/envpack-legacy/*
mkpkg --root "$S" --name envpack-legacy --version 0.9 --build h0_envpack \
  --placeholder "$PH_LEGACY" --legacy-default-placeholder --format legacy \
  --no-link share/envpack-legacy/no-link.dat
PKG_LEGACY="$PKGS/envpack-legacy-0.9-h0_envpack.tar.bz2"

# ------------------------------------------------------------------ 3. envpack-hello (noarch: python, .tar.bz2)
PH_HELLO=$(ph envpack-hello 1700000002000)
log "envpack-hello (noarch: python, .tar.bz2 with paths.json)"
S="$WORK/stage/envpack-hello"
mkdir -p "$S"
cp -R "$HERE/src/envpack-hello/site-packages" "$S/"
mkdir -p "$S/python-scripts"
sed "s|@PREFIX@|$PH_HELLO|g" "$HERE/src/envpack-hello/python-scripts/envpack-hello-tool.in" \
  > "$S/python-scripts/envpack-hello-tool"
find "$S" -name __pycache__ -prune -exec rm -rf {} +
find "$S" -type d -exec chmod 0755 {} +
find "$S" -type f -exec chmod 0644 {} +
chmod 0755 "$S/python-scripts/envpack-hello-tool"
mkpkg --root "$S" --name envpack-hello --version 1.0 --build pyh0_envpack --noarch python \
  --placeholder "$PH_HELLO" --format tar.bz2 --depends "python >=3.8" \
  --entry-point "envpack-hello = envpack_hello.cli:main" \
  --summary "envpack-hello: noarch python package with an entry point"
PKG_HELLO="$PKGS/envpack-hello-1.0-pyh0_envpack.tar.bz2"

# ------------------------------------------------------------------ 4. python (.conda) from a local CPython
PKG_PYTHON=
PY_SRC=${ENVPACK_FIXTURE_PYTHON:-}
if [ -z "$PY_SRC" ]; then
  for d in $(ls -d /root/.pyenv/versions/3.12.* "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.* 2>/dev/null | sort -uV); do
    [ -x "$d/bin/python3.12" ] && PY_SRC=$d
  done
fi
if [ "${ENVPACK_FIXTURE_ONLY:-}" = demo ]; then
  log "ENVPACK_FIXTURE_ONLY=demo: python, conda-forge and big are not built"
elif [ -z "$PY_SRC" ]; then
  skip "relocatable CPython 3.12 not found (no /root/.pyenv/versions/3.12.*; set ENVPACK_FIXTURE_PYTHON=PREFIX): pkgs/python-*.conda, envs/python and envs/big NOT built"
elif ! command -v patchelf >/dev/null; then
  skip "patchelf not installed (apt-get install patchelf): python package, envs/python and envs/big NOT built"
elif ! ls "$PY_SRC"/bin/python3.[0-9]* >/dev/null 2>&1 || [ ! -d "$PY_SRC/lib" ]; then
  skip "ENVPACK_FIXTURE_PYTHON=$PY_SRC is not a CPython prefix: envs/python and envs/big NOT built"
else
  PH_PYTHON=$(ph python 1700000003000)
  S="$WORK/stage/python"
  "$PY" "$HERE/stage_python.py" "$PY_SRC" "$S" "$PH_PYTHON" > "$WORK/python-stage.json"
  PYXY=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["python_xy"])' "$WORK/python-stage.json")
  PYFULL=$("$PY_SRC/bin/python$PYXY" -S -c 'import platform; print(platform.python_version())')
  log "python $PYFULL (.conda) from $PY_SRC"
  mkpkg --root "$S" --name python --version "$PYFULL" --build h0_envpack \
    --placeholder "$PH_PYTHON" --format conda --mtime keep --zstd-level 3 \
    --depends "__glibc >=2.17,<3.0.a0" --license "Python-2.0" \
    --summary "CPython $PYFULL repackaged from $PY_SRC for envpack tests"
  PKG_PYTHON="$PKGS/python-$PYFULL-h0_envpack.conda"
  rm -rf "$S"
fi

# ------------------------------------------------------------------ the 45 real conda-forge packages
CF_NAMES="_libgcc_mutex _openmp_mutex bzip2 c-ares ca-certificates fmt keyutils krb5
ld_impl_linux-64 libarchive libcurl libedit libev libexpat libffi libgcc libgcc-ng libgomp
libiconv liblzma libmamba libnghttp2 libnsl libsolv libsqlite libssh2 libstdcxx libstdcxx-ng
libuuid libxcrypt libxml2 libzlib lz4-c lzo ncurses openssl pybind11-abi python_abi readline
reproc reproc-cpp tk tzdata yaml-cpp zstd"
CF_FILES=()
if [ "${ENVPACK_FIXTURE_ONLY:-}" = demo ]; then
  :
elif [ -d "$CF/conda-meta" ]; then
  # package files in the order conda installed them (reference conda-meta/history)
  mapfile -t CF_FILES < <("$PY" - "$CF" $CF_NAMES <<'EOF'
import json, os, sys
cf, names = sys.argv[1], set(sys.argv[2:])
recs = {}
for f in os.listdir(os.path.join(cf, "conda-meta")):
    if f.endswith(".json"):
        r = json.load(open(os.path.join(cf, "conda-meta", f)))
        recs["%s-%s-%s" % (r["name"], r["version"], r["build"])] = r
order = []
for line in open(os.path.join(cf, "conda-meta", "history")):
    if line.startswith("+") and "::" in line:
        dist = line.strip().split("::", 1)[1]
        r = recs.get(dist)
        if r and r["name"] in names and r["fn"] not in order:
            order.append(r["fn"])
missing = names - {recs[d]["name"] for d in recs if recs[d]["fn"] in order}
if missing:
    sys.exit("missing conda-forge packages: %s" % sorted(missing))
for fn in order:
    print(os.path.join(cf, fn))
EOF
  )
  [ "${#CF_FILES[@]}" -eq 45 ] || { echo "build.sh: expected 45 conda-forge packages, got ${#CF_FILES[@]}" >&2; exit 1; }
else
  skip "shared conda-forge packages not found at $CF: envs/conda-forge NOT built and envs/big without them"
fi

# ------------------------------------------------------------------ envs
E="$OUT/envs"
log "env demo"
mkenv --prefix "$E/demo" "$PKG_DEMO" "$PKG_LEGACY"

if [ ${#CF_FILES[@]} -gt 0 ]; then
  log "env conda-forge (45 real packages, reference records)"
  mkenv --prefix "$E/conda-forge" --records-from "$CF/conda-meta" "${CF_FILES[@]}"
fi

if [ -n "$PKG_PYTHON" ]; then
  log "env python"
  mkenv --prefix "$E/python" "$PKG_PYTHON" "$PKG_HELLO" "$PKG_DEMO"
  log "env python: pip install (unmanaged) $HERE/src/unmanaged"
  PYTHONDONTWRITEBYTECODE=1 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 PYTHONNOUSERSITE=1 \
    "$E/python/bin/python$PYXY" -m pip install --quiet --no-index --no-build-isolation \
    --no-cache-dir --root-user-action=ignore "$HERE/src/unmanaged"
  rm -rf "$HERE/src/unmanaged/__pycache__" "$HERE/src/unmanaged/build" "$HERE/src/unmanaged/"*.egg-info

  if [ ${#CF_FILES[@]} -gt 0 ]; then
    log "env big"
    mkenv --prefix "$E/big" --records-from "$CF/conda-meta" \
      "$PKG_PYTHON" "${CF_FILES[@]}" "$PKG_DEMO" "$PKG_LEGACY" "$PKG_HELLO"
  else
    skip "envs/big NOT built: it needs the shared conda-forge packages to reach 250 MB"
  fi
fi

# ------------------------------------------------------------------ quick checks
log "smoke tests"
"$E/demo/bin/greet" | grep -qx "greeting: Hello from envpack-demo!" || { echo "demo greet failed" >&2; exit 1; }
"$E/demo/bin/greet-runpath" | grep -qx "library: $E/demo/lib/libgreet.so.1" || { echo "demo greet-runpath failed" >&2; exit 1; }
"$E/demo/bin/legacy-hello" >/dev/null || { echo "legacy-hello failed" >&2; exit 1; }
"$E/demo/bin/demo-script" | grep -q "script\[1\]: #!$E/demo/bin/demo-interp" || { echo "demo-script failed" >&2; exit 1; }
if [ -d "$E/conda-forge" ]; then
  C="$E/conda-forge/bin"
  "$C/openssl" version -d | grep -q "\"$E/conda-forge/ssl\"" || { echo "openssl failed" >&2; exit 1; }
  "$C/zstd" --version >/dev/null && "$C/bsdtar" --version >/dev/null && "$C/xmllint" --version 2>/dev/null \
    && echo 'puts [info patchlevel]' | "$C/tclsh8.6" >/dev/null && "$C/infocmp" xterm >/dev/null \
    && "$C/curl-config" --version >/dev/null && "$C/krb5-config" --version >/dev/null \
    || { echo "conda-forge programs failed" >&2; exit 1; }
fi
if [ -d "$E/python" ]; then
  got=$("$E/python/bin/python$PYXY" -B -c 'import sys; print(sys.prefix)')
  [ "$got" = "$E/python" ] || { echo "python sys.prefix is $got" >&2; exit 1; }
  "$E/python/bin/envpack-hello" >/dev/null && "$E/python/bin/envpack-unmanaged" >/dev/null \
    || { echo "python entry points failed" >&2; exit 1; }
fi

# ------------------------------------------------------------------ summary
T1=$(date +%s.%N)
"$PY" - "$OUT" "$T0" "$T1" "$CF" "$PH_DEMO" "$PH_LEGACY" "$PH_HELLO" "${PH_PYTHON:-}" "${SKIPS[@]+"${SKIPS[@]}"}" <<'EOF'
import json, os, subprocess, sys
out, t0, t1, cf, ph_demo, ph_legacy, ph_hello, ph_python = sys.argv[1:9]
skips = sys.argv[9:]

def explicit_spec(prefix, name):
    """OUT/specs/NAME.txt: `conda list --explicit --md5` style, file:// URLs, install order."""
    meta = os.path.join(prefix, "conda-meta")
    lines = ["# This file may be used to create an environment using:",
             "# $ conda create --name <env> --file <this file>",
             "# envpack fixture env: %s (file:// URLs to the local package files)" % name,
             "# platform: linux-64", "@EXPLICIT"]
    for line in open(os.path.join(meta, "history")):
        if not (line.startswith("+") and "::" in line):
            continue
        dist = line.strip().split("::", 1)[1]
        rec = json.load(open(os.path.join(meta, dist + ".json")))
        url = rec["url"]
        if not url.startswith("file://"):
            url = "file://" + os.path.join(cf, rec["fn"])
        lines.append("%s#%s" % (url, rec["md5"]))
    os.makedirs(os.path.join(out, "specs"), exist_ok=True)
    path = os.path.join(out, "specs", name + ".txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
pkgs = {}
for f in sorted(os.listdir(os.path.join(out, "pkgs"))):
    pkgs[f] = {"size": os.path.getsize(os.path.join(out, "pkgs", f))}
envs = {}
for e in sorted(os.listdir(os.path.join(out, "envs"))):
    p = os.path.join(out, "envs", e)
    du = subprocess.run(["du", "-sb", p], capture_output=True, text=True).stdout.split()[0]
    recs = sorted(f[:-5] for f in os.listdir(os.path.join(p, "conda-meta")) if f.endswith(".json"))
    envs[e] = {"prefix": p, "bytes": int(du), "records": recs,
               "explicit_spec": explicit_spec(p, e)}
manifest = {
    "out": out,
    "placeholders": {"envpack-demo": ph_demo, "envpack-legacy": ph_legacy,
                     "envpack-hello": ph_hello, "python": ph_python or None},
    "packages": pkgs, "envs": envs, "skipped": skips,
    "build_seconds": round(float(t1) - float(t0), 1),
}
with open(os.path.join(out, "fixtures.json"), "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
print("\n== envpack fixtures in %s (%.1f s)" % (out, float(t1) - float(t0)))
for f, v in pkgs.items():
    print("  pkgs/%-45s %9.1f KB" % (f, v["size"] / 1024))
for e, v in envs.items():
    print("  envs/%-12s %7.1f MB  %3d records" % (e, v["bytes"] / 1e6, len(v["records"])))
for s in skips:
    print("  SKIP: " + s)
EOF
