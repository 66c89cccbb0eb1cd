#!/usr/bin/env python3
"""mkpkg.py: build a conda package from a staging directory (stdlib only).

Test-fixture tool for envpack. It writes packages in the real conda formats,
the way conda-build + conda-package-handling do:

  .conda          ZIP (stored) holding metadata.json, pkg-N-V-B.tar.zst and
                  info-N-V-B.tar.zst (zstd via the `zstd` program)
  .tar.bz2        one bzip2 tar, info/ first, with info/paths.json
  legacy .tar.bz2 one bzip2 tar with info/index.json, info/files,
                  info/has_prefix and info/no_link only (no info/paths.json)

The staging directory holds the package files as installed under the build
prefix PLACEHOLDER. Files containing PLACEHOLDER are detected like
conda-build does (a NUL byte in the file => binary mode, else text mode) and
listed in info/has_prefix and in info/paths.json (prefix_placeholder,
file_mode). Symlinks become `softlink` entries, empty directories
`directory` entries, regular files `hardlink` entries (files sharing an inode
get `inode_paths` and are stored as tar hard links).

Subcommands:
  mkpkg.py placeholder NAME [TIMESTAMP]   print the 255-char conda-build style
                                          placeholder for NAME
  mkpkg.py build --root DIR --out DIR --name N --version V --build B ...
"""
import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile

LEGACY_DEFAULT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_EPOCH = 1700000000  # 2023-11-14, fixed mtime for reproducible tarballs


def conda_build_placeholder(name, timestamp="1700000000000"):
    """conda-build's host prefix: CROOT/NAME_TS/_h_env_placehold_placehold..., cut at 255."""
    s = "/home/user/conda-bld/%s_%s/_h_env" % (name, timestamp)
    while len(s) < 255:
        s += "_placehold"
    return s[:255]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def scan(root):
    """Return sorted list of (relpath, kind) with kind in file/symlink/dir(empty)."""
    out = []

    def walk(d, rel):
        names = sorted(os.listdir(d))
        for n in names:
            p = os.path.join(d, n)
            r = rel + n
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append((r, "softlink"))
            elif stat.S_ISDIR(st.st_mode):
                if os.listdir(p):
                    walk(p, r + "/")
                else:
                    out.append((r, "directory"))
            elif stat.S_ISREG(st.st_mode):
                out.append((r, "hardlink"))
            else:
                raise SystemExit("mkpkg: unsupported file type: %s" % p)

    walk(root, "")
    out.sort(key=lambda e: e[0])
    return out


def quote_has_prefix_path(p):
    # conda reads has_prefix with shlex.split(posix=False) + strip('"\''),
    # so a path with blanks must be quoted.
    return '"%s"' % p if any(c.isspace() for c in p) else p


