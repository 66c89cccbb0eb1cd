#!/usr/bin/env bash
# The main job end to end on the built-in example (README quick start):
# installs what is missing, builds envpack and its static helper, builds the
# example environment from Fixtures/, packs it, inspects the archive, unpacks
# it at a new path and runs its programs there with the original hidden.
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

moved="$work/moved/to/a/new/place"
rm -rf "$work/moved"; mkdir -p "$(dirname "$moved")"
echo "== envpack unpack $work/demo.tar.zst $moved" >&2
"$envpack" unpack "$work/demo.tar.zst" "$moved"
echo "== running the unpacked programs with the original prefix hidden" >&2
run="\"$moved/bin/greet\" && \"$moved/bin/demo-script\" | head -3 && \"$moved/bin/envpack-unpack\" --check"
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  unshare -m sh -c "mount -t tmpfs hidden '$work/envs' && env -i PATH=/usr/bin:/bin sh -c '$run'"
else
  env -i PATH=/usr/bin:/bin sh -c "$run"
fi
