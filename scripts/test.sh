#!/usr/bin/env bash
# The test command (README quick start; .ci/run calls it): installs what is
# missing, builds envpack and its static helper, builds the fixtures, and
# runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export ENVPACK_FIXTURES=${ENVPACK_FIXTURES:-/tmp/envpack-fixtures}

echo "== building envpack" >&2
swift build --build-tests
bash scripts/build-helper.sh
# envpack as one static executable, for the bare-machine tests: linked from
# the debug build's objects (seconds; the release build takes many minutes).
bash scripts/build-static.sh --from-debug

# Fixture envs embed their own path, so they are rebuilt only when Fixtures/
# or the place of ../shared (the specs name it by absolute path) changed since
# the last build into the same place
# (always under CI).
stamp=$( (find Fixtures -type f -print0 | sort -z | xargs -0 sha256sum; cd ../shared && pwd -P) | sha256sum | cut -c1-16)
if [ -n "${CI:-}" ] || [ "$(cat "$ENVPACK_FIXTURES/.envpack-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== building fixtures into $ENVPACK_FIXTURES" >&2
  bash Fixtures/build.sh "$ENVPACK_FIXTURES"
  echo "$stamp" > "$ENVPACK_FIXTURES/.envpack-stamp"
fi

echo "== swift test" >&2
swift test --skip-build
