"""Install an explicit spec with py-rattler, as `envpack install` does.

    python rattler_install.py SPEC PREFIX CACHE

SPEC is in `conda list --explicit --sha256` format with file:// URLs. Each
package's metadata comes from its own info/index.json (rattler.IndexJson reads
only the info part of the archive), its sha256 from the spec and its size from
the file, so nothing is hashed twice and nothing is downloaded: rattler.install
fetches the file:// URLs into CACHE (its package cache, extracted packages) and
links them into PREFIX. Prints the wall time of the rattler.install call alone
on stderr ("install-only: S"), so the caller can tell start-up from install.
"""

import asyncio
import os
import sys
import time
from urllib.parse import unquote, urlparse

import rattler


def read_spec(spec):
    """(url, sha256 hex) per package line of an @EXPLICIT spec."""
    lines = [line.strip() for line in open(spec)]
    if "@EXPLICIT" not in lines:
        sys.exit(f"{spec}: not an explicit spec (no @EXPLICIT line)")
    urls = []
    for line in lines:
        if not line or line.startswith("#") or line == "@EXPLICIT":
            continue
        url, _, sha256 = line.partition("#")
        urls.append((url, sha256))
    return urls


def record(url, sha256):
    """A RepoDataRecord for one local package file, from its index.json."""
    path = unquote(urlparse(url).path)
    ij = rattler.IndexJson.from_package_archive(path)
    pr = rattler.PackageRecord(
        name=ij.name,
        version=ij.version,
        build=ij.build,
        build_number=ij.build_number,
        subdir=ij.subdir,
        arch=ij.arch,
        platform=ij.platform,
        noarch=ij.noarch,
        depends=ij.depends,
        constrains=ij.constrains,
        sha256=bytes.fromhex(sha256) if sha256 else None,
        size=os.path.getsize(path),
        features=ij.features,
        license=ij.license,
        license_family=ij.license_family,
        python_site_packages_path=ij.python_site_packages_path,
    )
    pr.timestamp = ij.timestamp
    pr.track_features = ij.track_features
    channel = url.rsplit("/", 1)[0]
    return rattler.RepoDataRecord(
        package_record=pr, file_name=os.path.basename(path), url=url, channel=channel
    )


async def main(spec, prefix, cache):
    records = [record(url, sha256) for url, sha256 in read_spec(spec)]
    t = time.monotonic()
    await rattler.install(
        records,
        target_prefix=prefix,
        cache_dir=cache,
        installed_packages=[],  # fresh prefix: skip scanning it
        show_progress=False,
    )
    print(f"install-only: {time.monotonic() - t:.3f}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(*sys.argv[1:]))
