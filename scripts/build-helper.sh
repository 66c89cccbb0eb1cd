#!/usr/bin/env bash
# Builds the static unpack helper that every archive carries and leaves it,
# stripped, at .build/envpack-unpack-static, where envpack looks for it.
# It unpacks archives on its own (envpack-unpack ARCHIVE DEST), so it links
# libarchive and its compression libraries statically (Debian's .a files:
# libarchive-dev, nettle-dev, libzstd-dev, liblzma-dev, libbz2-dev,
# zlib1g-dev, libelf-dev; scripts/deps.sh installs them); only the readers
# envpack needs (tar, zip) are referenced, so --gc-sections drops the rest.
# A separate scratch path keeps the static build's flags away from the
# normal .build products. -Osize and dropping the implicit _StringProcessing
# and _Concurrency imports keep it small.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product envpack-unpack --scratch-path .build-static \
    --static-swift-stdlib -Xswiftc -static-executable -Xswiftc -Osize \
    -Xswiftc -Xfrontend -Xswiftc -disable-implicit-string-processing-module-import \
    -Xswiftc -Xfrontend -Xswiftc -disable-implicit-concurrency-module-import \
    -Xlinker --gc-sections \
    -Xlinker --start-group -Xlinker -larchive -Xlinker -lnettle -Xlinker -lzstd -Xlinker -llzma \
    -Xlinker -lbz2 -Xlinker -lz -Xlinker -lelf -Xlinker --end-group >&2
mkdir -p .build
cp .build-static/release/envpack-unpack .build/envpack-unpack-static.tmp
strip .build/envpack-unpack-static.tmp
mv .build/envpack-unpack-static.tmp .build/envpack-unpack-static
ls -l .build/envpack-unpack-static >&2
