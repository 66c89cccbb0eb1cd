#!/usr/bin/env python3
"""mkenv.py: a deliberately small conda-style installer (stdlib only).

Used ONLY to build envpack's test-fixture environments independently of
envpack itself. It installs package files the way conda does:

  python3 mkenv.py --prefix PREFIX [--records-from DIR] [--python-version X.Y]
                   [--channel URL] PKGFILE...

- extracts .conda (zipfile + `zstd -dc` for the inner .tar.zst) and .tar.bz2
  (tarfile) into a throwaway directory (no package cache is kept);
- links the files into PREFIX: hard links from the throwaway extraction dir
  (which is on PREFIX's file system and deleted at the end, so every file ends
  up with one link, except paths of one package that share an inode: they stay
  hard links of each other), copies if hard-linking fails; modes and mtimes
  kept; files with a placeholder are rewritten; symlinks and empty directories
  recreated;
- replaces prefix placeholders like conda: text mode replaces every
  occurrence (and, like conda, turns a shebang longer than 127 characters into
  `#!/usr/bin/env NAME`); binary mode rewrites each NUL-terminated C string
  that holds the placeholder and pads it with NULs to the same length. The
  placeholder list comes from info/paths.json, or from info/has_prefix
  (`placeholder mode path`, or just `path` for the default placeholder
  /opt/anaconda1anaconda2anaconda3 in text mode) + info/files;
- noarch: python: site-packages/X -> lib/pythonX.Y/site-packages/X,
  python-scripts/X -> bin/X, entry points of info/link.json written as
  bin/NAME with conda's template, .py files compiled with the env's python
  (pyc_file entries);
- writes conda-meta/NAME-VERSION-BUILD.json records the way conda does (or
  copies the reference record from --records-from DIR when it has one) and
  appends to conda-meta/history;
- --record-style conda4: records as conda 4.x wrote them: `paths_data` lists
  only the files that needed a prefix (placeholder and file mode, no hashes)
  and, for noarch python, the .pyc files and entry points; `files` lists
  everything. --record-style rattler: every path with sha256 and
  size_in_bytes but no file_mode, prefix_placeholder or sha256_in_prefix (as
  rattler and micromamba write them);
- --pkgs-cache DIR: extract into DIR/NAME-VERSION-BUILD and keep it there,
  as conda's package cache (records' link.source and extracted_package_dir
  point at it), instead of a throwaway directory.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile

LEGACY_DEFAULT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
MAX_SHEBANG_LENGTH = 127  # conda's limit on Linux
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

ENTRY_POINT_TEMPLATE = """\
# -*- coding: utf-8 -*-
import re
import sys

from %(module)s import %(import_name)s

if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit(%(func)s())
"""


from mkpkg import sha256_file  # noqa: E402  (same folder)

def die(msg):
    sys.stderr.write("mkenv: error: %s\n" % msg)
    sys.exit(1)


def md5_sha256_size(path):
    m, s = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            m.update(block)
            s.update(block)
    return m.hexdigest(), s.hexdigest(), os.path.getsize(path)


# ---------------------------------------------------------------- extraction

def _extract_tar(tf, dest):
    if hasattr(tarfile, "fully_trusted_filter"):  # Python >= 3.11.4 / 3.12
        tf.extractall(dest, filter="fully_trusted")
    else:
        tf.extractall(dest)


def extract(pkg, dest):
    os.makedirs(dest)
    if pkg.endswith(".conda"):
        with zipfile.ZipFile(pkg) as zf:
            for name in zf.namelist():
                if not name.endswith(".tar.zst"):
                    continue
                with zf.open(name) as member:
                    proc = subprocess.Popen(["zstd", "-dc"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE)
                    def feed():  # zip member -> zstd stdin, while tar reads stdout
                        try:
                            shutil.copyfileobj(member, proc.stdin, 1 << 20)
                        finally:
                            proc.stdin.close()
                    t = threading.Thread(target=feed)
                    t.start()
                    with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                        _extract_tar(tf, dest)
                    # tarfile stops at the end-of-archive blocks; read the
                    # rest (tar padding) so zstd never writes into a closed
                    # pipe, which made it fail now and then.
                    while proc.stdout.read(1 << 20):
                        pass
                    t.join()
                    proc.stdout.close()
                    if proc.wait() != 0:
                        die("zstd failed on %s:%s" % (pkg, name))
    elif pkg.endswith(".tar.bz2"):
        with tarfile.open(pkg, "r:bz2") as tf:
            _extract_tar(tf, dest)
    else:
        die("unknown package format: %s" % pkg)


# ---------------------------------------------------------------- metadata

def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_has_prefix(path):
    """conda's parser: shlex.split(posix=False), quotes stripped."""
    res = {}
    if not os.path.exists(path):
        return res
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            parts = tuple(x.strip("\"'") for x in shlex.split(line, posix=False))
            if len(parts) == 1:
                res[parts[0]] = (LEGACY_DEFAULT_PLACEHOLDER, "text")
            elif len(parts) == 3:
                res[parts[2]] = (parts[0], parts[1])
            else:
                die("invalid has_prefix line in %s: %r" % (path, line))
    return res


