#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a short-lived process pays for its allocator: CPU time (user + system, from
wait4, so waiting for a busy CPU does not count) and minor page faults of `/bin/true`
alone, of a shell loop that starts 300 x (`/bin/true`; `echo x | cat`) with LD_PRELOAD
exported so that every child is preloaded, and of 300 forks of a program whose
allocator is warm (tools/bench/forker.c: each child makes and frees 40 objects and
exits), under glibc, poolalloc, tcmalloc, jemalloc and mimalloc.

Rounds are interleaved (each round runs every allocator, the order rotated by one each
round); a round's figure for an allocator is divided by glibc's in the same round, and
the table gives the median of those ratios with their range. Standard library only.

    python3 tools/bench/startup.py --build build --rounds 11
    python3 tools/bench/startup.py --build build-start --lib before=/tmp/old/libpoolalloc.so
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
LOOP = "for i in $(seq %d); do /bin/true; echo x | cat >/dev/null; done"


def find_mimalloc():
    """The mimalloc shared object Debian's libmimalloc2.0 installed."""
    try:
        files = subprocess.run(["dpkg", "-L", "libmimalloc2.0"], capture_output=True,
                               text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
    libs = sorted(f for f in files if re.search(r"/libmimalloc\.so\.\d+$", f))
    if libs:
        return libs[0]
    path = os.path.join(LIBDIR, "libmimalloc.so.2")
    return path if os.path.exists(path) else None


def snapshot(path, work, name):
    """A private copy of a library: the run measures one file even if someone rebuilds."""
    dst = os.path.join(work, name + ".so")
    shutil.copyfile(path, dst)
    os.chmod(dst, 0o755)
    return dst


def base_env():
    """The caller's environment without LD_PRELOAD and POOLALLOC_*: every allocator
    runs with its defaults."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("POOLALLOC_")}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def cpu_of(argv, env):
    """Runs argv to the end; returns (user + system seconds, minor faults) of it and
    its waited-for children. Fails on a non-zero exit."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawn(argv[0], argv, env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                           (os.POSIX_SPAWN_DUP2, devnull, 1)])
    finally:
        os.close(devnull)
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("startup.py: %s exited with %d" % (" ".join(argv), status))
    return ru.ru_utime + ru.ru_stime, ru.ru_minflt


def build_forker(work):
    """tools/bench/forker.c compiled into work (cc -O2): a program of ours, not the
    library's flags."""
    exe = os.path.join(work, "forker")
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "tools", "bench", "forker.c")],
                   check=True)
    return exe


def check_preload(lib):
    """None if lib preloads into /bin/true silently, else ld.so's complaint (a library
    that does not load would otherwise measure glibc under another name)."""
    env = base_env()
    env["LD_PRELOAD"] = lib
    r = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True)
    return r.stderr.strip() or (None if r.returncode == 0 else "exit %d" % r.returncode)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding libpoolalloc.so")
    ap.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default 11)")
    ap.add_argument("--true-runs", type=int, default=100,
                    help="/bin/true runs per allocator per round (default 100)")
    ap.add_argument("--loop", type=int, default=300, help="shell loop iterations (default 300)")
    ap.add_argument("--forks", type=int, default=300, help="forks of the warm program (default 300)")
    ap.add_argument("--alloc", default="glibc,poolalloc,tcmalloc,jemalloc,mimalloc",
                    help="comma-separated allocators (glibc is always run: the reference)")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                    help="one more library to compare (e.g. an older libpoolalloc.so)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()

    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    known = {
        "glibc": None,
        "poolalloc": os.path.join(build, "libpoolalloc.so"),
        "tcmalloc": os.path.join(LIBDIR, "libtcmalloc_minimal.so.4"),
        "jemalloc": os.path.join(LIBDIR, "libjemalloc.so.2"),
        "mimalloc": find_mimalloc(),
    }
    names = ["glibc"] + [a for a in args.alloc.split(",") if a and a != "glibc"]
    for extra in args.lib:
        name, _, path = extra.partition("=")
        if not name or not path:
            ap.error("--lib wants NAME=PATH")
        known[name] = os.path.abspath(path)
        names.append(name)

    work = tempfile.mkdtemp(prefix="startup-bench-")
    libs, skipped = {}, []
    for name in names:
        if name not in known:
            ap.error("unknown allocator %s" % name)
        path = known[name]
        if name != "glibc" and (not path or not os.path.exists(path)):
            skipped.append("%s: %s not found" % (name, path or "library"))
            continue
        if path:
            path = snapshot(path, work, name)
            why = check_preload(path)
            if why:
                skipped.append("%s: does not preload (%s)" % (name, why))
                continue
        libs[name] = path
    order = list(libs)

    forker = build_forker(work)
    cases = [
        ("/bin/true", "per process", args.true_runs, 1, lambda env: cpu_of(["/bin/true"], env)),
        ("shell loop %d x (true; echo x \\| cat)" % args.loop, "per loop", 1, 1,
         lambda env: cpu_of(["/bin/sh", "-c", LOOP % args.loop], env)),
        ("%d forks of a warm program" % args.forks, "per fork", 1, args.forks,
         lambda env: cpu_of([forker, str(args.forks)], env)),
    ]
    cpu = {(c[0], a): [] for c in cases for a in order}
    faults = {(c[0], a): [] for c in cases for a in order}
    for r in range(args.rounds):
        rot = order[r % len(order):] + order[:r % len(order)]
        for case, _, reps, per, fn in cases:
            for name in rot:
                env = base_env()
                if libs[name]:
                    env["LD_PRELOAD"] = libs[name]
                runs = [fn(env) for _ in range(reps)]
                cpu[(case, name)].append(sum(c for c, _ in runs) / reps / per)
                faults[(case, name)].append(sum(f for _, f in runs) / reps / per)
        print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr, flush=True)

    lines = ["| case | allocator | CPU ms (median) | ratio to glibc (median) | range "
             "| minor faults (median) |",
             "|---|---|---:|---:|---|---:|"]
    for case, unit, _, _, _ in cases:
        base = cpu[(case, "glibc")]
        for name in order:
            mine = cpu[(case, name)]
            ratios = [m / b for m, b in zip(mine, base) if b > 0]
            lines.append("| %s | %s | %.3f %s | %.2fx | %.2f-%.2f | %.0f |" % (
                case, name, statistics.median(mine) * 1000, unit, statistics.median(ratios),
                min(ratios), max(ratios), statistics.median(faults[(case, name)])))
    lines.append("")
    lines.append("%d interleaved rounds; /bin/true: %d runs per allocator per round; CPU = "
                 "user + system of the process and its children (wait4), faults likewise "
                 "(the warm program's fixed start, the same under every allocator, is "
                 "included, spread over its forks); ratio = the round's CPU / glibc's in "
                 "the same round." % (args.rounds, args.true_runs))
    for s in skipped:
        lines.append("left out: " + s)
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
