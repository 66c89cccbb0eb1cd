#!/usr/bin/env bash
# Builds envpack as one static executable with no shared-library
# dependencies (`file` says "statically linked"), for copying to any x86-64
# Linux machine, with no Swift toolchain and no Debian libraries there: the
# Swift runtime and Foundation are linked statically, and so are libarchive,
# zstd, liblzma, libbz2, zlib, libelf and nettle (Debian's .a files, from
# scripts/deps.sh). Downloads go through AsyncHTTPClient (SwiftNIO and
# BoringSSL, compiled in): nothing imports FoundationNetworking, so
# libcurl is not linked (checked below).
# Its own scratch path keeps these flags away from .build and .build-static.
#   bash scripts/build-static.sh          -> .build/envpack-static (stripped)
#   CONFIG=debug bash scripts/build-static.sh   (faster to build, larger)
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
scratch=.build-static-envpack
swift build -c "$config" --product envpack --scratch-path "$scratch" \
    --static-swift-stdlib -Xswiftc -static-executable \
    -Xlinker --gc-sections \
    -Xlinker --start-group -Xlinker -larchive -Xlinker -lnettle -Xlinker -lacl -Xlinker -llz4 \
    -Xlinker -lzstd -Xlinker -llzma -Xlinker -lbz2 -Xlinker -lz -Xlinker -lelf -Xlinker --end-group >&2
bin="$scratch/$config/envpack"
if LC_ALL=C readelf -d "$bin" 2>/dev/null | grep -q NEEDED || LC_ALL=C readelf -l "$bin" | grep -q INTERP; then
  echo "build-static.sh: $bin is not static:" >&2
  readelf -d "$bin" | grep NEEDED >&2 || true
  exit 1
fi
if strings "$bin" | grep -q 'libcurl\|curl_easy_init'; then
  echo "build-static.sh: $bin carries libcurl" >&2
  exit 1
fi
mkdir -p .build
strip -o .build/envpack-static.tmp "$bin"
mv .build/envpack-static.tmp .build/envpack-static
ls -l .build/envpack-static >&2
