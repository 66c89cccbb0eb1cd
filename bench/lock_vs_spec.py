"""The lock-file part of bench/install.sh: envpack installing the same
packages from a conda-lock.yml and from the explicit spec, warm cache,
interleaved (the two alternate, the order within each pair alternates too,
so drift in the machine's load falls on both), each run timed with
time.perf_counter around the process (not /usr/bin/time's 10 ms), the
prefix removed and the page cache synced before each run, untimed, and each
install checked, untimed. Then parsing and ordering alone: the same two
inputs with -p naming a non-empty folder that is not an environment, which
envpack refuses right after reading, selecting, ordering and deduplicating
the entries and before touching the cache (so the time is the process's
start, the parse and the ordering); the refusal is checked to be that one.

  python3 bench/lock_vs_spec.py ENVPACK SPEC LOCK PREFIX CACHE NPKGS RUNS
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

envpack, spec, lock, prefix, cache, npkgs, runs = sys.argv[1:8]
npkgs, runs = int(npkgs), int(runs)
inputs = {"explicit spec": spec, "conda-lock.yml": lock}


def run(args):
    start = time.perf_counter()
    r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - start, r


def check_install(name):
    meta = os.path.join(prefix, "conda-meta")
    n = len([f for f in os.listdir(meta) if f.endswith(".json")])
    if n != npkgs:
        sys.exit(f"{name}: {n} records in conda-meta, not {npkgs}")
    out = subprocess.run([prefix + "/bin/openssl", "version", "-d"], capture_output=True, text=True).stdout.strip()
    if out != f'OPENSSLDIR: "{prefix}/ssl"':
        sys.exit(f"{name}: bin/openssl version -d printed {out!r}")


def interleaved(count, one):
    times = {name: [] for name in inputs}
    names = list(inputs)
    for i in range(count):
        for name in (names if i % 2 == 0 else names[::-1]):
            times[name].append(one(name, inputs[name]))
    return times


def install(name, path):
    shutil.rmtree(prefix, ignore_errors=True)
    os.sync()
    t, r = run([envpack, "install", "-q", "--file", path, "-p", prefix, "--pkgs-dir", cache])
    if r.returncode != 0:
        sys.exit(f"{name}: install failed: {r.stderr.strip()}")
    check_install(name)
    return t


# Next to the prefix: envpack looks through the folder's parent for leftovers
# of killed runs, so a crowded parent such as /tmp would be measured too.
occupied = tempfile.mkdtemp(prefix="occupied-", dir=os.path.dirname(os.path.abspath(prefix)))
open(os.path.join(occupied, "not-an-env"), "w").close()


def parse_only(name, path):
    t, r = run([envpack, "install", "-q", "--file", path, "-p", occupied, "--pkgs-dir", cache])
    if r.returncode == 0 or "is not empty and is not a conda environment" not in r.stderr:
        sys.exit(f"{name}: expected the refusal of the occupied prefix after parsing, got: {r.stderr.strip()}")
    return t


def report(title, times):
    s, l = times["explicit spec"], times["conda-lock.yml"]
    ms, ml = statistics.median(s), statistics.median(l)
    pairs = statistics.median(b / a for a, b in zip(s, l))
    q = lambda xs: statistics.quantiles(xs, n=4)
    print(f"{title}, {len(s)} interleaved runs each (median, [quartiles], min):")
    for name, xs in times.items():
        lo, _, hi = q(xs)
        print(f"  {name:16} {statistics.median(xs) * 1000:8.1f} ms  [{lo * 1000:.1f} .. {hi * 1000:.1f}]  min {min(xs) * 1000:.1f}")
    print(f"  conda-lock.yml / explicit spec: {ml / ms:.3f}x (ratio of medians), {pairs:.3f}x (median of paired ratios); "
          f"difference of medians {(ml - ms) * 1000:+.1f} ms")
    return ml / ms


try:
    install("warm-up", spec)   # the cache filled, untimed
    ratio = report("install, warm cache", interleaved(runs, install))
    print(f"  target: <= 1.05x: {'met' if ratio <= 1.05 else 'NOT met'}")
    report("parsing and ordering alone (process start included)", interleaved(max(runs, 41), parse_only))
finally:
    shutil.rmtree(occupied, ignore_errors=True)
