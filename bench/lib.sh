# Shared by bench/pack.sh and bench/unpack.sh (sourced, from the repo root):
# the fixture environment, a release envpack with its static helper, and
# conda-pack from PyPI in a throwaway venv.
#   ENV       the environment (first argument, default $ENVPACK_FIXTURES/envs/big)
#   ENVPACK   the release envpack
#   VENV      the venv holding conda-pack ($CONDA_PACK_VENV)
#   RUNS      runs per contender (median reported)
FIX=${ENVPACK_FIXTURES:-/tmp/envpack-fixtures}
ENV=${1:-$FIX/envs/big}
RUNS=${RUNS:-3}
[ -d "$ENV/conda-meta" ] || { echo "no environment at $ENV: run bash Fixtures/build.sh $FIX" >&2; exit 1; }
bash scripts/deps.sh
swift build -c release --product envpack >&2
bash scripts/build-helper.sh 2>/dev/null
ENVPACK=$PWD/.build/release/envpack
VENV=${CONDA_PACK_VENV:-/tmp/envpack-bench-venv}
if [ ! -x "$VENV/bin/conda-pack" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q conda-pack >&2
fi

# median: the middle of the numbers on stdin, one a line.
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
