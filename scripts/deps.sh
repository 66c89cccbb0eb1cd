#!/usr/bin/env bash
# Installs what envpack needs on Debian/Ubuntu, only when something is
# missing: the C libraries it links (libarchive, libzstd, liblzma, libelf, zlib, libbz2)
# and the tools the fixtures and tests use.
set -euo pipefail
packages=(
  pkg-config libarchive-dev libzstd-dev liblzma-dev libelf-dev zlib1g-dev libbz2-dev   # building envpack
  nettle-dev liblz4-dev libacl1-dev                                         # the static helper links libarchive.a and what it needs
  busybox-static                                                           # self-extractor tests: the only tool in a bare chroot
  libcurl4-openssl-dev                                                     # scripts/install.sh: the static Swift runtime's Foundation links libcurl
  gcc binutils zstd libarchive-tools patchelf python3 python3-venv          # fixtures, tests, bench
  util-linux file time zsh fish dash strace                                # namespaces, bench, activate tests, umask test
  squashfs-tools                                                           # pack --format squashfs (tests)
  podman umoci skopeo runc debootstrap                                     # envpack image and the docker/ examples (tests, bench/image.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