def read_paths(xdir):
    """List of path dicts like info/paths.json, built from the legacy files if needed."""
    info = os.path.join(xdir, "info")
    pj = read_json(os.path.join(info, "paths.json"))
    if pj is not None:
        return pj["paths"]
    has_prefix = read_has_prefix(os.path.join(info, "has_prefix"))
    no_link = set()
    if os.path.exists(os.path.join(info, "no_link")):
        with open(os.path.join(info, "no_link"), encoding="utf-8") as f:
            no_link = set(l.rstrip("\n") for l in f if l.strip())
    paths = []
    with open(os.path.join(info, "files"), encoding="utf-8") as f:
        for line in f:
            rel = line.rstrip("\n")
            if not rel:
                continue
            full = os.path.join(xdir, rel)
            e = {"_path": rel}
            if os.path.islink(full):
                e["path_type"] = "softlink"
            elif os.path.isdir(full):
                e["path_type"] = "directory"
            else:
                e["path_type"] = "hardlink"
            if rel in has_prefix:
                e["prefix_placeholder"], e["file_mode"] = has_prefix[rel]
            if rel in no_link:
                e["no_link"] = True
            paths.append(e)
    return paths


# ---------------------------------------------------------------- placeholders

SHEBANG_RE = re.compile(rb"^(#!((?:\\ |[^ \n\r\t])*)(.*))$", re.MULTILINE)


def replace_long_shebang(data):
    m = SHEBANG_RE.match(data)
    if m:
        whole, executable, options = m.groups()
        prefix, _, exe_name = executable.rpartition(b"/")
        if len(whole) > MAX_SHEBANG_LENGTH or b"\\ " in prefix:
            new = b"#!/usr/bin/env " + exe_name + options
            data = data.replace(whole, new, 1)
    return data


def binary_replace(data, placeholder, prefix):
    a, b = placeholder.encode(), prefix.encode()
    if len(b) > len(a):
        die("prefix %r is longer than the placeholder (%d > %d): binary "
            "replacement impossible" % (prefix, len(b), len(a)))

    def repl(m):
        s = m.group()
        n = s.count(a)
        return s.replace(a, b) + b"\0" * ((len(a) - len(b)) * n)

    out = re.sub(re.escape(a) + rb"([^\0]*?)\0", repl, data)
    assert len(out) == len(data)
    return out


def replace_prefix(data, placeholder, mode, prefix):
    if mode == "text":
        data = data.replace(placeholder.encode(), prefix.encode())
        return replace_long_shebang(data)
    if mode == "binary":
        return binary_replace(data, placeholder, prefix)
    die("unknown file_mode %r" % mode)


# ---------------------------------------------------------------- install

def python_version_from(records):
    for r in records:
        if r.get("name") == "python":
            return ".".join(r["version"].split(".")[:2])
    return None


def map_noarch_path(rel, pyver):
    if rel.startswith("site-packages/"):
        return "lib/python%s/%s" % (pyver, rel)
    if rel.startswith("python-scripts/"):
        return "bin/" + rel[len("python-scripts/"):]
    return rel


def rm_existing(dst):
    if os.path.lexists(dst) and not (os.path.isdir(dst) and not os.path.islink(dst)):
        os.unlink(dst)