def build_info(args, root, entries):
    placeholders = [args.placeholder.encode()]
    if args.legacy_default_placeholder:
        placeholders.append(LEGACY_DEFAULT_PLACEHOLDER.encode())
    no_link = set(args.no_link or [])

    # inode groups among regular files (hard links inside the package)
    inodes = {}
    for rel, kind in entries:
        if kind == "hardlink":
            st = os.lstat(os.path.join(root, rel))
            if st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)

    paths = []
    has_prefix = []
    for rel, kind in entries:
        full = os.path.join(root, rel)
        e = {"_path": rel, "path_type": kind}
        if kind == "hardlink":
            with open(full, "rb") as f:
                data = f.read()
            e["sha256"] = hashlib.sha256(data).hexdigest()
            e["size_in_bytes"] = len(data)
            for ph in placeholders:
                if ph in data:
                    mode = "binary" if b"\x00" in data else "text"
                    e["prefix_placeholder"] = ph.decode()
                    e["file_mode"] = mode
                    has_prefix.append((ph.decode(), mode, rel))
                    break
            st = os.lstat(full)
            grp = inodes.get((st.st_dev, st.st_ino))
            if grp and len(grp) > 1:
                e["inode_paths"] = sorted(grp)
        elif kind == "softlink":
            if os.path.isfile(full):
                e["sha256"] = sha256_file(full)
                e["size_in_bytes"] = os.path.getsize(full)
            else:  # dangling, or a link to a directory (conda-build: empty-file hash)
                e["sha256"] = EMPTY_SHA256
                e["size_in_bytes"] = os.lstat(full).st_size
        if rel in no_link:
            e["no_link"] = True
        paths.append(e)

    unknown = no_link - set(r for r, _ in entries)
    if unknown:
        raise SystemExit("mkpkg: --no-link paths not in package: %s" % sorted(unknown))

    info = {}
    index = {
        "arch": None if args.noarch else "x86_64",
        "build": args.build,
        "build_number": args.build_number,
        "depends": args.depends or [],
        "license": args.license,
        "name": args.name,
        "platform": None if args.noarch else "linux",
        "subdir": "noarch" if args.noarch else "linux-64",
        "timestamp": args.timestamp,
        "version": args.version,
    }
    if args.noarch:
        index["noarch"] = args.noarch
    info["index.json"] = json.dumps(index, indent=2, sort_keys=True)
    info["files"] = "".join(rel + "\n" for rel, _ in entries)
    if has_prefix:
        lines = []
        for ph, mode, rel in has_prefix:
            if ph == LEGACY_DEFAULT_PLACEHOLDER and mode == "text":
                lines.append(quote_has_prefix_path(rel))  # old style: path only
            else:
                lines.append("%s %s %s" % (ph, mode, quote_has_prefix_path(rel)))
        info["has_prefix"] = "".join(l + "\n" for l in lines)
    if no_link:
        info["no_link"] = "".join(r + "\n" for r, _ in entries if r in no_link)
    if args.format == "legacy":
        return info  # legacy: index.json, files, has_prefix, no_link only

    info["paths.json"] = json.dumps({"paths": paths, "paths_version": 1},
                                    indent=2, sort_keys=True)
    if args.noarch == "python":
        noarch = {"type": "python"}
        if args.entry_point:
            noarch["entry_points"] = args.entry_point
        info["link.json"] = json.dumps(
            {"noarch": noarch, "package_metadata_version": 1}, indent=2, sort_keys=True)
    about = {
        "channels": [],
        "conda_build_version": "envpack-fixtures",
        "description": args.summary,
        "env_vars": {},
        "extra": {"envpack_fixture": True, "placeholder_length": len(args.placeholder)},
        "home": "https://example.invalid/envpack-fixtures",
        "license": args.license,
        "summary": args.summary,
    }
    info["about.json"] = json.dumps(about, indent=2, sort_keys=True)
    return info


class TarWriter:
    """Deterministic tar writer: uid/gid 0, no user names, fixed or kept mtimes."""

    def __init__(self, fileobj_or_path, mode, fmt, mtime):
        if isinstance(fileobj_or_path, str):
            self.tar = tarfile.open(fileobj_or_path, mode, format=fmt)
        else:
            self.tar = tarfile.open(fileobj=fileobj_or_path, mode=mode, format=fmt)
        self.mtime = mtime

    def _norm(self, ti):
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        if self.mtime is not None:
            ti.mtime = self.mtime
        elif not (ti.isreg() or ti.islnk()):
            ti.mtime = DEFAULT_EPOCH  # symlink/dir mtimes are creation times: not kept
        else:
            ti.mtime = int(ti.mtime)  # whole seconds: no PAX mtime record
        return ti

    def add_bytes(self, name, data, mode=0o644):
        import io
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = mode
        ti.mtime = self.mtime if self.mtime is not None else DEFAULT_EPOCH
        self._norm(ti)
        self.tar.addfile(ti, io.BytesIO(data))

    def add_path(self, full, arcname):
        ti = self._norm(self.tar.gettarinfo(full, arcname))
        if ti.isreg():
            with open(full, "rb") as f:
                self.tar.addfile(ti, f)
        else:
            self.tar.addfile(ti)

    def close(self):
        self.tar.close()


def add_info(tw, info):
    for name in sorted(info):
        tw.add_bytes("info/" + name, info[name].encode("utf-8"))


def add_pkg(tw, root, entries):
    for rel, _ in entries:
        tw.add_path(os.path.join(root, rel), rel)


def zstd_compress(src, dst, level):
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        cmd = ["zstd", "-q", "-c", "-%d" % level, "-T0"]
        if level > 19:
            cmd.insert(1, "--ultra")
        subprocess.run(cmd, stdin=fi, stdout=fo, check=True)


