#!/usr/bin/env bash
# Builds the static unpack helper that every archive carries and leaves it,
# stripped, at .build/envpack-unpack-static, where envpack looks for it.
# A separate scratch path keeps the static build's flags away from the
# normal .build products.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product envpack-unpack --scratch-path .build-static \
    --static-swift-stdlib -Xswiftc -static-executable >&2
mkdir -p .build
cp .build-static/release/envpack-unpack .build/envpack-unpack-static.tmp
strip .build/envpack-unpack-static.tmp
mv .build/envpack-unpack-static.tmp .build/envpack-unpack-static
ls -l .build/envpack-unpack-static >&2