def link_package(prefix, xdir, pkg_paths, noarch, pyver):
    """Install the files; return list of paths_data entries for the record."""
    done = []
    inode_first = {}  # (dev, ino) in xdir -> installed path
    made_dirs = set()
    for e in pkg_paths:
        rel = e["_path"]
        src = os.path.join(xdir, rel)
        dst_rel = map_noarch_path(rel, pyver) if noarch == "python" else rel
        dst = os.path.join(prefix, dst_rel)
        ptype = e.get("path_type", "hardlink")
        parent = os.path.dirname(dst)
        if parent not in made_dirs:
            os.makedirs(parent, exist_ok=True)
            made_dirs.add(parent)
        rec = {"_path": dst_rel, "path_type": ptype}
        if ptype == "directory":
            os.makedirs(dst, exist_ok=True)
            done.append(rec)
            continue
        rm_existing(dst)
        if ptype == "softlink":
            os.symlink(os.readlink(src), dst)
            rec["sha256_in_prefix"] = (sha256_file(dst) if os.path.isfile(dst)
                                       else EMPTY_SHA256)
            if e.get("size_in_bytes"):
                rec["size_in_bytes"] = e["size_in_bytes"]
            done.append(rec)
            continue
        placeholder = e.get("prefix_placeholder")
        st = os.lstat(src)
        if placeholder:
            with open(src, "rb") as f:
                data = f.read()
            new = replace_prefix(data, placeholder, e.get("file_mode", "text"), prefix)
            with open(dst, "wb") as f:
                f.write(new)
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        else:
            # hard-link from the extraction dir (like conda from its package
            # cache; the extraction dir is deleted afterwards), else copy.
            # Paths sharing an inode in the package share one in the prefix.
            key = (st.st_dev, st.st_ino)
            try:
                os.link(src, dst)
            except OSError:
                if st.st_nlink > 1 and key in inode_first:
                    os.link(inode_first[key], dst)
                else:
                    shutil.copy2(src, dst, follow_symlinks=False)
                    inode_first[key] = dst
        rec["sha256"] = e.get("sha256") or sha256_file(src)
        rec["sha256_in_prefix"] = (sha256_file(dst) if placeholder or not e.get("sha256")
                                   else e["sha256"])  # unchanged content
        size = e.get("size_in_bytes", st.st_size)
        if size:
            rec["size_in_bytes"] = size
        if placeholder:
            rec["prefix_placeholder"] = placeholder
            rec["file_mode"] = e.get("file_mode", "text")
        done.append(rec)
    return done