def write_conda(args, root, entries, info, out):
    stem = "%s-%s-%s" % (args.name, args.version, args.build)
    tmp = tempfile.mkdtemp(prefix="mkpkg-", dir=os.path.dirname(out))
    try:
        pkg_tar = os.path.join(tmp, "pkg.tar")
        info_tar = os.path.join(tmp, "info.tar")
        tw = TarWriter(pkg_tar, "w", tarfile.PAX_FORMAT, args.mtime)
        add_pkg(tw, root, entries)
        tw.close()
        tw = TarWriter(info_tar, "w", tarfile.PAX_FORMAT, args.mtime)
        add_info(tw, info)
        tw.close()
        zstd_compress(pkg_tar, pkg_tar + ".zst", args.zstd_level)
        zstd_compress(info_tar, info_tar + ".zst", 19)
        fixed = (1980, 1, 1, 0, 0, 0)
        with zipfile.ZipFile(out + ".part", "w", compression=zipfile.ZIP_STORED) as zf:
            zi = zipfile.ZipInfo("metadata.json", date_time=fixed)
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, json.dumps({"conda_pkg_format_version": 2}))
            for member, src in (("pkg-%s.tar.zst" % stem, pkg_tar + ".zst"),
                                ("info-%s.tar.zst" % stem, info_tar + ".zst")):
                zi = zipfile.ZipInfo(member, date_time=fixed)
                zi.external_attr = 0o644 << 16
                zi.compress_type = zipfile.ZIP_STORED
                with open(src, "rb") as fi, zf.open(zi, "w", force_zip64=True) as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
        os.replace(out + ".part", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_tar_bz2(args, root, entries, info, out):
    fmt = tarfile.GNU_FORMAT if args.format == "legacy" else tarfile.PAX_FORMAT
    tw = TarWriter(out + ".part", "w:bz2", fmt, args.mtime)
    add_info(tw, info)  # info/ first, as conda-build does
    add_pkg(tw, root, entries)
    tw.close()
    os.replace(out + ".part", out)


def cmd_build(args):
    root = os.path.abspath(args.root)
    if os.path.exists(os.path.join(root, "info")):
        raise SystemExit("mkpkg: staging dir must not contain info/")
    if args.mtime == "keep":
        args.mtime = None
    else:
        args.mtime = int(args.mtime)
    if args.timestamp is None:
        args.timestamp = DEFAULT_EPOCH * 1000
    entries = scan(root)
    info = build_info(args, root, entries)
    os.makedirs(args.out, exist_ok=True)
    ext = ".conda" if args.format == "conda" else ".tar.bz2"
    out = os.path.join(os.path.abspath(args.out),
                       "%s-%s-%s%s" % (args.name, args.version, args.build, ext))
    if args.format == "conda":
        write_conda(args, root, entries, info, out)
    else:
        write_tar_bz2(args, root, entries, info, out)
    n_prefix = info.get("has_prefix", "").count("\n")
    print("mkpkg: %s (%d paths, %d with prefix, %d bytes)"
          % (os.path.basename(out), len(entries), n_prefix, os.path.getsize(out)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("placeholder")
    p.add_argument("name")
    p.add_argument("timestamp", nargs="?", default="1700000000000")
    b = sub.add_parser("build")
    b.add_argument("--root", required=True, help="staging dir (= files under the placeholder prefix)")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--name", required=True)
    b.add_argument("--version", required=True)
    b.add_argument("--build", required=True)
    b.add_argument("--build-number", type=int, default=0)
    b.add_argument("--placeholder", required=True)
    b.add_argument("--legacy-default-placeholder", action="store_true",
                   help="also detect /opt/anaconda1anaconda2anaconda3 (has_prefix path-only lines)")
    b.add_argument("--format", choices=["conda", "tar.bz2", "legacy"], default="conda")
    b.add_argument("--noarch", choices=["python", "generic"])
    b.add_argument("--depends", action="append")
    b.add_argument("--entry-point", action="append")
    b.add_argument("--no-link", action="append")
    b.add_argument("--license", default="BSD-3-Clause")
    b.add_argument("--summary", default="envpack test fixture")
    b.add_argument("--timestamp", type=int, help="index.json timestamp (ms)")
    b.add_argument("--mtime", default=str(DEFAULT_EPOCH),
                   help="tar member mtime (seconds) or 'keep' for the staging mtimes")
    b.add_argument("--zstd-level", type=int, default=19)
    args = ap.parse_args(argv)
    if args.cmd == "placeholder":
        print(conda_build_placeholder(args.name, args.timestamp))
    else:
        cmd_build(args)


if __name__ == "__main__":
    main()
