#!/usr/bin/env python3
"""stage_python.py: turn an installed relocatable-ish CPython (e.g. a pyenv
shared build) into the staging tree of a conda `python` package.

  stage_python.py SRC_PREFIX STAGING PLACEHOLDER

- copies SRC_PREFIX to STAGING, keeping symlinks, modes and mtimes (mtimes
  matter: the .pyc files are timestamp-validated against their .py sources);
- leaves out lib/pythonX.Y/test/ and everything in site-packages except pip
  (and README.txt): e.g. machine-local .pth files are not part of CPython;
- text files holding SRC_PREFIX: SRC_PREFIX -> PLACEHOLDER (they become
  `text` prefix files of the package); their stale .pyc files are dropped;
- ELF files whose RPATH/RUNPATH points into SRC_PREFIX: patchelf
  --set-rpath with SRC_PREFIX -> PLACEHOLDER (they become `binary` prefix
  files);
- other binary occurrences of SRC_PREFIX (compiled-in strings of libpython,
  libpython3.X.a, co_filename in .pyc files) are left as they are.
Prints a JSON summary on stdout.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys


def main():
    src, dst, placeholder = sys.argv[1:4]
    src = os.path.realpath(src)
    pys = sorted(f for f in os.listdir(os.path.join(src, "bin"))
                 if re.fullmatch(r"python3\.\d+", f))
    if not pys:
        raise SystemExit("stage_python: no bin/python3.X in %s" % src)
    pyxy = pys[-1][len("python"):]
    stdlib = "lib/python%s" % pyxy
    skip_dirs = {stdlib + "/test"}
    site = stdlib + "/site-packages"

    def keep_site(name):
        return name == "README.txt" or name == "pip" or (
            name.startswith("pip-") and name.endswith(".dist-info"))

    if os.path.exists(dst):
        shutil.rmtree(dst)
    copied = []
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        rel = "" if rel == "." else rel
        dirs.sort()
        keep = []
        for d in dirs:
            r = os.path.join(rel, d)
            if r in skip_dirs or (rel == site and not keep_site(d)):
                continue
            if os.path.islink(os.path.join(root, d)):
                files.append(d)  # symlink to a directory: copy as a link
                continue
            keep.append(d)
        dirs[:] = keep
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        shutil.copystat(root, os.path.join(dst, rel))
        for f in sorted(files):
            r = os.path.join(rel, f)
            if rel == site and not keep_site(f):
                continue
            s, d = os.path.join(root, f), os.path.join(dst, r)
            if os.path.islink(s):
                os.symlink(os.readlink(s), d)
            else:
                shutil.copy2(s, d)
            copied.append(r)
    # directory mtimes were set before their contents were copied: redo them
    for root, dirs, files in os.walk(dst):
        rel = os.path.relpath(root, dst)
        shutil.copystat(os.path.join(src, rel), root)

    old = src.encode()
    text_files, elf_files, other_binary = [], [], []
    dropped_pyc = []
    pyc_with_old_prefix = 0
    for r in copied:
        p = os.path.join(dst, r)
        if os.path.islink(p) or not os.path.exists(p):  # link, or a dropped .pyc
            continue
        with open(p, "rb") as f:
            data = f.read()
        is_elf = data[:4] == b"\x7fELF"
        if is_elf:
            out = subprocess.run(["patchelf", "--print-rpath", p], capture_output=True,
                                 text=True)
            rpath = out.stdout.strip() if out.returncode == 0 else ""
            if src in rpath:
                st = os.stat(p)
                os.chmod(p, st.st_mode | stat.S_IWUSR)
                subprocess.run(["patchelf", "--set-rpath", rpath.replace(src, placeholder), p],
                               check=True)
                os.chmod(p, stat.S_IMODE(st.st_mode))
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
                elf_files.append(r)
                with open(p, "rb") as f:
                    data = f.read()
            if old in data:
                other_binary.append(r)
            continue
        if old not in data:
            continue
        if b"\x00" in data:
            if r.endswith(".pyc"):
                pyc_with_old_prefix += 1
            else:
                other_binary.append(r)
            continue
        st = os.stat(p)
        with open(p, "wb") as f:
            f.write(data.replace(old, placeholder.encode()))
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        text_files.append(r)
        if r.endswith(".py"):
            d, base = os.path.split(os.path.join(dst, r))
            cache = os.path.join(d, "__pycache__")
            if os.path.isdir(cache):
                for c in sorted(os.listdir(cache)):
                    if c.startswith(base[:-3] + ".") and c.endswith(".pyc"):
                        os.unlink(os.path.join(cache, c))
                        dropped_pyc.append(os.path.relpath(os.path.join(cache, c), dst))
    json.dump({"python_xy": pyxy, "source": src, "text_prefix_files": text_files,
               "patched_elf_files": len(elf_files),
               "binary_files_with_old_prefix_left": other_binary,
               "pyc_files_with_old_prefix_left": pyc_with_old_prefix,
               "dropped_pyc": dropped_pyc}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
