#!/usr/bin/env bash
# Builds the static unpack helper that every archive carries and leaves it,
# stripped, at .build/envpack-unpack-static, where envpack looks for it.
# A separate scratch path keeps the static build's flags away from the
# normal .build products. -Osize, dropping the implicit _StringProcessing and
# _Concurrency imports and --gc-sections keep it under 8 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product envpack-unpack --scratch-path .build-static \
    --static-swift-stdlib -Xswiftc -static-executable -Xswiftc -Osize \
    -Xswiftc -Xfrontend -Xswiftc -disable-implicit-string-processing-module-import \
    -Xswiftc -Xfrontend -Xswiftc -disable-implicit-concurrency-module-import \
    -Xlinker --gc-sections >&2
mkdir -p .build
cp .build-static/release/envpack-unpack .build/envpack-unpack-static.tmp
strip .build/envpack-unpack-static.tmp
mv .build/envpack-unpack-static.tmp .build/envpack-unpack-static
ls -l .build/envpack-unpack-static >&2
