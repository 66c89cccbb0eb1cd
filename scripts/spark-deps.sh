#!/usr/bin/env bash
# What the Spark test (Tests/EnvpackTests/SparkTests.swift) needs, installed
# once and cached: Java from Debian (openjdk-17-jre-headless) and pyspark
# from PyPI in a venv of the fixture python's minor version, under
# /var/cache/envpack/pyspark-X.Y (~0.5 GB: CI must not fetch it every run).
#   scripts/spark-deps.sh X.Y    prints the venv's python on success;
#                                exits non-zero saying why otherwise.
set -euo pipefail
minor=${1:?usage: spark-deps.sh PYTHON_MINOR_VERSION (e.g. 3.12)}
cache=${ENVPACK_SPARK_CACHE:-/var/cache/envpack}
venv=$cache/pyspark-$minor

if ! command -v java >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } \
    || { echo "cannot install openjdk-17-jre-headless with apt-get" >&2; exit 2; }
fi
java -version >/dev/null 2>&1 || { echo "java does not run" >&2; exit 2; }

if [ -f "$venv/.envpack-complete" ]; then echo "$venv/bin/python"; exit 0; fi
# A python of that minor version that is not the fixture environment (the
# test hides that one): the fixtures' source, pyenv's, or one on PATH.
base=""
for p in "${ENVPACK_FIXTURE_PYTHON:-}/bin/python$minor" "${PYENV_ROOT:-/root/.pyenv}"/versions/"$minor".*/bin/python"$minor" \
         "$(command -v "python$minor" 2>/dev/null || true)"; do
  if [ -x "$p" ] && "$p" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, \"$minor\".split(\".\"))))" 2>/dev/null; then base=$p; break; fi
done
[ -n "$base" ] || { echo "no python$minor to make the pyspark venv with (pyenv's, ENVPACK_FIXTURE_PYTHON or on PATH)" >&2; exit 2; }
mkdir -p "$cache"
exec 9>"$venv.lock"; flock 9
if [ -f "$venv/.envpack-complete" ]; then echo "$venv/bin/python"; exit 0; fi
rm -rf "$venv"
"$base" -m venv "$venv" || { echo "$base -m venv failed" >&2; rm -rf "$venv"; exit 2; }
"$venv/bin/python" -m pip install -q --disable-pip-version-check pyspark >&2 \
  || { echo "cannot install pyspark from PyPI into $venv" >&2; rm -rf "$venv"; exit 2; }
"$venv/bin/python" -c 'import pyspark' || { echo "pyspark does not import from $venv" >&2; rm -rf "$venv"; exit 2; }
touch "$venv/.envpack-complete"
echo "$venv/bin/python"
