"""Minimal in-tree PEP 517 build backend (stdlib only) for envpack-unmanaged.

Builds a py3-none-any wheel of the envpack_unmanaged package with a
console_scripts entry point. Deterministic (fixed zip timestamps).
"""
import base64
import hashlib
import os
import zipfile

NAME = "envpack_unmanaged"
DIST = "envpack_unmanaged"
VERSION = "0.1"
HERE = os.path.dirname(os.path.abspath(__file__))

METADATA = """\
Metadata-Version: 2.1
Name: envpack-unmanaged
Version: %s
Summary: pip-installed (unmanaged) fixture package for envpack tests
""" % VERSION

WHEEL = """\
Wheel-Version: 1.0
Generator: tiny_backend
Root-Is-Purelib: true
Tag: py3-none-any
"""

ENTRY_POINTS = """\
[console_scripts]
envpack-unmanaged = envpack_unmanaged:main
"""


def get_requires_for_build_wheel(config_settings=None):
    return []


def _files():
    out = []
    pkg = os.path.join(HERE, NAME)
    for root, dirs, files in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                with open(full, "rb") as fh:
                    out.append((os.path.relpath(full, HERE).replace(os.sep, "/"), fh.read()))
    return out


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    distinfo = "%s-%s.dist-info" % (DIST, VERSION)
    wheel_name = "%s-%s-py3-none-any.whl" % (DIST, VERSION)
    entries = _files() + [
        (distinfo + "/METADATA", METADATA.encode()),
        (distinfo + "/WHEEL", WHEEL.encode()),
        (distinfo + "/entry_points.txt", ENTRY_POINTS.encode()),
    ]
    record = [_record_line(n, d) for n, d in entries] + [distinfo + "/RECORD,,"]
    entries.append((distinfo + "/RECORD", ("\n".join(record) + "\n").encode()))
    path = os.path.join(wheel_directory, wheel_name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return wheel_name
