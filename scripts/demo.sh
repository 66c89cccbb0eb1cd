#!/usr/bin/env bash
# The main job end to end on the built-in example (README quick start):
# installs what is missing, builds envpack and its static helper, builds the
# example environment from Fixtures/, packs it and inspects the archive.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
echo "== building envpack (release)" >&2
swift build -c release --product envpack
bash scripts/build-helper.sh

work=${ENVPACK_DEMO_DIR:-/tmp/envpack-demo}
echo "== building the example environment in $work" >&2
ENVPACK_FIXTURE_ONLY=demo bash Fixtures/build.sh "$work" >/dev/null

envpack=.build/release/envpack
echo "== envpack pack -p $work/envs/demo -o $work/demo.tar.zst" >&2
"$envpack" pack -p "$work/envs/demo" -o "$work/demo.tar.zst" --force
echo "== envpack inspect $work/demo.tar.zst" >&2
"$envpack" inspect "$work/demo.tar.zst"
