# SPDX-License-Identifier: MIT
"""allocs.py - the allocators the benchmarks compare: their names, the library each
preloads, and the environment a program under each one runs with.

glibc is no preload; poolalloc is a snapshot of BUILD/libpoolalloc.so; tcmalloc,
jemalloc and mimalloc are Debian's (`make bench-deps`). A sampling variant
(poolalloc+sample2m, poolalloc+sample512k) is poolalloc with one more variable,
POOLALLOC_SAMPLE: base_alloc() names its library, variant_env() what it adds.
"""
import datetime
import hashlib
import os
import re
import subprocess

from procs import run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = ["glibc", "tcmalloc", "jemalloc", "mimalloc"]
# poolalloc with allocation sampling on (POOLALLOC_SAMPLE = mean bytes between
# samples): the same library, one more environment variable. Their cost is read
# as a ratio to plain poolalloc in the same repetition (the sampling table).
SAMPLE_MEANS = ["2m", "512k"]


def sample_variant(mean):
    return "poolalloc+sample" + mean


VARIANTS = {sample_variant(m): ("poolalloc", {"POOLALLOC_SAMPLE": m}) for m in SAMPLE_MEANS}
ALLOC_NAMES = ["glibc", "poolalloc"] + [sample_variant(m) for m in SAMPLE_MEANS] + \
              ["tcmalloc", "jemalloc", "mimalloc"]
FASTPATH_ALLOCS = ["glibc", "poolalloc", "tcmalloc", "jemalloc", "mimalloc"]


def base_alloc(alloc):
    """poolalloc for a sampling variant, else the allocator itself."""
    return VARIANTS[alloc][0] if alloc in VARIANTS else alloc


def variant_env(alloc):
    """What a variant adds to the environment of the program under test."""
    return dict(VARIANTS[alloc][1]) if alloc in VARIANTS else {}


def find_mimalloc():
    """The mimalloc shared object Debian's libmimalloc2.0 installed (its SONAME link)."""
    try:
        files = subprocess.run(["dpkg", "-L", "libmimalloc2.0"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    libs = sorted(f for f in files if re.search(r"/libmimalloc\.so\.\d+$", f))
    libs = libs or sorted(f for f in files if "/libmimalloc.so" in f)
    return libs[0] if libs else None


def snapshot_poolalloc(build, work):
    """Copies BUILD/libpoolalloc.so to WORK/lib/ and returns the copy's path: the whole
    run then measures one library, even when someone rebuilds BUILD meanwhile."""
    src = os.path.join(ROOT, build, "libpoolalloc.so")
    if not os.path.exists(src):
        return src
    dst_dir = os.path.join(work, "lib")
    os.makedirs(dst_dir, exist_ok=True)
    dst = os.path.join(dst_dir, "libpoolalloc.so")
    with open(src, "rb") as f:
        data = f.read()
    with open(dst + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(dst + ".tmp", 0o755)
    os.replace(dst + ".tmp", dst)
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(src)).strftime("%Y-%m-%d %H:%M:%S")
    return dst, "%s (built %s, sha256 %s)" % (os.path.join(build, "libpoolalloc.so"), stamp,
                                             hashlib.sha256(data).hexdigest()[:12])


def allocators(build, poolalloc_lib):
    """name -> path of the library to preload (None for glibc)."""
    libs = {
        "glibc": None,
        "poolalloc": poolalloc_lib,
        "tcmalloc": os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"),
        "jemalloc": os.path.join(LIBDIR, "libjemalloc.so.2"),
        "mimalloc": find_mimalloc(),
    }
    for v in VARIANTS:
        libs[v] = libs[base_alloc(v)]
    return libs


def sampling_starts(micro, lib, mean):
    """None if POOLALLOC_SAMPLE=mean turns sampling on in `micro` under lib, else why
    not (then the sampling columns would silently measure plain poolalloc)."""
    # START_MS=0: a thousand pairs end long before the default start, at which
    # sampling begins (the check would always say it never starts).
    p = run([micro, "pingpong", "1000"],
            alloc_env(lib, {"POOLALLOC_SAMPLE": mean, "POOLALLOC_VERBOSE": "1",
                            "POOLALLOC_START_MS": "0"}), timeout=60)
    err = p.err.decode(errors="replace")
    if p.failure():
        return "%s; %s" % (p.failure(), p.tail())
    if "poolalloc: sampling every" not in err:
        lines = [l for l in err.splitlines() if "sampling" in l]
        return lines[0] if lines else "no \"sampling every\" line with POOLALLOC_VERBOSE=1"
    return None


def base_env():
    """This process's environment without LD_PRELOAD: what glibc's runs get."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def alloc_env(lib, extra=None):
    """base_env() with lib preloaded (none for glibc) and the variables in extra."""
    env = base_env()
    if lib:
        env["LD_PRELOAD"] = lib
    env.update(extra or {})
    return env

