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
#   bash scripts/build-static.sh          -> .build/envpack-static (release, stripped)
#   bash scripts/build-static.sh --from-debug
#       links the objects of the debug build (`swift build` first) into a
#       static executable instead: seconds, not the many minutes of a
#       release build, for the tests (scripts/test.sh); larger and slower.
set -euo pipefail
cd "$(dirname "$0")/.."
# The C libraries, in one group (static archives need their users first).
libs=(-Xlinker --start-group)
for l in archive nettle acl lz4 zstd lzma bz2 z elf; do libs+=(-Xlinker "-l$l"); done
if [ "${1:-}" = "--from-debug" ]; then
  list=.build/debug/envpack.product/Objects.LinkFileList
  [ -f "$list" ] || { echo "build-static.sh: no $list: run swift build first" >&2; exit 1; }
  # Foundation's static archives and what they need, in the same group;
  # SwiftPM names the debug executable's entry point envpack_main.
  for l in Foundation CoreFoundation FoundationEssentials FoundationInternationalization _FoundationICU \
           _FoundationCShims _FoundationCollections swiftSynchronization swiftDispatch dispatch BlocksRuntime stdc++ m; do
    libs+=(-Xlinker "-l$l")
  done
  libs+=(-Xlinker --end-group)
  bin=.build/envpack-static-debug.unstripped
  swiftc -static-executable -static-stdlib "@$list" -Xlinker --defsym=main=envpack_main \
      -Xlinker --gc-sections "${libs[@]}" -o "$bin" 2>&1 | { grep -v "statically linked applications requires at runtime" || true; } >&2
else
  libs+=(-Xlinker --end-group)
  scratch=.build-static-envpack
  swift build -c release --product envpack --scratch-path "$scratch" \
      --static-swift-stdlib -Xswiftc -static-executable \
      -Xlinker --gc-sections "${libs[@]}" >&2
  bin="$scratch/release/envpack"
fi
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