def write_entry_points(prefix, entry_points, pyver):
    python = os.path.join(prefix, "bin", "python%s" % pyver)
    shebang = "#!%s\n" % python
    if len(shebang) > MAX_SHEBANG_LENGTH:
        shebang = "#!/bin/sh\n'''exec' \"%s\" \"$0\" \"$@\" #'''\n" % python
    recs = []
    for ep in entry_points:
        name, target = [x.strip() for x in ep.split("=", 1)]
        module, func = [x.strip() for x in target.split(":", 1)]
        body = ENTRY_POINT_TEMPLATE % {"module": module,
                                       "import_name": func.split(".")[0],
                                       "func": func}
        dst = os.path.join(prefix, "bin", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        rm_existing(dst)
        with open(dst, "w") as f:
            f.write(shebang + body)
        os.chmod(dst, 0o755)
        recs.append({"_path": "bin/" + name, "path_type": "unix_python_entry_point"})
    return recs


def compile_pyc(prefix, pyver, py_paths):
    """Compile .py files like conda (python -Wi -m compileall -q -l -i -)."""
    python = os.path.join(prefix, "bin", "python%s" % pyver)
    if not py_paths:
        return []
    if not os.access(python, os.X_OK):
        sys.stderr.write("mkenv: warning: %s missing, .pyc files not compiled\n" % python)
        return []
    tag = "cpython-%s" % pyver.replace(".", "")
    stdin = "".join(os.path.join(prefix, p) + "\n" for p in py_paths)
    r = subprocess.run([python, "-Wi", "-m", "compileall", "-q", "-l", "-i", "-"],
                       input=stdin.encode(), stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.stderr.write("mkenv: warning: compileall failed (%d)\n" % r.returncode)
    recs = []
    for p in py_paths:
        d, base = os.path.split(p)
        pyc = "%s/__pycache__/%s.%s.pyc" % (d, base[:-3], tag)
        if os.path.exists(os.path.join(prefix, pyc)):
            recs.append({"_path": pyc, "path_type": "pyc_file"})
    return recs


def restyle(recs, style):
    """paths_data entries as conda 4.x or rattler would have written them."""
    if style == "conda4":
        keep = []
        for r in recs:
            if r.get("prefix_placeholder"):
                keep.append({k: r[k] for k in ("_path", "path_type", "prefix_placeholder", "file_mode")})
            elif r["path_type"] in ("pyc_file", "unix_python_entry_point"):
                keep.append({"_path": r["_path"], "path_type": r["path_type"]})
        return keep
    if style == "rattler":
        out = []
        for r in recs:
            e = {k: r[k] for k in ("_path", "path_type", "sha256", "size_in_bytes") if k in r}
            out.append(e)
        return out
    return recs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--records-from", help="dir of reference conda-meta records to copy")
    ap.add_argument("--python-version", help="X.Y for noarch: python packages")
    ap.add_argument("--channel", help="channel recorded for the packages "
                    "(default: file:// URL of each package's directory)")
    ap.add_argument("--record-style", choices=["conda", "conda4", "rattler"], default="conda")
    ap.add_argument("--pkgs-cache", help="keep the extracted packages here (a package cache)")
    ap.add_argument("packages", nargs="+")
    args = ap.parse_args(argv)

    prefix = os.path.abspath(args.prefix)
    meta = os.path.join(prefix, "conda-meta")
    os.makedirs(meta, exist_ok=True)
    pkgs = [os.path.abspath(p) for p in args.packages]
    for p in pkgs:
        if not os.path.isfile(p):
            die("no such package file: %s" % p)

    # throwaway extraction dir next to the prefix (same file system, so files
    # can be hard-linked into the prefix); removed at the end
    tmp = tempfile.mkdtemp(prefix=".mkenv-extract-", dir=os.path.dirname(prefix))
    try:
        # extract everything first, read metadata
        items = []
        for i, pkg in enumerate(pkgs):
            base = os.path.basename(pkg)
            stem = base[:-6] if base.endswith(".conda") else base[:-8]
            if args.pkgs_cache:
                xdir = os.path.join(os.path.abspath(args.pkgs_cache), stem)
                if not os.path.isdir(xdir):
                    extract(pkg, xdir)
            else:
                xdir = os.path.join(tmp, "%03d-%s" % (i, stem))
                extract(pkg, xdir)
            index = read_json(os.path.join(xdir, "info", "index.json"))
            if index is None:
                die("%s has no info/index.json" % pkg)
            link = read_json(os.path.join(xdir, "info", "link.json"), {}) or {}
            items.append((pkg, stem, xdir, index, link))

        pyver = args.python_version or python_version_from([it[3] for it in items])
        if pyver is None:
            for f in os.listdir(meta):
                if f.startswith("python-") and f.endswith(".json"):
                    pyver = python_version_from([read_json(os.path.join(meta, f))])
        need_py = any((it[4].get("noarch") or {}).get("type") == "python"
                      or it[3].get("noarch") == "python" for it in items)
        if need_py and not pyver:
            die("noarch: python package but no python in the env (use --python-version)")

        history = []
        pending = []
        for pkg, stem, xdir, index, link in items:
            noarch = (link.get("noarch") or {}).get("type") or index.get("noarch")
            paths = read_paths(xdir)
            recs = link_package(prefix, xdir, paths, noarch, pyver)
            if noarch == "python":
                recs += write_entry_points(
                    prefix, (link.get("noarch") or {}).get("entry_points", []), pyver)
            pending.append((pkg, stem, xdir, index, noarch, recs))

        # conda compiles noarch python sources once python is linked
        for k, (pkg, stem, xdir, index, noarch, recs) in enumerate(pending):
            if noarch == "python":
                pys = [r["_path"] for r in recs
                       if r["path_type"] == "hardlink" and r["_path"].endswith(".py")
                       and "/site-packages/" in r["_path"]]
                eps = [r for r in recs if r["path_type"] == "unix_python_entry_point"]
                files = [r for r in recs if r["path_type"] != "unix_python_entry_point"]
                pending[k] = (pkg, stem, xdir, index, noarch,
                              files + compile_pyc(prefix, pyver, pys) + eps)

        for pkg, stem, xdir, index, noarch, recs in pending:
            cache_dir = xdir if args.pkgs_cache else os.path.join(os.path.dirname(pkg), stem)
            files_list = [r["_path"] for r in recs]
            recs = restyle(recs, args.record_style)
            channel = args.channel or ("file://" + os.path.dirname(pkg))
            dist = "%s-%s-%s" % (index["name"], index["version"], index["build"])
            ref = args.records_from and os.path.join(args.records_from, dist + ".json")
            out = os.path.join(meta, dist + ".json")
            if ref and os.path.exists(ref):
                shutil.copyfile(ref, out)  # the reference record, verbatim
                history.append("+%s::%s" % (read_json(ref).get("channel", channel), dist))
                continue
            history.append("+%s::%s" % (channel, dist))
            md5, sha256, size = md5_sha256_size(pkg)
            rec = dict(index)
            rec.update({
                "channel": channel,
                "extracted_package_dir": cache_dir,
                "files": files_list,
                "fn": os.path.basename(pkg),
                "link": {"source": cache_dir, "type": 1},
                "md5": md5,
                "package_tarball_full_path": pkg,
                "paths_data": {"paths": recs, "paths_version": 1},
                "requested_spec": "%s/%s::%s==%s=%s[md5=%s]" % (
                    channel, index.get("subdir", "noarch"), index["name"],
                    index["version"], index["build"], md5),
                "sha256": sha256,
                "size": size,
                "url": "file://" + pkg,
            })
            with open(out, "w", encoding="utf-8") as f:
                json.dump(rec, f, indent=2, sort_keys=True)
                f.write("\n")

        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        now = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
               else datetime.datetime.now())
        with open(os.path.join(meta, "history"), "a", encoding="utf-8") as f:
            f.write("==> %s <==\n" % now.strftime("%Y-%m-%d %H:%M:%S"))
            f.write("# cmd: %s\n" % " ".join(
                [os.path.basename(sys.argv[0])] + (argv if argv is not None else sys.argv[1:])))
            for h in history:
                f.write(h + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("mkenv: %s: %d package(s) installed" % (prefix, len(pkgs)))


if __name__ == "__main__":
    main()
