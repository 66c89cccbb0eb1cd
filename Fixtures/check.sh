#!/usr/bin/env bash
# Check a fixture build: bash Fixtures/check.sh [OUT]   (default /tmp/envpack-fixtures)
# Read-only except that it runs programs of the envs (python runs with -B, so
# no __pycache__ is written into the envs).
set -uo pipefail
OUT=${1:-/tmp/envpack-fixtures}
OUT=${OUT%/}
E="$OUT/envs"
fail=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fail=1; }
check() { # check NAME COMMAND... : pass if the command succeeds
  local name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name: $out"; fi
}
has() { # has NAME PATTERN COMMAND... : pass if output contains PATTERN (fixed string)
  local name=$1 pat=$2; shift 2
  local out; out=$("$@" 2>&1)
  if grep -qF -- "$pat" <<<"$out"; then ok "$name"; else bad "$name: wanted '$pat', got: $out"; fi
}

# demo
has "demo greet reads the env's greeting" "greeting: Hello from envpack-demo!" "$E/demo/bin/greet"
has "demo greet loads the env's libgreet" "library: $E/demo/lib/libgreet.so.1" "$E/demo/bin/greet"
has "demo greet-runpath loads the env's libgreet" "library: $E/demo/lib/libgreet.so.1" "$E/demo/bin/greet-runpath"
has "demo greet: RPATH" "Library rpath: [$E/demo/lib]" readelf -d "$E/demo/bin/greet"
has "demo greet-runpath: RUNPATH" "Library runpath: [$E/demo/lib]" readelf -d "$E/demo/bin/greet-runpath"
has "demo shebang script" "script[1]: #!$E/demo/bin/demo-interp" "$E/demo/bin/demo-script"
has "demo shebang script with argument" "argv[1]=--from-shebang" "$E/demo/bin/demo-script-arg"
has "demo sh wrapper" "greeting: Hello from envpack-demo!" "$E/demo/bin/greet-wrapper"
has "legacy-hello (legacy package)" "legacy-hello: envpack-legacy config from $E/demo" "$E/demo/bin/legacy-hello"
has "legacy old default placeholder replaced" "$E/demo/share/envpack-legacy" cat "$E/demo/share/envpack-legacy/old-style.txt"
check "demo hard-linked pair" test "$E/demo/share/envpack-demo/hardlink-a.txt" -ef "$E/demo/share/envpack-demo/hardlink-b.txt"
check "demo dangling symlink" test -L "$E/demo/share/envpack-demo/dangling-link"
check "demo directory symlink" test -L "$E/demo/share/envpack-demo-data" -a -d "$E/demo/share/envpack-demo-data"
check "demo empty directory" test -d "$E/demo/var/envpack-demo/empty"
has "demo 0600 file" "600" stat -c %a "$E/demo/etc/envpack-demo/private.conf"
has "demo .conda lists inner tarballs" "pkg-envpack-demo-1.0-h0_envpack.tar.zst" bsdtar -tf "$OUT/pkgs/envpack-demo-1.0-h0_envpack.conda"

# conda-forge
if [ -d "$E/conda-forge" ]; then
  C="$E/conda-forge/bin"
  has "openssl version -d" "OPENSSLDIR: \"$E/conda-forge/ssl\"" "$C/openssl" version -d
  check "zstd --version" "$C/zstd" --version
  check "bsdtar --version" "$C/bsdtar" --version
  check "xmllint --version" "$C/xmllint" --version
  has "tclsh8.6" "8.6" bash -c "echo 'puts [info patchlevel]' | '$C/tclsh8.6'"
  check "infocmp xterm" "$C/infocmp" xterm
  check "curl-config --version" "$C/curl-config" --version
  check "krb5-config --version" "$C/krb5-config" --version
else
  bad "envs/conda-forge missing"
fi

# python
if [ -d "$E/python" ]; then
  P="$E/python"
  has "python sys.prefix" "$P" "$P/bin/python3.12" -B -c 'import sys; print(sys.prefix)'
  has "noarch entry point" "envpack-hello 1.0" env PYTHONDONTWRITEBYTECODE=1 "$P/bin/envpack-hello"
  has "noarch python-scripts" "envpack-hello-tool" env PYTHONDONTWRITEBYTECODE=1 "$P/bin/envpack-hello-tool"
  has "pip-installed console script" "envpack-unmanaged 0.1" env PYTHONDONTWRITEBYTECODE=1 "$P/bin/envpack-unmanaged"
  has "python RUNPATH" "Library runpath: [$P/lib]" readelf -d "$P/bin/python3.12"
  check "big: python stdlib with env libs" env PYTHONDONTWRITEBYTECODE=1 "$E/big/bin/python3.12" -B -c \
    'import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, curses, decimal'
  size=$(du -sm "$E/big" | cut -f1)
  if [ "$size" -ge 250 ]; then ok "big env is ${size} MB"; else bad "big env is only ${size} MB"; fi
else
  echo "SKIP: envs/python and envs/big not built (see OUT/fixtures.json 'skipped')"
fi
exit $fail
