#!/usr/bin/env bash
# Image benchmark, on the >= 250 MB fixture environment and the Debian
# minbase (scripts/minbase.sh, imported as an OCI image with umoci):
#   1. `envpack image --base` (one step, no daemon) against the path
#      docker/Dockerfile documents: `envpack pack --dest-prefix` to a tar.gz,
#      then `podman build` (ADD onto debian:bookworm-slim = the minbase);
#      wall time (median of RUNS) and image size;
#   2. image size against conda-pack's documented multi-stage recipe: the
#      runtime stage `COPY --from=build /venv /venv`, where /venv is what
#      conda-pack, tar -xf and conda-unpack make (done here on the host, as
#      the build stage would, then COPYed onto the same base by podman).
# Sizes: the uncompressed image as podman reports it (podman image inspect
# .Size), and the environment's layer as shipped (gzip, what a registry
# stores) for envpack image.
#
#   bash bench/image.sh [ENV]        (default: $ENVPACK_FIXTURES/envs/big)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d /tmp/envpack-bench-image.XXXXXX)
source bench/lib.sh
base=$(bash scripts/minbase.sh)-oci
[ -f "$base/index.json" ] || { echo "no minbase OCI image at $base: run the image tests once (swift test --filter ImageTests) or see Tests/EnvpackTests/ImageTestSupport.swift" >&2; exit 1; }

# podman with its storage and configuration in $OUT (runc, host limits, no network).
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pidmax=$(cat /proc/sys/kernel/pid_max)
[ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ] && nproc=$pidmax
cat > "$OUT/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$OUT/tmp"
[network]
network_config_dir = "$OUT/networks"
CONF
cat > "$OUT/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$OUT/run"
graphroot = "$OUT/storage"
CONF
export CONTAINERS_CONF=$OUT/containers.conf CONTAINERS_STORAGE_CONF=$OUT/storage.conf
trap 'podman rmi -a -f >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

echo "environment: $ENV ($(du -sh "$ENV" | cut -f1), $(find "$ENV" -type f | wc -l) files); base: $base"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); envpack $("$ENVPACK" --version); $(podman --version)"
id=$(podman pull -q "oci:$base:bookworm" | tail -1)
podman tag "$id" docker.io/library/debian:bookworm-slim
tar -cf - -C "$ENV" . > /dev/null   # warm the page cache

# timed NAME CMD...: median wall time of RUNS runs, into $OUT/NAME.t.
timed() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e" -o "$OUT/time" "$@" > /dev/null 2> "$OUT/err" || { cat "$OUT/err" >&2; echo "$name failed" >&2; exit 1; }
    times+=("$(tail -1 "$OUT/time")")
  done
  printf '%s\n' "${times[@]}" | median > "$OUT/$name.t"
}
size() { podman image inspect --format '{{.Size}}' "$1"; }

# 1. envpack image, one step.
timed image sh -c "rm -rf '$OUT/img.tar' && '$ENVPACK' image -q -p '$ENV' --base 'oci:$base:bookworm' -o '$OUT/img.tar' --tag bench/envpack-image:1"
mkdir -p "$OUT/img" && tar -xf "$OUT/img.tar" -C "$OUT/img"
envlayer=$(python3 -c 'import json,sys; r=sys.argv[1]; i=json.load(open(r+"/index.json")); m=json.load(open(r+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["layers"][-1]["size"])' "$OUT/img")
podman load -q -i "$OUT/img.tar" > /dev/null
podman run --rm bench/envpack-image:1 python -c 'import sys; assert sys.prefix == "/opt/env"'

# The Dockerfile path: pack, then podman build.
mkdir -p "$OUT/ctx"
timed pack "$ENVPACK" pack -q -p "$ENV" --dest-prefix /opt/env -o "$OUT/ctx/env.tar.gz" --force
timed build podman build -q --network none --pull=never -f docker/Dockerfile -t bench/dockerfile:1 "$OUT/ctx"
podman run --rm bench/dockerfile:1 python -c 'import sys; assert sys.prefix == "/opt/env"'

# 2. conda-pack's recipe: conda-pack, tar -xf into venv/, conda-unpack, COPY.
mkdir -p "$OUT/cp/venv"
"$VENV/bin/conda-pack" -q -p "$ENV" -o "$OUT/cp.tar" --force 2> "$OUT/cp-pack.err"
cpmissing=$(grep -c "^- " "$OUT/cp-pack.err" || true)
# bsdtar, not GNU tar: conda-pack writes a hard link whose file it rewrote as a
# hardlink entry that carries data (conda/conda-pack#70), which GNU tar
# skips ("Skipping to next header"), losing every entry after it.
bsdtar -xf "$OUT/cp.tar" -C "$OUT/cp/venv" && rm "$OUT/cp.tar"
"$OUT/cp/venv/bin/python" "$OUT/cp/venv/bin/conda-unpack"
printf 'FROM debian:bookworm-slim\nCOPY venv /venv\n' > "$OUT/cp/Dockerfile"
podman build -q --network none --pull=never -t bench/conda-pack:1 "$OUT/cp" > /dev/null
# Reported, not fatal: conda-pack rewrites only what it knows from package
# caches (none here, no conda: it warns and treats those packages' files as
# unmanaged), so a binary that names the old prefix (the fixture python's
# RUNPATH) may still name it and fail where that prefix does not exist.
if podman run --rm bench/conda-pack:1 /venv/bin/python -c 'import sys; assert sys.prefix == "/venv"' > /dev/null 2> "$OUT/cp.err"; then
  cpruns=yes
else
  cpruns="no: $(head -1 "$OUT/cp.err")"
fi

basesize=$(size docker.io/library/debian:bookworm-slim)
printf '%-44s %8s %14s\n' "" "time" "image bytes"
printf '%-44s %8s %14d\n' "base (minbase)" "" "$basesize"
printf '%-44s %6.2f s %14d   (environment layer, gzip: %d bytes)\n' "envpack image --base (one step)" "$(cat "$OUT/image.t")" "$(size bench/envpack-image:1)" "$envlayer"
awk -v p="$(cat "$OUT/pack.t")" -v b="$(cat "$OUT/build.t")" -v s="$(size bench/dockerfile:1)" 'BEGIN {
  printf "%-44s %6.2f s %14d   (pack %.2f s + podman build %.2f s)\n", "envpack pack -d + podman build (Dockerfile)", p + b, s, p, b }'
printf '%-44s %8s %14d   (python runs in it: %s)\n' "conda-pack recipe (COPY /venv)" "" "$(size bench/conda-pack:1)" "$cpruns"
echo "(conda-pack found no cached package for $cpmissing of the environment's packages and packed their files as unmanaged)"
